"""Resampling streams onto the training grid.

One vectorised ``searchsorted`` locates every grid tick between two source samples for all
channels at once; then linear interpolation (continuous channels), previous value (held
commands), SLERP (unit quaternions) or nearest frame (cameras). Every function also says which
source samples bracket each tick, so quality flags can follow the values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def columns_of(x: np.ndarray, cols: list[int]) -> np.ndarray:
    """``x[:, cols]``: a view when the columns are consecutive (a stream's columns usually
    are), so a long stream is not copied to resample or correlate it."""
    if cols and cols == list(range(cols[0], cols[0] + len(cols))):
        return x[:, cols[0] : cols[0] + len(cols)]
    return x[:, cols]


def grid_times(start_ns: int, end_ns: int, rate_hz: float) -> np.ndarray:
    """Ticks ``start_ns + k * period`` (int64 ns, period rounded to 1 ns) up to ``end_ns``."""
    period = round(1e9 / rate_hz)
    if end_ns < start_ns:
        return np.zeros(0, dtype=np.int64)
    count = (end_ns - start_ns) // period + 1
    return start_ns + period * np.arange(count, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Resampled:
    """Values on the grid with their provenance.

    ``left``: index of the source sample at or before each tick (clipped into range);
    ``gap_ns``: spacing of the two bracketing source samples (0 when the tick hits a sample
    exactly or lies outside the source span); ``valid``: False where the tick is too far
    outside the source span (values are NaN there).
    """

    values: np.ndarray
    left: np.ndarray
    gap_ns: np.ndarray
    valid: np.ndarray


def _locate(
    t_src: np.ndarray, t_grid: np.ndarray, edge_tolerance_ns: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(t_src)
    right = np.searchsorted(t_src, t_grid, side="right")
    left = np.clip(right - 1, 0, max(n - 2, 0))
    inside = (t_grid >= t_src[0]) & (t_grid <= t_src[-1])
    valid = (t_grid >= t_src[0] - edge_tolerance_ns) & (t_grid <= t_src[-1] + edge_tolerance_ns)
    if n < 2:
        return left, np.zeros(len(t_grid)), np.zeros(len(t_grid), dtype=np.int64), valid
    t0 = t_src[left]
    span = t_src[left + 1] - t0
    weight = np.clip((t_grid - t0) / span, 0.0, 1.0)
    exact = (t_grid == t0) | (t_grid == t_src[left + 1])
    gap = np.where(inside & ~exact, span, 0)
    return left, weight, gap, valid


def resample_linear(
    t_src: np.ndarray, values: np.ndarray, t_grid: np.ndarray, edge_tolerance_ns: float = 0.0
) -> Resampled:
    """Linear interpolation of every channel at once (no per-channel loop)."""
    m = len(t_grid)
    if len(t_src) == 0:
        return _empty(m, values.shape[1])
    left, weight, gap, valid = _locate(t_src, t_grid, edge_tolerance_ns)
    if len(t_src) < 2:
        out = np.repeat(values[:1], m, axis=0).astype(np.float64)
    else:
        lo = values[left]
        out = lo + weight[:, None] * (values[left + 1] - lo)
    out[~valid] = np.nan
    return Resampled(out, left, gap, valid)


def resample_previous(
    t_src: np.ndarray, values: np.ndarray, t_grid: np.ndarray, edge_tolerance_ns: float = 0.0
) -> Resampled:
    """Previous-value (zero-order hold) resampling: the last sample at or before each tick;
    ticks before the first sample take it only within ``edge_tolerance_ns``."""
    m = len(t_grid)
    if len(t_src) == 0:
        return _empty(m, values.shape[1])
    last = np.searchsorted(t_src, t_grid, side="right") - 1
    valid = (last >= 0) | (t_grid >= t_src[0] - edge_tolerance_ns)
    valid &= t_grid <= t_src[-1] + edge_tolerance_ns
    idx = np.clip(last, 0, len(t_src) - 1)
    out = values[idx].astype(np.float64, copy=True)
    out[~valid] = np.nan
    nxt = np.clip(idx + 1, 0, len(t_src) - 1)
    gap = np.where((last >= 0) & (nxt > idx) & (t_grid != t_src[idx]), t_src[nxt] - t_src[idx], 0)
    return Resampled(out, np.clip(idx, 0, max(len(t_src) - 2, 0)), gap, valid)


def slerp_quaternions(
    t_src: np.ndarray, quat_xyzw: np.ndarray, t_grid: np.ndarray, edge_tolerance_ns: float = 0.0
) -> Resampled:
    """Spherical linear interpolation of unit quaternions (x, y, z, w), shortest arc."""
    m = len(t_grid)
    if len(t_src) < 2:
        return resample_linear(t_src, quat_xyzw, t_grid, edge_tolerance_ns)
    left, weight, gap, valid = _locate(t_src, t_grid, edge_tolerance_ns)
    q = quat_xyzw / np.linalg.norm(quat_xyzw, axis=1, keepdims=True)
    q0 = q[left]
    q1 = q[left + 1]
    dot = np.einsum("ij,ij->i", q0, q1)
    q1 = np.where(dot[:, None] < 0, -q1, q1)
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    small = sin_theta < 1e-9
    safe = np.where(small, 1.0, sin_theta)
    a = np.where(small, 1.0 - weight, np.sin((1.0 - weight) * theta) / safe)
    b = np.where(small, weight, np.sin(weight * theta) / safe)
    out = a[:, None] * q0 + b[:, None] * q1
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    out[~valid] = np.nan
    assert out.shape == (m, 4)
    return Resampled(out, left, gap, valid)


def nearest_index(t_src: np.ndarray, t_grid: np.ndarray, max_distance_ns: float) -> np.ndarray:
    """Index of the nearest source stamp for each tick, -1 when none lies within the distance."""
    if len(t_src) == 0:
        return np.full(len(t_grid), -1, dtype=np.int64)
    right = np.clip(np.searchsorted(t_src, t_grid, side="left"), 0, len(t_src) - 1)
    left = np.clip(right - 1, 0, len(t_src) - 1)
    d_right = np.abs(t_src[right] - t_grid)
    d_left = np.abs(t_grid - t_src[left])
    best = np.where(d_left <= d_right, left, right)
    distance = np.minimum(d_left, d_right)
    return np.where(distance <= max_distance_ns, best, -1)


def _empty(m: int, channels: int) -> Resampled:
    return Resampled(
        np.full((m, channels), np.nan),
        np.zeros(m, dtype=np.int64),
        np.zeros(m, dtype=np.int64),
        np.zeros(m, dtype=bool),
    )
