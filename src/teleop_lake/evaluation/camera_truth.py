"""Camera frames: the true capture instants, and whether each grid row got the truly nearest.

The simulator takes a camera's frames on a strict tick, ``start_ns + phase + k * P`` with
``P = 1e9 / rate`` (docs/TRUTH.md), and stamps them with jitter. The capture instants are
recovered from the stamps with the tick known: ``k`` is the stamp's tick number and ``phase``
the median of ``stamp - start_ns - k * P``. With 1 ms of stamp jitter the phase is known to
~0.07 ms after 300 frames (10 s) and ~0.03 ms after a minute: a grid row that close to the
midpoint of two frames (~0.2-0.4% of rows) may be judged against the wrong one. Pure: no IO.
"""

from __future__ import annotations

import numpy as np


def true_capture_ns(stamps_ns: np.ndarray, start_ns: int, period_ns: float) -> np.ndarray:
    """Capture instants (robot clock, int64 ns) of frames stamped ``stamps_ns`` that were taken
    on the tick ``start_ns + phase + k * period_ns`` (``0 <= phase < period_ns``)."""
    if len(stamps_ns) == 0:
        return np.zeros(0, dtype=np.int64)
    rel = (np.asarray(stamps_ns, dtype=np.int64) - start_ns).astype(np.float64)
    # Circular mean of the stamps' positions within a period: a first phase, safe at the wrap.
    angle = 2 * np.pi * np.mod(rel, period_ns) / period_ns
    phase = np.mod(np.angle(np.mean(np.exp(1j * angle))), 2 * np.pi) / (2 * np.pi) * period_ns
    for _ in range(2):
        k = np.rint((rel - phase) / period_ns)
        phase = float(np.median(rel - k * period_ns))
    k = np.rint((rel - phase) / period_ns)
    return start_ns + np.rint(phase + k * period_ns).astype(np.int64)


def nearest_within(t_frames_ns: np.ndarray, t_grid_ns: np.ndarray, max_ns: float) -> np.ndarray:
    """For each grid tick, the index of the frame whose time is nearest (ties: the earlier
    frame), or -1 when none lies within ``max_ns``. ``t_frames_ns`` need not be sorted."""
    if len(t_frames_ns) == 0:
        return np.full(len(t_grid_ns), -1, dtype=np.int64)
    order = np.argsort(t_frames_ns, kind="stable")
    t = t_frames_ns[order]
    right = np.clip(np.searchsorted(t, t_grid_ns, side="left"), 0, len(t) - 1)
    left = np.clip(right - 1, 0, len(t) - 1)
    d_left = np.abs(t_grid_ns - t[left])
    d_right = np.abs(t[right] - t_grid_ns)
    pick = np.where(d_left <= d_right, left, right)
    dist = np.minimum(d_left, d_right)
    return np.where(dist <= max_ns, order[pick], -1)


def frame_match_counts(chosen: np.ndarray, truly_nearest: np.ndarray) -> tuple[int, int]:
    """``(rows judged, rows matched)``: a row is judged when the pipeline or the truth has a
    frame for it, and matched when both name the same frame."""
    judged = (chosen >= 0) | (truly_nearest >= 0)
    return int(judged.sum()), int((judged & (chosen == truly_nearest)).sum())


def near_tie_count(
    chosen: np.ndarray,
    truly_nearest: np.ndarray,
    t_frames_ns: np.ndarray,
    t_grid_ns: np.ndarray,
    tie_ns: float,
) -> int:
    """Rows where both name a frame, the frames differ, and the chosen one is at most
    ``tie_ns`` further from the row than the truly nearest: near-ties that an error in the
    capture times of less than ``tie_ns / 2`` decides either way."""
    both = (chosen >= 0) & (truly_nearest >= 0) & (chosen != truly_nearest)
    if not both.any():
        return 0
    c = np.abs(t_frames_ns[chosen[both]] - t_grid_ns[both])
    t = np.abs(t_frames_ns[truly_nearest[both]] - t_grid_ns[both])
    return int(np.sum(c - t <= tie_ns))
