"""Operator clock from receive stamps: the recorder logs each operator message on the robot
clock shortly after it was sent, so ``t_received - t_op = transit - offset - drift * (s - t_ref)``
with ``transit >= envelope_min_transit_ms``. The lower envelope of that difference over time is
a line whose intercept and slope give the offset and the drift, independent of any motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teleop_lake.alignment.params import AlignmentParams


@dataclass(frozen=True, eq=False)
class EnvelopeFit:
    """The envelope line: ``offset_ns`` assumes the fastest message took
    ``envelope_min_transit_ms``; ``uncertainty_ms`` is the spread of the bin minima about the
    line (how well a line fits), not the unknown transit (the caller's to add)."""

    offset_ns: int
    drift_ppm: float
    uncertainty_ms: float
    n_bins: int


def estimate_by_envelope(
    t_op_ns: np.ndarray, t_received_ns: np.ndarray, t_ref_ns: int, params: AlignmentParams
) -> EnvelopeFit | None:
    """Fit the lower envelope; None when fewer than two bins have data."""
    if len(t_op_ns) < 4:
        return None
    x_ns = t_received_ns - t_ref_ns
    y_ns = (t_received_ns - t_op_ns).astype(np.float64)
    bin_ns = params.envelope_bin_s * 1e9
    bins = np.floor((x_ns - x_ns.min()) / bin_ns).astype(np.int64)
    order = np.lexsort((y_ns, bins))
    first = np.flatnonzero(np.r_[True, np.diff(bins[order]) != 0])
    pick = order[first]  # the lowest y of each bin
    if len(pick) < 2:
        return None
    x = x_ns[pick] / 1e9
    y = y_ns[pick]
    keep = np.ones(len(x), dtype=bool)
    for _ in range(2):  # a bin whose fastest message was still slow sits above the line
        slope, intercept = np.polyfit(x[keep], y[keep], 1)
        resid = y - (intercept + slope * x)
        spread = 1.4826 * np.median(np.abs(resid[keep])) + 1e5
        keep = resid <= 3 * spread
        if keep.sum() < 2:
            keep = np.ones(len(x), dtype=bool)
            break
    slope, intercept = np.polyfit(x[keep], y[keep], 1)
    resid = y[keep] - (intercept + slope * x[keep])
    # Put the line under every bin minimum: the envelope touches the fastest messages.
    intercept += float(np.min(resid))
    drift_ppm = -slope / 1e9 * 1e6
    offset_ns = params.envelope_min_transit_ms * 1e6 - intercept
    spread_ms = float(np.std(resid)) / 1e6
    return EnvelopeFit(round(offset_ns), float(drift_ppm), spread_ms, int(keep.sum()))


def stamp_jitter_ms(t_ns: np.ndarray) -> float:
    """Robust sigma (ms) of the stamp jitter of a stream sampled on a steady tick: white jitter
    of sigma gives second differences of sigma * sqrt(6); the MAD ignores gaps."""
    if len(t_ns) < 8:
        return 0.0
    second = np.diff(np.asarray(t_ns, dtype=np.int64), n=2).astype(np.float64)
    mad = float(np.median(np.abs(second - np.median(second))))
    return 1.4826 * mad / np.sqrt(6.0) / 1e6
