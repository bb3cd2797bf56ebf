"""Keeping a long night's resident memory what it uses, not what it once used.

Two allocators hold on to freed memory in a process that decodes recording after recording:

- glibc raises its mmap threshold each time a large block is freed (up to 32 MB), so later
  arrays of that size come from the heap, where freed space is fragmented and seldom
  returned. A night of ten recordings crept up by about 30 MB per recording. Fixing the
  threshold (`mallopt(M_MMAP_THRESHOLD)`) gives every large array its own mapping, returned
  whole when freed.
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
M_MMAP_THRESHOLD = -3  # glibc malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024
_done = False


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at 128 kB (its default, no longer raised on frees) in this
    process; True when done. Elsewhere (another libc) it does nothing."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False
    return _done


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
