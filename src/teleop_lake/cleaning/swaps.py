"""Adjacent samples exported in swapped order: detected on all channels at once and put back.

An exporter that sorts a stream's rows by their (jittered) stamps moves whole messages: when
the stamp jitter is a sizeable share of the period (VR head pose at 90 Hz with 3 ms jitter),
two neighbouring messages trade places and every channel of both rows is off the trend by a
step of the motion. Per channel this looks like a one-sample spike (the spike detector would
"repair" it and flag data that is fine); across channels the signature is unmistakable:
exchanging the two rows brings every moving channel back onto the line through the neighbours.

For rows ``i, i+1`` with neighbours ``i-1`` and ``i+2``, in units of each channel's noise
sigma: ``now = |x_i - a| + |x_{i+1} - b|`` and ``swapped = |x_{i+1} - a| + |x_i - b|``, where
``a, b`` are the straight line through the neighbours at ``i`` and ``i+1``. A pair is swapped
when, summed over channels, ``now - swapped`` exceeds ``swap_min_gain_sigma * sqrt(channels)``
and ``swapped`` is under ``swap_max_residual_share`` of ``now``. A spike on one channel moves
with the swap and gains nothing, so spikes stay the spike detector's. A second pass
(`detect_scrambled_windows`) tries every order of four consecutive rows against the line
between their neighbours, for a message moved two places or two swaps in a row (stamps
jittering by half a period, as a VR headset's at 120 Hz with 4 ms).
"""

from __future__ import annotations

import itertools

import numpy as np

MAD_TO_SIGMA = 1.4826
SQRT6 = float(np.sqrt(6.0))
SWAP_MIN_GAIN_SIGMA = 8.0
"""Summed improvement (noise sigmas, per sqrt(channel)) a swap must bring: far beyond what
white noise gives (the gain of a random pair is ~N(0, 2 sigma) per channel)."""
SWAP_MIN_JITTER_SHARE = 0.05
"""Below this stamp jitter (robust sigma of the intervals, as a share of the period) sorting by
stamp cannot exchange two messages, and the detector is not run (a 500 Hz joint stream with
30 us of jitter is at 1.5%; VR head pose at 90 Hz with 3 ms, ~27%)."""
SWAP_MAX_RESIDUAL_SHARE = 0.35
"""After the swap the rows must sit on the line: at most this share of the residual remains."""


def stamp_jitter_share(t_ns: np.ndarray) -> float:
    """Robust sigma of the stamp intervals as a share of the median interval."""
    if len(t_ns) < 3:
        return 0.0
    dt = np.diff(t_ns).astype(np.float64)
    period = float(np.median(dt))
    if period <= 0:
        return 0.0
    return float(MAD_TO_SIGMA * np.median(np.abs(dt - period)) / period)


def noise_sigma(x: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """Per-channel white-noise sigma from the second differences (robust: MAD)."""
    if len(x) < 4:
        return floors.copy()
    d2 = np.diff(x, n=2, axis=0)
    return np.maximum(MAD_TO_SIGMA * np.median(np.abs(d2), axis=0) / SQRT6, floors)


def detect_swapped_rows(x: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """Row indices ``i`` whose rows ``i`` and ``i+1`` are in swapped order (non-overlapping)."""
    n, c = x.shape
    if n < 4 or c == 0:
        return np.zeros(0, dtype=np.int64)
    sigma = noise_sigma(x, floors)
    before, first, second, after = x[:-3], x[1:-2], x[2:-1], x[3:]
    a = (2.0 * before + after) / 3.0
    b = (before + 2.0 * after) / 3.0
    now = (np.abs(first - a) + np.abs(second - b)) / sigma
    swapped = (np.abs(second - a) + np.abs(first - b)) / sigma
    now_sum = now.sum(axis=1)
    swapped_sum = swapped.sum(axis=1)
    gain = now_sum - swapped_sum
    ok = (gain > SWAP_MIN_GAIN_SIGMA * np.sqrt(c)) & (
        swapped_sum < SWAP_MAX_RESIDUAL_SHARE * now_sum
    )
    candidates = np.flatnonzero(ok)
    chosen: list[int] = []
    for i in candidates[np.argsort(-gain[candidates], kind="stable")]:
        if any(abs(int(i) - j) <= 1 for j in chosen):
            continue
        chosen.append(int(i))
    return np.array(sorted(chosen), dtype=np.int64) + 1


def unswap_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x`` with each pair ``rows[k], rows[k]+1`` exchanged back (a copy; ``x`` itself when
    there is nothing to exchange)."""
    if not len(rows):
        return x
    out = np.array(x, copy=True)
    out[rows], out[rows + 1] = x[rows + 1], x[rows]
    return out


WINDOW = 4
"""Rows per scrambled window the second pass considers (after pairwise swaps): stamps that
jitter by half a period, sorted, also move one message two places, or swap two pairs in a row
(each pair's neighbour then being out of place itself)."""
_PERMUTATIONS = np.array(
    [p for p in itertools.permutations(range(WINDOW)) if p != tuple(range(WINDOW))]
)


def detect_scrambled_windows(x: np.ndarray, floors: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Windows ``(first row, order)`` of ``WINDOW`` consecutive rows whose rows, put in
    ``order``, sit back on the line between the window's neighbours on every channel (the
    pairwise test above misses a message moved two places, or two overlapping swaps). Same
    gain and residual rules, the gain scaled by the window's rows."""
    n, c = x.shape
    if n < WINDOW + 2 or c == 0:
        return []
    sigma = noise_sigma(x, floors)
    mid = (x[:-2] + x[2:]) / 2.0
    rough = (np.abs(x[1:-1] - mid) / sigma).sum(axis=1) / np.sqrt(c)
    rows = np.flatnonzero(rough > SWAP_MIN_GAIN_SIGMA) + 1
    found: list[tuple[float, int, np.ndarray]] = []
    fractions = (np.arange(1, WINDOW + 1) / (WINDOW + 1))[:, None]
    for start in sorted({int(s) for r in rows for s in range(r - WINDOW + 1, r + 1)}):
        if start < 1 or start + WINDOW >= n:
            continue
        line = x[start - 1] + fractions * (x[start + WINDOW] - x[start - 1])
        block = x[start : start + WINDOW]
        now = float((np.abs(block - line) / sigma).sum())
        moved = (np.abs(block[_PERMUTATIONS] - line[None]) / sigma).sum(axis=(1, 2))
        best = int(np.argmin(moved))
        gain = now - float(moved[best])
        if gain > SWAP_MIN_GAIN_SIGMA * np.sqrt(c * WINDOW / 2.0) and moved[best] < (
            SWAP_MAX_RESIDUAL_SHARE * now
        ):
            found.append((gain, start, _PERMUTATIONS[best]))
    chosen: list[tuple[int, np.ndarray]] = []
    for _, start, order in sorted(found, key=lambda f: -f[0]):
        if any(abs(start - s) < WINDOW for s, _ in chosen):
            continue
        chosen.append((start, order))
    return sorted(chosen, key=lambda w: w[0])


def reorder_windows(x: np.ndarray, windows: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """``x`` with each window's rows put in its order (a copy; ``x`` itself when there are
    none)."""
    if not windows:
        return x
    out = np.array(x, copy=True)
    for start, order in windows:
        out[start : start + WINDOW] = x[start + order]
    return out
