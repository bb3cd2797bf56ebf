"""Keeping a long night's resident memory what it uses, not what it once used.

Two allocators hold on to freed memory in a process that decodes recording after recording:

- glibc raises its mmap threshold each time a large block is freed (up to 32 MB), so later
  arrays of that size come from the heap, where freed space is fragmented and seldom
  returned. A night of ten recordings crept up by about 30 MB per recording. Batch processes
  therefore fix the heap's settings (`fix_heap`) and hand its free pages back themselves
  (`release_heap`, glibc's ``malloc_trim``) whenever a recording is done, before the batch
  validates and writes its segment, and when the batch ends: what one recording freed never
  outlives it, and the peak follows the largest recording, not the number of them.

  The settings are a trade measured on ten 640x480 recordings (docs/CAMERAS.md). A 128 kB
  mmap threshold (glibc's default, fixed) made every temporary above it a fresh mapping that
  the kernel maps and zeroes page by page: 2.3-2.7 s of system time in the signal path of
  those ten recordings. With 4 MB, the temporaries of block-wise cleaning (4 MB blocks and
  smaller) reuse heap pages instead, and the heap's top is not trimmed after each free (trim
  threshold 512 MB) but at those boundaries.
- Arrow's memory pool keeps what writing a segment's Parquet files used (about 70 MB);
  `release_arrow_pool` hands it back once a segment is written.
- Polars' own allocator (jemalloc, built into its runtime) keeps freed pages for 0.5-1 s
  before it returns them (Polars' default). In a batch that is the last segment's tables
  beside the next recording's signals: about 13 MB more peak memory in a night of ten
  recordings. Its configuration is read once, when Polars is first imported, so it is set
  for the processes the night starts (`batch_process_env`): freed pages go back at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

POLARS_ALLOCATOR_VAR = "_RJEM_MALLOC_CONF"
POLARS_ALLOCATOR_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0"
M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 4 << 20
TRIM_THRESHOLD_BYTES = 512 << 20
_libc: ctypes.CDLL | None = None
_looked = False
_done = False


def _glibc() -> ctypes.CDLL | None:
    """glibc, with the two calls used here; None elsewhere (looked up once)."""
    global _libc, _looked
    if not _looked:
        _looked = True
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
                    _libc = libc
            except OSError:
                pass
    return _libc


def fix_heap() -> bool:
    """Fix glibc's mmap threshold at `MMAP_THRESHOLD_BYTES` (no longer raised on frees) and
    its trim threshold at `TRIM_THRESHOLD_BYTES` in this process, which then calls
    `release_heap` at its own boundaries; True when done. Elsewhere (another libc) it does
    nothing."""
    global _done
    libc = _glibc()
    if _done or libc is None:
        return _done
    # the trim threshold first: a raised mmap threshold without the trims would hold freed
    # memory with nothing to return it
    _done = bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    )
    return _done


def release_heap() -> None:
    """Return every free page of the heap to the system (``malloc_trim(0)``); where the heap
    was fixed (`fix_heap`), between recordings and before a segment's validation and write."""
    libc = _glibc()
    if _done and libc is not None:
        libc.malloc_trim(0)


def release_arrow_pool() -> None:
    """Return the memory Arrow's default pool holds but no longer uses."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def batch_process_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a process that decodes recordings (``base``: this process's):
    Polars' allocator returns freed pages at once. Polars puts its own defaults in this
    variable when it is imported and appends what it finds there; in jemalloc's options the
    last value of a name wins, so these come last."""
    env = dict(os.environ if base is None else base)
    earlier = env.get(POLARS_ALLOCATOR_VAR)
    env[POLARS_ALLOCATOR_VAR] = (
        f"{earlier},{POLARS_ALLOCATOR_CONF}" if earlier else POLARS_ALLOCATOR_CONF
    )
    return env
