"""MCAP container reading: channels, schemas, chunks and raw message payloads, with numpy.

What belongs here: the byte-level layout of the MCAP *container* (top-level records,
chunks, message index records) and nothing about what the messages mean. `McapFile`
reads the file with ``pread`` and walks its top-level records once (a few per chunk; one
per message only in a file without chunks); each chunk's message index records give the offsets of its messages,
from which payload positions, log times and publish times are gathered with numpy.
A chunk without message indexes is walked record by record (the fallback). Message
decoding lives in `cdr_layout`; topic mapping in `ros2_mcap`.

Payloads come out as the same `RawMessages` the ROS 1 reader produces (record time =
MCAP log time), so the per-topic decoders are shared. Errors are `BagReadError` with
code ``truncated_file`` (the file ends early: no closing magic, a record running past
the end) or ``corrupt_file``.

Why not ``mcap.reader``: it yields one Python object per message, which alone costs
more than the decode budget of a 60 s, 500 Hz episode; it is the per-message baseline
of the decode benchmark.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from teleop_lake.formats.inflate import inflate
from teleop_lake.formats.ros1_bag import (
    BATCH_MESSAGES,
    BagConnection,
    BagReadError,
    RawMessages,
    TopicInfo,
)
from teleop_lake.formats.ros1_records import (
    PayloadSegment,
    TopicPayloads,
    Truncated,
    in_batches,
    windows,
)

MCAP_MAGIC = b"\x89MCAP0\r\n"
OP_HEADER = 0x01
OP_FOOTER = 0x02
OP_SCHEMA = 0x03
OP_CHANNEL = 0x04
OP_MESSAGE = 0x05
OP_CHUNK = 0x06
OP_MESSAGE_INDEX = 0x07
OP_DATA_END = 0x0F
# A message record's fixed fields after opcode (1) and length (8): channel u16,
# sequence u32, log_time u64, publish_time u64; the payload follows.
MESSAGE_FIXED_BYTES = 22
_INDEX_ENTRY = np.dtype([("log_time", "<u8"), ("offset", "<u8")])
MAX_RECORD_BYTES = 1 << 34  # larger lengths are garbage, not a cut file
# Unchunked messages are read in blocks of about this size (one message may be larger).
LOOSE_BLOCK = 4 << 20


@dataclass(frozen=True)
class McapChannel:
    channel_id: int
    topic: str
    message_encoding: str  # "cdr" for ROS 2
    schema_name: str
    schema_encoding: str  # "ros2msg" for ROS 2 (definition text in ROS .msg syntax)
    schema_data: str

    def as_connection(self) -> BagConnection:
        return BagConnection(self.channel_id, self.topic, self.schema_name, self.schema_data, "")


@dataclass
class _Chunk:
    records_pos: int  # file offset of the (compressed) records
    records_len: int
    uncompressed_size: int
    compression: str
    index: dict[int, np.ndarray]  # channel id -> _INDEX_ENTRY entries (None: not indexed)
    indexed: bool
    crc: int = 0  # the writer's CRC-32 of the uncompressed records (0: not computed)
    crc_checked: bool = False


class _Cursor:
    """Little-endian reads from a buffer; running past its end raises `Truncated`."""

    def __init__(self, buf: memoryview, pos: int = 0, end: int | None = None) -> None:
        self.buf, self.pos, self.end = buf, pos, len(buf) if end is None else end

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > self.end:
            raise Truncated
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def string(self) -> str:
        return bytes(self.take(self.u32())).decode("utf-8", "replace")


def gather_u64(arr: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Little-endian uint64 values at byte ``offsets`` of ``arr``, as int64."""
    if len(offsets) == 0:
        return np.zeros(0, dtype=np.int64)
    if int(offsets.min()) < 0 or int(offsets.max()) + 8 > len(arr):
        raise Truncated
    words = np.ascontiguousarray(windows(arr, 8)[offsets])
    return words.view("<u8").ravel().astype(np.int64)


class _Source:
    """``pread`` access to a file, with a small read-ahead window for record headers.

    Not a memory map: a page fault maps its cached neighbours too, so walking the records of
    a map counted nearly the whole file in the process's RSS (camera frames included)."""

    WINDOW = 64 << 10

    def __init__(self, fd: int, size: int) -> None:
        self._fd, self.size = fd, size
        self._base, self._data = 0, b""

    def read(self, pos: int, n: int) -> memoryview:
        """``n`` bytes at ``pos``; `Truncated` past the end of the file."""
        if pos < 0 or n < 0 or pos + n > self.size:
            raise Truncated
        off = pos - self._base
        if off >= 0 and off + n <= len(self._data):
            return memoryview(self._data)[off : off + n]
        data = os.pread(self._fd, max(n, self.WINDOW), pos)
        if len(data) < n:
            raise Truncated
        if n < self.WINDOW:
            self._base, self._data = pos, data
        return memoryview(data)[:n]


MAX_MESSAGE_BYTES = 256 << 20
"""A compressed message (rosbag2 message compression) that would inflate beyond this is
refused as corrupt: no single message of a recording comes near it."""
MAX_INFLATED_BYTES = 2 << 30
"""What one chunk's messages of one channel may inflate to in all."""


def decompress_messages(seg: PayloadSegment, compression: str) -> PayloadSegment:
    """The payloads of ``seg`` decompressed one by one (rosbag2's message compression: each
    serialized message compressed on its own), copied into one buffer. A message claiming
    more than `MAX_MESSAGE_BYTES`, or all of them more than `MAX_INFLATED_BYTES`, is refused
    before it is inflated (ValueError, as any message that does not decompress)."""
    if compression != "zstd":
        raise ValueError(f"unsupported message compression {compression!r}")
    import zstandard

    n = len(seg.starts)
    if n == 0:
        return PayloadSegment(np.zeros(0, dtype=np.uint8), seg.starts.copy(), seg.lengths.copy())
    dctx = zstandard.ZstdDecompressor()
    view = memoryview(seg.buffer.data)
    out: list[bytes] = []
    total = 0
    for a, length in zip(seg.starts.tolist(), seg.lengths.tolist(), strict=True):
        frame = view[a : a + length]
        try:
            claimed = zstandard.frame_content_size(frame)
            if claimed > MAX_MESSAGE_BYTES or total + max(claimed, 0) > MAX_INFLATED_BYTES:
                raise ValueError(f"a compressed message claims {claimed} bytes")
            # an unstated size (-1) is bounded here instead
            message = dctx.decompress(frame, max_output_size=MAX_MESSAGE_BYTES)
        except zstandard.ZstdError as err:
            raise ValueError(f"a compressed message does not decompress: {err}") from None
        except MemoryError:
            raise ValueError("a compressed message does not fit in memory") from None
        total += len(message)
        if total > MAX_INFLATED_BYTES:
            raise ValueError(f"compressed messages inflate to over {MAX_INFLATED_BYTES} bytes")
        out.append(message)
    lengths = np.array([len(m) for m in out], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return PayloadSegment(np.frombuffer(b"".join(out), dtype=np.uint8), starts, lengths)


class McapFile:
    """An MCAP file opened for reading. Use as a context manager.

    ``message_compression`` ("zstd"): every message payload is compressed on its own (a
    rosbag2 recorded with ``--compression-mode message``); payloads are handed out
    decompressed, so camera frames are copied (spooled) rather than left in the file."""

    def __init__(self, path: Path, message_compression: str | None = None) -> None:
        self.path = Path(path)
        self.message_compression = message_compression or None
        self._file = self.path.open("rb")
        try:
            size = os.fstat(self._file.fileno()).st_size
            if size == 0:
                raise BagReadError("truncated_file", "the file is empty", self.path)
            self._src = _Source(self._file.fileno(), size)
            self.channels: dict[int, McapChannel] = {}
            self._schemas: dict[int, tuple[str, str, str]] = {}
            self._pending_channels: list[tuple[int, int, str, str]] = []
            self._chunks: list[_Chunk] = []
            # unchunked message records: channel -> [(record offset, record length, log time)]
            self._loose: dict[int, list[tuple[int, int, int]]] = {}
            self._open()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> McapFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file. Payloads handed out are copies (or file positions): they stay valid."""
        self._file.close()

    # -- opening ------------------------------------------------------------------
    def _open(self) -> None:
        size = self._src.size
        head = bytes(self._src.read(0, min(len(MCAP_MAGIC), size)))
        if head != MCAP_MAGIC:
            if MCAP_MAGIC.startswith(head):
                raise BagReadError("truncated_file", "the file ends inside its magic", self.path)
            raise BagReadError("corrupt_file", "not an MCAP file (bad magic)", self.path)
        if size < 2 * len(MCAP_MAGIC) or bytes(self._src.read(size - 8, 8)) != MCAP_MAGIC:
            raise BagReadError(
                "truncated_file",
                f"the file ends early ({size} bytes, no closing magic): the "
                "recorder did not finish it or the upload was cut; ask the center to "
                "re-deliver it (or run `mcap recover` on it first)",
                self.path,
            )
        try:
            self._scan()
        except Truncated:
            raise BagReadError(
                "truncated_file",
                f"a record runs past the end of the file ({size} bytes); "
                "ask the center to re-deliver it",
                self.path,
            ) from None
        except (ValueError, KeyError, struct.error, UnicodeDecodeError) as err:
            raise BagReadError(
                "corrupt_file", f"cannot parse the MCAP structure: {err}", self.path
            ) from None

    def _scan(self) -> None:
        """Walk the top-level records, reading each one's opcode and length and only the
        bodies that describe the data (schemas, channels, chunk headers, message indexes)."""
        src = self._src
        pos, end = len(MCAP_MAGIC), src.size - len(MCAP_MAGIC)
        last_chunk: _Chunk | None = None
        while pos < end:
            op, length = struct.unpack("<BQ", src.read(pos, 9))
            if length > MAX_RECORD_BYTES:
                raise ValueError(f"record at offset {pos} claims {length} bytes")
            body_pos = pos + 9
            if body_pos + length > end:
                raise Truncated
            if op in (OP_SCHEMA, OP_CHANNEL, OP_MESSAGE_INDEX):
                body = _Cursor(src.read(body_pos, length))
                if op == OP_SCHEMA:
                    self._add_schema(body)
                elif op == OP_CHANNEL:
                    self._add_channel(body)
                elif last_chunk is not None:
                    channel = body.u16()
                    n_bytes = body.u32()
                    entries = np.frombuffer(body.take(n_bytes), dtype=_INDEX_ENTRY).copy()
                    last_chunk.index[channel] = entries
                    last_chunk.indexed = True
            elif op == OP_CHUNK:
                last_chunk = self._add_chunk(body_pos, length)
            elif op == OP_MESSAGE:
                if length < MESSAGE_FIXED_BYTES:
                    raise ValueError(f"the message record at offset {pos} is too short")
                channel, _seq, log_time = struct.unpack("<HIQ", src.read(body_pos, 14))
                self._loose.setdefault(channel, []).append((pos, length, log_time))
            elif op == OP_FOOTER:
                break
            pos = body_pos + length
        for chunk in self._chunks:
            if not chunk.indexed:
                self._walk_chunk(chunk)
        self._resolve_channels()

    def _add_schema(self, body: _Cursor) -> None:
        sid = body.u16()
        name = body.string()
        encoding = body.string()
        data = bytes(body.take(body.u32())).decode("utf-8", "replace")
        self._schemas[sid] = (name, encoding, data)

    def _add_channel(self, body: _Cursor) -> None:
        cid = body.u16()
        sid = body.u16()
        topic = body.string()
        encoding = body.string()
        self._pending_channels.append((cid, sid, topic, encoding))

    def _resolve_channels(self) -> None:
        for cid, sid, topic, encoding in self._pending_channels:
            name, s_enc, data = self._schemas.get(sid, ("", "", ""))
            self.channels[cid] = McapChannel(cid, topic, encoding, name, s_enc, data)

    def _add_chunk(self, body_pos: int, length: int) -> _Chunk:
        """The chunk's header fields; its records stay in the file until they are read."""
        fixed = _Cursor(self._src.read(body_pos, min(length, 32)))
        fixed.u64()  # message_start_time
        fixed.u64()  # message_end_time
        size = fixed.u64()
        # The writer's CRC is checked when the chunk is first decompressed: the manifest's
        # sha256 is taken at the center, after any damage on the recorder's disk.
        crc = fixed.u32()
        n_compression = fixed.u32()
        if 32 + n_compression + 8 > length:
            raise Truncated
        rest = _Cursor(self._src.read(body_pos + 32, n_compression + 8))
        compression = bytes(rest.take(n_compression)).decode("utf-8", "replace")
        records_len = rest.u64()
        records_pos = body_pos + 32 + n_compression + 8
        if records_pos + records_len > body_pos + length:
            raise Truncated
        if size > MAX_RECORD_BYTES:
            raise ValueError(f"the chunk at offset {body_pos - 9} claims {size} bytes")
        chunk = _Chunk(records_pos, records_len, size, compression, {}, False, crc)
        self._chunks.append(chunk)
        return chunk

    def _chunk_records(self, chunk: _Chunk) -> memoryview:
        raw = self._src.read(chunk.records_pos, chunk.records_len)
        try:
            data = inflate(raw, chunk.compression, chunk.uncompressed_size)
        except ValueError as err:
            raise ValueError(f"the chunk at byte {chunk.records_pos}: {err}") from None
        if chunk.crc and not chunk.crc_checked:
            if zlib.crc32(data) != chunk.crc:
                raise ValueError(
                    f"the chunk at byte {chunk.records_pos} fails its CRC-32 (the file was "
                    "damaged after it was recorded)"
                )
            chunk.crc_checked = True
        return data

    def _walk_chunk(self, chunk: _Chunk) -> None:
        """Index a chunk that came without message indexes (and pick up its schemas)."""
        data = self._chunk_records(chunk)
        cur = _Cursor(data)
        found: dict[int, list[tuple[int, int]]] = {}
        while cur.pos < cur.end:
            start = cur.pos
            op = cur.take(1)[0]
            length = cur.u64()
            body = _Cursor(data, cur.pos, cur.pos + length)
            cur.take(length)
            if op == OP_MESSAGE:
                channel = body.u16()
                body.u32()
                found.setdefault(channel, []).append((body.u64(), start))
            elif op == OP_SCHEMA:
                self._add_schema(body)
            elif op == OP_CHANNEL:
                self._add_channel(body)
        chunk.index = {c: np.array(v, dtype=_INDEX_ENTRY) for c, v in found.items()}
        chunk.indexed = True

    # -- public -------------------------------------------------------------------
    def topic_channels(self) -> dict[str, list[McapChannel]]:
        out: dict[str, list[McapChannel]] = {}
        for ch in sorted(self.channels.values(), key=lambda c: c.channel_id):
            out.setdefault(ch.topic, []).append(ch)
        return out

    def log_times_ns(self, channel_ids: Iterable[int]) -> np.ndarray:
        """Log times of the given channels' messages (from the indexes; no decompression)."""
        ids = set(channel_ids)
        parts = [
            e["log_time"].astype(np.int64)
            for ch in self._chunks
            for c, e in ch.index.items()
            if c in ids
        ]
        for cid in ids & set(self._loose):
            parts.append(np.array([t for _, _, t in self._loose[cid]], dtype=np.uint64))
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return np.sort(np.concatenate([p.astype(np.int64) for p in parts]))

    def _loose_blocks(self, wanted: set[int]) -> Iterator[tuple[int, int, dict[int, np.ndarray]]]:
        """The unchunked messages of ``wanted`` channels in file blocks of about
        `LOOSE_BLOCK` bytes: (block start, block length, {channel: record offsets})."""
        recs = [
            (off, off + 9 + length, cid)
            for cid in wanted & set(self._loose)
            for off, length, _ in self._loose[cid]
        ]
        recs.sort()
        i = 0
        while i < len(recs):
            start, stop = recs[i][0], recs[i][1]
            j = i + 1
            while j < len(recs) and recs[j][1] - start <= LOOSE_BLOCK:
                stop = recs[j][1]
                j += 1
            by_channel: dict[int, list[int]] = {}
            for off, _, cid in recs[i:j]:
                by_channel.setdefault(cid, []).append(off - start)
            yield start, stop - start, {c: np.asarray(v, np.int64) for c, v in by_channel.items()}
            i = j

    def read_topics(self, topics: Sequence[str]) -> dict[str, RawMessages]:
        """Raw payloads of ``topics`` (each in file order) with their log times."""
        for batch in self.read_topic_batches(topics, batch_messages=None):
            return batch
        return {}

    def read_topic_batches(
        self, topics: Sequence[str], batch_messages: int | None = BATCH_MESSAGES
    ) -> Iterator[dict[str, RawMessages]]:
        """Raw payloads of ``topics`` with their log times, in batches of chunks (then of
        blocks of unchunked messages) holding about ``batch_messages`` of their messages
        (None: one batch).

        Chunks and blocks are read one at a time. Each topic's payloads are copied out of
        them (`TopicPayloads`); a camera frame stored uncompressed keeps only its first bytes
        and its place in the file, so it is read when used. A reader that decodes each batch
        before taking the next holds one batch's payloads, not the file's."""
        by_topic = self.topic_channels()
        wanted = {c.channel_id: t for t in topics for c in by_topic.get(t, [])}
        units: list[tuple[_Chunk | tuple[int, int, dict[int, np.ndarray]], int]] = []
        for chunk in self._chunks:
            n = sum(len(e) for c, e in chunk.index.items() if c in wanted)
            if n:
                units.append((chunk, n))
        for block in self._loose_blocks(set(wanted)):
            units.append((block, sum(len(v) for v in block[2].values())))
        for i, batch in enumerate(in_batches(units, batch_messages)):
            # the first batch names every topic the file has, even one without messages
            yield self._read_units(topics, by_topic, wanted, batch, keep_empty=i == 0)

    def _read_units(
        self,
        topics: Sequence[str],
        by_topic: dict[str, list[McapChannel]],
        wanted: dict[int, str],
        units: list[_Chunk | tuple[int, int, dict[int, np.ndarray]]],
        keep_empty: bool,
    ) -> dict[str, RawMessages]:
        counts: dict[str, int] = dict.fromkeys(topics, 0)
        for unit in units:
            if isinstance(unit, _Chunk):
                for cid, entries in unit.index.items():
                    if cid in wanted:
                        counts[wanted[cid]] += len(entries)
            else:
                for cid, offsets in unit[2].items():
                    counts[wanted[cid]] += len(offsets)
        times: dict[str, list[np.ndarray]] = {t: [] for t in topics}
        gathered = {t: TopicPayloads(counts[t]) for t in topics}
        try:
            for unit in units:
                if isinstance(unit, _Chunk):
                    cids = [c for c in unit.index if c in wanted and len(unit.index[c])]
                    data = self._chunk_records(unit)
                    arr = np.frombuffer(data, dtype=np.uint8)
                    in_file = unit.records_pos if unit.compression == "" else None
                    for cid in cids:
                        offsets = np.sort(unit.index[cid]["offset"].astype(np.int64), kind="stable")
                        seg, t = _locate(arr, offsets)
                        times[wanted[cid]].append(t)
                        self._gather(gathered[wanted[cid]], seg, in_file)
                else:
                    start, length, by_channel = unit
                    arr = np.frombuffer(self._src.read(start, length), dtype=np.uint8)
                    for cid, offsets in by_channel.items():
                        seg, t = _locate(arr, offsets)
                        times[wanted[cid]].append(t)
                        self._gather(gathered[wanted[cid]], seg, start)
        except Truncated:
            raise BagReadError(
                "truncated_file", "a chunk ends before the messages its index lists", self.path
            ) from None
        except (ValueError, KeyError, OSError) as err:
            raise BagReadError(
                "corrupt_file", f"cannot read message data: {err}", self.path
            ) from None
        out: dict[str, RawMessages] = {}
        for topic in topics:
            chans = by_topic.get(topic)
            if not chans or (not counts[topic] and not keep_empty):
                continue  # not in the file, or not in this batch
            t = np.concatenate(times[topic]) if times[topic] else np.zeros(0, dtype=np.int64)
            out[topic] = RawMessages(
                topic, chans[0].as_connection(), t, gathered[topic].segments(), self.path
            )
        return out

    def _gather(self, into: TopicPayloads, seg: PayloadSegment, in_file: int | None) -> None:
        """Add one unit's payloads of a topic, decompressed first when messages are."""
        if self.message_compression is None:
            into.add(seg, in_file)
        else:  # no longer the file's bytes: copied, never read back from the file
            into.add(decompress_messages(seg, self.message_compression), None)


def _locate(arr: np.ndarray, offsets: np.ndarray) -> tuple[PayloadSegment, np.ndarray]:
    """Payload positions and log times of the message records at ``offsets`` of ``arr``."""
    if len(offsets) == 0:
        return PayloadSegment(arr, offsets, offsets.copy()), offsets.copy()
    if int(offsets.max()) + 9 + MESSAGE_FIXED_BYTES > len(arr):
        raise Truncated
    if not np.all(arr[offsets] == OP_MESSAGE):
        raise ValueError("a message index points at a record that is not a message")
    lengths = gather_u64(arr, offsets + 1) - MESSAGE_FIXED_BYTES
    starts = offsets + 9 + MESSAGE_FIXED_BYTES
    if (lengths < 0).any():
        raise ValueError("a message record is shorter than its fixed fields")
    if int((starts + lengths).max()) > len(arr):
        raise Truncated
    log_time = gather_u64(arr, offsets + 15)
    return PayloadSegment(arr, starts, lengths), log_time


def list_mcap_topics(path: Path) -> list[TopicInfo]:
    """Every topic of the MCAP file at ``path``: type, count, first/last log time, rate, gap."""
    out: list[TopicInfo] = []
    with McapFile(Path(path)) as f:
        for topic, chans in sorted(f.topic_channels().items()):
            t = f.log_times_ns(c.channel_id for c in chans)
            types = ",".join(sorted({c.schema_name or "(no schema)" for c in chans}))
            out.append(TopicInfo.from_times(topic, types, t))
    return out
