"""Least-squares refinement of the operator clock on the raw samples.

The windowed FFT correlation lands within a millisecond or two; its residual error comes from
putting a 100 Hz stream on a grid (a staircase of velocities) and from the parabola through
the peak. The refinement skips the grid: it evaluates the dense 500 Hz command at each arm
target's own stamp mapped through the clock model, and solves for the offset and the drift
that minimise the squared difference (Gauss-Newton; the Jacobian is the command velocity).
Per-window one-parameter steps from the final solution give the alignment residual over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_WINDOW_INFORMATION = 0.01
"""A residual window counts when its motion information (sum of squared command velocity) is at
least this share of the median window's."""


@dataclass(frozen=True, eq=False)
class RefinedClock:
    offset_ns: float
    drift_ppm: float
    offset_sd_ms: float
    window_t_ns: np.ndarray
    window_residual_ms: np.ndarray


def _lerp(x: np.ndarray, y: np.ndarray, q: np.ndarray) -> np.ndarray:
    i = np.clip(np.searchsorted(x, q, side="right") - 1, 0, len(x) - 2)
    w = ((q - x[i]) / (x[i + 1] - x[i]))[:, None]
    # in place: two (samples x channels) arrays, not five (each a fresh mapping in a batch
    # process, `teleop_lake.pipeline.heap`)
    low = y[i].astype(np.float64, copy=False)
    out = y[i + 1].astype(np.float64, copy=False)
    out -= low
    out *= w
    out += low
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of the elementwise product, without building the product."""
    return float(np.einsum("ij,ij->", a, b))


def refine_clock(
    arm_t_ns: np.ndarray,
    arm_values: np.ndarray,
    command_t_ns: np.ndarray,
    command_values: np.ndarray,
    latency_ns: float,
    t_ref_ns: int,
    offset_ns: float,
    drift_ppm: float,
    window_s: float,
    iterations: int = 6,
) -> RefinedClock | None:
    """Gauss-Newton on (offset, drift) from a starting estimate; None if it cannot run."""
    t_op = (arm_t_ns - t_ref_ns).astype(np.float64)
    tc = (command_t_ns - t_ref_ns).astype(np.float64)
    if len(tc) < 3 or len(t_op) < 3:
        return None
    velocity = np.gradient(command_values, tc, axis=0)
    offset, drift = float(offset_ns), float(drift_ppm)
    j1 = j2 = r = np.zeros((0, arm_values.shape[1]))
    sent = np.zeros(0)
    inside = np.zeros(len(t_op), dtype=bool)
    for _ in range(iterations):
        scale = 1.0 + drift * 1e-6
        sent = (t_op - offset) / scale  # robot send time, ns after t_ref
        q = sent + latency_ns
        inside = (q >= tc[0]) & (q <= tc[-1])
        if inside.sum() < 10:
            return None
        qi = q[inside]
        g = _lerp(tc, velocity, qi)
        r = arm_values[inside] - _lerp(tc, command_values, qi)
        j1 = -g / scale  # d command / d offset_ns
        j2 = g
        j2 *= (sent[inside] * -1e-6 / scale)[:, None]  # d command / d drift_ppm
        a = np.array([[_dot(j1, j1), _dot(j1, j2)], [_dot(j1, j2), _dot(j2, j2)]])
        b = np.array([_dot(j1, r), _dot(j2, r)])
        if np.linalg.cond(a) > 1e12:
            return None
        step = np.linalg.solve(a, b)
        offset += float(step[0])
        drift += float(step[1])
        if abs(step[0]) < 1.0 and abs(step[1]) < 1e-3:
            break
    dof = max(r.size - 2, 1)
    sigma2 = _dot(r, r) / dof
    a = np.array([[_dot(j1, j1), _dot(j1, j2)], [_dot(j1, j2), _dot(j2, j2)]])
    cov = sigma2 * np.linalg.inv(a)
    # Residual lag per window: one offset-only step from the final solution.
    sent_in = sent[inside]
    width_ns = window_s * 1e9
    edges = np.arange(sent_in[0], sent_in[-1] + width_ns, width_ns)
    which = np.searchsorted(edges, sent_in, side="right") - 1
    centres, residuals, information = [], [], []
    num = np.einsum("ij,ij->i", j1, r)
    den = np.einsum("ij,ij->i", j1, j1)
    for w in range(len(edges)):
        sel = which == w
        if sel.sum() < 10 or den[sel].sum() <= 0:
            continue
        centres.append(t_ref_ns + float(np.mean(sent_in[sel])))
        residuals.append(float(num[sel].sum() / den[sel].sum()) / 1e6)
        information.append(float(den[sel].sum()))
    # A window where the arm barely moves (after an e-stop the command holds still) carries no
    # timing information: its residual lag is noise divided by ~0. Leave such windows out.
    if information:
        informative = np.asarray(information) >= MIN_WINDOW_INFORMATION * np.median(information)
        centres = [c for c, ok in zip(centres, informative, strict=True) if ok]
        residuals = [x for x, ok in zip(residuals, informative, strict=True) if ok]
    return RefinedClock(
        offset_ns=offset,
        drift_ppm=drift,
        offset_sd_ms=float(np.sqrt(max(cov[0, 0], 0.0))) / 1e6,
        window_t_ns=np.asarray(centres, dtype=np.int64),
        window_residual_ms=np.asarray(residuals),
    )
