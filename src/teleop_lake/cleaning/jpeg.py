"""What a JPEG frame's own headers say, without decoding it: its size, and whether it is whole.

A JPEG is a chain of marker segments: start of image (FFD8), tables, a start-of-frame segment
(SOF0..SOF15 but DHT, JPG and DAC) holding the height, width and components, the start of scan
(FFDA) after which the entropy-coded data runs to the end-of-image marker (FFD9). Walking the
segment headers up to the scan costs a few hundred bytes of reading per frame; a frame cut short
in transfer lacks its end marker, a damaged one breaks the chain. Pure: bytes in, facts out.

Inside the scan data an encoder writes 0xFF only as a stuffed 0xFF00, a restart marker
(0xFFD0-D7), fill bytes, or a segment that may sit between the scans of a multi-scan frame
(tables, arithmetic conditioning, SOS, DRI, DNL, comments, APPn); the end-of-image marker
ends it. Any other byte after
a 0xFF there (a reserved value, a start of frame or of image, an early end of image) is damage:
random bytes written over a frame show one within a few hundred bytes (`scan_damage`, vectorised
over a batch of frames). Zeroed bytes are judged by the frame's own Huffman tables
(`_zeros_are_damage`). A flipped bit inside the Huffman-coded data mostly decodes to other
pixels and leaves no such trace; only a full decode could tell, and not always.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
TAIL_SLACK = 16
"""Some encoders pad after the end marker; it must lie within this many bytes of the end."""
_NOT_JPEG = "not a JPEG: no start-of-image marker"


@dataclass(frozen=True)
class JpegInfo:
    """``problem`` is None for a whole, well-formed frame, else what is wrong with it."""

    width: int
    height: int
    components: int
    problem: str | None


class _Broken(Exception):
    """The segment chain is broken (the message says where)."""


def _segments(data: bytes | memoryview) -> Iterator[tuple[int, int, int]]:
    """(marker, position, length) of each marker segment after the start of image, up to the
    start of scan (included) or an end of image (length 0); raises `_Broken`."""
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise _Broken(f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == 0xD9:
            yield marker, pos, 0
            return
        length = (data[pos + 2] << 8) | data[pos + 3]
        if length < 2 or pos + 2 + length > n:
            raise _Broken(f"segment at byte {pos} runs past the end of the frame")
        yield marker, pos, length
        if marker == 0xDA:
            return
        pos += 2 + length
    raise _Broken("the frame ends inside its headers")


def _sof(data: bytes | memoryview) -> tuple[int, int, int] | str:
    """(height, width, components) from the start-of-frame segment, or what broke the chain."""
    try:
        for marker, pos, length in _segments(data):
            if marker in (0xD9, 0xDA):
                break
            if marker in _SOF_MARKERS:
                if length < 8:
                    return "start-of-frame segment too short"
                height = (data[pos + 5] << 8) | data[pos + 6]
                width = (data[pos + 7] << 8) | data[pos + 8]
                return height, width, data[pos + 9]
    except _Broken as err:
        return str(err)
    return "no start-of-frame segment before the scan"


def scan_start(data: bytes | memoryview) -> int | str:
    """Where the frame's (first) scan data begins: the byte after its start-of-scan segment;
    or what broke the header chain."""
    seen_sof = False
    try:
        for marker, pos, length in _segments(data):
            seen_sof |= marker in _SOF_MARKERS
            if marker == 0xD9:
                return "end-of-image marker before the scan"
            if marker == 0xDA:
                return pos + 2 + length if seen_sof else "no start-of-frame segment before the scan"
    except _Broken as err:
        return str(err)
    return "the frame ends inside its headers"  # pragma: no cover - _segments raises first


_IN_SCAN = np.zeros(256, dtype=bool)
"""Bytes that may follow a 0xFF inside scan data (see the module docstring)."""
_IN_SCAN[
    [0x00, 0xFF, 0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xFE, *range(0xD0, 0xD8), *range(0xE0, 0xF0)]
] = True


_SEQUENTIAL = frozenset({0xC0, 0xC1})  # baseline and extended sequential, Huffman coded
_FIRST_AC_SYMBOL = {0: 0x01, 1: 0x00}
"""The first symbol (coded with all zero bits) of the standard AC tables (JPEG Annex K), which a
frame without Huffman tables (a camera's motion JPEG) is decoded with."""


def _zeros_are_damage(head: bytes | memoryview) -> bool:
    """Whether a run of zero bytes in the scan data of a frame with these headers can only be
    damage. With Huffman tables, the all-zero code of a table is its first symbol. When the
    first component's AC table gives it to end-of-block (optimised tables do, for flat
    pictures), zero bits are flat blocks: a black frame is all zeros. When it gives it to
    another symbol (the standard luminance table: a coefficient of size 1), zero bits decode as
    blocks full of -1 coefficients, which no encoder writes. Judged for sequential frames only
    (progressive scans code runs of blocks differently)."""
    first_ac = dict(_FIRST_AC_SYMBOL)
    sequential, table = False, None
    for marker, pos, length in _segments(head):
        sequential |= marker in _SEQUENTIAL
        if marker == 0xC4:
            at, stop = pos + 4, pos + 2 + length
            while at + 17 <= stop:
                count = sum(head[at + 1 : at + 17])
                if head[at] >> 4 == 1 and count and at + 17 < stop:
                    first_ac[head[at] & 0x0F] = head[at + 17]
                at += 17 + count
        elif marker == 0xDA and length >= 6:
            table = head[pos + 6] & 0x0F  # the first component's AC table
    return sequential and table is not None and first_ac.get(table) != 0x00


def scan_damage(
    offsets: np.ndarray, data: np.ndarray, size_wh: tuple[int, int] | None = None
) -> dict[int, str]:
    """Frames laid back to back in ``data`` (frame ``k`` is ``data[offsets[k]:offsets[k + 1]]``,
    the layout of `teleop_lake.canonical.gather_frames`) that are damaged, with what is wrong
    and where: a broken header chain, no end-of-image marker, a byte after a 0xFF inside the
    scan data that no encoder writes there, or zero bytes there where the frame's tables make
    zero bits impossible (`_zeros_are_damage`; a run of 23 bytes or more is always found: it
    holds two aligned zero 8-byte words). With ``size_wh``, a frame whose header gives another
    width and height is damaged too (a damaged size would make decoders refuse it or
    allocate for the size it says).

    Vectorised over the batch: frames of one encoder share their headers, so only a frame whose
    header bytes differ from an already walked frame's is walked in Python."""
    offsets = np.asarray(offsets, dtype=np.int64)
    data = data[: int(offsets[-1])]  # bytes after the last frame are no frame's
    first, size = offsets[:-1], np.diff(offsets)
    n = len(size)
    found: dict[int, str] = {}
    begin = np.full(n, -1, dtype=np.int64)  # where each frame's scan data begins in ``data``
    zeros_checked = np.zeros(n, dtype=bool)  # frames where a run of zero bytes is damage
    todo = np.ones(n, dtype=bool)
    one_by_one = False  # headers differ frame to frame (per-frame EXIF, a time comment)
    while todo.any():  # one header walk per distinct header
        k = int(np.flatnonzero(todo)[0])
        todo[k] = False
        frame = data[first[k] : first[k] + size[k]]
        start = scan_start(frame.data) if bytes(frame[:2]) == SOI else _NOT_JPEG
        if isinstance(start, str):
            found[k] = start
            continue
        if start >= size[k] - len(EOI):
            found[k] = "no scan data after the start-of-scan segment: the frame is cut"
            continue
        rows = np.array([k])
        if not one_by_one:  # the other frames with the same header bytes take its scan start
            more = np.flatnonzero(todo & (size > start))
            heads = data[first[more, None] + np.arange(start)]
            more = more[(heads == frame[:start]).all(axis=1)]
            one_by_one = len(more) == 0 and bool(todo.any())
            rows = np.append(rows, more)
        todo[rows] = False
        sof = _sof(frame[:start].data)
        if size_wh is not None and not isinstance(sof, str) and (sof[1], sof[0]) != size_wh:
            for r in rows.tolist():
                found[r] = (
                    f"frame size {sof[1]}x{sof[0]}, the camera's is {size_wh[0]}x{size_wh[1]}"
                )
            continue
        begin[rows] = first[rows] + start
        zeros_checked[rows] = _zeros_are_damage(frame[:start].data)
    # the end-of-image marker: the first 0xFFD9 within the frame's last TAIL_SLACK bytes (a
    # second one may follow it; inside scan data 0xFFD9 is always a marker)
    whole = np.flatnonzero(begin >= 0)
    at = np.maximum(
        offsets[1:][whole, None] - TAIL_SLACK + np.arange(TAIL_SLACK), begin[whole, None]
    )
    tails = data[at]
    pair = (tails[:, :-1] == 0xFF) & (tails[:, 1:] == 0xD9) & (at[:, 1:] > at[:, :-1])
    has = pair.any(axis=1)
    eoi = np.argmax(pair, axis=1)
    end = np.zeros(n, dtype=np.int64)  # scan data is [begin, end) in ``data``
    for k in whole[~has].tolist():
        found[k] = "no end-of-image marker: the frame is cut"
    ended = whole[has]
    end[ended] = at[has, eoi[has]]
    for k in ended[end[ended] <= begin[ended]].tolist():
        found[k] = "no scan data after the start-of-scan segment: the frame is cut"

    def in_scan(at: np.ndarray, where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Those of positions ``at`` inside a frame's scan data (of a frame in ``where``), and
        the frames they are in."""
        owner = np.searchsorted(offsets, at, side="right") - 1
        keep = (at >= begin[owner]) & (at < end[owner]) & (begin[owner] >= 0)
        if where is not None:
            keep &= where[owner]
        return at[keep], owner[keep]

    marks = np.flatnonzero(data[:-1] == 0xFF)
    marks = marks[data[marks + 1] != 0]  # most are stuffing (0xFF00): the rest are few
    marks, owner = in_scan(marks)
    after = data[marks + 1]
    # a frame of several scans (tables or a scan start inside its scan data) codes each scan
    # with its own tables: its zero runs are not judged by the first scan's
    zeros_checked[owner[(after == 0xDA) | (after == 0xC4)]] = False
    bad = ~_IN_SCAN[after]
    for mark, k in zip(marks[bad].tolist(), owner[bad].tolist(), strict=True):
        if k not in found:
            found[k] = (
                f"byte 0x{int(data[mark + 1]):02X} after a 0xFF at byte {mark - int(first[k])} "
                f"of {int(size[k])}, inside the scan data: no encoder writes it there (the "
                "frame's bytes were damaged)"
            )
    if zeros_checked.any():
        zero = data[: len(data) // 8 * 8].view(np.uint64) == 0
        runs, owner = in_scan(np.flatnonzero(zero[:-1] & zero[1:]) * 8, zeros_checked)
        for run, k in zip(runs.tolist(), owner.tolist(), strict=True):
            if k not in found:
                found[k] = (
                    f"zero bytes from about byte {run - int(first[k])} of {int(size[k])}, "
                    "inside the scan data: with this frame's Huffman tables they decode as "
                    "blocks full of -1 coefficients, which no encoder writes (the bytes were "
                    "zeroed)"
                )
    return found


def jpeg_info(data: bytes | memoryview) -> JpegInfo:
    """The frame's size and components and whether it is whole (see the module docstring)."""
    if len(data) < 4 or bytes(data[:2]) != SOI:
        return JpegInfo(0, 0, 0, _NOT_JPEG)
    sof = _sof(data)
    if isinstance(sof, str):
        return JpegInfo(0, 0, 0, sof)
    height, width, components = sof
    if width == 0 or height == 0:
        return JpegInfo(width, height, components, "zero width or height in the frame header")
    if EOI not in bytes(data[-TAIL_SLACK:]):
        return JpegInfo(width, height, components, "no end-of-image marker: the frame is cut")
    return JpegInfo(width, height, components, None)
