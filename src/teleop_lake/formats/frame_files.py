"""Camera frames kept out of memory: left in their file, or spooled to a temporary one.

A Kuavo bag holds its camera frames uncompressed, each a byte range of the file. Copying
them all into memory made a recording's footprint its size on disk (0.33 GB per second of
three 1280x720 cameras). `FileFrames` keeps only each frame's offset and length and reads a
frame with one ``pread`` when it is indexed, so the night holds a frame at a time.

Containers whose frames are not plain byte ranges of the file (compressed bag or MCAP
chunks, Parquet pages, HDF5 storage we cannot locate) copy each frame once, as it is read,
into a `FrameSpool`: an anonymous temporary file (unlinked at once, so nothing is left
behind even when the process is killed). Its `FileFrames` then read like the others.

The file is opened once, when the frames are located, and closed when the sequence is
garbage collected: a temporary download can be deleted meanwhile (the open descriptor keeps
its bytes). The frames are not meant to leave the process that located them.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from teleop_lake.canonical import Alloc, empty_bytes, gathered_offsets, put_frame_ends


@dataclass(frozen=True, eq=False)
class FrameEnds:
    """Frames' first and last bytes, taken where their bytes were at hand: ``heads`` (frames,
    h) and ``tails`` (frames, t) uint8, valid where ``known``, for frames of at least h + t
    bytes."""

    heads: np.ndarray
    tails: np.ndarray
    known: np.ndarray


class FileFrames(Sequence[bytes]):
    """Frames ``i`` = ``length[i]`` bytes at ``offset[i]`` of ``path`` (or of the open
    descriptor ``fd``, which the sequence then owns and closes)."""

    def __init__(
        self,
        path: Path,
        offsets: np.ndarray,
        lengths: np.ndarray,
        *,
        fd: int | None = None,
        ends: FrameEnds | None = None,
    ) -> None:
        """``ends``: the frames' first and last bytes, taken where they were located (so that
        `all_ends` need not read them); frames it does not know are read."""
        if len(offsets) != len(lengths):
            raise ValueError("one offset and one length per frame")
        if ends is not None and not len(ends.known) == len(offsets):
            raise ValueError("the frames' ends must be given for every frame")
        self._ends = ends
        self.path = Path(path)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._lengths = np.asarray(lengths, dtype=np.int64)
        self._fd = os.open(self.path, os.O_RDONLY) if fd is None else fd
        self._closer = weakref.finalize(self, os.close, self._fd)
        size = os.fstat(self._fd).st_size
        if len(self._offsets) and int((self._offsets + self._lengths).max()) > size:
            self.close()
            raise ValueError(f"{self.path}: a frame runs past the end of the file")

    def __len__(self) -> int:
        return len(self._offsets)

    def _read(self, offset: int, n: int) -> bytes:
        data = os.pread(self._fd, n, offset)
        if len(data) != n:
            raise OSError(f"{self.path}: {n} bytes at {offset} expected, {len(data)} read")
        return data

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]
        i = int(i)
        return self._read(int(self._offsets[i]), int(self._lengths[i]))

    def lengths(self) -> np.ndarray:
        return self._lengths.copy()

    def gather(self, rows: np.ndarray, alloc: Alloc = empty_bytes) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``rows`` back to back (`teleop_lake.canonical.gather_frames`), each read
        with one ``pread`` into its place in a buffer from ``alloc``."""
        offsets = gathered_offsets(self._lengths[rows])
        data = alloc(int(offsets[-1]))
        view = memoryview(data.data)
        for at, begin, end in zip(
            self._offsets[rows].tolist(), offsets[:-1].tolist(), offsets[1:].tolist(), strict=True
        ):
            if os.preadv(self._fd, [view[begin:end]], at) != end - begin:
                raise OSError(f"{self.path}: {end - begin} bytes at {at} expected, fewer read")
        return offsets, data

    def all_ends(self, head: int, tail: int) -> tuple[np.ndarray, np.ndarray]:
        """Every frame's first ``head`` and last ``tail`` bytes (`all_frame_ends`); from the
        ends taken when the frames were located where they cover it, else read."""
        n = len(self._offsets)
        heads = np.zeros((n, head), dtype=np.uint8)
        tails = np.zeros((n, tail), dtype=np.uint8)
        todo = np.ones(n, dtype=bool)
        known = self._ends
        if known is not None and head <= known.heads.shape[1] and tail <= known.tails.shape[1]:
            rows = known.known
            heads[rows] = known.heads[rows, :head]
            tails[rows] = known.tails[rows, known.tails.shape[1] - tail :]
            todo = ~rows
        for i in np.flatnonzero(todo).tolist():
            off, size = int(self._offsets[i]), int(self._lengths[i])
            if size <= head + tail:
                data = self._read(off, size)
                put_frame_ends(heads, tails, i, data, data)
            else:
                put_frame_ends(
                    heads, tails, i, self._read(off, head), self._read(off + size - tail, tail)
                )
        return heads, tails

    def close(self) -> None:
        self._closer()


class FrameSpool:
    """Frames copied one at a time into an anonymous temporary file, then read as
    `FileFrames`. ``source`` names what they came from (for messages)."""

    def __init__(self, source: str) -> None:
        self._source = source
        fd, name = tempfile.mkstemp(prefix="teleop-frames-")
        os.unlink(name)  # the descriptor keeps the bytes; nothing is left if we are killed
        self._fd: int | None = fd
        self._closer = weakref.finalize(self, os.close, fd)
        self._offsets: list[int] = []
        self._lengths: list[int] = []
        self._end = 0

    def append(self, frame: bytes | memoryview) -> None:
        if self._fd is None:
            raise ValueError("the spool was already turned into frames")
        view = memoryview(frame)
        done = 0
        while done < len(view):
            done += os.pwrite(self._fd, view[done:], self._end + done)
        self._offsets.append(self._end)
        self._lengths.append(len(view))
        self._end += len(view)

    def __len__(self) -> int:
        return len(self._offsets)

    def frames(self) -> FileFrames:
        """The spooled frames; the spool hands its file over to them and is done."""
        if self._fd is None:
            raise ValueError("the spool was already turned into frames")
        fd, self._fd = self._fd, None
        self._closer.detach()
        return FileFrames(
            Path(f"<spooled frames of {self._source}>"),
            np.asarray(self._offsets, dtype=np.int64),
            np.asarray(self._lengths, dtype=np.int64),
            fd=fd,
        )
