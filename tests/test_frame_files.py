"""Frames left in their file (`FileFrames`) and split recordings' frames read as one
(`ChainedFrames`): the same bytes, lengths and ends as frames held in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic_teleop import tiny_jpegs

from teleop_lake.canonical import ChainedFrames, frame_ends, frame_lengths
from teleop_lake.formats.frame_files import FileFrames


def _file_of(frames: list[bytes], path: Path) -> FileFrames:
    """Frames written one after another behind a 7-byte preamble, as a bag interleaves them."""
    offsets, pos, blob = [], 7, bytearray(b"PREFACE")
    for f in frames:
        offsets.append(pos)
        blob += f + b"\x00\x01"  # something between frames, as message headers are
        pos += len(f) + 2
    path.write_bytes(bytes(blob))
    return FileFrames(path, np.array(offsets), np.array([len(f) for f in frames]))


def test_file_frames_read_what_memory_holds(tmp_path: Path) -> None:
    frames = list(tiny_jpegs(5))
    lazy = _file_of(frames, tmp_path / "f.bin")
    assert len(lazy) == 5 and [lazy[i] for i in range(5)] == frames and lazy[-1] == frames[-1]
    assert frame_lengths(lazy).tolist() == frame_lengths(frames).tolist()
    for i in range(5):
        assert frame_ends(lazy, i, 2, 16) == frame_ends(frames, i, 2, 16)
    # the descriptor keeps the bytes: a downloaded copy may be deleted once located
    (tmp_path / "f.bin").unlink()
    assert lazy[3] == frames[3]


def test_file_frames_refuse_ranges_past_the_end(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="past the end"):
        FileFrames(path, np.array([90]), np.array([20]))
    lazy = FileFrames(path, np.array([10]), np.array([20]))
    path.write_bytes(b"x" * 15)  # cut after it was located
    with pytest.raises(OSError, match="expected"):
        lazy[0]


def test_chained_frames_index_across_parts(tmp_path: Path) -> None:
    a, b = list(tiny_jpegs(3)), list(tiny_jpegs(4, seed=9))
    chained = ChainedFrames([_file_of(a, tmp_path / "a.bin"), tuple(b)])
    whole = a + b
    assert len(set(whole)) == 7  # distinct frames: an index off by one cannot pass
    assert len(chained) == 7 and [chained[i] for i in range(7)] == whole
    assert chained[-1] == whole[-1]
    assert frame_lengths(chained).tolist() == [len(f) for f in whole]
    assert [frame_ends(chained, i, 2, 4) for i in range(7)] == [(f[:2], f[-4:]) for f in whole]
    with pytest.raises(IndexError):
        chained[7]
