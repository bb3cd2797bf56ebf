"""Operator clock from motion: cross-correlate the exoskeleton's arm targets (operator clock)
with the robot's arm joint commands (robot clock), which follow them after the control latency.

Both are put on a common 200 Hz grid on their own clocks and differenced (velocities give a
sharp correlation peak; positions a broad one). A whole-episode FFT correlation finds the lag;
windowed correlations around it, refined below one step by a parabola through the peak, give
the lag over time, and a linear fit gives the offset at the episode start and the drift.
`teleop_lake.alignment.refine` then polishes offset and drift by least squares on the raw
samples.
The correlations are FFT correlations (as ``scipy.signal.correlate(method="fft")``) with the
channel sum taken in the frequency domain: one inverse transform per window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from teleop_lake.alignment.params import AlignmentParams
from teleop_lake.alignment.refine import refine_clock
from teleop_lake.alignment.resample import grid_times, resample_linear


@dataclass(frozen=True, eq=False)
class LagFit:
    """Offset at ``t_ref`` and drift of the lag fit; ``uncertainty_ms`` is one standard error
    of the fit alone (the latency the offset assumes is the caller's to add)."""

    offset_ns: int
    drift_ppm: float
    uncertainty_ms: float
    correlation: float
    window_t_ns: np.ndarray  # robot time of each window centre
    window_residual_ms: np.ndarray


SPECTRA_BYTES = 16 << 20
"""Bytes of one block of per-channel spectra in `_summed_correlation`."""


def _velocity_grid(
    t_ns: np.ndarray, values: np.ndarray, step_ns: int
) -> tuple[np.ndarray, np.ndarray]:
    grid = grid_times(int(t_ns[0]), int(t_ns[-1]), 1e9 / step_ns)
    on_grid = resample_linear(t_ns, values, grid).values
    return grid, np.diff(on_grid, axis=0)


def _parabolic_peak(y: np.ndarray) -> tuple[float, float]:
    """Index (fractional) and height of the maximum of ``y`` by a parabola through its top."""
    j = int(np.argmax(y))
    if 0 < j < len(y) - 1:
        a, b, c = y[j - 1], y[j], y[j + 1]
        denom = a - 2 * b + c
        if denom < 0:
            delta = 0.5 * (a - c) / denom
            return j + delta, float(b - 0.25 * (a - c) * delta)
    return float(j), float(y[j])


def _summed_correlation(long: np.ndarray, short: np.ndarray, mode: str) -> np.ndarray:
    """Sum over channels of the per-channel correlations ``sum_i long[i + k] * short[i]``.

    The FFT method of ``scipy.signal.correlate``, done once for all channels: the per-channel
    cross-spectra are summed before the single inverse transform. ``mode`` "full" returns lags
    ``-(len(short) - 1) .. len(long) - 1`` (as ``scipy.signal.correlation_lags``), "valid"
    lags ``0 .. len(long) - len(short)``.
    """
    n_long, n_short = len(long), len(short)
    size = sp_fft.next_fast_len(n_long + n_short - 1, real=True)
    # channels a block at a time, so a long recording's spectra stay near SPECTRA_BYTES
    width = long.shape[1]
    step = max(1, min(width, SPECTRA_BYTES // (16 * (size // 2 + 1))))
    summed = np.zeros(size // 2 + 1, dtype=np.complex128)
    for c in range(0, width, step):
        cols = slice(c, c + step)
        cross = sp_fft.rfft(long[:, cols], size, axis=0)
        other = sp_fft.rfft(short[:, cols], size, axis=0)
        cross *= np.conj(other, out=other)
        summed += cross.sum(axis=1)
    xc = sp_fft.irfft(summed, size)
    if mode == "full":
        return np.concatenate([xc[size - (n_short - 1) :], xc[:n_long]])
    return xc[: n_long - n_short + 1]


def estimate_by_xcorr(
    arm_t_ns: np.ndarray,
    arm_values: np.ndarray,
    command_t_ns: np.ndarray,
    command_values: np.ndarray,
    latency_ns: float,
    t_ref_ns: int,
    params: AlignmentParams,
) -> LagFit | None:
    """Offset and drift of the operator clock, or None when the arms hardly move or the
    correlation is too weak. Columns of ``arm_values`` and ``command_values`` correspond."""
    if len(arm_t_ns) < 10 or len(command_t_ns) < 10:
        return None
    moving = np.std(arm_values, axis=0) >= params.min_motion
    if not moving.any():
        return None
    step_ns = round(1e9 / params.correlation_rate_hz)
    # the moving channels, selected once (a copy unless every channel moves)
    arm_moving = arm_values if moving.all() else arm_values[:, moving]
    command_moving = command_values if moving.all() else command_values[:, moving]
    op_grid, d_arm = _velocity_grid(arm_t_ns, arm_moving, step_ns)
    rb_grid, d_cmd = _velocity_grid(command_t_ns, command_moving, step_ns)
    for d in (d_arm, d_cmd):  # standardised in place, channel by channel
        spread = np.maximum(d.std(axis=0), 1e-12)
        d -= d.mean(axis=0)
        d /= spread
    n_arm, n_cmd = len(d_arm), len(d_cmd)
    if n_arm < 20 or n_cmd < 20:
        return None
    # Lag k pairs d_cmd[i + k] with d_arm[i]: robot time rb0 + (i+k) step <-> op time op0 + i step,
    # and robot = op - offset + latency, so offset = latency - (rb0 - op0 + k step).
    base = int(rb_grid[0] - op_grid[0])
    full = _summed_correlation(d_cmd, d_arm, "full")
    lags = signal.correlation_lags(n_cmd, n_arm, mode="full")
    offsets = latency_ns - (base + lags * step_ns)
    allowed = np.abs(offsets) <= params.max_offset_s * 1e9
    if not allowed.any():
        return None
    scored = np.where(allowed, full, -np.inf)
    k0 = int(lags[int(np.argmax(scored))])

    duration_s = (arm_t_ns[-1] - arm_t_ns[0]) / 1e9
    window_s = min(params.window_s, duration_s / 2.5)
    width = max(int(window_s * 1e9 / step_ns), 20)
    hop = max(width // 2, 1)
    margin = int(params.fine_search_ms * 1e6 / step_ns) + 1
    centres_ns, offsets_ns, weights = [], [], []
    for start in range(0, n_arm - width + 1, hop):
        lo = start + k0 - margin
        hi = start + k0 + width + margin
        if lo < 0 or hi > n_cmd:
            continue
        a = d_arm[start : start + width]
        c = d_cmd[lo:hi]
        xc = _summed_correlation(c, a, "valid")
        peak, height = _parabolic_peak(xc)
        norm = float(np.sqrt(np.sum(a * a) * np.sum(c[margin : margin + width] ** 2)))
        rho = height / norm if norm > 0 else 0.0
        if rho < params.min_correlation:
            continue
        k = k0 - margin + peak
        offset = latency_ns - (base + k * step_ns)
        centre_op = op_grid[0] + (start + width / 2) * step_ns
        centres_ns.append(centre_op - offset)
        offsets_ns.append(offset)
        weights.append(rho)
    if not offsets_ns:
        return None
    x = (np.asarray(centres_ns) - t_ref_ns) / 1e9
    y = np.asarray(offsets_ns)
    w = np.asarray(weights)
    coarse = _fit_line(x, y, w, np.asarray(centres_ns, dtype=np.int64), params)
    fine = refine_clock(
        arm_t_ns,
        arm_moving,
        command_t_ns,
        command_moving,
        latency_ns,
        t_ref_ns,
        coarse.offset_ns,
        coarse.drift_ppm,
        window_s,
    )
    if (
        fine is None
        or abs(fine.offset_ns - coarse.offset_ns) > params.fine_search_ms * 1e6
        or abs(fine.drift_ppm) > params.max_drift_ppm
    ):
        return coarse
    spread_ms = (
        float(np.sqrt(np.mean(fine.window_residual_ms**2) / len(fine.window_residual_ms)))
        if len(fine.window_residual_ms)
        else 0.0
    )
    return LagFit(
        offset_ns=round(fine.offset_ns),
        drift_ppm=fine.drift_ppm,
        uncertainty_ms=float(max(fine.offset_sd_ms, spread_ms)),
        correlation=coarse.correlation,
        window_t_ns=fine.window_t_ns,
        window_residual_ms=fine.window_residual_ms,
    )


def _fit_line(
    x_s: np.ndarray,
    y_ns: np.ndarray,
    w: np.ndarray,
    centres_ns: np.ndarray,
    params: AlignmentParams,
) -> LagFit:
    keep = np.ones(len(x_s), dtype=bool)
    if len(x_s) >= 3:
        for _ in range(2):  # drop windows far off the line (a wrong peak), then refit
            coef = np.polyfit(x_s[keep], y_ns[keep], 1, w=w[keep])
            resid = y_ns - np.polyval(coef, x_s)
            spread = 1.4826 * np.median(np.abs(resid[keep])) + 2e5  # + 0.2 ms floor
            keep = np.abs(resid) <= 4 * spread
            if keep.sum() < 3:
                keep = np.ones(len(x_s), dtype=bool)
                break
        coef = np.polyfit(x_s[keep], y_ns[keep], 1, w=w[keep])
        slope, intercept = float(coef[0]), float(coef[1])
    else:
        slope, intercept = 0.0, float(np.average(y_ns, weights=w))
    drift_ppm = slope / 1e9 * 1e6
    fixed = abs(drift_ppm) > params.max_drift_ppm
    if fixed:
        drift_ppm, slope = 0.0, 0.0
        intercept = float(np.median(y_ns))
    resid = y_ns - (intercept + slope * x_s)
    n = int(keep.sum())
    dof = max(n - (1 if fixed or len(x_s) < 3 else 2), 1)
    rms_ms = float(np.sqrt(np.sum(resid[keep] ** 2) / dof)) / 1e6
    standard_error_ms = rms_ms / np.sqrt(n)
    if fixed:  # spread of the windows kept, not of a wild window already dropped
        standard_error_ms = max(standard_error_ms, float(np.ptp(y_ns[keep])) / 2e6)
    uncertainty = float(standard_error_ms)
    return LagFit(
        offset_ns=round(intercept),
        drift_ppm=drift_ppm,
        uncertainty_ms=uncertainty,
        correlation=float(np.average(w)),
        window_t_ns=centres_ns,
        window_residual_ms=resid / 1e6,
    )
