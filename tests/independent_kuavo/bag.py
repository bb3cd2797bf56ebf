"""A ROS 1 bag (format version 2.0) writer, from the public format specification.

Standard library only. The file is what ``rosbag record`` writes:

- the magic line ``#ROSBAG V2.0\\n``;
- the bag header record (op 0x03: ``index_pos``, ``conn_count``, ``chunk_count``), padded with
  spaces to 4096 bytes and rewritten on close;
- chunk records (op 0x05: ``compression`` ``none`` or ``bz2``, ``size`` = uncompressed size),
  each holding message data records (op 0x02: ``conn``, ``time`` = record time) and the
  connection record (op 0x07) of every connection the first time it is used in the bag, before
  its first message (``repeat_connections=True`` instead repeats a connection's record in
  every chunk that carries its messages, as some other writers do);
- after each chunk, one index data record (op 0x04, ``ver`` 1) per connection in the chunk:
  (time, offset of the message record inside the uncompressed chunk) pairs, in time order;
- the index section at ``index_pos``: every connection record again, then one chunk info
  record (op 0x06, ``ver`` 1: ``chunk_pos``, ``start_time``, ``end_time``, per-connection
  message counts) per chunk.

Every record is ``<uint32 header_len><header><uint32 data_len><data>``; a header is a
sequence of ``<uint32 len>name=value`` fields (written in sorted name order, as the C++
recorder's ``std::map`` does). Integers are little endian; a time is uint32 seconds then
uint32 nanoseconds. A connection record's data is the subscriber's connection header:
``callerid``, ``latching``, ``md5sum``, ``message_definition``, ``topic``, ``type``.

The writer takes each connection's ``md5sum`` and ``message_definition`` as given;
`ros1_msg.MessageRegistry` computes them the ROS way (genmsg's md5 text and full text), so the
md5sums are the real ones, not placeholders.

A chunk is closed when its uncompressed size reaches ``chunk_threshold_bytes`` (the recorder's
``--chunksize``, 768 KiB by default). Messages are written in the order given; a recorder
writes them as it receives them, so record times are non-decreasing.
"""

from __future__ import annotations

import bz2
import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

MAGIC = b"#ROSBAG V2.0\n"
BAG_HEADER_RECORD_BYTES = 4096
DEFAULT_CHUNK_THRESHOLD_BYTES = 768 * 1024
INDEX_VERSION = 1
NANOSECONDS_PER_SECOND = 1_000_000_000

OP_MESSAGE_DATA = 0x02
OP_BAG_HEADER = 0x03
OP_INDEX_DATA = 0x04
OP_CHUNK = 0x05
OP_CHUNK_INFO = 0x06
OP_CONNECTION = 0x07

Compression = Literal["none", "bz2"]

_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_TIME = struct.Struct("<II")


def pack_time(t_ns: int) -> bytes:
    """A ROS time (uint32 sec, uint32 nsec) from integer nanoseconds since the epoch."""
    sec, nsec = divmod(int(t_ns), NANOSECONDS_PER_SECOND)
    return _TIME.pack(sec, nsec)


def encode_header(fields: dict[str, bytes]) -> bytes:
    """A record or connection header: ``<uint32 len>name=value`` fields, sorted by name."""
    out = bytearray()
    for name in sorted(fields):
        entry = name.encode() + b"=" + fields[name]
        out += _U32.pack(len(entry))
        out += entry
    return bytes(out)


def encode_record(fields: dict[str, bytes], data: bytes) -> bytes:
    header = encode_header(fields)
    return _U32.pack(len(header)) + header + _U32.pack(len(data)) + data


@dataclass(frozen=True)
class Connection:
    """One connection (one publisher of one topic as the recorder subscribed to it)."""

    conn_id: int
    topic: str
    msgtype: str
    md5sum: str
    message_definition: str
    callerid: str
    latching: bool

    def record(self) -> bytes:
        data = encode_header(
            {
                "callerid": self.callerid.encode(),
                "latching": b"1" if self.latching else b"0",
                "md5sum": self.md5sum.encode(),
                "message_definition": self.message_definition.encode(),
                "topic": self.topic.encode(),
                "type": self.msgtype.encode(),
            }
        )
        return encode_record(
            {
                "op": _U8.pack(OP_CONNECTION),
                "conn": _U32.pack(self.conn_id),
                "topic": self.topic.encode(),
            },
            data,
        )


@dataclass
class _OpenChunk:
    buffer: bytearray = field(default_factory=bytearray)
    index: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # conn -> (t, offset)
    connections_written: set[int] = field(default_factory=set)
    start_ns: int | None = None
    end_ns: int | None = None


@dataclass(frozen=True)
class _ChunkInfo:
    position: int
    start_ns: int
    end_ns: int
    counts: dict[int, int]


class BagWriter:
    """Writes one ROS 1 bag; use as a context manager or call `close`."""

    def __init__(
        self,
        path: Path | str,
        *,
        compression: Compression = "none",
        chunk_threshold_bytes: int = DEFAULT_CHUNK_THRESHOLD_BYTES,
        repeat_connections: bool = False,
    ) -> None:
        if compression not in ("none", "bz2"):
            raise ValueError(f"unsupported chunk compression {compression!r}")
        self.path = Path(path)
        self.compression: Compression = compression
        self.chunk_threshold_bytes = chunk_threshold_bytes
        self.repeat_connections = repeat_connections
        self._file: BinaryIO = self.path.open("wb")
        self._connections: list[Connection] = []
        self._used: set[int] = set()
        self._chunks: list[_ChunkInfo] = []
        self._chunk: _OpenChunk | None = None
        self._closed = False
        self._header_prefix: dict[int, bytes] = {}
        self._file.write(MAGIC)
        self._write_bag_header(index_pos=0)

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def add_connection(
        self,
        topic: str,
        msgtype: str,
        *,
        md5sum: str,
        message_definition: str,
        callerid: str,
        latching: bool = False,
    ) -> Connection:
        conn = Connection(
            conn_id=len(self._connections),
            topic=topic,
            msgtype=msgtype,
            md5sum=md5sum,
            message_definition=message_definition,
            callerid=callerid,
            latching=latching,
        )
        self._connections.append(conn)
        return conn

    def write(self, conn: Connection, record_time_ns: int, data: bytes) -> None:
        """Append one message with its record time (when the recorder received it)."""
        if self._closed:
            raise ValueError("bag is closed")
        chunk = self._chunk
        if chunk is None:
            chunk = self._chunk = _OpenChunk()
        first_in_bag = conn.conn_id not in self._used
        first_in_chunk = conn.conn_id not in chunk.connections_written
        if first_in_bag or (self.repeat_connections and first_in_chunk):
            chunk.buffer += conn.record()
            chunk.connections_written.add(conn.conn_id)
            self._used.add(conn.conn_id)
        t = int(record_time_ns)
        chunk.index.setdefault(conn.conn_id, []).append((t, len(chunk.buffer)))
        chunk.buffer += self._message_header(conn.conn_id, t)
        chunk.buffer += _U32.pack(len(data))
        chunk.buffer += data
        chunk.start_ns = t if chunk.start_ns is None else min(chunk.start_ns, t)
        chunk.end_ns = t if chunk.end_ns is None else max(chunk.end_ns, t)
        if len(chunk.buffer) >= self.chunk_threshold_bytes:
            self._flush_chunk()

    def _message_header(self, conn_id: int, t_ns: int) -> bytes:
        """``<header_len>`` and the header of a message data record (fields conn, op, time)."""
        if conn_id not in self._header_prefix:
            fields = encode_header({"conn": _U32.pack(conn_id), "op": _U8.pack(OP_MESSAGE_DATA)})
            self._header_prefix[conn_id] = fields + _U32.pack(len(b"time=") + _TIME.size) + b"time="
        prefix = self._header_prefix[conn_id]
        return _U32.pack(len(prefix) + _TIME.size) + prefix + pack_time(t_ns)

    def close(self) -> None:
        if self._closed:
            return
        self._flush_chunk()
        index_pos = self._file.tell()
        for conn in self._connections:
            if conn.conn_id in self._used:
                self._file.write(conn.record())
        for info in self._chunks:
            data = b"".join(_U32.pack(c) + _U32.pack(n) for c, n in sorted(info.counts.items()))
            self._file.write(
                encode_record(
                    {
                        "op": _U8.pack(OP_CHUNK_INFO),
                        "ver": _U32.pack(INDEX_VERSION),
                        "chunk_pos": _U64.pack(info.position),
                        "start_time": pack_time(info.start_ns),
                        "end_time": pack_time(info.end_ns),
                        "count": _U32.pack(len(info.counts)),
                    },
                    data,
                )
            )
        self._file.seek(len(MAGIC))
        self._write_bag_header(index_pos=index_pos)
        self._file.close()
        self._closed = True

    def _write_bag_header(self, *, index_pos: int) -> None:
        header = encode_header(
            {
                "op": _U8.pack(OP_BAG_HEADER),
                "index_pos": _U64.pack(index_pos),
                "conn_count": _U32.pack(len(self._used)),
                "chunk_count": _U32.pack(len(self._chunks)),
            }
        )
        padding = BAG_HEADER_RECORD_BYTES - len(header)
        self._file.write(_U32.pack(len(header)) + header + _U32.pack(padding) + b" " * padding)

    def _flush_chunk(self) -> None:
        chunk = self._chunk
        self._chunk = None
        if chunk is None or not chunk.index:
            return
        raw = bytes(chunk.buffer)
        payload = bz2.compress(raw) if self.compression == "bz2" else raw
        position = self._file.tell()
        self._file.write(
            encode_record(
                {
                    "op": _U8.pack(OP_CHUNK),
                    "compression": self.compression.encode(),
                    "size": _U32.pack(len(raw)),
                },
                payload,
            )
        )
        counts: dict[int, int] = {}
        for conn_id in sorted(chunk.index):
            entries = sorted(chunk.index[conn_id])
            counts[conn_id] = len(entries)
            data = b"".join(pack_time(t) + _U32.pack(offset) for t, offset in entries)
            self._file.write(
                encode_record(
                    {
                        "op": _U8.pack(OP_INDEX_DATA),
                        "ver": _U32.pack(INDEX_VERSION),
                        "conn": _U32.pack(conn_id),
                        "count": _U32.pack(len(entries)),
                    },
                    data,
                )
            )
        assert chunk.start_ns is not None and chunk.end_ns is not None
        self._chunks.append(_ChunkInfo(position, chunk.start_ns, chunk.end_ns, counts))
