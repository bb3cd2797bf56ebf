"""What a JPEG frame's own headers say, without decoding it: its size, and whether it is whole.

A JPEG is a chain of marker segments: start of image (FFD8), tables, a start-of-frame segment
(SOF0..SOF15 but DHT, JPG and DAC) holding the height, width and components, the start of scan
(FFDA) after which the entropy-coded data runs to the end-of-image marker (FFD9). Walking the
segment headers up to the scan costs a few hundred bytes of reading per frame; a frame cut short
in transfer lacks its end marker, a damaged one breaks the chain. Pure: bytes in, facts out.
"""

from __future__ import annotations

from dataclasses import dataclass

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
TAIL_SLACK = 16
"""Some encoders pad after the end marker; it must lie within this many bytes of the end."""


@dataclass(frozen=True)
class JpegInfo:
    """``problem`` is None for a whole, well-formed frame, else what is wrong with it."""

    width: int
    height: int
    components: int
    problem: str | None


def _sof(data: bytes | memoryview) -> tuple[int, int, int] | str:
    """(height, width, components) from the start-of-frame segment, or what broke the chain."""
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return f"no marker at byte {pos}"
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            return "no start-of-frame segment before the scan"
        length = (data[pos + 2] << 8) | data[pos + 3]
        if length < 2 or pos + 2 + length > n:
            return f"segment at byte {pos} runs past the end of the frame"
        if marker in _SOF_MARKERS:
            if length < 8:
                return "start-of-frame segment too short"
            height = (data[pos + 5] << 8) | data[pos + 6]
            width = (data[pos + 7] << 8) | data[pos + 8]
            return height, width, data[pos + 9]
        pos += 2 + length
    return "the frame ends inside its headers"


def jpeg_info(data: bytes | memoryview) -> JpegInfo:
    """The frame's size and components and whether it is whole (see the module docstring)."""
    if len(data) < 4 or bytes(data[:2]) != SOI:
        return JpegInfo(0, 0, 0, "not a JPEG: no start-of-image marker")
    sof = _sof(data)
    if isinstance(sof, str):
        return JpegInfo(0, 0, 0, sof)
    height, width, components = sof
    if width == 0 or height == 0:
        return JpegInfo(width, height, components, "zero width or height in the frame header")
    if EOI not in bytes(data[-TAIL_SLACK:]):
        return JpegInfo(width, height, components, "no end-of-image marker: the frame is cut")
    return JpegInfo(width, height, components, None)
