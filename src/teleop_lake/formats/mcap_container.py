"""MCAP container reading: channels, schemas, chunks and raw message payloads, with numpy.

What belongs here: the byte-level layout of the MCAP *container* (top-level records,
chunks, message index records) and nothing about what the messages mean. `McapFile`
memory-maps the file and walks its top-level records once (a few per chunk, never one
per message); each chunk's message index records give the offsets of its messages,
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

import mmap
import struct
import zlib
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from teleop_lake.formats.ros1_bag import BagConnection, BagReadError, RawMessages, TopicInfo
from teleop_lake.formats.ros1_records import PayloadSegment, Truncated, windows

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


def decompress(data: memoryview, compression: str, size: int) -> memoryview:
    if compression == "":
        return data
    if compression == "zstd":
        import zstandard

        return memoryview(zstandard.ZstdDecompressor().decompress(bytes(data), size))
    if compression == "lz4":
        from lz4.frame import decompress as lz4_decompress

        return memoryview(lz4_decompress(bytes(data)))
    raise ValueError(f"unsupported chunk compression {compression!r}")


class McapFile:
    """An MCAP file opened for reading. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = self.path.open("rb")
        try:
            if self.path.stat().st_size == 0:
                raise BagReadError("truncated_file", "the file is empty", self.path)
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self._buf = memoryview(self._map)
            self._arr = np.frombuffer(self._map, dtype=np.uint8)
            self.channels: dict[int, McapChannel] = {}
            self._schemas: dict[int, tuple[str, str, str]] = {}
            self._pending_channels: list[tuple[int, int, str, str]] = []
            self._chunks: list[_Chunk] = []
            self._loose: dict[int, list[int]] = {}  # unchunked message record offsets
            self._open()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> McapFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._arr = None  # type: ignore[assignment]
        buf, self._buf = getattr(self, "_buf", None), None  # type: ignore[assignment]
        the_map, self._map = getattr(self, "_map", None), None  # type: ignore[assignment]
        with suppress(BufferError):
            if buf is not None:
                buf.release()
            if the_map is not None:
                the_map.close()
        self._file.close()

    # -- opening ------------------------------------------------------------------
    def _open(self) -> None:
        head = bytes(self._buf[: len(MCAP_MAGIC)])
        if head != MCAP_MAGIC:
            if MCAP_MAGIC.startswith(head):
                raise BagReadError("truncated_file", "the file ends inside its magic", self.path)
            raise BagReadError("corrupt_file", "not an MCAP file (bad magic)", self.path)
        if len(self._buf) < 2 * len(MCAP_MAGIC) or bytes(self._buf[-8:]) != MCAP_MAGIC:
            raise BagReadError(
                "truncated_file",
                f"the file ends early ({len(self._buf)} bytes, no closing magic): the "
                "recorder did not finish it or the upload was cut; ask the center to "
                "re-deliver it (or run `mcap recover` on it first)",
                self.path,
            )
        try:
            self._scan()
        except Truncated:
            raise BagReadError(
                "truncated_file",
                f"a record runs past the end of the file ({len(self._buf)} bytes); "
                "ask the center to re-deliver it",
                self.path,
            ) from None
        except (ValueError, KeyError, struct.error, UnicodeDecodeError) as err:
            raise BagReadError(
                "corrupt_file", f"cannot parse the MCAP structure: {err}", self.path
            ) from None

    def _scan(self) -> None:
        cur = _Cursor(self._buf, len(MCAP_MAGIC), len(self._buf) - len(MCAP_MAGIC))
        last_chunk: _Chunk | None = None
        while cur.pos < cur.end:
            start = cur.pos
            op = cur.take(1)[0]
            length = cur.u64()
            if length > MAX_RECORD_BYTES:
                raise ValueError(f"record at offset {start} claims {length} bytes")
            body = _Cursor(self._buf, cur.pos, cur.pos + length)
            if cur.pos + length > cur.end:
                raise Truncated
            cur.pos += length
            if op == OP_SCHEMA:
                self._add_schema(body)
            elif op == OP_CHANNEL:
                self._add_channel(body)
            elif op == OP_CHUNK:
                last_chunk = self._add_chunk(body)
            elif op == OP_MESSAGE_INDEX and last_chunk is not None:
                channel = body.u16()
                n_bytes = body.u32()
                entries = np.frombuffer(body.take(n_bytes), dtype=_INDEX_ENTRY).copy()
                last_chunk.index[channel] = entries
                last_chunk.indexed = True
            elif op == OP_MESSAGE:
                channel = struct.unpack("<H", self._buf[start + 9 : start + 11])[0]
                self._loose.setdefault(int(channel), []).append(start)
            elif op == OP_FOOTER:
                break
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

    def _add_chunk(self, body: _Cursor) -> _Chunk:
        body.u64()  # message_start_time
        body.u64()  # message_end_time
        size = body.u64()
        # The writer's CRC is checked when the chunk is first decompressed: the manifest's
        # sha256 is taken at the center, after any damage on the recorder's disk.
        crc = body.u32()
        compression = body.string()
        records_len = body.u64()
        records_pos = body.pos
        body.take(records_len)
        chunk = _Chunk(records_pos, records_len, size, compression, {}, False, crc)
        self._chunks.append(chunk)
        return chunk

    def _chunk_records(self, chunk: _Chunk) -> memoryview:
        raw = self._buf[chunk.records_pos : chunk.records_pos + chunk.records_len]
        data = decompress(raw, chunk.compression, chunk.uncompressed_size)
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
            offs = np.asarray(self._loose[cid], dtype=np.int64)
            parts.append(gather_u64(self._arr, offs + 15))
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def read_topics(self, topics: Sequence[str]) -> dict[str, RawMessages]:
        """Raw payloads of ``topics`` (each in file order) with their log times."""
        by_topic = self.topic_channels()
        wanted = {c.channel_id: t for t in topics for c in by_topic.get(t, [])}
        times: dict[str, list[np.ndarray]] = {t: [] for t in topics}
        segments: dict[str, list[PayloadSegment]] = {t: [] for t in topics}
        try:
            for chunk in self._chunks:
                cids = [c for c in chunk.index if c in wanted and len(chunk.index[c])]
                if not cids:
                    continue
                data = self._chunk_records(chunk)
                arr = np.frombuffer(data, dtype=np.uint8)
                for cid in cids:
                    offsets = np.sort(chunk.index[cid]["offset"].astype(np.int64), kind="stable")
                    seg, t = _locate(arr, offsets)
                    times[wanted[cid]].append(t)
                    segments[wanted[cid]].append(seg)
            for cid, offs in self._loose.items():
                if cid in wanted:
                    seg, t = _locate(self._arr, np.asarray(offs, dtype=np.int64))
                    times[wanted[cid]].append(t)
                    segments[wanted[cid]].append(seg)
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
            if not chans:
                continue
            t = np.concatenate(times[topic]) if times[topic] else np.zeros(0, dtype=np.int64)
            out[topic] = RawMessages(topic, chans[0].as_connection(), t, tuple(segments[topic]))
        return out


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
