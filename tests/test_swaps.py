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
