"""Compressed chunks inflate to the size their header states, or are refused with a
ValueError (the readers' corrupt_file): never a library's own error, never unbounded."""

from __future__ import annotations

import bz2

import lz4.frame
import numpy as np
import pytest
import zstandard

from teleop_lake.formats.inflate import MAX_CHUNK_BYTES, inflate

DATA = np.random.default_rng(0).integers(0, 4, 200_000, dtype=np.uint8).tobytes()
PACK = {
    "zstd": zstandard.ZstdCompressor().compress,
    "lz4": lz4.frame.compress,
    "bz2": bz2.compress,
}


@pytest.mark.parametrize("compression", sorted(PACK))
def test_whole_chunks_inflate_and_damaged_ones_are_refused(compression: str) -> None:
    packed = PACK[compression](DATA)
    assert bytes(inflate(packed, compression, len(DATA))) == DATA
    assert bytes(inflate(memoryview(packed), compression, len(DATA))) == DATA
    damaged = bytearray(packed)
    damaged[len(damaged) // 2 : len(damaged) // 2 + 512] = bytes(512)  # a zeroed region
    with pytest.raises(ValueError, match=compression):
        inflate(bytes(damaged), compression, len(DATA))
    with pytest.raises(ValueError, match=r"not the|claims"):  # the header states another size
        inflate(packed, compression, len(DATA) - 1000)
    with pytest.raises(ValueError, match=compression):  # cut short
        inflate(packed[: len(packed) // 3], compression, len(DATA))


def test_a_chunk_claiming_too_much_is_refused_before_it_is_inflated() -> None:
    frame = zstandard.ZstdCompressor().compress(bytes(10_000_000))  # 10 MB of zeros, ~300 B
    with pytest.raises(ValueError, match="claims 10000000"):
        inflate(frame, "zstd", 1_000)
    with pytest.raises(ValueError, match="states"):
        inflate(frame, "zstd", MAX_CHUNK_BYTES + 1)
    unstated = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(10_000_000))
    with pytest.raises(ValueError, match="zstd"):
        inflate(unstated, "zstd", 1_000)
    with pytest.raises(ValueError, match="unsupported"):
        inflate(b"x", "brotli", 1)
    assert bytes(inflate(b"as is", "none", 5)) == b"as is"
