"""Known-answer tests of the cleaning detectors: injected spikes, gaps, frozen runs, duplicates,
camera faults, with exact positions or precision/recall; plus the quality score and gates."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_teleop import tiny_jpegs

from teleop_lake.canonical import CameraStream, SignalStream
from teleop_lake.cleaning import (
    CleaningParams,
    Finding,
    QualityGates,
    check_camera_stream,
    clean_signal_stream,
    detect_dropouts,
    detect_frozen,
    detect_spikes,
    order_and_deduplicate,
    quality_score,
)
from teleop_lake.cleaning.quality import ClockState, QualityInputs, QualityWeights, gate_reasons
from teleop_lake.cleaning.spikes import rolling_median5

NOISE = 2e-4
PERIOD_NS = 2_000_000
T0 = 1_700_000_000_000_000_000
PARAMS = CleaningParams()


def moving_signal(rng: np.random.Generator, n: int = 30_000, channels: int = 20) -> tuple:
    """500 Hz stamps with 30 us jitter; smooth fast motion (up to ~2e-3 rad per sample) + noise."""
    t = T0 + np.arange(n, dtype=np.int64) * PERIOD_NS + rng.normal(0, 30e3, n).astype(np.int64)
    ts = (t - T0) / 1e9
    freq = rng.uniform(0.1, 0.8, channels)
    amp = rng.uniform(0.1, 0.4, channels)
    clean = amp * np.sin(2 * np.pi * freq * ts[:, None] + rng.uniform(0, 6, channels))
    return t, clean, clean + rng.normal(0, NOISE, (n, channels))


def inject_spikes(rng, x, count, sigmas=(8.0, 100.0)):
    """Runs of 1-3 samples, well apart; returns the changed copy and the truth mask."""
    n, c = x.shape
    out = x.copy()
    truth = np.zeros(x.shape, dtype=bool)
    starts = rng.choice(np.arange(50, n - 50, 40), count, replace=False)
    for start in starts:
        col = int(rng.integers(c))
        length = int(rng.choice([1, 1, 1, 2, 3]))
        size = rng.uniform(*sigmas) * NOISE * rng.choice([-1, 1])
        out[start : start + length, col] += size
        truth[start : start + length, col] = True
    return out, truth


def floors(c: int) -> tuple[str, ...]:
    return tuple(f"position_rad.j{i}" for i in range(c))


@pytest.mark.parametrize("n", [5, 6, 7, 100, 40_000])
def test_rolling_median5_is_the_five_sample_median(n: int) -> None:
    """Computed a few rows at a time: the same as numpy's median over each window of 5 (edges:
    the nearest full window), for contiguous and strided columns, across many row steps."""
    x = np.random.default_rng(n).normal(size=(n, 28)).astype(np.float32)
    for cols in (x, x[:, ::3]):
        med = np.median(np.lib.stride_tricks.sliding_window_view(cols, 5, axis=0), axis=-1)
        want = np.concatenate([med[:1], med[:1], med, med[-1:], med[-1:]])
        assert np.array_equal(rolling_median5(cols), want)


def test_spikes_precision_recall_and_repair() -> None:
    rng = np.random.default_rng(1)
    t, clean, noisy = moving_signal(rng)
    dirty, truth = inject_spikes(rng, noisy, 200)
    result = detect_spikes("joint_state", t, dirty, floors(noisy.shape[1]), PARAMS)
    found = result.spike
    tp = int((found & truth).sum())
    precision = tp / max(int(found.sum()), 1)
    recall = tp / int(truth.sum())
    assert precision >= 0.99, precision
    assert recall >= 0.97, recall
    # Repaired samples are back near the truth (interpolation error + neighbour noise).
    repaired = found & truth
    assert np.max(np.abs(result.values[repaired] - clean[repaired])) < 10 * NOISE
    # Samples not flagged are untouched.
    assert np.array_equal(result.values[~found], dirty[~found])
    spikes = [f for f in result.findings if f.kind == "spike"]
    assert all(f.repaired for f in spikes)
    assert len(spikes) == pytest.approx(200, abs=6)  # one finding per injected run


def test_spike_exact_positions() -> None:
    rng = np.random.default_rng(2)
    t, _, noisy = moving_signal(rng, n=5_000, channels=3)
    dirty = noisy.copy()
    dirty[1000, 0] += 40 * NOISE
    dirty[2000:2003, 1] -= 25 * NOISE
    dirty[3000:3002, 2] += 60 * NOISE
    result = detect_spikes("joint_state", t, dirty, floors(3), PARAMS)
    assert sorted(map(tuple, np.argwhere(result.spike).tolist())) == [
        (1000, 0),
        (2000, 1),
        (2001, 1),
        (2002, 1),
        (3000, 2),
        (3001, 2),
    ]
    spans = sorted((f.channel, f.start_ns, f.end_ns) for f in result.findings)
    assert spans[1] == ("position_rad.j1", int(t[2000]), int(t[2002]))


def test_no_false_spikes_on_clean_fast_motion() -> None:
    rng = np.random.default_rng(3)
    t, _, noisy = moving_signal(rng, channels=40)  # 1.2 M samples
    result = detect_spikes("joint_state", t, noisy, floors(40), PARAMS)
    assert int(result.spike.sum()) <= 1  # ~2e-7 per sample by design


def test_real_steps_are_not_spikes() -> None:
    rng = np.random.default_rng(4)
    t, _, noisy = moving_signal(rng, n=5_000, channels=2)
    stepped = noisy.copy()
    stepped[2500:, 0] += 200 * NOISE  # a level change (contact), no way back
    result = detect_spikes("joint_state", t, stepped, floors(2), PARAMS)
    assert not result.spike.any()


def test_spike_recall_at_5_sigma_is_reported_honestly() -> None:
    rng = np.random.default_rng(5)
    t, _, noisy = moving_signal(rng)
    dirty, truth = inject_spikes(rng, noisy, 200, sigmas=(5.0, 5.0))
    found = detect_spikes("joint_state", t, dirty, floors(20), PARAMS).spike
    recall = (found & truth).sum() / truth.sum()
    assert 0.05 <= recall <= 0.4  # measured ~0.15: 5-sigma spikes sit in the noise tail


def test_limits_short_run_repaired_long_run_flagged() -> None:
    rng = np.random.default_rng(6)
    t, _, noisy = moving_signal(rng, n=3_000, channels=2)
    x = noisy * 0.1  # well inside +-0.5
    x[1000, 0] = 0.9  # one sample beyond the limit: a spike
    x[2000:2100, 1] = 0.7  # 0.2 s beyond the limit: a limit violation
    lower, upper = np.full(2, -0.5), np.full(2, 0.5)
    result = detect_spikes("joint_state", t, x, floors(2), PARAMS, lower, upper)
    assert result.spike[1000, 0] and abs(result.values[1000, 0]) < 0.5
    assert result.limit[2000:2100, 1].all() and result.limit.sum() == 100
    violation = [f for f in result.findings if f.kind == "limit_violation"]
    assert len(violation) == 1 and not violation[0].repaired
    assert (violation[0].start_ns, violation[0].end_ns) == (int(t[2000]), int(t[2099]))
    assert np.all(result.values[2000:2100, 1] == 0.7)  # kept, not clipped


def test_steps_no_joint_can_make_are_flagged_not_repaired() -> None:
    """A stretch of lost values (a zeroed region of a file reads as a plateau at zero) steps
    away and back faster than any joint moves: flagged between the steps, kept as read. A lone
    step (a sensor re-zeroed) flags the sample it lands on. A stuck sensor coming back jumps
    too, but that is the frozen detector's finding, not this one; smooth fast motion never
    trips it."""
    rng = np.random.default_rng(8)
    t, _, x = moving_signal(rng, n=6_000, channels=3)
    x = x + 0.4  # away from zero, so the lost values step
    x[1000:1100, 0] = 0.0  # 0.2 s of lost values
    x[3000:, 1] += 0.3  # a lone step of 0.3 rad in one sample
    x[4000:4200, 2] = x[3999, 2]  # stuck for 0.4 s while the joint moves on
    assert abs(x[4200, 2] - x[4199, 2]) > 3 * 8.0 * PERIOD_NS / 1e9  # it comes back with a jump
    rate = np.full(3, 8.0)  # rad/s
    result = detect_spikes("joint_state", t, x, floors(3), PARAMS, rate=rate)
    jumps = [f for f in result.findings if f.evidence.rule == "limit.implied_velocity"]
    assert [(f.channel, f.kind, f.repaired) for f in jumps] == [
        ("position_rad.j0", "limit_violation", False),
        ("position_rad.j1", "limit_violation", False),
    ]
    assert (jumps[0].start_ns, jumps[0].end_ns) == (int(t[1000]), int(t[1099]))
    assert jumps[0].evidence.expected == 8.0 and jumps[0].evidence.value > 100.0
    assert result.limit[1000:1100, 0].all() and result.limit[:, 0].sum() == 100
    assert result.limit[3000, 1] and result.limit[:, 1].sum() == 1
    assert not result.limit[:, 2].any()
    assert np.all(result.values[1000:1100, 0] == 0.0)  # kept as read
    _, _, smooth = moving_signal(rng, n=6_000, channels=20)
    calm = detect_spikes("joint_state", t, smooth, floors(20), PARAMS, rate=np.full(20, 8.0))
    assert not calm.limit.any()


def test_a_clean_stream_is_not_copied_and_a_repaired_one_leaves_its_input_alone() -> None:
    rng = np.random.default_rng(3)
    t, _, noisy = moving_signal(rng, n=4_000, channels=4)
    kept = noisy.copy()
    clean = detect_spikes("joint_state", t, noisy, floors(4), PARAMS)
    assert not clean.spike.any()
    # nothing to repair: the stream's own values, and nobody downstream may write to them
    assert np.shares_memory(clean.values, noisy)
    assert not clean.values.flags.writeable
    with pytest.raises(ValueError):
        clean.values[0, 0] = 0.0
    dirty = noisy.copy()
    dirty[1000, 2] += 60 * NOISE
    dirty[2000, 1] = np.nan
    before = dirty.copy()
    repaired = detect_spikes("joint_state", t, dirty, floors(4), PARAMS)
    assert repaired.spike[1000, 2] and repaired.spike[2000, 1]
    assert not np.shares_memory(repaired.values, dirty)
    np.testing.assert_array_equal(dirty, before)  # the delivered values stay as delivered
    np.testing.assert_array_equal(noisy, kept)


def test_rows_where_every_channel_of_a_quantity_reads_zero_are_flagged_not_repaired() -> None:
    """A zeroed block of a file (or a driver sending zeros for a lost reading) puts every
    torque channel at exactly 0 for a stretch: torque has no rate limit, so only the rows'
    all-zero pattern gives it away. Kept as read (motors off read zero too) and flagged, one
    finding per stretch. Zero velocity at rest, a stream that starts zeroed, a quantity that
    is zero for much of the take, and two channels at zero by chance are not faults."""
    rng = np.random.default_rng(9)
    t, _, pos = moving_signal(rng, n=6_000, channels=4)
    effort = 2.0 + rng.normal(0, 0.05, (6_000, 4))
    velocity = rng.normal(0, 0.01, (6_000, 4))
    velocity[2000:2100] = 0.0  # at rest, a deadband driver reads exact zeros
    effort[3000:3030] = 0.0  # 30 rows of every torque channel lost
    effort[100:103, :2] = 0.0  # two channels at zero together: chance, not a lost row
    x = np.hstack([pos, velocity, effort])
    names = (
        tuple(f"position_rad.j{i}" for i in range(4))
        + tuple(f"velocity_rad_s.j{i}" for i in range(4))
        + tuple(f"effort_n_m.j{i}" for i in range(4))
    )
    result = detect_spikes("joint_state", t, x, names, PARAMS)
    zeroed = [f for f in result.findings if f.evidence.rule == "limit.all_channels_zero"]
    assert [(f.kind, f.repaired, f.start_ns, f.end_ns) for f in zeroed] == [
        ("limit_violation", False, int(t[3000]), int(t[3029]))
    ]
    assert "all 4 measured effort_n_m channels read exactly 0 for 30 sample(s)" in zeroed[0].detail
    assert result.limit[3000:3030, 8:].all() and result.limit[:, 8:].sum() == 120
    assert not result.limit[:, :8].any()  # positions untouched, velocity at rest is no fault
    assert np.all(result.values[3000:3030, 8:] == 0.0)  # kept as read
    # zero at the very start, or for much of the take: how the rig reports, not a lost row
    for start, stop in ((0, 40), (1000, 1500)):
        e = 2.0 + rng.normal(0, 0.05, (6_000, 4))
        e[start:stop] = 0.0
        quiet = detect_spikes("joint_state", t, np.hstack([pos, e]), names[:4] + names[8:], PARAMS)
        assert not [f for f in quiet.findings if f.evidence.rule == "limit.all_channels_zero"]


def test_non_finite_values_are_repaired() -> None:
    rng = np.random.default_rng(7)
    t, clean, noisy = moving_signal(rng, n=2_000, channels=2)
    x = noisy.copy()
    x[500, 1] = np.nan
    result = detect_spikes("joint_state", t, x, floors(2), PARAMS)
    assert result.spike[500, 1]
    assert abs(result.values[500, 1] - clean[500, 1]) < 5 * NOISE
    assert "non-finite" in result.findings[0].detail


def test_dropouts_exact_boundaries_robust_to_jitter() -> None:
    rng = np.random.default_rng(8)
    n = 10_000
    t = T0 + np.arange(n, dtype=np.int64) * PERIOD_NS + rng.normal(0, 100e3, n).astype(np.int64)
    keep = np.ones(n, dtype=bool)
    keep[1000:1001] = False  # one missing sample: 2 periods, not a dropout
    keep[3000:3003] = False  # 3 missing: 4 periods
    keep[6000:6400] = False  # 0.8 s
    t_kept = t[keep]
    gaps = detect_dropouts(t_kept, PARAMS)
    assert gaps.period_ns == pytest.approx(PERIOD_NS, rel=0.01)
    assert list(zip(gaps.start_ns, gaps.end_ns, strict=True)) == [
        (t[2999], t[3003]),
        (t[5999], t[6400]),
    ]
    stream = SignalStream(
        "joint_state", "robot", t_kept, ("position_rad.a",), np.zeros((keep.sum(), 1))
    )
    cleaned = clean_signal_stream(stream, PARAMS)
    dropouts = [f for f in cleaned.findings if f.kind == "dropout"]
    assert [f.repaired for f in dropouts] == [True, False]  # 8 ms repaired, 0.8 s > 0.1 s


def test_duplicates_and_out_of_order_are_fixed_and_flagged() -> None:
    n = 1_000
    t = T0 + np.arange(n, dtype=np.int64) * PERIOD_NS
    values = np.arange(n, dtype=np.float64)[:, None]
    order = np.arange(n)
    order[[100, 101]] = [101, 100]  # swapped pair
    t_in = np.concatenate([t[order], t[[500, 600]]])  # two re-sent samples at the end
    v_in = np.concatenate([values[order], values[[500, 600]]])
    v_in[-1] = -1.0  # the second re-send carries a different value
    stream = SignalStream("joint_state", "robot", t_in, ("position_rad.a",), v_in)
    cleaned = clean_signal_stream(stream, PARAMS)
    assert np.array_equal(cleaned.stream.t_ns, t)
    assert np.array_equal(cleaned.stream.values[:, 0], values[:, 0])  # first copy kept
    kinds = sorted(f.kind for f in cleaned.findings)
    assert kinds == ["duplicate", "duplicate", "out_of_order"]
    late = next(f for f in cleaned.findings if f.kind == "out_of_order")
    assert late.detail.startswith("3 samples")  # the swapped one and the two re-sends
    details = " ".join(f.detail for f in cleaned.findings if f.kind == "duplicate")
    assert "identical values" in details and "different values" in details
    ordered = order_and_deduplicate("s", t_in)
    assert len(ordered.kept) == n


def frozen_case(rng, freeze_s: float, start: int = 5_000):
    t, clean, noisy = moving_signal(rng, n=10_000, channels=3)
    command_t = t
    command = clean  # the command moves like the joint
    state = noisy.copy()
    length = int(freeze_s * 500)
    state[start : start + length, 1] = state[start - 1, 1]
    return t, state, command_t, command, start, length


def test_frozen_detected_with_exact_span() -> None:
    rng = np.random.default_rng(9)
    t, state, ct, command, start, length = frozen_case(rng, 0.5)
    channels = ("position_rad.a", "position_rad.b", "position_rad.c")
    result = detect_frozen(
        "joint_state", t, state, channels, ct, command, np.arange(3), PARAMS, "joint"
    )
    assert len(result.findings) == 1
    f = result.findings[0]
    assert (f.channel, f.start_ns, f.end_ns) == (
        "position_rad.b",
        int(t[start - 1]),
        int(t[start + length - 1]),
    )
    assert result.mask[:, 1].sum() == length + 1 and result.mask[:, [0, 2]].sum() == 0


def test_short_repeat_is_not_frozen_a_noisy_still_one_is() -> None:
    rng = np.random.default_rng(10)
    t, state, ct, command, _, _ = frozen_case(rng, 0.2)  # below 0.3 s
    channels = ("position_rad.a", "position_rad.b", "position_rad.c")
    assert not detect_frozen("js", t, state, channels, ct, command, np.arange(3), PARAMS).findings
    # A long bit-exact repeat on a channel whose noise never repeats a value is a sensor that
    # stopped, even while the command (and the joint) holds still.
    t, state, ct, command, start, length = frozen_case(rng, 1.0)
    command = command.copy()
    command[start - 200 : start + length + 200, 1] = command[start, 1]
    found = detect_frozen("js", t, state, channels, ct, command, np.arange(3), PARAMS).findings
    assert [(f.channel, f.evidence.rule) for f in found] == [("position_rad.b", "frozen.noise")]
    assert found[0].evidence.n_samples == length + 1


def test_a_quantised_joint_at_rest_is_not_frozen() -> None:
    # An encoder coarser than its noise (1e-3 rad steps, 2e-4 noise) reads one value while the
    # joint rests: repeats are its nature there, and the command holds still: no evidence.
    n = 5_000
    t = T0 + np.arange(n, dtype=np.int64) * 2_000_000
    rng = np.random.default_rng(14)
    true = np.where(np.arange(n) < 2_500, 0.3 * np.sin(np.arange(n) / 400.0), 0.0)[:, None]
    state = np.round((true + rng.normal(0.0, 2e-4, true.shape)) / 1e-3) * 1e-3
    command = true.copy()
    found = detect_frozen("js", t, state, ("position_rad.a",), t, command, np.array([0]), PARAMS)
    assert not found.findings


def test_short_freeze_of_a_slow_joint_is_frozen() -> None:
    # A joint moving slowly (0.03 rad/s, noise 2e-4) frozen for 0.31 s: its command moves
    # 9e-3 rad over the run, 6e-3 before the last 0.1 s (the servo lag is ~40 ms).
    n, start, length = 2_000, 1_000, 155
    t = T0 + np.arange(n, dtype=np.int64) * 2_000_000
    command = (0.03 * (t - T0) / 1e9)[:, None]
    state = command + np.random.default_rng(11).normal(0.0, 2e-4, (n, 1))
    state[start : start + length, 0] = state[start - 1, 0]
    found = detect_frozen("js", t, state, ("position_rad.a",), t, command, np.array([0]), PARAMS)
    assert [f.channel for f in found.findings] == ["position_rad.a"]
    # On a quantised channel (1e-3 rad steps: the slow joint holds each value ~17 samples), the
    # repeats alone are no evidence: the command must move, and command motion only in the last
    # 0.1 s of the run has not reached the sensor yet.
    quantised = np.round(state / 1e-3) * 1e-3
    quantised[start : start + length, 0] = quantised[start - 1, 0]
    found = detect_frozen(
        "js", t, quantised, ("position_rad.a",), t, command, np.array([0]), PARAMS
    )
    assert [f.evidence.rule for f in found.findings] == ["frozen.command"]
    late = command.copy()
    late[: start + length - 45, 0] = late[start + length - 45, 0]
    found = detect_frozen("js", t, quantised, ("position_rad.a",), t, late, np.array([0]), PARAMS)
    assert not found.findings


def test_hand_frozen_versus_blocked_grasp() -> None:
    n = 300
    t = T0 + np.arange(n, dtype=np.int64) * 10_000_000
    state = np.full((n, 1), 0.6)
    closing = np.linspace(0.7, 1.0, n)[:, None]  # squeezing an object: the hand is blocked
    opening = np.linspace(0.7, 0.0, n)[:, None]  # asked to open: only a dead sensor stays
    args = ("hand_state", t, state, ("closure.r_index",), t)
    blocked = detect_frozen(*args, closing, np.array([0]), PARAMS, "hand")
    stuck = detect_frozen(*args, opening, np.array([0]), PARAMS, "hand")
    assert not blocked.findings
    assert len(stuck.findings) == 1 and stuck.findings[0].duration_s == pytest.approx(2.99)


def test_camera_drops_and_repeats() -> None:
    n = 90
    t = T0 + np.rint(np.arange(n) * 1e9 / 30).astype(np.int64)
    frames = list(tiny_jpegs(n))
    frames[40] = frames[39]
    frames[41] = frames[39]
    keep = [i for i in range(n) if i not in (60, 61)]
    camera = CameraStream("camera_head", "robot", t[keep], tuple(frames[i] for i in keep))
    check = check_camera_stream(camera, PARAMS)
    by_kind = {f.kind: f for f in check.findings}
    assert (by_kind["frame_repeat"].start_ns, by_kind["frame_repeat"].end_ns) == (t[40], t[41])
    assert (by_kind["frame_drop"].start_ns, by_kind["frame_drop"].end_ns) == (t[59], t[62])
    assert "2 frame(s) missing" in by_kind["frame_drop"].detail
    assert check.repeat.sum() == 2 and len(check.frame_index) == n - 2


def test_quality_score_known_values() -> None:
    w = QualityWeights()
    perfect = QualityInputs(0.0, 0.0, 0.0, 0.0, 0.0, None)
    assert quality_score(perfect, w) == 1.0
    damaged = QualityInputs(0.1, 0.05, 0.0, 0.2, 50.0, 10.0)
    # 1 - 0.1 - 0.025 - 0 - 0.05 - 0.2*0.5 - 0.3*(10/20)**2
    assert quality_score(damaged, w) == pytest.approx(0.65)
    assert quality_score(QualityInputs(0.9, 0.0, 0.9, 0.0, 0.0, None), w) == 0.0


def test_gates() -> None:
    long_drop = Finding("joint_state", "", "dropout", 0, 1_500_000_000, False, "")
    short_drop = Finding("arm_target", "", "dropout", 0, 3_000_000_000, False, "")
    frozen = Finding("joint_state", "position_rad.a", "frozen", 0, 2_500_000_000, False, "")
    ok_clock = ClockState(True, True, 1.0, "xcorr")
    reasons = gate_reasons(
        [long_drop, short_drop, frozen], 0.9, ok_clock, PARAMS, QualityGates(), "f"
    )
    assert [r.code for r in reasons] == ["long_dropout", "long_frozen"]
    bad_clock = ClockState(True, False, float("nan"), "unresolved")
    reasons = gate_reasons([short_drop], 0.4, bad_clock, PARAMS, QualityGates(), "f")
    assert [r.code for r in reasons] == ["clock_unresolved", "low_quality"]
    assert gate_reasons(
        [], 0.9, ClockState(True, True, 25.0, "envelope"), PARAMS, QualityGates(), None
    )


def test_a_frozen_channel_coming_back_is_not_a_spike() -> None:
    rng = np.random.default_rng(21)
    t, _, noisy = moving_signal(rng, n=5_000, channels=2)
    x = noisy.copy()
    x[2000:2600, 0] = x[1999, 0]  # stuck for 1.2 s, then live again (a jump back to the truth)
    x[4000, 1] = x[3999, 1]  # a single exact repeat is no stuck sensor
    x[4001, 1] += 50 * NOISE  # ... so a spike right after it is still a spike
    result = detect_spikes("joint_state", t, x, floors(2), PARAMS)
    assert not result.spike[:, 0].any()
    assert result.spike[4001, 1]
    flat = np.full((500, 1), 0.1)  # a quantised, flat channel: exact repeats all along
    flat[250, 0] += 0.01  # a spike that returns to the repeated value
    found = detect_spikes("joint_state", t[:500], flat, floors(1), PARAMS)
    assert np.flatnonzero(found.spike[:, 0]).tolist() == [250]


def test_stamp_jitter_inversions_keep_the_arrival_order() -> None:
    rng = np.random.default_rng(22)
    period = 11_111_111  # 90 Hz with 3 ms stamp jitter: ~1% of neighbours invert
    n = 2_000
    true_t = T0 + np.arange(n, dtype=np.int64) * period
    stamps = true_t + rng.normal(0, 3e6, n).astype(np.int64)
    received = true_t + 5_000_000 + np.arange(n)  # in order
    assert np.any(np.diff(stamps) < 0)
    values = np.sin(np.arange(n) / 50.0)[:, None]
    stream = SignalStream("head_pose", "operator", stamps, ("position_m.x",), values, received)
    cleaned = clean_signal_stream(stream, PARAMS)
    assert np.array_equal(cleaned.stream.values, values)  # no sample moved: no false spikes
    assert np.array_equal(cleaned.stream.t_ns, np.sort(stamps))
    assert not [f for f in cleaned.findings if f.kind in ("out_of_order", "spike")]
    # An exporter that sorted the rows by stamp: the receive stamps still tell the order.
    by_stamp = np.argsort(stamps, kind="stable")
    exported = SignalStream(
        "head_pose",
        "operator",
        stamps[by_stamp],
        stream.channels,
        values[by_stamp],
        received[by_stamp],
    )
    assert np.array_equal(clean_signal_stream(exported, PARAMS).stream.values, values)
    # Without receive stamps, or with a sample more than a period late, stamps decide.
    late = stamps.copy()
    late[[100, 101]] = late[[101, 100]]
    late[500] = late[510]
    re_sorted = order_and_deduplicate("head_pose", late, values, received)
    assert np.all(np.diff(re_sorted.t_ns) > 0)
    assert [f.kind for f in re_sorted.findings][:1] == ["out_of_order"]


def test_camera_capture_tick_is_recovered_from_jittered_stamps() -> None:
    rng = np.random.default_rng(23)
    period = 1e9 / 30
    k = np.arange(1_800)
    k = k[(k < 600) | (k >= 640)]  # 40 frames dropped
    true_t = T0 + np.rint(12.3e6 + k * period * (1 + 50e-6)).astype(np.int64)  # +50 ppm clock
    stamps = true_t + rng.normal(0, 3e6, len(k)).astype(np.int64)
    frames = tiny_jpegs(len(k))
    check = check_camera_stream(CameraStream("camera_head", "robot", stamps, frames), PARAMS)
    assert np.max(np.abs(check.t_capture_ns - true_t)) < 0.5e6  # stamps: ~10 ms off
    assert np.all(np.diff(check.t_capture_ns) > 0)
    # A camera restarted with another phase is no single tick: the stamps are used.
    restarted = stamps.copy()
    restarted[900:] += int(period / 2)
    check = check_camera_stream(CameraStream("camera_head", "robot", restarted, frames), PARAMS)
    assert np.array_equal(check.t_capture_ns, check.t_ns)


def test_every_large_three_sample_spike_is_found_whole() -> None:
    """A 3-sample spike also yields weaker candidates that share its samples or lean on them
    as trend samples; they must neither merge with it into an over-long run (which would be
    dropped as a level change) nor be flagged beside it."""
    rng = np.random.default_rng(8)
    t, _, noisy = moving_signal(rng)
    dirty = noisy.copy()
    truth = np.zeros(noisy.shape, dtype=bool)
    for start in range(100, 29_900, 75):
        col = int(rng.integers(noisy.shape[1]))
        dirty[start : start + 3, col] += 20 * NOISE * rng.choice([-1, 1])
        truth[start : start + 3, col] = True
    found = detect_spikes("joint_state", t, dirty, floors(20), PARAMS).spike
    assert np.array_equal(found, truth)


def test_a_frozen_stretch_does_not_lower_the_spike_threshold() -> None:
    """Exact repeats are no noise: a channel frozen for a third of its length keeps the
    threshold of its live twin (the repeats used to pull the MAD down to ~0.6 of the noise, and
    noise at ~4.5 sigma passed as 6-sigma spikes)."""
    rng = np.random.default_rng(4)
    t, _, noisy = moving_signal(rng, n=9_000, channels=1)
    x = np.repeat(noisy, 2, axis=1)
    x[6_000:9_000, 1] = x[5_999, 1]  # channel 1: stuck for the last third
    bumps = np.arange(200, 5_800, 400)
    x[bumps, :] += 5.0 * NOISE  # the same small bumps on both, outside the frozen stretch
    result = detect_spikes("joint_state", t, x, floors(2), PARAMS)
    live = slice(0, 5_990)
    assert np.array_equal(result.spike[live, 0], result.spike[live, 1])


def test_camera_ticks_survive_a_jittered_pair_and_a_long_gap() -> None:
    """Two stamps jittered apart by more than 1.5 periods are no dropped frame, and a
    100-frame gap is counted on the fitted tick, not with the (jittered) median step."""
    rng = np.random.default_rng(7)
    period = 1e9 / 30
    k = np.arange(900)
    k = k[(k < 300) | (k >= 400)]
    true_t = T0 + np.rint(5e6 + k * period).astype(np.int64)
    stamps = true_t + rng.normal(0, 3e6, len(k)).astype(np.int64)
    i = int(np.searchsorted(k, 600))
    stamps[i] = true_t[i] - 9_500_000  # 17.6 ms after the frame before ...
    stamps[i + 1] = true_t[i + 1] + 9_000_000  # ... then 51.8 ms: over 1.5 periods
    frames = tiny_jpegs(len(k))
    check = check_camera_stream(CameraStream("camera_left", "robot", stamps, frames), PARAMS)
    drops = [f for f in check.findings if f.kind == "frame_drop"]
    assert [(f.start_ns, f.end_ns) for f in drops] == [(stamps[299], stamps[300])]
    assert "100 frame(s) missing" in drops[0].detail
    assert np.max(np.abs(check.t_capture_ns - true_t)) < 2e6
    assert check.period_ns == pytest.approx(period, rel=1e-4)


def test_a_level_step_with_a_transition_sample_is_no_spike() -> None:
    # a joint leaving its stop: velocity 0, one sample on the way, then 0.6 rad/s
    rng = np.random.default_rng(21)
    n = 2_000
    t = T0 + np.arange(n, dtype=np.int64) * 2_000_000
    v = np.where(np.arange(n) < 1_000, 0.0, 0.6)
    v[1_000] = 0.06
    v[1_001] = 0.55
    v = v + rng.normal(0.0, 2.6e-3, n)
    ch = ("velocity_rad_s.a",)
    assert not detect_spikes("js", t, v[:, None], ch, PARAMS).findings
    # the same samples out and back on a flat channel are a spike
    spiky = rng.normal(0.0, 2.6e-3, n)
    spiky[1_000:1_002] += 0.3
    found = detect_spikes("js", t, spiky[:, None], ch, PARAMS).findings
    assert [(f.kind, f.evidence.n_samples) for f in found] == [("spike", 2)]


def test_velocity_and_effort_spikes_count_only_with_their_position() -> None:
    rng = np.random.default_rng(22)
    n = 3_000
    t = T0 + np.arange(n, dtype=np.int64) * 2_000_000
    pos = 0.2 * np.sin(np.arange(n) / 300.0) + rng.normal(0.0, 2e-4, n)
    vel = rng.normal(0.0, 3e-3, n)
    vel[1_000:1_002] += 0.1  # a transient of the velocity alone: physics (a stop, a contact)
    vel[2_000] += 0.1  # the same where the position glitched too: a sensor glitch
    pos[2_000] += 0.01
    ch = ("position_rad.a", "velocity_rad_s.a")
    found = detect_spikes("js", t, np.column_stack([pos, vel]), ch, PARAMS).findings
    assert sorted((f.channel, f.start_ns) for f in found) == [
        ("position_rad.a", int(t[2_000])),
        ("velocity_rad_s.a", int(t[2_000])),
    ]


def _jpeg(level: int, w: int = 64, h: int = 48) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), level, dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def test_corrupt_and_black_frames_are_findings_not_crashes() -> None:
    n = 300  # 10 s at 30 Hz
    t = T0 + np.rint(np.arange(n) * 1e9 / 30).astype(np.int64)
    frames = [_jpeg(100 + i % 50) for i in range(n)]
    frames[40] = frames[40][: len(frames[40]) // 2]  # cut in transfer
    frames[41] = b"\x00" * 200  # not a JPEG at all
    for i in range(120, 211):  # a covered lens for 3 s
        frames[i] = _jpeg(2)
    check = check_camera_stream(CameraStream("camera_head", "robot", t, tuple(frames)), PARAMS)
    by_kind: dict[str, list] = {}
    for f in check.findings:
        by_kind.setdefault(f.kind, []).append(f)
    assert [f.start_ns for f in by_kind["frame_corrupt"]] == [t[40], t[41]]
    assert "end-of-image" in by_kind["frame_corrupt"][0].detail
    assert 40 not in check.frame_index and 41 not in check.frame_index
    (black,) = by_kind["frame_black"]
    # sampled every 4 s (frames 0, 120, 240), the ends found to the frame between samples
    assert (black.start_ns, black.end_ns) == (t[120], t[210])
    assert (check.width, check.height) == (64, 48)


@pytest.mark.parametrize("seed", range(5))
def test_black_stretches_are_found_to_the_frame_between_samples(seed: int) -> None:
    """Stretches at least a sampling step long are always found, with both ends exact; the
    looks stay near one per step plus a bisection per end."""
    from teleop_lake.cleaning.cameras import _black_runs

    rng = np.random.default_rng(seed)
    n, step = 5_000, 120
    truth = np.zeros(n, dtype=bool)
    stretches = []
    at = int(rng.integers(0, 300))
    while True:
        length = int(rng.integers(step, 4 * step))
        if at + length > n:
            break
        truth[at : at + length] = True
        stretches.append((at, at + length - 1))
        at += length + int(rng.integers(step + 1, 3 * step))  # a gap longer than a step
    looked: list[int] = []

    def is_black(k: int) -> bool:
        looked.append(k)
        return bool(truth[k])

    assert _black_runs(n, step, is_black) == stretches
    assert len(looked) <= n // step + 1 + 2 * len(stretches) * 7
    # a stretch reaching either end of the stream
    truth[:] = False
    truth[:50] = truth[-300:] = True
    assert _black_runs(n, step, lambda k: bool(truth[k])) == [(0, 49), (n - 300, n - 1)]


def test_non_physical_readings_are_repaired_and_flagged_never_published_as_clean() -> None:
    """inf, and values far past any joint (1e33 from a corrupt Parquet stream), are replaced
    and flagged; a channel with no good reading left stays NaN, which the frames contract
    refuses, so the recording cannot be published as clean."""
    from datalake_schemas import frames_schema  # noqa: F401  (the contract is checked below)
    from teleop_lake.cleaning.limits import non_physical

    n = 2_000
    t = T0 + np.arange(n, dtype=np.int64) * PERIOD_NS
    rng = np.random.default_rng(3)
    values = np.stack([np.sin(np.arange(n) / 200.0), np.full(n, np.inf)], axis=1)
    values[:, 0] += rng.normal(0, 0.001, n)
    values[700, 0], values[1200, 0], values[1201, 0] = np.inf, 1e33, -np.inf
    stream = SignalStream("joint_state", "robot", t, ("position_rad.a", "position_rad.b"), values)
    lower, upper = np.array([-1.5, -1.5]), np.array([1.5, 1.5])
    cleaned = clean_signal_stream(stream, PARAMS, lower, upper)
    out = cleaned.stream.values
    assert np.isfinite(out[:, 0]).all()
    assert abs(out[1200, 0] - np.sin(1200 / 200.0)) < 0.02  # a line between good neighbours
    assert cleaned.spike[[700, 1200, 1201], 0].all()  # flagged
    assert np.isnan(out[:, 1]).all()  # nothing to repair from: not publishable
    found = {f.channel: f for f in cleaned.findings if f.kind == "non_physical"}
    assert set(found) == {"position_rad.a", "position_rad.b"}
    assert found["position_rad.a"].repaired and not found["position_rad.b"].repaired
    assert found["position_rad.a"].evidence.n_samples == 3
    # inside the envelope (a whole range past the stop) is judged by the limits, not here
    assert not non_physical(np.array([[4.4, -4.4]]), lower, upper).any()
    assert non_physical(np.array([[4.6, np.inf]]), lower, upper).all()
