"""Where a night's CPU goes: process CPU seconds and wall seconds per stage, in this process.

`timed` wraps a stage (``with timed("decode"): ...``); `totals` reads what this process spent
per stage since `reset`. It costs two clock reads per stage entry, so the night keeps it on.
Process CPU counts every thread of the process, so the split is exact where stages run one
at a time in a process (a night's plain stages, a Dask worker with one thread), as
`teleop-lake bench night` runs them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

_cpu: dict[str, float] = {}
_wall: dict[str, float] = {}


CenterSeconds = dict[str, dict[str, float]]  # center -> stage -> wall seconds


@contextmanager
def timed(
    stage: str,
    into: CenterSeconds | None = None,
    centers: str | Mapping[str, float] | None = None,
) -> Iterator[None]:
    """Count the block's CPU and wall seconds under ``stage``; with ``into``, also add its wall
    seconds to ``into[center][stage]`` for ``centers``: one center, or shares of the block
    (e.g. a batch's recordings per center) that are normalised to sum to one."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        yield
    finally:
        wall = time.perf_counter() - wall0
        _cpu[stage] = _cpu.get(stage, 0.0) + time.process_time() - cpu0
        _wall[stage] = _wall.get(stage, 0.0) + wall
        if into is not None and centers:
            shares = {centers: 1.0} if isinstance(centers, str) else dict(centers)
            total = sum(shares.values())
            for center, share in shares.items():
                row = into.setdefault(center, {})
                row[stage] = row.get(stage, 0.0) + wall * share / total


def add_center_seconds(into: CenterSeconds, more: CenterSeconds) -> None:
    """Sum ``more`` into ``into`` (per center and stage)."""
    for center, stages in more.items():
        row = into.setdefault(center, {})
        for stage, seconds in stages.items():
            row[stage] = row.get(stage, 0.0) + seconds


def totals() -> dict[str, dict[str, float]]:
    """``{stage: {"cpu_s": ..., "wall_s": ...}}`` since the last `reset`."""
    return {s: {"cpu_s": _cpu[s], "wall_s": _wall[s]} for s in _cpu}


def reset() -> None:
    _cpu.clear()
    _wall.clear()


def add(more: dict[str, dict[str, float]]) -> None:
    """Count another process's `totals` here (a batch worker's)."""
    for s, t in more.items():
        _cpu[s] = _cpu.get(s, 0.0) + t["cpu_s"]
        _wall[s] = _wall.get(s, 0.0) + t["wall_s"]
