"""Swapped adjacent messages: found on all channels at once, put back; spikes left alone."""

from __future__ import annotations

import numpy as np

from teleop_lake.cleaning.swaps import detect_swapped_rows, unswap_rows


def _motion(n: int, c: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    t = np.arange(n) / 90.0
    phases = rng.uniform(0, 2 * np.pi, c)
    clean = 0.05 * np.sin(2 * np.pi * 0.7 * t[:, None] + phases[None, :])
    return clean + rng.normal(0, noise, (n, c))


def test_swapped_pairs_are_found_exactly_and_spikes_are_not() -> None:
    rng = np.random.default_rng(3)
    x = _motion(2000, 7, rng, 2e-5)
    truth = np.array([100, 431, 1200, 1777])
    bad = unswap_rows(x, truth)  # swapping is its own inverse
    bad[900, 2] += 0.01  # a spike on one channel
    found = detect_swapped_rows(bad, np.full(7, 1e-9))
    assert list(found) == list(truth)
    repaired = unswap_rows(bad, found)
    assert np.allclose(np.delete(repaired, 900, axis=0), np.delete(x, 900, axis=0))


def test_no_false_swaps_on_noisy_or_still_data() -> None:
    rng = np.random.default_rng(4)
    floors = np.full(7, 1e-9)
    assert len(detect_swapped_rows(_motion(50_000, 7, rng, 2e-4), floors)) == 0
    still = rng.normal(0, 1e-3, (20_000, 7))  # noise only: swaps gain nothing
    assert len(detect_swapped_rows(still, floors)) == 0


def test_slow_channels_do_not_hide_a_swap() -> None:
    rng = np.random.default_rng(5)
    x = _motion(1000, 7, rng, 2e-5)
    x[:, 4:] = 0.3 + rng.normal(0, 2e-5, (1000, 3))  # three channels barely move
    bad = unswap_rows(x, np.array([500]))
    assert list(detect_swapped_rows(bad, np.full(7, 1e-9))) == [500]


def test_jitter_share_decides_whether_swaps_are_possible() -> None:
    from teleop_lake.cleaning.swaps import SWAP_MIN_JITTER_SHARE, stamp_jitter_share

    rng = np.random.default_rng(6)
    steady = np.arange(10_000) * 2_000_000 + rng.normal(0, 30_000, 10_000).astype(np.int64)
    vr = np.sort(np.arange(10_000) * 11_111_111 + rng.normal(0, 3e6, 10_000).astype(np.int64))
    assert stamp_jitter_share(steady) < SWAP_MIN_JITTER_SHARE < stamp_jitter_share(vr)


def test_a_sudden_change_of_velocity_is_not_a_spike() -> None:
    from teleop_lake.cleaning.params import CleaningParams
    from teleop_lake.cleaning.spikes import detect_spikes

    n = 400
    t = (np.arange(n) * 10_000_000).astype(np.int64)
    # the operator moves at ~2e-3 rad per sample and brakes within two samples (a velocity
    # profile taken from a simulated exoskeleton stream that was once flagged as a spike)
    v = np.concatenate([np.full(200, 1.7e-3), [1.9e-3, 2.2e-3, 1.4e-3, 4e-4], np.full(196, 7e-4)])
    false_spikes = 0
    for seed in range(60):
        y = np.cumsum(v) + np.random.default_rng(seed).normal(0, 1.2e-4, n)
        y[300] += 5e-3  # a real spike of ~40 sigma later on
        res = detect_spikes("arm_target", t, y[:, None], ("target_rad.a",), CleaningParams())
        starts = [f.start_ns for f in res.findings]
        assert t[300] in starts
        false_spikes += len(starts) - 1
    assert false_spikes <= 4  # 3-sigma tolerance: ~9 in 60 draws; none at all: ~11


def test_a_velocity_change_on_a_curved_trend_is_not_a_spike() -> None:
    """An exoskeleton target accelerating with tremor when the operator's motion stops: the
    velocity drops from 2.2e-3 to 4e-4 rad per sample within two samples, while the trends
    either side curve too much for straight-line extrapolation (a night flagged it once)."""
    from teleop_lake.cleaning.params import CleaningParams
    from teleop_lake.cleaning.spikes import detect_spikes

    v = 1e-4 * np.array([12.1, 13.0, 14.5, 16.6, 19.0, 21.8, 13.9, 4.0, 6.4, 8.2, 9.5, 10.1])
    v = np.concatenate([np.full(100, 12e-4), v, np.full(100, 10e-4)])
    t = (np.arange(len(v)) * 10_000_000).astype(np.int64)
    flagged = 0
    for seed in range(40):
        y = np.cumsum(v) + np.random.default_rng(seed).normal(0, 4e-5, len(v))
        res = detect_spikes("arm_target", t, y[:, None], ("target_rad.a",), CleaningParams())
        flagged += bool(res.spike.any())
    assert flagged <= 1


def test_no_spike_is_judged_across_a_dropout() -> None:
    """Samples either side of a 0.34 s dropout can lie off any line drawn across it (the motion
    in the missing time is unknown): a night once reported such a pair as a 2-sample spike. The
    dropout is its own finding; a spike elsewhere is still found."""
    from teleop_lake.cleaning.params import CleaningParams
    from teleop_lake.cleaning.spikes import _without_gap_steps, detect_spikes

    rng = np.random.default_rng(11)
    keep = np.r_[0:600, 634:1200]
    t = (np.arange(1200) * 10_000_000)[keep].astype(np.int64)
    y = 1e-3 * np.arange(len(t)) + rng.normal(0, 3e-5, len(t))
    y[599:601] += 2e-3  # the last sample before the gap and the first after it
    y[300] += 2e-3
    res = detect_spikes("arm_target", t, y[:, None], ("target_rad.a",), CleaningParams())
    assert np.flatnonzero(res.spike[:, 0]).tolist() == [300]
    # the gap's jump does not drag the local velocity of its neighbours
    d = np.array([1.0, 2.0, 3.0, 90.0, 5.0, 6.0])
    gap = np.array([False, False, False, True, False, False])
    assert _without_gap_steps(d, gap).tolist() == [1.0, 2.0, 3.0, 3.0, 5.0, 6.0]
    assert _without_gap_steps(d[::-1].copy(), gap[::-1].copy()).tolist()[:3] == [6.0, 5.0, 5.0]
