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
from teleop_lake.cleaning import jpeg
from teleop_lake.cleaning.jpeg import EOI, scan_damage, scan_start


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


def test_frames_of_different_encoders_in_one_batch_are_each_walked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A header seen once is compared, not walked again; a different one (another size or
    another table) is walked and its own scan start used. Headers that differ frame to frame
    (a per-frame EXIF block) are walked one by one, not compared against every frame left."""
    walks: list[int] = []
    walk = jpeg.scan_start

    def counted(data: bytes | memoryview) -> int | str:
        walks.append(len(data))
        return walk(data)

    monkeypatch.setattr(jpeg, "scan_start", counted)
    frames = [
        _jpeg(_scene(0)),
        _jpeg(_scene(1, (240, 320)), optimize=True),
        _jpeg(_scene(2), progressive=True),
        _jpeg(_scene(3)),
        _jpeg(_scene(4)),
    ]
    assert _scan(frames) == {} and len(walks) == 3  # frames 0, 3 and 4 share a header
    walks.clear()
    stamped = [_jpeg(_scene(s % 3), exif=b"Exif\x00\x00" + bytes([s]) * 3000) for s in range(12)]
    assert _scan(stamped) == {} and len(walks) == 12
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


def _segments_of(frame: bytes) -> list[tuple[int, int, int]]:
    """(marker, position, length) up to the first start of scan, for building test frames."""
    out, pos = [], 2
    while True:
        marker, length = frame[pos + 1], int.from_bytes(frame[pos + 2 : pos + 4], "big")
        out.append((marker, pos, length))
        if marker == 0xDA:
            return out
        pos += 2 + length


def test_what_sits_between_scans_and_after_the_end_is_no_damage() -> None:
    """A frame of several scans carries tables (DHT, and DAC for arithmetic coding) and a new
    SOS inside its scan data; its zero runs belong to scans coded with other tables and are
    not judged by the first scan's. An end of image may be repeated after the end."""
    base = _jpeg(_scene(7))
    start = scan_start(base)
    assert isinstance(start, int)
    segments = _segments_of(base)
    dht = b"".join(base[p : p + 2 + n] for m, p, n in segments if m == 0xC4)
    sos = next(base[p : p + 2 + n] for m, p, n in segments if m == 0xDA)
    dac = b"\xff\xcc\x00\x06\x00\x10\x10\x05"
    body = base[start:-2]
    half = len(body) // 2
    two_scans = base[:start] + body[:half] + dac + dht + sos + bytes(64) + body[half:] + EOI
    assert _scan([two_scans, base + EOI]) == {}
    one_scan = base[:start] + body[:half] + bytes(64) + body[half:] + EOI  # the same zeros
    assert list(_scan([one_scan])) == [0]


def test_a_frame_without_scan_data_is_found_not_looped_on() -> None:
    base = _jpeg(_scene(8, (16, 16)))
    start = scan_start(base)
    assert isinstance(start, int)
    found = _scan([base, base[:start], base[:start] + EOI, base])
    assert sorted(found) == [1, 2] and all("no scan data" in why for why in found.values())


def test_bytes_after_the_last_frame_are_no_frame() -> None:
    """A buffer longer than its frames (an allocator's padding) is read to the last frame."""
    frames = [_jpeg(_scene(s)) for s in range(3)]
    offsets, data = gather_frames(frames, np.arange(3))
    padded = np.concatenate([data, np.full(100, 0xFF, np.uint8)])
    assert scan_damage(offsets, padded) == {}


def test_frames_the_export_cannot_decode_are_counted_not_raised() -> None:
    """What a damaged frame makes Pillow raise (a broken stream, or a damaged size in its
    header past Pillow's pixel limit) is among the errors the exports catch."""
    from teleop_lake.release.cameras import UNDECODABLE, decode_frame
    from teleop_lake.release.export.statistics import ImageStats

    good = _jpeg(_scene(9))
    huge = bytearray(good)
    (sof,) = [p for m, p, _ in _segments_of(good) if m == 0xC0]
    huge[sof + 5 : sof + 9] = b"\xfe\xfe\xfe\xfe"  # height and width 65,278
    broken = good[: len(good) // 2]  # cut: Pillow's "image file is truncated"
    for frame in (bytes(huge), broken):
        with pytest.raises(UNDECODABLE):
            decode_frame(frame)
    stats = ImageStats()
    for frame in (good, bytes(huge), broken):
        stats.add(frame)
    assert stats.frames == 1 and stats.undecodable == 2


def test_a_frame_of_another_size_than_the_camera_is_found() -> None:
    good = _jpeg(_scene(10))
    small = _jpeg(_scene(11, (240, 320)))
    huge = bytearray(good)
    (sof,) = [p for m, p, _ in _segments_of(good) if m == 0xC0]
    huge[sof + 5 : sof + 9] = b"\xfe\xfe\xfe\xfe"
    frames = [good, small, bytes(huge), good]
    offsets, data = gather_frames(frames, np.arange(4))
    assert scan_damage(offsets, data) == {}  # without the camera's size: nothing to compare
    found = scan_damage(offsets, data, (640, 480))
    assert sorted(found) == [1, 2]
    assert found[1] == "frame size 320x240, the camera's is 640x480"
    assert found[2].startswith("frame size 65278x65278")
