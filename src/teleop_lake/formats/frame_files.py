"""Camera frames left in their file: read one at a time, when indexed.

A Kuavo bag holds its camera frames uncompressed, each a byte range of the file. Copying
them all into memory made a recording's footprint its size on disk (0.33 GB per second of
three 1280x720 cameras). `FileFrames` keeps only each frame's offset and length and reads a
frame with one ``pread`` when it is indexed, so the night holds a frame at a time.

The file is opened once, when the frames are located, and closed when the sequence is
garbage collected: a temporary download can be deleted meanwhile (the open descriptor keeps
its bytes). The frames are not meant to leave the process that located them.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class FileFrames(Sequence[bytes]):
    """Frames ``i`` = ``length[i]`` bytes at ``offset[i]`` of ``path``."""

    def __init__(self, path: Path, offsets: np.ndarray, lengths: np.ndarray) -> None:
        if len(offsets) != len(lengths):
            raise ValueError("one offset and one length per frame")
        self.path = Path(path)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._lengths = np.asarray(lengths, dtype=np.int64)
        size = self.path.stat().st_size
        if len(self._offsets) and int((self._offsets + self._lengths).max()) > size:
            raise ValueError(f"{self.path}: a frame runs past the end of the file")
        self._fd = os.open(self.path, os.O_RDONLY)
        self._closer = weakref.finalize(self, os.close, self._fd)

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

    def ends(self, i: int, head: int, tail: int) -> tuple[bytes, bytes]:
        off, n = int(self._offsets[i]), int(self._lengths[i])
        if n <= head + tail:
            data = self._read(off, n)
            return data[:head], data[-tail:] if tail else b""
        return self._read(off, head), self._read(off + n - tail, tail)

    def close(self) -> None:
        self._closer()
