"""ROS 1 bag records: header fields, and where message payloads sit inside a chunk.

What belongs here: the record-level byte layout shared by the container reader
(`ros1_bag`): parsing a record header's ``name=value`` fields, and locating the
payloads of many message records of one chunk at once with numpy
(`locate_payloads`). Nothing here opens files.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

BAG_MAGIC = b"#ROSBAG V2.0\n"
OP_MSG_DATA = 0x02
OP_BAG_HEADER = 0x03
OP_INDEX_DATA = 0x04
OP_CHUNK = 0x05
OP_CHUNK_INFO = 0x06
OP_CONNECTION = 0x07


# Payloads above this size (camera frames) stay in an uncompressed bag: only their first
# PAYLOAD_PREFIX bytes (the message header, the image format, the data length) are copied.
LARGE_PAYLOAD = 4096
PAYLOAD_PREFIX = 512
PAYLOAD_TAIL = 16
"""The last bytes of such a payload kept too: a camera frame's end (the JPEG end-of-image
marker, which the camera checks look for in every frame)."""
GATHER_BYTES = 64 << 10
"""Payload rows gathered per step into a topic's matrix (`TopicPayloads.add`)."""


T = TypeVar("T")


class Truncated(Exception):
    """A read ran past the end of the buffer (the container maps it to truncated_file)."""


@dataclass(frozen=True, eq=False)
class PayloadSegment:
    """Payloads of one topic inside one chunk: ``buffer[starts[i] : starts[i] + lengths[i]]``."""

    buffer: np.ndarray  # uint8, the chunk's (decompressed) data, or the payloads copied out
    starts: np.ndarray  # int64
    lengths: np.ndarray  # int64, each payload's whole length
    kept: np.ndarray | None = None
    """Bytes of each payload in ``buffer`` when large payloads were left in the file (their
    first bytes only, for the message header); None when every payload is whole."""
    file_starts: np.ndarray | None = None
    """Each payload's position in the file, when the chunk is stored uncompressed."""
    tails: np.ndarray | None = None
    """(payloads, `PAYLOAD_TAIL`) uint8: each payload's last bytes, when ``kept`` cut any."""

    def compact(self, file_offset: int | None) -> PayloadSegment:
        """The payloads copied out of the chunk buffer, so the chunk can be dropped. With
        ``file_offset`` (the chunk lies uncompressed in the file there), payloads above
        `LARGE_PAYLOAD` bytes keep only their first `PAYLOAD_PREFIX` bytes and their file
        positions: a camera frame is read from the file when it is used, not held."""
        n = len(self.starts)
        file_starts = None if file_offset is None else self.starts + file_offset
        if n == 0:
            return PayloadSegment(
                self.buffer[:0].copy(), self.starts, self.lengths, None, file_starts
            )
        size = int(self.lengths[0])
        if np.all(self.lengths == size) and size <= LARGE_PAYLOAD:
            rows = windows(self.buffer, size)[self.starts] if size else np.zeros((n, 0), np.uint8)
            starts = np.arange(n, dtype=np.int64) * size
            return PayloadSegment(rows.ravel(), starts, self.lengths, None, file_starts)
        keep = self.lengths
        if file_offset is not None:
            keep = np.where(keep > LARGE_PAYLOAD, np.minimum(keep, PAYLOAD_PREFIX), keep)
        view = memoryview(self.buffer.data)
        parts = [view[a : a + k] for a, k in zip(self.starts.tolist(), keep.tolist(), strict=True)]
        buffer = np.frombuffer(b"".join(parts), dtype=np.uint8)
        starts = np.concatenate([[0], np.cumsum(keep)[:-1]]).astype(np.int64)
        truncated = bool(np.any(keep != self.lengths))
        tails = None
        if truncated:  # every cut payload is longer than its tail (LARGE_PAYLOAD)
            last = np.maximum(self.starts + self.lengths - PAYLOAD_TAIL, 0)
            tails = windows(self.buffer, PAYLOAD_TAIL)[last]
        return PayloadSegment(
            buffer, starts, self.lengths, keep if truncated else None, file_starts, tails
        )


class TopicPayloads:
    """A topic's payloads gathered chunk by chunk into as few copies as possible.

    While every message has one size (the usual signal topic), the rows go straight into one
    preallocated (messages x size) matrix: one copy of the payload bytes in all, which
    `RawMessages.fixed_matrix` then returns without copying again. Anything else (sizes that
    vary, camera frames) is kept as compact per-chunk segments (`PayloadSegment.compact`)."""

    def __init__(self, n_total: int) -> None:
        self._n_total = n_total
        self._matrix: np.ndarray | None = None
        self._rows = 0
        self._segments: list[PayloadSegment] = []
        self._uniform = True

    def _flush_matrix(self) -> None:
        if self._matrix is None:
            return
        size = self._matrix.shape[1]
        rows = self._rows
        self._segments.append(
            PayloadSegment(
                self._matrix[:rows].reshape(-1),
                np.arange(rows, dtype=np.int64) * size,
                np.full(rows, size, dtype=np.int64),
            )
        )
        self._matrix = None

    def add(self, seg: PayloadSegment, file_offset: int | None) -> None:
        n = len(seg.starts)
        if n == 0:
            return
        size = int(seg.lengths[0])
        fits = (
            self._uniform
            and 0 < size <= LARGE_PAYLOAD
            and bool(np.all(seg.lengths == size))
            and (self._matrix is None or self._matrix.shape[1] == size)
        )
        if fits:
            if self._matrix is None:
                self._matrix = np.empty((self._n_total, size), dtype=np.uint8)
            # Rows are gathered a few at a time: the gathered rows are a temporary, and one
            # above 128 kB is a fresh mapping in a batch process (`pipeline.heap`), zeroed page
            # by page; below, the heap reuses one block.
            rows = windows(seg.buffer, size)
            step = max(1, GATHER_BYTES // size)
            for i in range(0, n, step):
                part = seg.starts[i : i + step]
                self._matrix[self._rows + i : self._rows + i + len(part)] = rows[part]
            self._rows += n
            return
        self._uniform = False
        self._flush_matrix()
        self._segments.append(seg.compact(file_offset))

    def segments(self) -> tuple[PayloadSegment, ...]:
        self._flush_matrix()
        return tuple(self._segments)


def in_batches(units: Sequence[tuple[T, int]], batch_messages: int | None) -> list[list[T]]:
    """Consecutive ``units`` (a chunk, a block: each with its number of wanted messages)
    grouped into batches of about ``batch_messages`` messages (None: one batch). A unit is
    never split, so a batch holds at least one; there is always at least one batch."""
    batches: list[list[T]] = [[]]
    held = 0
    for unit, n in units:
        if batch_messages is not None and held and held + n > batch_messages:
            batches.append([])
            held = 0
        batches[-1].append(unit)
        held += n
    return batches


def parse_header(buf: bytes | memoryview) -> dict[str, bytes]:
    """The ``name=value`` fields of a record header (values as raw bytes)."""
    fields: dict[str, bytes] = {}
    pos = 0
    end = len(buf)
    while pos < end:
        if pos + 4 > end:
            raise ValueError("record header field length runs past the header")
        (flen,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if pos + flen > end:
            raise ValueError("record header field runs past the header")
        raw = bytes(buf[pos : pos + flen])
        pos += flen
        name, sep, value = raw.partition(b"=")
        if not sep:
            raise ValueError("record header field without '='")
        fields[name.decode("ascii", "replace")] = value
    return fields


def header_u32(fields: dict[str, bytes], name: str) -> int:
    return int(struct.unpack("<I", fields[name][:4])[0])


def header_u64(fields: dict[str, bytes], name: str) -> int:
    return int(struct.unpack("<Q", fields[name][:8])[0])


def op_code(fields: dict[str, bytes]) -> int:
    if "op" not in fields or len(fields["op"]) != 1:
        raise ValueError("record header has no op code")
    return fields["op"][0]


def gather_u32(arr: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Little-endian uint32 values at byte ``offsets`` of ``arr`` (int64)."""
    if len(offsets) and (int(offsets.min()) < 0 or int(offsets.max()) + 4 > len(arr)):
        raise Truncated
    if len(offsets) == 0:
        return np.zeros(0, dtype=np.int64)
    words = np.ascontiguousarray(windows(arr, 4)[offsets])
    return words.view("<u4").ravel().astype(np.int64)


def windows(arr: np.ndarray, width: int) -> np.ndarray:
    """A read-only (len - width + 1, width) view: row i is ``arr[i : i + width]``."""
    n = max(len(arr) - width + 1, 0)
    return as_strided(arr, shape=(n, width), strides=(1, 1), writeable=False)


def _message_record(data: memoryview, offset: int) -> tuple[int, int, int, int]:
    """(record start, header length, payload start, payload length) of the message at ``offset``.

    An index entry may point at a connection record written just before the
    connection's first message in a chunk; such records are skipped.
    """
    pos = offset
    while True:
        if pos + 4 > len(data):
            raise Truncated
        (hlen,) = struct.unpack_from("<I", data, pos)
        if pos + 8 + hlen > len(data):
            raise Truncated
        fields = parse_header(data[pos + 4 : pos + 4 + hlen])
        (dlen,) = struct.unpack_from("<I", data, pos + 4 + hlen)
        start = pos + 8 + hlen
        if start + dlen > len(data):
            raise Truncated
        op = op_code(fields)
        if op == OP_MSG_DATA:
            return pos, hlen, start, dlen
        if op != OP_CONNECTION:
            raise ValueError(f"index points at a record with op {op:#x}, not message data")
        pos = start + dlen


def locate_payloads(data: memoryview, arr: np.ndarray, offsets: np.ndarray) -> PayloadSegment:
    """Where the payloads of the message records at ``offsets`` of one chunk are, vectorised.

    The first record is parsed in Python; every other record whose header has the
    same length and the same bytes apart from its time and connection values (the common
    case) is located with numpy. The rest are parsed one by one. The offsets may belong to
    several connections: a chunk's records are located in one call.
    """
    if len(offsets) == 0:
        return PayloadSegment(arr, offsets, offsets.copy())
    rec0, hlen, _, _ = _message_record(data, int(offsets[0]))
    template = arr[rec0 + 4 : rec0 + 4 + hlen]
    mask = _time_mask(bytes(template))
    ok = gather_u32(arr, offsets) == hlen
    ok_off = offsets[ok]
    if len(ok_off) and int(ok_off.max()) + 8 + hlen > len(arr):
        raise Truncated
    headers = windows(arr, hlen)[ok_off + 4]
    same = np.all((headers == template) | mask, axis=1)
    ok[np.flatnonzero(ok)[~same]] = False
    starts = offsets + 8 + hlen
    lengths = np.zeros(len(offsets), dtype=np.int64)
    lengths[ok] = gather_u32(arr, offsets[ok] + 4 + hlen)
    for i in np.flatnonzero(~ok):
        _, _, start, dlen = _message_record(data, int(offsets[i]))
        starts[i], lengths[i] = start, dlen
    if int((starts + lengths).max()) > len(arr):
        raise Truncated
    return PayloadSegment(arr, starts, lengths)


_VARYING_FIELDS = {b"time=": 9, b"conn=": 9}
"""Message header fields whose values differ from record to record: name and where the value
starts (4 length bytes + the name)."""


def _time_mask(header: bytes) -> np.ndarray:
    """Boolean mask over a message record header: True on the bytes of the time and
    connection values."""
    mask = np.zeros(len(header), dtype=bool)
    pos = 0
    while pos + 4 <= len(header):
        (flen,) = struct.unpack_from("<I", header, pos)
        field = header[pos + 4 : pos + 4 + flen]
        value_at = _VARYING_FIELDS.get(field[:5])
        if value_at is not None:
            mask[pos + value_at : pos + 4 + flen] = True
        pos += 4 + flen
    return mask
