"""Spike and limit detection on one stream's values, and repair of isolated bad samples.

Why not a rolling median of the values: at 500 Hz a moving joint travels more per sample than
its noise (0.3 rad at 0.5 Hz moves ~2e-3 rad per sample against 2e-4 rad of noise), so every
short window is monotone, the rolling median *is* the centre sample and the residual is zero:
the value-Hampel test goes blind exactly when the robot moves. Instead:

1. Hampel on the first differences per sample (a steady sensor tick: stamp jitter does
   not count, and steps across a gap are ignored): a rolling median of 5 differences is the local velocity, and a difference that
   departs from it by more than ``spike_threshold`` robust sigmas (per-channel MAD) is an
   abrupt step. A spike or a burst of up to ``max_spike_samples`` samples shows as a step
   in, then a step of the opposite sign out; a real step (contact, level change) has no way
   back and is left alone.
2. Confirmed on the values: the run's samples must lie more than ``spike_threshold`` sample
   sigmas off the straight line (over sample index) through the good samples on either side.

The rolling median of 5 is a min/max sorting network in float32 (measured 2.5x faster than
``bottleneck.move_median`` on 30k x 112). Readings past the robot model's limits are judged
apart (`teleop_lake.cleaning.limits`): a joint at its stop reads past its nominal range by
noise, and no spike ever comes from a limit. A candidate right after a run of exact repeats that does not return to
the repeated value is a stuck sensor coming back (the frozen detector's business), not a spike.
Non-finite values are treated as spikes. Repair is linear
interpolation in time from the good neighbours of the same channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teleop_lake.cleaning.findings import Evidence, Finding, runs_of
from teleop_lake.cleaning.limits import (
    STUCK_SAMPLES,
    judge_jumps,
    judge_limits,
    judge_zeroed_rows,
)
from teleop_lake.cleaning.noise import (
    SECOND_DIFFERENCE_GAIN,
    column_blocks,
    differences32,
    row_blocks,
    second_difference_scale,
)
from teleop_lake.cleaning.params import CleaningParams

NEIGHBOURS = 3  # good samples on each side of a spike run for its trend line
MAX_RUN = 8  # upper bound of max_spike_samples for the vectorised run test
KINK_FIT_SIGMA = 5.0
"""A candidate whose samples each lie within this many noise sigmas of the trend before or the
trend after it is a change of velocity, not a spike. A 3-point line extrapolated one or two
samples carries 1.5-2.2 sigma of noise; on a braking profile taken from a simulated
exoskeleton stream, 3 sigma left 31 false spikes in 200 noise draws, 5 sigma 7. The price:
spikes under ~8 sigma can be explained away where the trends either side differ in slope."""
KINK_SLOPE_SIGMA = 3.0
"""Least difference between the slopes (per sample) of the trends either side of a candidate,
in sample noise sigmas, for it to be a kink. Two 3-point slopes differ by one sigma of noise,
so smooth motion passes this 0.3% of the time, and a small spike on it stays a spike."""
STEP_LEVEL_SIGMA = 10.0
"""Least difference, in sample noise sigmas, between the levels the trends either side of a
candidate reach inside it for the candidate to be a step between them (a level change: a joint
leaving its mechanical stop jumps in velocity from 0 to its speed within a sample or two)."""
STEP_FIT_SIGMA = KINK_FIT_SIGMA
"""A step's transition samples lie between the two levels, and go from one to the other without
turning back, within this many noise sigmas (a 3-point line extrapolated one or two samples
carries 1.5-2.2 sigma of noise, as for kinks); a spike leaves the band between them."""
KINK_BEND_SHARE = 0.25
"""A change of velocity takes time: the samples while it happens sit off both straight trends
by a share of the change (up to a quarter of it in one sample, measured on an exoskeleton
target braking under tremor: 0.24). That share of the slope difference is added to the
tolerance."""


@dataclass(frozen=True, eq=False)
class SpikeResult:
    """``values`` repaired; ``spike`` marks repaired samples, ``limit`` marks samples in
    (unrepaired) limit violations beyond noise; both (samples x channels)."""

    values: np.ndarray
    spike: np.ndarray
    limit: np.ndarray
    findings: tuple[Finding, ...]
    noise: np.ndarray
    """Per-channel noise sigma of single samples (`noise.sample_noise_sigma`)."""


def rolling_median5(x: np.ndarray) -> np.ndarray:
    """Centred median of 5 samples along axis 0 (edges: the nearest full window)."""
    n = len(x)
    if n < 5:
        return np.broadcast_to(np.median(x, axis=0), x.shape).astype(x.dtype)
    out = np.empty(x.shape, dtype=x.dtype)
    # A few rows at a time, into the result: three small scratch arrays, reused, instead of
    # ten whole-length temporaries (each a fresh mapping in a batch process, `pipeline.heap`).
    for block in row_blocks(x, overlap=4):
        i, j = block.start, block.stop
        a, b, c, d, e = (
            x[i:j],
            x[i + 1 : j + 1],
            x[i + 2 : j + 2],
            x[i + 3 : j + 3],
            x[i + 4 : j + 4],
        )
        low, high, tmp = np.minimum(a, b), np.maximum(a, b), np.minimum(d, e)
        np.maximum(low, tmp, out=low)  # the larger of the two pairs' minima
        np.maximum(d, e, out=tmp)
        np.minimum(high, tmp, out=high)  # the smaller of the two pairs' maxima
        np.minimum(low, high, out=tmp)
        np.maximum(low, high, out=low)
        np.minimum(low, c, out=low)
        np.maximum(tmp, low, out=out[i + 2 : j + 2])
    out[:2] = out[2]
    out[-2:] = out[-3]
    return out


def _interpolate_masked(t_ns: np.ndarray, x: np.ndarray, bad: np.ndarray) -> None:
    """In place: replace masked samples by interpolation over the channel's good samples."""
    t = t_ns.astype(np.float64)
    for c in np.flatnonzero(bad.any(axis=0)):
        good = ~bad[:, c]
        if good.sum() >= 1:
            x[bad[:, c], c] = np.interp(t[bad[:, c]], t[good], x[good, c])


def hampel_spikes(
    t_ns: np.ndarray,
    x: np.ndarray,
    floors: np.ndarray,
    params: CleaningParams,
    second_scale: np.ndarray | None = None,
    d: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean (samples x channels): step in + step back out within ``max_spike_samples``,
    confirmed against the trend line (see the module docstring). ``second_scale``: the
    channels' robust sigma of second differences, and ``d`` the first differences (float32),
    when the caller has them."""
    n, _ = x.shape
    mask = np.zeros(x.shape, dtype=bool)
    if params.max_spike_samples > MAX_RUN:
        raise ValueError(f"max_spike_samples above {MAX_RUN} is not supported")
    if n < 8:
        return mask
    dt = np.diff(t_ns).astype(np.float64)
    period = float(np.median(dt))
    if period <= 0:
        return mask
    # Differences per sample, not per second: a sensor samples on its own steady tick and the
    # stamp jitter is the sender's, so dividing by the stamped interval would turn stamp jitter
    # into velocity noise (at 90 Hz with 1 ms jitter, +-13% of the velocity) and fast motion
    # into false spikes. Steps across a gap are no spike evidence (the gap is its own finding).
    if d is None:
        d = differences32(x)
    across_gap = dt > params.interpolated_min_periods * period
    e = rolling_median5(_without_gap_steps(d, across_gap))
    np.subtract(d, e, out=e)
    e[across_gap] = 0.0
    # The spread of e itself is no noise measure (e is exactly 0 whenever a difference is its
    # own window's median); the second difference is: white noise of a difference (sqrt(2)
    # sample sigmas) gives sqrt(6) sample sigmas there, i.e. sqrt(3) difference sigmas.
    if second_scale is None:
        second_scale = second_difference_scale(d, params.scale_stride, floors)
    noise = second_scale / np.sqrt(3.0)
    scale = np.maximum(noise, floors).astype(np.float32)
    step = np.abs(e) > params.step_threshold * scale
    ch, j = np.nonzero(step.T)  # channel-major, time order within a channel
    if len(j) < 2:
        return mask
    strength = np.abs(e[j, ch]) / scale[ch]
    sign = np.sign(e[j, ch])
    # Candidate runs: a step, then an opposite step within max_spike_samples on the same channel.
    pairs_k, pairs_m = [], []
    for offset in range(1, params.max_spike_samples + 1):
        k = np.arange(len(j) - offset)
        m = k + offset
        ok = (ch[m] == ch[k]) & (j[m] - j[k] <= params.max_spike_samples) & (sign[m] == -sign[k])
        pairs_k.append(k[ok])
        pairs_m.append(m[ok])
    k_all = np.concatenate(pairs_k)
    m_all = np.concatenate(pairs_m)
    # Strongest first, so a noise step next to a real spike cannot steal the spike's step.
    order = np.argsort(-np.minimum(strength[k_all], strength[m_all]), kind="stable")
    k_all, m_all = k_all[order], m_all[order]
    x_sigma = scale / np.sqrt(2.0)  # a difference carries the noise of two samples
    # A run with a gap inside is no spike evidence either: the trend line would be drawn across
    # the missing time, where the motion is unknown.
    gaps_upto = np.concatenate([[0], np.cumsum(across_gap)])
    spans_gap = gaps_upto[j[m_all] + 1] - gaps_upto[j[k_all]] > 0
    k_all, m_all = k_all[~spans_gap], m_all[~spans_gap]
    cols = ch[k_all]
    off = _off_the_line(np.arange(n, dtype=np.int64), x, cols, j[k_all] + 1, j[m_all])
    passed = off > params.spike_threshold * x_sigma[cols]
    passed &= ~_leaves_a_stuck_run(x, cols, j[k_all] + 1, j[m_all])
    # Strongest candidate first; each step belongs to one verdict. One change of velocity often
    # yields several candidates nearby, and the trends either side of the weaker ones are drawn
    # from samples it bent: once the strongest is judged a kink, its steps are spent and no
    # weaker candidate whose trend samples reach into it is evidence of a spike. Likewise a
    # spike already found: a weaker candidate sharing its samples is the same spike, and one
    # with the spike among its trend samples is judged again with the spike repaired.
    used = np.zeros(len(j), dtype=bool)
    kinks: list[tuple[int, int, int]] = []
    found: list[tuple[int, int, int]] = []
    repaired: np.ndarray | None = None
    index = np.arange(n, dtype=np.int64)
    for k, m in zip(k_all[passed], m_all[passed], strict=True):
        if used[k] or used[m]:
            continue
        used[k] = used[m] = True
        c, a, b = ch[k], j[k] + 1, j[m]
        if _near(kinks, c, a - NEIGHBOURS, b + NEIGHBOURS) or _near(found, c, a, b):
            continue
        if _near(found, c, a - NEIGHBOURS, b + NEIGHBOURS):
            if repaired is None:
                repaired = x.copy()
                _interpolate_masked(index, repaired, mask)
            again = _off_the_line(index, repaired, ch[k : k + 1], j[k : k + 1] + 1, j[m : m + 1])
            if again[0] <= params.spike_threshold * x_sigma[c]:
                continue
        if _is_a_kink(x[:, c], a, b, float(x_sigma[c])):
            kinks.append((c, a, b))
        else:
            mask[a : b + 1, c] = True
            found.append((c, a, b))
            repaired = None
    return mask


def _near(runs: list[tuple[int, int, int]], channel: int, first: int, last: int) -> bool:
    """True when a run of ``runs`` (channel, first, last) on ``channel`` meets ``first..last``."""
    return any(c == channel and a <= last and b >= first for c, a, b in runs)


def _without_gap_steps(d: np.ndarray, across_gap: np.ndarray) -> np.ndarray:
    """``d`` with every step across a gap replaced by the last difference before it, so that a
    gap's jump does not drag the local median velocity of its neighbours."""
    if not across_gap.any() or across_gap.all():
        return d
    index = np.where(across_gap, -1, np.arange(len(d)))
    last_good = np.maximum.accumulate(index)
    last_good[last_good < 0] = int(np.flatnonzero(~across_gap)[0])
    return d[last_good]


def _is_a_kink(y: np.ndarray, first: int, last: int, sigma: float) -> bool:
    """True when samples ``first..last`` sit where the trend before them turns into a different
    trend after them: a sudden change of velocity (the operator stops, a contact), which no
    single straight line fits but which is no spike. ``sigma`` is the sample noise.

    A level change between the trends is no spike either (`_is_a_step`). Otherwise the two
    trends must differ in slope by more than ``KINK_SLOPE_SIGMA`` sigmas (on smooth
    motion they agree, and a sample off both is a spike however small). Then the run is a kink
    when its samples follow the left trend up to some split and the right one after it, or,
    where the trends are curved (tremor on an exoskeleton), when the two trend lines cross
    inside the run and every sample lies between them; each within ``KINK_FIT_SIGMA`` sigmas
    plus ``KINK_BEND_SHARE`` of the slope difference."""
    n = len(y)
    if first - NEIGHBOURS < 0 or last + NEIGHBOURS >= n:
        return False
    k = np.arange(NEIGHBOURS, dtype=np.float64)
    left = np.polyfit(k, y[first - NEIGHBOURS : first], 1)
    right = np.polyfit(k, y[last + 1 : last + 1 + NEIGHBOURS], 1)
    if _is_a_step(y, first, last, left, right, sigma):
        return True
    bend = abs(left[0] - right[0])
    if bend <= KINK_SLOPE_SIGMA * sigma:
        return False
    tolerance = KINK_FIT_SIGMA * sigma + KINK_BEND_SHARE * bend
    run = np.arange(first - 1, last + 2)
    on_left = np.polyval(left, run - (first - NEIGHBOURS))
    on_right = np.polyval(right, run - (last + 1))
    inside = slice(1, -1)
    fits_left = np.abs(y[run][inside] - on_left[inside]) <= tolerance
    fits_right = np.abs(y[run][inside] - on_right[inside]) <= tolerance
    # a split point: the samples before it follow the left trend, the rest the right one
    for split in range(len(fits_left) + 1):
        if fits_left[:split].all() and fits_right[split:].all():
            return True
    gap = on_left - on_right
    cross = gap[0] * gap[-1] <= 0.0
    low = np.minimum(on_left, on_right)[inside] - tolerance
    high = np.maximum(on_left, on_right)[inside] + tolerance
    between = (y[run][inside] >= low) & (y[run][inside] <= high)
    return bool(cross and between.all())


def _is_a_step(
    y: np.ndarray,
    first: int,
    last: int,
    left: np.ndarray,
    right: np.ndarray,
    sigma: float,
) -> bool:
    """True when samples ``first..last`` are the transition of a level change: the trends either
    side (lines over ``NEIGHBOURS`` samples, ``left``/``right``) reach levels at least
    ``STEP_LEVEL_SIGMA`` noise sigmas apart inside the run, and the run's samples go from the
    one to the other monotonically, between them (``STEP_FIT_SIGMA``). A step has no way back,
    so it is no spike, whatever the slopes either side."""
    run = np.arange(first, last + 1)
    on_left = np.polyval(left, run - (first - NEIGHBOURS))
    on_right = np.polyval(right, run - (last + 1))
    if np.min(np.abs(on_left - on_right)) <= STEP_LEVEL_SIGMA * sigma:
        return False
    tol = STEP_FIT_SIGMA * sigma
    path = np.concatenate([[y[first - 1]], y[run], [y[last + 1]]])
    direction = np.sign(on_right[0] - on_left[0])
    monotone = np.all(direction * np.diff(path) >= -tol)
    low = np.minimum(on_left, on_right) - tol
    high = np.maximum(on_left, on_right) + tol
    between = (y[run] >= low) & (y[run] <= high)
    return bool(monotone and between.all())


def _leaves_a_stuck_run(
    x: np.ndarray, cols: np.ndarray, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """True for candidate runs that follow ``STUCK_SAMPLES`` exact repeats and do not return to
    the repeated value: the sensor coming back to life after a frozen segment (a level change
    the frozen detector reports), not a spike. A spike on a quantised, flat channel returns to
    the repeated value and stays a candidate."""
    n = len(x)
    before = np.clip(first[:, None] - np.arange(1, STUCK_SAMPLES + 1)[None, :], 0, n - 1)
    held = x[before, cols[:, None]]
    stuck = np.all(held == held[:, :1], axis=1) & (first >= STUCK_SAMPLES)
    after = x[np.clip(last + 1, 0, n - 1), cols]
    return stuck & (after != held[:, 0])


def _off_the_line(
    t_ns: np.ndarray, x: np.ndarray, cols: np.ndarray, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """For each candidate run (channel ``cols``, samples ``first..last``): the largest distance
    of its samples from the least-squares line through ``NEIGHBOURS`` samples on each side.
    A 6-point line carries ~0.4 sigma of noise, so the distance is barely noisier than one
    sample. All candidates at once."""
    n = len(t_ns)
    side = np.arange(1, NEIGHBOURS + 1)
    nb = np.concatenate([first[:, None] - side[None, ::-1], last[:, None] + side[None, :]], axis=1)
    nb = np.clip(nb, 0, n - 1)
    t_ref = t_ns[first][:, None]
    t = (t_ns[nb] - t_ref).astype(np.float64)
    y = x[nb, cols[:, None]]
    t_mean = t.mean(axis=1, keepdims=True)
    y_mean = y.mean(axis=1, keepdims=True)
    spread = np.sum((t - t_mean) ** 2, axis=1, keepdims=True)
    slope = np.sum((t - t_mean) * (y - y_mean), axis=1, keepdims=True) / np.maximum(spread, 1.0)
    run = first[:, None] + np.arange(MAX_RUN)[None, :]
    inside = run <= last[:, None]
    run = np.clip(run, 0, n - 1)
    line = y_mean + slope * ((t_ns[run] - t_ref).astype(np.float64) - t_mean)
    distance = np.where(inside, np.abs(x[run, cols[:, None]] - line), 0.0)
    return distance.max(axis=1)


DERIVED_QUANTITIES = ("velocity_rad_s", "effort_n_m")
"""Joint-state quantities a robot derives or measures beside the position (KUAVO.md: joint_v,
joint_torque or joint_current)."""


def _with_position_glitch(spike: np.ndarray, channels: tuple[str, ...]) -> np.ndarray:
    """``spike`` without the runs on a joint's velocity or effort that its position does not
    share (within a sample). Velocity and torque show one- or two-sample transients by physics
    (a joint striking its stop, a contact): a value test cannot tell those from a glitch, while
    a glitch of the joint's sensor reaches its position too. Channels without a position beside
    them are left as they are."""
    position = {
        c.partition(".")[2]: i for i, c in enumerate(channels) if c.startswith("position_rad.")
    }
    out = spike.copy()
    for i, channel in enumerate(channels):
        quantity, _, joint = channel.partition(".")
        p = position.get(joint)
        if quantity not in DERIVED_QUANTITIES or p is None or not spike[:, i].any():
            continue
        _, first, last = runs_of(spike[:, i])
        for a, b in zip(first, last, strict=True):
            if not spike[max(a - 1, 0) : b + 2, p].any():
                out[a : b + 1, i] = False
    return out


def detect_spikes(
    stream: str,
    t_ns: np.ndarray,
    values: np.ndarray,
    channels: tuple[str, ...],
    params: CleaningParams,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    rate: np.ndarray | None = None,
) -> SpikeResult:
    """Find, repair and report spikes; judge readings past the limits (``lower``/``upper``
    per channel, +-inf where a channel has none) against the channel's noise
    (`teleop_lake.cleaning.limits.judge_limits`): a limit never makes a spike. With ``rate``
    (per channel, the largest plausible change per second), steps no joint can make are
    limit violations too (`teleop_lake.cleaning.limits.judge_jumps`)."""
    # The stream's own values, read-only, until a sample is repaired: a clean stream (the
    # common case) is not copied, and nothing downstream can change what was delivered.
    x = np.asarray(values, dtype=np.float64).view()
    x.flags.writeable = False
    floors = np.array([params.scale_floor(c) for c in channels])
    # A channel with no finite value at all was not delivered (a format without torque): it is
    # absent, not one long spike.
    finite = np.isfinite(x)
    nonfinite = ~finite & finite.any(axis=0)
    del finite
    if nonfinite.any():
        x = np.array(x)  # repaired below: the stream's values stay as delivered
        _interpolate_masked(t_ns, x, nonfinite)
    second = floors.copy()
    spike = np.zeros(x.shape, dtype=bool)
    # Every test is per channel, so channels are judged a block at a time: the temporaries
    # (differences, medians, residuals) stay a block's size whatever the stream's length.
    for block in column_blocks(x.shape):
        xb = np.ascontiguousarray(x[:, block])
        d = differences32(xb)
        if len(x) >= 4:
            second[block] = second_difference_scale(d, params.scale_stride, floors[block])
        spike[:, block] = hampel_spikes(t_ns, xb, floors[block], params, second[block], d)
        del xb, d
    sigma = np.maximum(second / SECOND_DIFFERENCE_GAIN, floors)
    if params.derived_spikes_need_position:
        spike = _with_position_glitch(spike, channels)
    spike |= nonfinite
    # Candidate runs longer than a spike are level changes, not spikes: leave them alone.
    findings: list[Finding] = []
    if spike.any():
        ch, first, last = runs_of(spike)
        for c, a, b in zip(ch, first, last, strict=True):
            if b - a + 1 > params.max_spike_samples and not nonfinite[a : b + 1, c].all():
                spike[a : b + 1, c] = False
        # the values as delivered: only non-finite samples were interpolated so far
        before = np.asarray(values, dtype=np.float64)
        if not x.flags.writeable:
            x = np.array(x)
        _interpolate_masked(t_ns, x, spike)
        ch, first, last = runs_of(spike)
        for c, a, b in zip(ch, first, last, strict=True):
            off = np.abs(before[a : b + 1, c] - x[a : b + 1, c])
            worst = a + int(np.argmax(np.where(np.isfinite(off), off, np.inf)))
            deviation = float(np.abs(before[worst, c] - x[worst, c]))
            bad_value = bool(nonfinite[a : b + 1, c].any())
            what = "non-finite value" if bad_value else "spike"
            findings.append(
                Finding(
                    stream,
                    channels[c],
                    "spike",
                    int(t_ns[a]),
                    int(t_ns[b]),
                    True,
                    f"{what}: {b - a + 1} sample(s), {deviation:.3g} "
                    f"({deviation / sigma[c]:.1f} noise sigmas) from the interpolated "
                    "neighbours; replaced by interpolation",
                    Evidence(
                        rule="spike.non_finite" if bad_value else "spike.step_and_trend",
                        value=float(before[worst, c]),
                        expected=float(x[worst, c]),
                        residual_sigma=deviation / float(sigma[c]),
                        noise_floor=float(sigma[c]),
                        n_samples=int(b - a + 1),
                    ),
                )
            )
    limit = np.zeros(x.shape, dtype=bool)
    if lower is not None and upper is not None:
        limit, limit_findings = judge_limits(stream, t_ns, x, channels, lower, upper, sigma, params)
        findings.extend(limit_findings)
    if rate is not None:
        jumps, jump_findings = judge_jumps(stream, t_ns, x, channels, rate, sigma, limit)
        limit |= jumps
        findings.extend(jump_findings)
    zeroed, zeroed_findings = judge_zeroed_rows(stream, t_ns, x, channels, limit)
    limit |= zeroed
    findings.extend(zeroed_findings)
    return SpikeResult(values=x, spike=spike, limit=limit, findings=tuple(findings), noise=sigma)
