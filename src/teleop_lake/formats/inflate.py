"""Compressed chunks (of bags and MCAP files) inflated to the size their header states.

A damaged or hostile chunk must neither stop the night with a library's own error (zstd,
lz4 and bz2 each raise their own) nor inflate without bound: zstd trusts the size a frame
states over any limit it is given, so that size is checked before anything is inflated.
Every failure is a ValueError saying what went wrong; the container readers report it as
``corrupt_file`` naming the file. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import bz2

MAX_CHUNK_BYTES = 2 << 30
"""A chunk stating a larger inflated size is refused unread (recorders write 1-4 MB)."""


def inflate(data: bytes | memoryview, compression: str, size: int) -> memoryview:
    """``data`` inflated with ``compression`` ("zstd", "lz4" or "bz2"; "" or "none": as it
    is) to exactly ``size`` bytes, the size the chunk's header states."""
    if compression in ("", "none"):
        return memoryview(data)
    if not 0 <= size <= MAX_CHUNK_BYTES:
        raise ValueError(f"a {compression} chunk states {size} bytes inflated")
    try:
        out, whole = _inflate(data, compression, size)
    except MemoryError:
        raise ValueError(f"a {compression} chunk does not fit in memory") from None
    except ValueError:
        raise
    except Exception as err:  # each library's own error for damaged data
        raise ValueError(f"a {compression} chunk does not inflate: {err}") from None
    if len(out) != size or not whole:
        got = f"over {size}" if len(out) > size else str(len(out))
        raise ValueError(
            f"a {compression} chunk inflates to {got} bytes, not the {size} its header states"
        )
    return memoryview(out)


def _inflate(data: bytes | memoryview, compression: str, size: int) -> tuple[bytes, bool]:
    """(up to ``size`` + 1 inflated bytes, whether the compressed stream ended there)."""
    if compression == "zstd":
        import zstandard

        claimed = zstandard.frame_content_size(data)
        if claimed > size:
            raise ValueError(f"a zstd chunk claims {claimed} bytes, its header {size}")
        # an unstated size (-1) is bounded by max_output_size instead
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=size + 1), True
    if compression == "lz4":
        from lz4.frame import LZ4FrameDecompressor

        lz4 = LZ4FrameDecompressor()
        return lz4.decompress(bytes(data), max_length=size + 1), lz4.eof
    if compression == "bz2":
        decompressor = bz2.BZ2Decompressor()
        return decompressor.decompress(data, max_length=size + 1), decompressor.eof
    raise ValueError(f"unsupported chunk compression {compression!r}")
