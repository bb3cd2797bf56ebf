"""Frames left in their file (`FileFrames`) and split recordings' frames read as one
(`ChainedFrames`): the same bytes, lengths and ends as frames held in memory."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from synthetic_teleop import tiny_jpegs

from teleop_lake.canonical import ChainedFrames, all_frame_ends, frame_lengths, gather_frames
from teleop_lake.formats.frame_files import FileFrames, FrameEnds


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
    for head, tail in ((2, 16), (3, 0), (0, 5), (600, 600)):  # also longer than a frame
        lazy_ends, held_ends = all_frame_ends(lazy, head, tail), all_frame_ends(frames, head, tail)
        assert all(np.array_equal(a, b) for a, b in zip(lazy_ends, held_ends, strict=True))
    heads, tails = all_frame_ends(frames, 2, 16)
    assert [bytes(h) for h in heads] == [f[:2] for f in frames]
    assert [bytes(t) for t in tails] == [f[-16:] for f in frames]
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
    heads, tails = all_frame_ends(chained, 2, 4)
    assert [(bytes(h), bytes(t)) for h, t in zip(heads, tails, strict=True)] == [
        (f[:2], f[-4:]) for f in whole
    ]
    with pytest.raises(IndexError):
        chained[7]


def _unpacked(gathered: tuple[np.ndarray, np.ndarray]) -> list[bytes]:
    offsets, data = gathered
    return [data[a:b].tobytes() for a, b in itertools.pairwise(offsets.tolist())]


@pytest.mark.parametrize(
    "rows", [[], [0], [6, 6, 0], [0, 1, 2, 3, 4, 5, 6], [1, 3, 5], [2, 3, 3, 4], [5, 2, 4]]
)
def test_frames_are_gathered_back_to_back_from_files_parts_and_memory(
    tmp_path: Path, rows: list[int]
) -> None:
    """The camera tables are built from frames gathered into one buffer: the same bytes
    whatever holds them, in the order asked (across parts too, forward or not)."""
    a, b = list(tiny_jpegs(3)), list(tiny_jpegs(4, seed=9))
    whole = a + b
    wanted = [whole[i] for i in rows]
    index = np.array(rows, dtype=np.int64)
    held = _unpacked(gather_frames(whole, index))
    in_file = _unpacked(gather_frames(_file_of(whole, tmp_path / "w.bin"), index))
    chained = ChainedFrames([_file_of(a, tmp_path / "a.bin"), tuple(b)])
    assert held == in_file == _unpacked(gather_frames(chained, index)) == wanted
    offsets, data = gather_frames(chained, index)
    assert offsets.dtype == np.int64 and data.dtype == np.uint8 and len(offsets) == len(rows) + 1
    # into one buffer of the caller's allocator, whatever holds the frames: a split recording's
    # parts write into their places in it (one allocation, no joining copy)
    for frames in (whole, _file_of(whole, tmp_path / "w2.bin"), chained):
        given: list[np.ndarray] = []

        def alloc(n: int, given: list[np.ndarray] = given) -> np.ndarray:
            given.append(np.full(n, 0xEE, dtype=np.uint8))
            return given[-1]

        offsets, data = gather_frames(frames, index, alloc)
        assert len(given) == 1 and (not len(data) or np.shares_memory(data, given[0]))
        assert _unpacked((offsets, data)) == wanted


def test_gathering_across_parts_reads_only_the_frames_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows going back across parts (stamps out of order at a split) read those frames only,
    never the whole stream."""
    frames = list(tiny_jpegs(40))
    parts = [_file_of(frames[i : i + 10], tmp_path / f"p{i}.bin") for i in range(0, 40, 10)]
    reads: list[int] = []
    read = FileFrames._read

    def counted(self: FileFrames, offset: int, n: int) -> bytes:
        reads.append(n)
        return read(self, offset, n)

    monkeypatch.setattr(FileFrames, "_read", counted)
    chained = ChainedFrames(parts)
    rows = np.array([15, 3, 39, 38, 0, -1])
    got = _unpacked(gather_frames(chained, rows))
    assert got == [frames[i] for i in rows.tolist()]
    assert reads == []  # read by `gather`, one pread per frame, not through `frames[i]`
    with pytest.raises(IndexError):
        gather_frames(chained, np.array([40]))


def test_ends_taken_when_located_are_used_and_the_rest_read(tmp_path: Path) -> None:
    frames = list(tiny_jpegs(4))
    plain = _file_of(frames, tmp_path / "f.bin")
    offsets, lengths = plain._offsets, plain._lengths
    given_heads = np.full((4, 2), 7, dtype=np.uint8)  # not the file's: shows where they came from
    given_tails = np.full((4, 16), 9, dtype=np.uint8)
    known = np.array([True, False, True, False])
    lazy = FileFrames(
        tmp_path / "f.bin", offsets, lengths, ends=FrameEnds(given_heads, given_tails, known)
    )
    heads, tails = all_frame_ends(lazy, 2, 16)
    assert (heads[known] == 7).all() and (tails[known] == 9).all()
    assert [bytes(h) for h in heads[~known]] == [frames[1][:2], frames[3][:2]]
    assert [bytes(t) for t in tails[~known]] == [frames[1][-16:], frames[3][-16:]]
    heads, _ = all_frame_ends(lazy, 3, 16)  # more than was taken: read
    assert [bytes(h) for h in heads] == [f[:3] for f in frames]
    with pytest.raises(ValueError, match="every frame"):
        FileFrames(
            tmp_path / "f.bin",
            offsets,
            lengths,
            ends=FrameEnds(given_heads, given_tails, known[:2]),
        )


def test_frame_ends_are_taken_from_whole_and_cut_payloads() -> None:
    """Where a bag chunk's camera payloads are whole in memory and where they were cut to
    their first bytes (their last bytes kept beside them), each frame's recorded ends are its
    own; a frame too short for both ends, or not ending its payload, is left to be read."""
    from teleop_lake.formats.kuavo_topics import _segment_frame_ends
    from teleop_lake.formats.ros1_records import PayloadSegment

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (30, 5000, 17, 4200, 64)]
    pos = 12  # the message's own fields before the frame's bytes
    trailing = [b"", b"", b"", b"", b"tail"]  # the last frame does not end its payload
    payloads = [bytes(range(pos)) + f + t for f, t in zip(frames, trailing, strict=True)]
    blob, starts = b"", []
    for p in payloads:
        blob += b"\x07\x07\x07"  # a record header between payloads
        starts.append(len(blob))
        blob += p
    starts_a = np.array(starts, dtype=np.int64)
    whole = PayloadSegment(
        np.frombuffer(blob, np.uint8),
        starts_a,
        np.array([len(p) for p in payloads], dtype=np.int64),
        None,
        starts_a + 1000,
    )
    cut = whole.compact(1000)
    assert cut.kept is not None and cut.tails is not None  # the two large ones were cut
    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    for seg in (whole, cut):
        assert seg.file_starts is not None
        ends = _segment_frame_ends(seg, seg.file_starts + pos, lengths)
        assert ends.known.tolist() == [True, True, False, True, False]
        for i in np.flatnonzero(ends.known):
            assert bytes(ends.heads[i]) == frames[i][:2]
            assert bytes(ends.tails[i]) == frames[i][-16:]
