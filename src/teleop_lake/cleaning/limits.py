"""Per-channel physical limits from the robot model, and readings past them judged against noise.

A robot model's position limits are the joints' mechanical stops. A joint resting against one
(an idle arm hanging, an elbow fully extended) reads the stop plus sensor noise, so about half
its readings sit just past the nominal range: that is noise, not a fault (`judge_limits`).
"""

from __future__ import annotations

import numpy as np

from teleop_lake.cleaning.findings import Evidence, Finding, runs_of
from teleop_lake.cleaning.noise import row_blocks
from teleop_lake.cleaning.params import CleaningParams
from teleop_lake.config.robots import RobotModel

CLOSURE_LIMITS = (-0.05, 1.05)  # the frames contract's range for hand closures (0..1 + slack)
# Exact repeats before a step that mark a stuck sensor (noise never repeats a float value
# four times; a frozen segment is >= 0.3 s, i.e. >= 30 samples at 100 Hz).
STUCK_SAMPLES = 4


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
        elif quantity == "effort_n_m":
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


JUMP_RATE_FACTOR = 3.0
"""A step between consecutive samples implying more than this many times the joint's velocity
limit (over the larger of the stamped interval and the nominal period) is no motion: the
sensor or the file lost the value. At 500 Hz and an 8 rad/s limit that is a 0.048 rad step,
against 2-4e-3 rad of sample noise and 8e-3 rad per sample of a joint at half its limit."""
JUMP_NOISE_SIGMAS = 20.0
"""...and more than this many noise sigmas (a channel without a known noise is not judged)."""
JUMP_RETURN_S = 5.0
"""A jump away and one back (opposite sign) within this span flag the samples between them
(a stretch of lost values: a zeroed region of a file reads as a plateau at zero)."""


def rate_limits(robot: RobotModel, channels: tuple[str, ...]) -> np.ndarray:
    """Per channel the largest plausible rate of change (units per second): a joint
    position's velocity limit; +inf for channels the model sets none on."""
    by_joint = {j.name: j for j in robot.joints}
    out = np.full(len(channels), np.inf)
    for i, channel in enumerate(channels):
        quantity, _, name = channel.partition(".")
        joint = by_joint.get(name)
        if joint is not None and quantity == "position_rad":
            out[i] = joint.velocity_max_rad_s
    return out


def judge_jumps(
    stream: str,
    t_ns: np.ndarray,
    x: np.ndarray,
    channels: tuple[str, ...],
    rate: np.ndarray,
    sigma: np.ndarray,
    flagged: np.ndarray | None = None,
) -> tuple[np.ndarray, list[Finding]]:
    """Steps no joint can make (`JUMP_RATE_FACTOR`): each lone jump flags the sample it lands
    on, a jump away and back within `JUMP_RETURN_S` flags the samples between; both are kept
    (never repaired: the true values are unknown) and reported as ``limit_violation`` with rule
    ``limit.implied_velocity``. A jump that ends exact repeats of a value is a stuck sensor
    coming back, the frozen detector's business, and is left to it; so is a stretch already
    ``flagged`` (samples x channels: readings past a limit), which its own finding reports."""
    mask = np.zeros(x.shape, dtype=bool)
    findings: list[Finding] = []
    judged = np.flatnonzero(np.isfinite(rate) & (sigma > 0))
    if len(x) < 2 or not len(judged):
        return mask, findings
    step_ns = np.diff(t_ns).astype(np.float64)
    period = float(np.median(step_ns))
    seconds = np.maximum(step_ns, period) / 1e9
    for c in judged:
        d = np.diff(x[:, c])
        with np.errstate(invalid="ignore"):
            speed = np.abs(d) / seconds
            bad = (speed > JUMP_RATE_FACTOR * rate[c]) & (np.abs(d) > JUMP_NOISE_SIGMAS * sigma[c])
        steps = np.flatnonzero(bad)
        k = 0
        while k < len(steps):
            a = int(steps[k])
            k += 1
            held = x[max(a - STUCK_SAMPLES + 1, 0) : a + 1, c]
            if a + 1 >= STUCK_SAMPLES and bool(np.all(held == held[0])):
                continue  # a frozen sensor coming back
            last = a + 1
            if k < len(steps):
                b = int(steps[k])
                back = np.sign(d[b]) == -np.sign(d[a])
                if back and t_ns[b] - t_ns[a + 1] <= JUMP_RETURN_S * 1e9:
                    last, k = b, k + 1
            if flagged is not None and flagged[a + 1 : last + 1, c].all():
                continue  # past a limit all along: reported once, as that
            mask[a + 1 : last + 1, c] = True
            worst = float(speed[a])
            findings.append(
                Finding(
                    stream,
                    channels[c],
                    "limit_violation",
                    int(t_ns[a + 1]),
                    int(t_ns[last]),
                    False,
                    f"a step of {d[a]:.3g} in one sample ({worst:.3g}/s, the joint's limit "
                    f"{rate[c]:.3g}/s): no motion, a lost value; "
                    f"{last - a} sample(s) kept and flagged",
                    Evidence(
                        rule="limit.implied_velocity",
                        value=worst,
                        expected=float(rate[c]),
                        residual_sigma=float(abs(d[a]) / sigma[c]),
                        noise_floor=float(sigma[c]),
                        n_samples=int(last - a),
                    ),
                )
            )
    return mask, findings


ZEROED_MIN_CHANNELS = 3
"""A quantity needs this many measured channels before rows where all of them read zero say
anything: one or two channels at zero together happen by chance."""
ZEROED_MAX_SHARE = 0.01
"""Zeroed rows are a fault only while they are rare: a quantity that reads all zero for more of
the stream than this is how the rig reports it (motors off for the take), not a lost reading."""
ZEROED_SKIPPED = ("velocity",)
"""Quantities left out: a driver with a deadband reports exactly zero velocity on every joint
whenever the robot rests."""


def judge_zeroed_rows(
    stream: str,
    t_ns: np.ndarray,
    x: np.ndarray,
    channels: tuple[str, ...],
    flagged: np.ndarray | None = None,
) -> tuple[np.ndarray, list[Finding]]:
    """Rows where every measured channel of one quantity (the part of a channel name before
    the dot) reads exactly zero at once, between rows where they do not: a reading lost and
    sent as zeros, or a zeroed block of the file. No noise makes 3+ joints exact zeros
    together. Each run is one ``limit_violation`` finding (rule ``limit.all_channels_zero``)
    and its samples are flagged, kept as read: a motor switched off reads zero torque too,
    so an interpolated value would invent one. Runs already ``flagged`` are left to their
    own finding."""
    mask = np.zeros(x.shape, dtype=bool)
    findings: list[Finding] = []
    if len(x) < 3:
        return mask, findings
    groups: dict[str, list[int]] = {}
    for c, name in enumerate(channels):
        groups.setdefault(name.partition(".")[0], []).append(c)
    # Row blocks, not whole columns: each whole-length temporary would be a fresh mapping.
    blocks = row_blocks(x)
    # measured: a channel with a finite non-zero value somewhere (not absent, not unwired)
    live = np.zeros(x.shape[1], dtype=bool)
    for rows in blocks:
        part = x[rows]
        live |= ((part != 0.0) & np.isfinite(part)).any(axis=0)
    zero = np.empty(len(x), dtype=bool)
    for quantity, cols in groups.items():
        if quantity.startswith(ZEROED_SKIPPED):
            continue
        measured = [c for c in cols if live[c]]
        if len(measured) < ZEROED_MIN_CHANNELS:
            continue
        for rows in blocks:
            zero[rows] = (x[rows][:, measured] == 0.0).all(axis=1)
        n_zero = int(zero.sum())
        if not n_zero or n_zero > ZEROED_MAX_SHARE * len(zero):
            continue
        _, firsts, lasts = runs_of(zero)
        for a, b in zip(firsts.tolist(), lasts.tolist(), strict=True):
            if a == 0 or b == len(zero) - 1:
                continue  # at an end of the stream: nothing before or after to judge by
            if flagged is not None and flagged[a : b + 1][:, measured].all():
                continue
            mask[a : b + 1, measured] = True
            findings.append(
                Finding(
                    stream,
                    "",
                    "limit_violation",
                    int(t_ns[a]),
                    int(t_ns[b]),
                    False,
                    f"all {len(measured)} measured {quantity} channels read exactly 0 for "
                    f"{b - a + 1} sample(s), between readings that are not: a lost reading sent "
                    "as zeros (or every motor switched off); kept as read and flagged",
                    Evidence(
                        rule="limit.all_channels_zero",
                        value=0.0,
                        n_samples=int(b - a + 1),
                    ),
                )
            )
    return mask, findings
