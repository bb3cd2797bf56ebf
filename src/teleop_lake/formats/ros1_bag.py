"""ROS 1 bag (format v2.0) container reading: connections, index, raw message payloads.

What belongs here: the byte-level layout of the bag *container* (records, chunks,
index) and nothing about what the messages mean. `Ros1Bag` reads (with ``pread``, a
record or a chunk at a time) the bag header, the connection and chunk-info records at the
end, and the per-chunk index records (with numpy, not one Python object per message), then
hands out the raw serialized payloads of chosen topics in the order they were
recorded. Message decoding lives in `ros1_layout`; the Kuavo mapping in
`kuavo_ros1`.

Why not ``rosbags.rosbag1.Reader``: it builds a Python object per index entry on
open and parses every record header in Python on read, which costs more than the
whole decode budget of a 60 s, 500 Hz episode. Message *definitions* and the
per-message fallback still come from rosbags' type system.

Errors are `BagReadError` with ``code`` "truncated_file" (the file is shorter than
its own structure says, or was never indexed because the recorder did not close
it) or "corrupt_file" (it cannot be parsed at all).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from teleop_lake.formats.inflate import inflate
from teleop_lake.formats.ros1_records import (
    BAG_MAGIC,
    LARGE_PAYLOAD,
    OP_BAG_HEADER,
    OP_CHUNK,
    OP_CHUNK_INFO,
    OP_CONNECTION,
    OP_INDEX_DATA,
    PAYLOAD_PREFIX,
    PAYLOAD_TAIL,
    PayloadSegment,
    TopicPayloads,
    Truncated,
    header_u32,
    header_u64,
    in_batches,
    locate_payloads,
    op_code,
    parse_header,
    windows,
)

_INDEX_ENTRY = np.dtype([("sec", "<u4"), ("nsec", "<u4"), ("offset", "<u4")])

# A record length above this is read as garbage ("corrupt"), below it a record running
# past the end of the file as a cut file ("truncated"). Recorders split chunks at a few
# MB and single camera frames stay far below 1 GiB.
MAX_RECORD_BYTES = 1 << 30
RECORD_PEEK = 16 << 10
"""Bytes read at once at a record's start (`Ros1Bag._record`): a chunk's index records
usually fit, and are then parsed from one read."""
BATCH_MESSAGES = 25_000
"""Messages per batch when a bag is read batch by batch (`Ros1Bag.read_topic_batches`): at
a Kuavo rig's ~1.6 kHz of signal messages about 15 s, some 15 MB of payloads. Batches of
100,000 held 50-60 MB more at the read's peak for the same CPU."""

SPAN_BYTES = 8 << 20
"""Consecutive uncompressed chunks are read together up to this many bytes (`_spans`)."""
SPAN_GAP_BYTES = 256 << 10
"""Bytes between two chunks (their index records, the next chunk's header) still read along."""
RECORD_HEAD = 1024
"""Bytes read at the start of a large record whose middle is skipped (`_sparse_plan`): its
header, its length and the `PAYLOAD_PREFIX` the reader keeps of a large payload."""
SKIP_MIN = RECORD_HEAD + LARGE_PAYLOAD + PAYLOAD_TAIL
"""A wanted record spanning more bytes than this (by its index) has its middle skipped: its
payload is then certainly above `LARGE_PAYLOAD`, of which only the head and tail are kept."""
READ_MERGE_BYTES = 16 << 10
"""Ranges of a sparse read this close are read as one (a syscall costs about as much)."""

ErrorCode = Literal["truncated_file", "corrupt_file"]


class BagReadError(Exception):
    """A bag that cannot be read; ``code`` is a `teleop_lake.rejection` reason code."""

    def __init__(self, code: ErrorCode, message: str, path: Path) -> None:
        self.code = code
        self.path = path
        super().__init__(f"{path.name}: {message}")


@dataclass(frozen=True)
class BagConnection:
    """One connection record: a topic with its type and embedded definition."""

    conn_id: int
    topic: str
    msgtype: str  # as written in the bag, e.g. "kuavo_msgs/sensorsData"
    msgdef: str  # full ROS 1 definition text with dependencies ("" when absent)
    md5sum: str


@dataclass(frozen=True)
class TopicInfo:
    """Summary of one topic of a bag file (`list_topics`)."""

    topic: str
    msgtype: str
    count: int
    first_ns: int
    last_ns: int
    mean_rate_hz: float
    max_gap_s: float = 0.0  # longest interval between consecutive messages

    @classmethod
    def from_times(cls, topic: str, msgtype: str, t_ns: np.ndarray) -> TopicInfo:
        """Summary of one stream from its (record) times in ns, any order."""
        t = np.sort(np.asarray(t_ns, dtype=np.int64))
        count = len(t)
        first = int(t[0]) if count else 0
        last = int(t[-1]) if count else 0
        rate = (count - 1) / ((last - first) / 1e9) if count > 1 and last > first else 0.0
        gap = float(np.diff(t).max()) / 1e9 if count > 1 else 0.0
        return cls(topic, msgtype, count, first, last, rate, gap)


@dataclass(frozen=True, eq=False)
class RawMessages:
    """Serialized payloads of one topic in recorded order, with their bag record times."""

    topic: str
    connection: BagConnection
    t_record_ns: np.ndarray  # int64, bag record time (recorder clock)
    segments: tuple[PayloadSegment, ...]
    path: Path | None = None  # the bag, where segments with a file offset lie

    @property
    def n_messages(self) -> int:
        return len(self.t_record_ns)

    def lengths(self) -> np.ndarray:
        if not self.segments:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([s.lengths for s in self.segments])

    def payloads(self) -> Iterator[memoryview]:
        """Each payload as a memoryview, in order (for per-message decoding)."""
        for seg in self.segments:
            if seg.kept is not None:
                raise ValueError(f"{self.topic}: payloads above 4 kB were left in the file")
            view = memoryview(seg.buffer.data)
            for start, length in zip(seg.starts.tolist(), seg.lengths.tolist(), strict=True):
                yield view[start : start + length]

    def fixed_matrix(self) -> np.ndarray | None:
        """All payloads as one (n, msg_len) uint8 array, or None when lengths differ.

        Rows are gathered per chunk from a sliding-window view of the chunk, so the
        cost is one copy of the payload bytes and no per-message Python work.
        """
        lengths = self.lengths()
        if len(lengths) == 0:
            return np.zeros((0, 0), dtype=np.uint8)
        size = int(lengths[0])
        if not np.all(lengths == size):
            return None
        if size == 0:
            return np.zeros((len(lengths), 0), dtype=np.uint8)
        one = self.segments[0] if len(self.segments) == 1 else None
        if (
            one is not None
            and one.kept is None
            and len(one.buffer) == len(lengths) * size
            and np.array_equal(one.starts, np.arange(len(lengths)) * size)
        ):
            view = one.buffer.reshape(len(lengths), size)  # already one matrix: no copy
            view.flags.writeable = False
            return view
        out = np.empty((len(lengths), size), dtype=np.uint8)
        row = 0
        for seg in self.segments:
            n = len(seg.starts)
            out[row : row + n] = windows(seg.buffer, size)[seg.starts]
            row += n
        return out


@dataclass(frozen=True)
class _Chunk:
    pos: int
    data_pos: int
    data_len: int
    compression: str
    index: dict[int, np.ndarray]  # conn id -> index entries (_INDEX_ENTRY)
    size: int  # the chunk's data inflated, as its header states
    offsets: np.ndarray  # int64: every indexed record's offset (any connection), sorted


class Ros1Bag:
    """A ROS 1 bag opened for reading. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = self.path.open("rb")
        try:
            size = self.path.stat().st_size
            if size == 0:
                raise BagReadError("truncated_file", "the file is empty", self.path)
            self._size = size
            self.connections: dict[int, BagConnection] = {}
            self._chunks: list[_Chunk] = []
            self._chunk_buf = bytearray()
            self._window_pos, self._window = 0, b""
            self._open()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Ros1Bag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file. Payloads handed out are copies (or file positions): they stay valid."""
        self._file.close()

    # -- low-level record access ------------------------------------------------
    def _check(self, pos: int, n: int) -> None:
        if pos < 0 or n < 0 or pos + n > self._size:
            raise Truncated

    def _read(self, pos: int, n: int) -> memoryview:
        """``n`` bytes at ``pos``, read with pread. Not through a memory map: a page fault maps
        its cached neighbours too, which counted most of a freshly written bag in the RSS."""
        self._check(pos, n)
        off = pos - self._window_pos
        if off >= 0 and off + n <= len(self._window):  # within the last record's first bytes
            return memoryview(self._window)[off : off + n]
        data = os.pread(self._file.fileno(), n, pos)
        if len(data) != n:
            raise Truncated
        return memoryview(data)

    def _read_chunk_bytes(self, pos: int, n: int) -> memoryview:
        """``n`` bytes at ``pos`` in the reused chunk buffer (see `_chunk_data`)."""
        self._check(pos, n)
        if len(self._chunk_buf) < n:  # grown once to a whole span, not span by span
            self._chunk_buf = bytearray(max(n, min(SPAN_BYTES, self._size)))
        view = memoryview(self._chunk_buf)[:n]
        if os.preadv(self._file.fileno(), [view], pos) != n:
            raise Truncated
        return view

    def _record(self, pos: int) -> tuple[dict[str, bytes], int, int, int]:
        """(header fields, data position, data length, next record position) at ``pos``.

        One read of up to `RECORD_PEEK` bytes covers most headers, and the records after it
        while they lie inside it (a chunk's index records): opening a bag reads thousands."""
        self._check(pos, 4)
        off = pos - self._window_pos
        held = off >= 0 and off + 4 <= len(self._window)
        if held:
            (hlen,) = struct.unpack_from("<I", self._window, off)
            held = off + 8 + hlen <= len(self._window)
        if not held:
            head = os.pread(self._file.fileno(), min(RECORD_PEEK, self._size - pos), pos)
            if len(head) < 4:
                raise Truncated
            self._window_pos, self._window = pos, head
            (hlen,) = struct.unpack_from("<I", head, 0)
        if hlen > MAX_RECORD_BYTES:
            raise ValueError(f"record at offset {pos} claims a {hlen}-byte header")
        # served from the window read above when it holds them (`_read`)
        fields = parse_header(self._read(pos + 4, hlen))
        (dlen,) = struct.unpack("<I", self._read(pos + 4 + hlen, 4))
        if dlen > MAX_RECORD_BYTES:
            raise ValueError(f"record at offset {pos} claims {dlen} bytes of data")
        data_pos = pos + 8 + hlen
        self._check(data_pos, dlen)
        return fields, data_pos, dlen, data_pos + dlen

    def _open(self) -> None:
        magic = bytes(self._read(0, min(len(BAG_MAGIC), self._size)))
        if magic != BAG_MAGIC:
            if BAG_MAGIC.startswith(magic):
                raise BagReadError("truncated_file", "the file ends inside its magic", self.path)
            raise BagReadError("corrupt_file", "not a ROS 1 bag v2.0 (bad magic line)", self.path)
        try:
            self._open_index()
        except Truncated:
            raise BagReadError(
                "truncated_file",
                f"the file ends early ({self._size} bytes) inside a record; "
                "ask the center to re-deliver it",
                self.path,
            ) from None
        except (ValueError, KeyError, struct.error) as err:
            raise BagReadError(
                "corrupt_file", f"cannot parse the bag structure: {err}", self.path
            ) from None

    def _open_index(self) -> None:
        header, _, _, _ = self._record(len(BAG_MAGIC))
        if op_code(header) != OP_BAG_HEADER:
            raise ValueError("first record is not a bag header")
        index_pos = header_u64(header, "index_pos")
        conn_count = header_u32(header, "conn_count")
        chunk_count = header_u32(header, "chunk_count")
        if index_pos == 0:
            raise BagReadError(
                "truncated_file",
                "the bag has no index (the recorder did not close it); "
                "run `rosbag reindex` on it and re-deliver",
                self.path,
            )
        if index_pos > self._size:
            raise Truncated
        pos = index_pos
        for _ in range(conn_count):
            fields, data_pos, dlen, pos = self._record(pos)
            if op_code(fields) != OP_CONNECTION:
                raise ValueError("expected a connection record in the index section")
            conn = _connection(fields, parse_header(self._read(data_pos, dlen)))
            self.connections[conn.conn_id] = conn
        chunk_infos: list[tuple[int, int, dict[int, int]]] = []
        for _ in range(chunk_count):
            fields, data_pos, dlen, pos = self._record(pos)
            if op_code(fields) != OP_CHUNK_INFO:
                raise ValueError("expected a chunk info record in the index section")
            n_conns = header_u32(fields, "count")
            if dlen != 8 * n_conns:
                raise ValueError("a chunk info record's size disagrees with its count")
            counts = dict(struct.iter_unpack("<II", self._read(data_pos, dlen)))
            chunk_infos.append((header_u64(fields, "chunk_pos"), n_conns, counts))
        for chunk_pos, n_conns, counts in sorted(chunk_infos, key=lambda c: c[0]):
            chunk = self._read_chunk(chunk_pos, n_conns)
            # The summary at the end and the index after the chunk are written from the same
            # counts: where they differ the file is damaged (a changed count would otherwise
            # drop a connection's messages of that chunk without a word).
            if counts != {cid: len(e) for cid, e in chunk.index.items()}:
                raise ValueError(
                    f"the chunk at offset {chunk_pos}: its index and the file's summary "
                    "disagree on its messages"
                )
            self._chunks.append(chunk)
        self._check_connections()

    def _check_connections(self) -> None:
        """Each connection as the index section describes it must match its copy written in
        the chunk before the connection's first message (where the writer wrote one: rosbag
        and rosbags do): a damaged index section would otherwise rename a topic (a camera
        then missing from the recording without a word) or change a message definition."""
        first: dict[int, int] = {}  # connection -> the first chunk holding its messages
        for k, chunk in enumerate(self._chunks):
            for cid in chunk.index:
                first.setdefault(cid, k)
        for k in sorted(set(first.values())):
            chunk = self._chunks[k]
            wanted = {cid for cid, c in first.items() if c == k and cid in self.connections}
            if not wanted:
                continue
            data = self._chunk_data(chunk)
            until = max(int(chunk.index[cid]["offset"].min()) for cid in wanted)
            pos = 0
            while wanted and pos <= until and pos + 4 <= len(data):
                (hlen,) = struct.unpack_from("<I", data, pos)
                if pos + 8 + hlen > len(data):
                    break
                fields = parse_header(data[pos + 4 : pos + 4 + hlen])
                (dlen,) = struct.unpack_from("<I", data, pos + 4 + hlen)
                cid = header_u32(fields, "conn") if op_code(fields) == OP_CONNECTION else -1
                if cid in wanted:
                    wanted.discard(cid)
                    start = pos + 8 + hlen
                    copy = _connection(fields, parse_header(data[start : start + dlen]))
                    conn = self.connections[cid]
                    if copy != conn:
                        raise ValueError(
                            f"connection {cid} ({conn.topic!r}) in the index section "
                            f"differs from its copy in the chunk at offset {chunk.pos} "
                            f"({copy.topic!r}): the file is damaged"
                        )
                pos += 8 + hlen + dlen

    def _read_chunk(self, chunk_pos: int, n_conns: int) -> _Chunk:
        fields, data_pos, dlen, pos = self._record(chunk_pos)
        if op_code(fields) != OP_CHUNK:
            raise ValueError(f"no chunk record at offset {chunk_pos}")
        compression = fields.get("compression", b"none").decode("ascii", "replace")
        index: dict[int, np.ndarray] = {}
        for _ in range(n_conns):
            ifields, idata_pos, idlen, pos = self._record(pos)
            if op_code(ifields) != OP_INDEX_DATA:
                raise ValueError(f"expected index records after the chunk at {chunk_pos}")
            count = header_u32(ifields, "count")
            if idlen != count * _INDEX_ENTRY.itemsize:
                raise ValueError(f"index record of chunk {chunk_pos} has a wrong size")
            entries = np.frombuffer(self._read(idata_pos, idlen), dtype=_INDEX_ENTRY).copy()
            conn_id = header_u32(ifields, "conn")
            prev = index.get(conn_id)
            index[conn_id] = entries if prev is None else np.concatenate([prev, entries])
        size = header_u32(fields, "size") if compression != "none" else dlen
        every = [e["offset"] for e in index.values()]
        # sorted, repeats kept: `_record_ends` looks up the next larger offset either way
        offsets = np.sort(np.concatenate(every)) if every else np.zeros(0)
        return _Chunk(chunk_pos, data_pos, dlen, compression, index, size, offsets.astype(np.int64))

    # -- public -------------------------------------------------------------------
    def topic_connections(self) -> dict[str, list[BagConnection]]:
        out: dict[str, list[BagConnection]] = {}
        for conn in sorted(self.connections.values(), key=lambda c: c.conn_id):
            out.setdefault(conn.topic, []).append(conn)
        return out

    def record_times_ns(self, conn_ids: Iterable[int]) -> np.ndarray:
        """Bag record times of the given connections' messages, in file order."""
        ids = set(conn_ids)
        parts = [
            _entry_times_ns(e) for ch in self._chunks for cid, e in ch.index.items() if cid in ids
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def read_topics(self, topics: Sequence[str]) -> dict[str, RawMessages]:
        """Raw payloads of ``topics`` (each in recorded order); one pass over the chunks."""
        for batch in self.read_topic_batches(topics, batch_messages=None):
            return batch
        return {}

    def read_topic_batches(
        self, topics: Sequence[str], batch_messages: int | None = BATCH_MESSAGES
    ) -> Iterator[dict[str, RawMessages]]:
        """Raw payloads of ``topics`` in batches of consecutive chunks holding about
        ``batch_messages`` of their messages (None: one batch), in file order; one pass over
        the chunks. A reader that decodes each batch before taking the next holds one
        batch's payloads, not the bag's."""
        by_topic = self.topic_connections()
        wanted = {c.conn_id: t for t in topics for c in by_topic.get(t, [])}
        units = [
            (chunk, sum(len(e) for cid, e in chunk.index.items() if cid in wanted))
            for chunk in self._chunks
        ]
        batches = in_batches([(c, n) for c, n in units if n], batch_messages)
        for i, chunks in enumerate(batches):
            # the first batch names every topic the bag has, even one without messages
            yield self._read_chunks(topics, by_topic, wanted, chunks, keep_empty=i == 0)

    def _read_chunks(
        self,
        topics: Sequence[str],
        by_topic: dict[str, list[BagConnection]],
        wanted: dict[int, str],
        chunks: list[_Chunk],
        keep_empty: bool,
    ) -> dict[str, RawMessages]:
        times: dict[str, list[np.ndarray]] = {t: [] for t in topics}
        counts: dict[str, int] = dict.fromkeys(topics, 0)
        for chunk in chunks:
            for cid, entries in chunk.index.items():
                if cid in wanted:
                    counts[wanted[cid]] += len(entries)
        gathered = {t: TopicPayloads(counts[t]) for t in topics}

        def read_span(span: list[_Chunk], sparse: bool, whole: np.ndarray | None = None) -> None:
            """Locate and keep the span's wanted records; ``sparse``: skip frame middles, but
            not of the records ``whole`` marks (those a first sparse try missed)."""
            compressed = span[0].compression != "none"
            in_file = None if compressed else span[0].data_pos
            # Per topic, its records in file order: chunk by chunk, connection by connection.
            # Each record must lie inside its own chunk, not merely inside the span.
            order: dict[str, list[tuple[np.ndarray, int, int, np.ndarray]]] = {}
            for chunk in span:
                if in_file is None:  # one compressed chunk: its decompressed bytes
                    begin, end = 0, chunk.size
                else:
                    begin = chunk.data_pos - in_file
                    end = begin + chunk.data_len
                record_ends = _record_ends(chunk) + begin
                for cid, entries in chunk.index.items():
                    if cid in wanted:
                        ends = record_ends[
                            np.searchsorted(chunk.offsets, entries["offset"], "right")
                        ]
                        order.setdefault(wanted[cid], []).append((entries, begin, end, ends))
            parts = [part for topic_parts in order.values() for part in topic_parts]
            offsets = np.concatenate([e["offset"].astype(np.int64) + b for e, b, _, _ in parts])
            limits = np.concatenate([np.full(len(e), end, np.int64) for e, _, end, _ in parts])
            ends = np.concatenate([x for _, _, _, x in parts])
            if sparse and in_file is not None:
                skip = ends - offsets > SKIP_MIN
                if whole is None:
                    data = self._read_ranges(in_file, _sparse_plan(offsets, ends, skip))
                else:  # the buffer still holds the first try: add the missed records whole
                    skip &= ~whole
                    flat = np.zeros(int(whole.sum()), dtype=bool)
                    extra = _sparse_plan(offsets[whole], ends[whole], flat)
                    # the view spans the whole plan, which ends where the last record does
                    data = self._read_ranges(in_file, extra, int(ends.max()))
            else:
                data, _ = self._span_data(span)
                skip = None
            arr = np.frombuffer(data, dtype=np.uint8)
            # every wanted record of the span located at once, then split by topic
            found = locate_payloads(data, arr, offsets)
            if len(offsets) and bool(np.any(found.starts + found.lengths > limits)):
                raise Truncated
            if skip is not None:
                missed = _read_misses(found, offsets, ends, skip)
                if missed.any():
                    raise _SparseMiss(missed)
            first = 0
            for topic, topic_parts in order.items():
                n = sum(len(e) for e, _, _, _ in topic_parts)
                rows = slice(first, first + n)
                first = rows.stop
                times[topic].append(
                    _entry_times_ns(np.concatenate([e for e, _, _, _ in topic_parts]))
                )
                seg = PayloadSegment(arr, found.starts[rows], found.lengths[rows])
                gathered[topic].add(seg, in_file)

        try:
            for span in _spans([c for c in chunks if any(cid in wanted for cid in c.index)]):
                try:
                    try:
                        read_span(span, sparse=True)
                    except _SparseMiss as miss:
                        # the records read over stale bytes (a connection record between a
                        # frame and the next index entry) are read whole, the rest as before
                        read_span(span, sparse=True, whole=miss.rows)
                    continue
                except (_SparseMiss, Truncated, ValueError, KeyError, struct.error):
                    pass  # nothing of the span was kept: judged on its whole bytes below
                try:
                    read_span(span, sparse=False)
                except (Truncated, ValueError, KeyError, struct.error):
                    if len(span) == 1:
                        raise
                    # chunk by chunk, a damaged index is judged as it is when chunks are read
                    # alone (a record cut by its chunk's end)
                    for chunk in span:
                        read_span([chunk], sparse=False)
        except Truncated:
            raise BagReadError(
                "truncated_file", "a chunk ends before the messages its index lists", self.path
            ) from None
        except (ValueError, KeyError, struct.error, OSError) as err:
            raise BagReadError(
                "corrupt_file", f"cannot read message data: {err}", self.path
            ) from None
        out: dict[str, RawMessages] = {}
        for topic in topics:
            topic_conns = by_topic.get(topic)
            if not topic_conns or (not counts[topic] and not keep_empty):
                continue  # not in the bag, or not in this batch
            t = np.concatenate(times[topic]) if times[topic] else np.zeros(0, dtype=np.int64)
            out[topic] = RawMessages(
                topic, topic_conns[0], t, gathered[topic].segments(), self.path
            )
        return out

    def _span_data(self, span: list[_Chunk]) -> tuple[memoryview, int | None]:
        """A span's bytes and their position in the file: the chunks stored uncompressed, read
        whole at once with the index records between them (a view into the reused buffer), or
        one compressed chunk decompressed (position None: its payloads are not in the file)."""
        first, last = span[0], span[-1]
        if first.compression != "none":
            return self._chunk_data(first), None
        end = last.data_pos + last.data_len
        return self._read_chunk_bytes(first.data_pos, end - first.data_pos), first.data_pos

    def _read_ranges(self, pos: int, ranges: np.ndarray, size: int | None = None) -> memoryview:
        """The bytes of ``ranges`` ((k, 2) begin and end, sorted, relative to ``pos``) read
        into the reused buffer at their places; what lies between them is left as it was
        (stale, or what an earlier read of the same span put there). The view runs to the last
        range's end, or ``size``."""
        n = int(ranges[-1, 1]) if len(ranges) else 0
        n = n if size is None else max(n, size)
        self._check(pos, n)
        if len(self._chunk_buf) < n:
            self._chunk_buf = bytearray(max(n, min(SPAN_BYTES, self._size)))
        view = memoryview(self._chunk_buf)[:n]
        fd = self._file.fileno()
        for begin, end in ranges.tolist():
            if os.preadv(fd, [view[begin:end]], pos + begin) != end - begin:
                raise Truncated
        return view

    def _chunk_data(self, chunk: _Chunk) -> memoryview:
        """The chunk's (decompressed) bytes, read into memory: the payloads located in it are
        copied out (`PayloadSegment.compact`) and the chunk is dropped. Reading through the
        memory map instead would map (and count in the RSS) nearly every page of the file,
        since a page fault maps its neighbours too.

        The view is valid until the next chunk is read: chunks are read into one buffer,
        reused. A new buffer per chunk is a fresh mapping (batch processes give every large
        block its own, `teleop_lake.pipeline.heap`) that the kernel maps and zeroes page by
        page: reading a bag's chunks cost about 5x the CPU that way."""
        raw = self._read_chunk_bytes(chunk.data_pos, chunk.data_len)
        try:
            return inflate(raw, chunk.compression, chunk.size)
        except ValueError as err:
            raise ValueError(f"the chunk at offset {chunk.pos}: {err}") from None


def _connection(fields: dict[str, bytes], info: dict[str, bytes]) -> BagConnection:
    """A connection record's header ``fields`` and data ``info`` as a `BagConnection`."""
    return BagConnection(
        conn_id=header_u32(fields, "conn"),
        topic=fields["topic"].decode("utf-8", "replace"),
        msgtype=info.get("type", b"").decode("utf-8", "replace"),
        msgdef=info.get("message_definition", b"").decode("utf-8", "replace"),
        md5sum=info.get("md5sum", b"").decode("ascii", "replace"),
    )


def _spans(chunks: list[_Chunk]) -> list[list[_Chunk]]:
    """``chunks`` (in file order) grouped into spans read with one ``pread`` each: consecutive
    uncompressed chunks, only index records between them, up to `SPAN_BYTES` in all. A
    compressed chunk is a span of its own. One read and one locate per span, not per chunk:
    a Kuavo bag with three 640x480 cameras has a 1 MB chunk every 0.15 s of recording."""
    spans: list[list[_Chunk]] = []
    for chunk in chunks:
        if spans and chunk.compression == "none" and spans[-1][0].compression == "none":
            last = spans[-1][-1]
            gap = chunk.data_pos - (last.data_pos + last.data_len)
            whole = chunk.data_pos + chunk.data_len - spans[-1][0].data_pos
            if 0 <= gap <= SPAN_GAP_BYTES and whole <= SPAN_BYTES:
                spans[-1].append(chunk)
                continue
        spans.append([chunk])
    return spans


class _SparseMiss(Exception):
    """A sparse read left out bytes some records turned out to need (`_read_misses`)."""

    def __init__(self, rows: np.ndarray) -> None:
        super().__init__(f"{int(rows.sum())} records need bytes a sparse read skipped")
        self.rows = rows  # bool, over the span's wanted records


def _record_ends(chunk: _Chunk) -> np.ndarray:
    """``chunk.offsets`` and the chunk's end: entry ``searchsorted(offsets, o, "right")`` is
    where the record at ``o`` ends as the index implies (the next indexed record of any
    connection, or the chunk's end)."""
    return np.append(chunk.offsets, chunk.size)


def _sparse_plan(offsets: np.ndarray, ends: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """The byte ranges ((k, 2), sorted, merged) a sparse read of the records at ``offsets``
    (ending at ``ends``) reads: each record whole, except those marked ``skip`` (camera
    frames), of which only the first `RECORD_HEAD` and the last `PAYLOAD_TAIL` bytes.

    A frame's bytes between are what the decode never looks at: a span of a Kuavo bag is 95%
    JPEG, which the release copies from the file later (`FileFrames`)."""
    whole = ~skip
    begins = np.concatenate([offsets[whole], offsets[skip], ends[skip] - PAYLOAD_TAIL])
    stops = np.concatenate([ends[whole], offsets[skip] + RECORD_HEAD, ends[skip]])
    order = np.argsort(begins, kind="stable")
    begins, stops = begins[order], np.maximum.accumulate(stops[order])
    if not len(begins):
        return np.zeros((0, 2), dtype=np.int64)
    # a new range where the gap from everything before it is wide enough to skip
    new = np.ones(len(begins), dtype=bool)
    new[1:] = begins[1:] - stops[:-1] > READ_MERGE_BYTES
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(begins)) - 1
    return np.stack([begins[first], stops[last]], axis=1)


def _read_misses(
    found: PayloadSegment, offsets: np.ndarray, ends: np.ndarray, skip: np.ndarray
) -> np.ndarray:
    """The located records (bool mask) parsed from, or keeping, bytes `_sparse_plan` did not
    read: a record reaching past the next index entry (read over stale bytes), or a skipped
    one whose header and kept prefix are not inside its head or whose payload does not end
    where the index says. None marked: everything parsed and kept was read."""
    payload_end = found.starts + found.lengths
    missed = payload_end > ends
    missed[skip] |= (found.starts[skip] + PAYLOAD_PREFIX > offsets[skip] + RECORD_HEAD) | (
        payload_end[skip] != ends[skip]
    )
    return missed


def _entry_times_ns(entries: np.ndarray) -> np.ndarray:
    return entries["sec"].astype(np.int64) * 1_000_000_000 + entries["nsec"].astype(np.int64)


def list_topics(path: Path) -> list[TopicInfo]:
    """Every topic of the bag at ``path``: type, message count, first/last record time, rate."""
    out: list[TopicInfo] = []
    with Ros1Bag(Path(path)) as bag:
        for topic, conns in sorted(bag.topic_connections().items()):
            t = bag.record_times_ns(c.conn_id for c in conns)
            types = ",".join(sorted({c.msgtype for c in conns}))
            out.append(TopicInfo.from_times(topic, types, t))
    return out
