"""Damage inside a JPEG's scan data, found without decoding (`scan_damage`): the frames of
every encoder setting a rig may use pass, bytes written over a frame do not, and the finding
says which frame and where."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from teleop_lake.canonical import gather_frames
from teleop_lake.cleaning.jpeg import scan_damage, scan_start


def _scene(seed: int, shape: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A textured scene (edges, gradients and sensor noise), so the scan data is dense."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, (x // 40 + y // 40) % 2 * 200], axis=-1)
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray, **options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(img).save(out, "JPEG", **{"quality": 85, **options})
    return out.getvalue()


def _scan(frames: list[bytes]) -> dict[int, str]:
    return scan_damage(*gather_frames(frames, np.arange(len(frames))))


VALID = {
    "baseline": {},
    "optimised tables": {"optimize": True},
    "progressive (tables between scans)": {"progressive": True},
    "restart markers": {"restart_marker_blocks": 2},
    "4:4:4, low quality": {"subsampling": 0, "quality": 30},
    "exif and a comment": {"exif": b"Exif\x00\x00" + bytes(200), "comment": b"rig 7"},
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_frames_of_every_encoder_setting_pass(name: str) -> None:
    frames = [_jpeg(_scene(s), **VALID[name]) for s in range(3)]
    frames.append(_jpeg(np.zeros((480, 640, 3), np.uint8), **VALID[name]))  # a black frame
    assert _scan(frames) == {}


def test_bytes_written_over_the_scan_data_are_found_with_the_frame_and_the_place() -> None:
    frames = [_jpeg(_scene(s)) for s in range(6)]
    rng = random.Random(3)
    start = scan_start(frames[2])
    assert isinstance(start, int)
    hit = 0
    for trial in range(40):  # random garbage of 512 bytes: a bad marker shows 4 times in 5
        damaged = bytearray(frames[2])
        at = rng.randrange(start, len(damaged) - 600)
        damaged[at : at + 512] = rng.randbytes(512)
        found = _scan([*frames[:2], bytes(damaged), *frames[3:]])
        assert set(found) <= {2}, trial
        hit += bool(found)
    assert hit >= 24
    damaged = bytearray(frames[4])
    at = start + 1000
    damaged[at : at + 2] = b"\xff\x3a"
    found = _scan([*frames[:4], bytes(damaged), *frames[5:]])
    assert list(found) == [4]
    assert f"0x3A after a 0xFF at byte {at} of {len(damaged)}" in found[4]


def test_an_early_end_a_cut_frame_and_broken_headers_are_found() -> None:
    good = [_jpeg(_scene(s)) for s in range(2)]
    start = scan_start(good[0])
    assert isinstance(start, int)
    early = bytearray(good[0])
    early[start + 500 : start + 502] = b"\xff\xd9"  # an end of image inside the scan
    cut = good[1][: len(good[1]) // 2]
    broken = bytearray(good[0])
    broken[2:4] = b"\x00\x00"  # the chain breaks at the first segment
    found = _scan([bytes(early), *good, cut, b"", bytes(broken), good[0]])
    assert sorted(found) == [0, 3, 4, 5]
    assert "0xD9" in found[0] and "end-of-image" in found[3]
    assert "not a JPEG" in found[4] and "no marker at byte 2" in found[5]


def test_frames_of_different_encoders_in_one_batch_are_each_walked() -> None:
    """A header seen once is compared, not walked again; a different one (another size or
    another table) is walked and its own scan start used."""
    frames = [
        _jpeg(_scene(0)),
        _jpeg(_scene(1, (240, 320)), optimize=True),
        _jpeg(_scene(2), progressive=True),
        _jpeg(_scene(3)),
    ]
    assert _scan(frames) == {}
    damaged = bytearray(frames[1])
    start = scan_start(frames[1])
    assert isinstance(start, int)
    damaged[start + 10 : start + 12] = b"\xff\x02"
    assert list(_scan([frames[0], bytes(damaged), frames[2], frames[3]])) == [1]


def _without_huffman_tables(frame: bytes) -> bytes:
    """The frame as a camera's motion JPEG sends it: no DHT segments (the decoder uses the
    standard tables, which the encoder used)."""
    out, pos = bytearray(frame[:2]), 2
    while True:
        marker, length = frame[pos + 1], int.from_bytes(frame[pos + 2 : pos + 4], "big")
        if marker == 0xDA:
            return bytes(out + frame[pos:])
        if marker != 0xC4:
            out += frame[pos : pos + 2 + length]
        pos += 2 + length


def test_zeroed_bytes_are_found_where_the_tables_say_no_encoder_writes_them() -> None:
    """Zero bits are a run of the symbol whose code is all zeros. Where that is not the end of
    a block (the standard tables, a motion JPEG without tables decoded with them, tables
    optimised for a textured picture), they are blocks full of -1 coefficients: a zeroed
    stretch is damage. Where it is (tables optimised for a flat picture), they are flat blocks
    (a black frame is all zeros), and nothing is said."""
    standard = _jpeg(_scene(5))
    frames = {
        "standard": standard,
        "motion JPEG": _without_huffman_tables(standard),
        "optimised, textured": _jpeg(_scene(5), optimize=True),
        "optimised, flat": _jpeg(np.full((480, 640, 3), 90, np.uint8), optimize=True),
    }
    assert _scan(list(frames.values())) == {}
    damaged, where = [], []
    for frame in frames.values():
        start = scan_start(frame)
        assert isinstance(start, int)
        b = bytearray(frame)
        at = min(start + 3001, len(frame) - 80)
        b[at : at + 64] = bytes(64)
        damaged.append(bytes(b))
        where.append(at)
    found = _scan(damaged)
    assert sorted(found) == [0, 1, 2]
    for k, why in found.items():
        assert "-1 coefficients" in why
        reported = int(why.split("from about byte ")[1].split()[0])
        assert where[k] <= reported < where[k] + 64 - 16, (k, why)
    short = bytearray(standard)
    short[3001:3009] = bytes(8)  # too short to tell from the picture
    assert _scan([bytes(short)]) == {}
