"""Batch processes' allocator settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from teleop_lake.pipeline.heap import (
    POLARS_ALLOCATOR_CONF,
    POLARS_ALLOCATOR_VAR,
    batch_process_env,
)


def test_polars_allocator_settings_come_last_whatever_was_there() -> None:
    # Polars writes its defaults into the variable on import and appends what it finds; in
    # jemalloc's option string the last value of a name wins, so ours must come last
    env = batch_process_env({"PATH": "/bin", POLARS_ALLOCATOR_VAR: "dirty_decay_ms:500"})
    assert env[POLARS_ALLOCATOR_VAR] == f"dirty_decay_ms:500,{POLARS_ALLOCATOR_CONF}"
    assert env["PATH"] == "/bin"
    assert batch_process_env({})[POLARS_ALLOCATOR_VAR] == POLARS_ALLOCATOR_CONF


def test_a_batch_process_starts_polars_with_them() -> None:
    code = "import os, polars; print(os.environ['_RJEM_MALLOC_CONF'])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=batch_process_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(POLARS_ALLOCATOR_CONF)


def test_a_fixed_heap_keeps_freed_blocks_until_released() -> None:
    """Blocks under the fixed mmap threshold come from the heap and, freed, stay there for the
    next recording to reuse (no fresh pages to fault in) until `release_heap` hands them back
    at a boundary. Run in a child: the settings are the process's."""
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's allocator settings")
    code = """
import numpy as np
from teleop_lake.pipeline.heap import fix_heap, release_heap
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
assert fix_heap()
base = rss_mb()
blocks = [np.ones(1 << 17) for _ in range(200)]  # 200 x 1 MB, under the 4 MB threshold
del blocks
held = rss_mb() - base
release_heap()
print(held, rss_mb() - base)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    held, released = map(float, out.stdout.split())
    assert held > 150  # kept in the heap while the recording is processed
    assert released < 20  # and returned at the boundary
