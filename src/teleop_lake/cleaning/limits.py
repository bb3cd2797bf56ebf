"""Per-channel physical limits from the robot model, and readings past them judged against noise.

A robot model's position limits are the joints' mechanical stops. A joint resting against one
(an idle arm hanging, an elbow fully extended) reads the stop plus sensor noise, so about half
its readings sit just past the nominal range: that is noise, not a fault (`judge_limits`).
"""

from __future__ import annotations

import numpy as np

from teleop_lake.cleaning.findings import Evidence, Finding
from teleop_lake.cleaning.params import CleaningParams
from teleop_lake.robots import RobotModel

CLOSURE_LIMITS = (-0.05, 1.05)  # the frames contract's range for hand closures (0..1 + slack)


def channel_limits(robot: RobotModel, channels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` per channel; +-inf for channels the model sets no limit on."""
    by_joint = {j.name: j for j in robot.joints}
    lower = np.full(len(channels), -np.inf)
    upper = np.full(len(channels), np.inf)
    for i, channel in enumerate(channels):
        quantity, _, name = channel.partition(".")
        if quantity == "closure":
            lower[i], upper[i] = CLOSURE_LIMITS
        joint = by_joint.get(name)
        if joint is None:
            continue
        if quantity == "position_rad":
            lower[i], upper[i] = joint.position_min_rad, joint.position_max_rad
        elif quantity == "velocity_rad_s":
            lower[i], upper[i] = -joint.velocity_max_rad_s, joint.velocity_max_rad_s
        elif quantity == "effort_nm":
            lower[i], upper[i] = -joint.effort_max_nm, joint.effort_max_nm
    return lower, upper


def _runs_1d(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True, last inclusive."""
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), (edges[1::2] - 1).tolist(), strict=True))


def judge_limits(
    stream: str,
    t_ns: np.ndarray,
    x: np.ndarray,
    channels: tuple[str, ...],
    lower: np.ndarray,
    upper: np.ndarray,
    sigma: np.ndarray,
    params: CleaningParams,
) -> tuple[np.ndarray, list[Finding]]:
    """Readings past the nominal limits, judged against each channel's noise ``sigma``.

    A reading past a limit by at most ``limit_noise_sigmas`` sigmas is noise on a joint resting
    at its stop: the stretch where the channel sits within that band of the limit, with some
    reading past it, becomes one informational ``at_stop`` finding (no flag, no fault). Runs
    further past are ``limit_violation`` findings with their excess in the channel's unit and
    in sigmas, flagged per sample and kept (never repaired, never a spike). Returns the
    violation mask (samples x channels) and the findings."""
    mask = np.zeros(x.shape, dtype=bool)
    findings: list[Finding] = []
    if len(x) == 0:
        return mask, findings
    band = params.limit_noise_sigmas * sigma
    # only channels with a reading past a limit at all need a closer look
    past = (x.max(axis=0) > upper) | (x.min(axis=0) < lower)
    for c in np.flatnonzero(past):
        col = x[:, c]
        for side, limit, excess in (
            ("upper", upper[c], col - upper[c]),
            ("lower", lower[c], lower[c] - col),
        ):
            if not np.isfinite(limit) or not (excess > 0).any():
                continue
            beyond = excess > band[c]
            for a, b in _runs_1d(beyond):
                worst = a + int(np.argmax(excess[a : b + 1]))
                mask[a : b + 1, c] = True
                findings.append(
                    Finding(
                        stream,
                        channels[c],
                        "limit_violation",
                        int(t_ns[a]),
                        int(t_ns[b]),
                        False,
                        f"{b - a + 1} sample(s) past the {side} limit {limit:.4g} by up to "
                        f"{excess[worst]:.3g} ({excess[worst] / sigma[c]:.1f} noise sigmas, "
                        f"noise {sigma[c]:.2g}); kept and flagged",
                        Evidence(
                            rule=f"limit.{side}",
                            value=float(col[worst]),
                            expected=float(limit),
                            residual_sigma=float(excess[worst] / sigma[c]),
                            noise_floor=float(sigma[c]),
                            n_samples=int(b - a + 1),
                        ),
                    )
                )
            findings.extend(
                _at_stop(
                    stream, t_ns, col, channels[c], side, limit, excess, sigma[c], band[c], params
                )
            )
    return mask, findings


def _at_stop(
    stream: str,
    t_ns: np.ndarray,
    col: np.ndarray,
    channel: str,
    side: str,
    limit: float,
    excess: np.ndarray,
    sigma: float,
    band: float,
    params: CleaningParams,
) -> list[Finding]:
    """Informational spans where a channel rests within the noise band of a limit and reads
    past it now and then: a joint against its mechanical stop."""
    near = np.abs(excess) <= band
    out: list[Finding] = []
    for a, b in _runs_1d(near):
        past = excess[a : b + 1] > 0
        if (t_ns[b] - t_ns[a]) < params.at_stop_min_s * 1e9 or not past.any():
            continue
        worst = a + int(np.argmax(excess[a : b + 1]))
        out.append(
            Finding(
                stream,
                channel,
                "at_stop",
                int(t_ns[a]),
                int(t_ns[b]),
                False,
                f"resting at the {side} stop {limit:.4g} for {(t_ns[b] - t_ns[a]) / 1e9:.2f} s: "
                f"{int(past.sum())} of {b - a + 1} readings past it by at most "
                f"{excess[worst]:.3g} ({excess[worst] / sigma:.1f} noise sigmas), which is noise",
                Evidence(
                    rule=f"at_stop.{side}",
                    value=float(col[worst]),
                    expected=float(limit),
                    residual_sigma=float(excess[worst] / sigma),
                    noise_floor=float(sigma),
                    n_samples=int(b - a + 1),
                ),
            )
        )
    return out


# A reading no sensor can give: not a number, or further past a channel's limit than the
# limits' own span (a joint a whole range beyond its stop, 3x its top speed or torque: a
# bit flip, a unit bug, a corrupt file), or above this where the model sets no limit.
NON_PHYSICAL_ABS = 1e6


def non_physical(values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(samples x channels) mask of readings outside each channel's physical envelope. NaN
    is not judged here (it marks a channel or sample the recording does not carry)."""
    span = upper - lower
    span = np.where(np.isfinite(span), span, np.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        lo = np.where(np.isfinite(lower), lower - span, -NON_PHYSICAL_ABS)
        hi = np.where(np.isfinite(upper), upper + span, NON_PHYSICAL_ABS)
        return np.isinf(values) | (values < lo) | (values > hi)


def repair_non_physical(
    stream: str, channels: tuple[str, ...], t_ns: np.ndarray, values: np.ndarray, bad: np.ndarray
) -> tuple[np.ndarray, list[Finding]]:
    """Non-physical readings replaced by a line between their channel's good neighbours (NaN
    where a channel has none: then it is not published as clean), with one finding per
    channel."""
    out = values.copy()
    findings: list[Finding] = []
    for c in np.flatnonzero(bad.any(axis=0)):
        col = out[:, c]
        worst = float(np.nanmax(np.abs(np.where(bad[:, c], values[:, c], np.nan))))
        col[bad[:, c]] = np.nan
        good = np.isfinite(col)
        if good.any():
            col[bad[:, c]] = np.interp(t_ns[bad[:, c]], t_ns[good], col[good])
        idx = np.flatnonzero(bad[:, c])
        findings.append(
            Finding(
                stream,
                channels[c],
                "non_physical",
                int(t_ns[idx[0]]),
                int(t_ns[idx[-1]]),
                bool(good.any()),
                f"{len(idx)} reading(s) no sensor can give (largest |value| {worst:.3g}: "
                "infinite, or beyond the channel's physical envelope); "
                + (
                    "replaced by a line between the good neighbours"
                    if good.any()
                    else "the channel has no good reading left: not publishable"
                ),
                Evidence(rule="limits.physical_envelope", value=worst, n_samples=len(idx)),
            )
        )
    return out, findings
