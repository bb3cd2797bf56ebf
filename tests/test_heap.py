"""Batch processes' allocator settings."""

from __future__ import annotations

import subprocess
import sys

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
