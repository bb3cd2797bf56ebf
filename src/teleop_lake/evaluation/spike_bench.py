"""The spike benchmark behind `teleop-lake bench spikes`: figures, never pass/fail.

What the spike detector can and cannot see, measured on generated data where the answer is
known: fast smooth joint motion (0.1-0.8 Hz sinusoids of 0.1-0.4 rad, 500 Hz stamps with
30 us jitter) plus Gaussian noise of sigma ``NOISE``.

- **False spikes**: spike findings on noise-only blocks, per million samples.
- **Recall by size**: runs of 1-3 samples (mostly 1) of exactly ``size`` noise sigmas injected
  well apart; a run is found when any of its samples is flagged (as `teleop-lake evaluate`
  matches), and the share of its samples flagged is reported too.
- **Best possible**: a detector that knew the true signal and read each sample alone, with a
  threshold set so that noise alone trips it at ``budget_per_sample`` (two-sided Gaussian
  tail), finds a single-sample spike of ``size`` sigmas with probability
  ``Phi(size - threshold)``. The default budget, 2e-7, is what a precision of 0.98 allows at
  the simulated spike density (~1e-5 spikes per sample: 12 per minute on ~40 channels at
  500 Hz). No real detector reaches it; it says how much a better one could still gain.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy.stats import norm

from teleop_lake.cleaning import CleaningParams, detect_spikes

NOISE = 2e-4
PERIOD_NS = 2_000_000
BLOCK_SAMPLES = 30_000  # 60 s at 500 Hz
BLOCK_CHANNELS = 40
SIZES = (5.0, 6.0, 7.0, 8.0, 10.0, 20.0)
SPIKES_PER_SIZE = 400
DEFAULT_BUDGET = 2e-7


def _motion_block(rng: np.random.Generator, channels: int) -> tuple[np.ndarray, np.ndarray]:
    n = BLOCK_SAMPLES
    t = np.arange(n, dtype=np.int64) * PERIOD_NS + rng.normal(0, 30e3, n).astype(np.int64)
    ts = t / 1e9
    freq = rng.uniform(0.1, 0.8, channels)
    amp = rng.uniform(0.1, 0.4, channels)
    clean = amp * np.sin(2 * np.pi * freq * ts[:, None] + rng.uniform(0, 2 * np.pi, channels))
    return t, clean + rng.normal(0, NOISE, (n, channels))


def _channels(n: int) -> tuple[str, ...]:
    return tuple(f"position_rad.j{i}" for i in range(n))


def _inject(
    rng: np.random.Generator, x: np.ndarray, count: int, size: float
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """``count`` runs of 1-3 samples, 40+ samples apart; returns the copy and (col, a, b)."""
    n, c = x.shape
    out = x.copy()
    runs = []
    slots = rng.choice(np.arange(50, n - 50, 40), size=count, replace=False)
    for start in slots:
        col = int(rng.integers(c))
        length = int(rng.choice([1, 1, 1, 2, 3]))
        out[start : start + length, col] += size * NOISE * rng.choice([-1.0, 1.0])
        runs.append((col, int(start), int(start) + length - 1))
    return out, runs


def best_possible_recall(size: float, budget_per_sample: float) -> float:
    """Recall of a known-signal, one-sample threshold test at the given false-alarm budget."""
    threshold = float(norm.isf(budget_per_sample / 2.0))
    return float(norm.cdf(size - threshold))


def bench_spikes(
    seed: int = 1,
    million_samples: float = 12.0,
    sizes: tuple[float, ...] = SIZES,
    budget_per_sample: float = DEFAULT_BUDGET,
    params: CleaningParams | None = None,
) -> dict[str, Any]:
    """False spikes on noise and recall per spike size; see the module docstring."""
    params = params or CleaningParams()
    rng = np.random.default_rng(seed)
    names = _channels(BLOCK_CHANNELS)
    n_blocks = max(1, round(million_samples * 1e6 / (BLOCK_SAMPLES * BLOCK_CHANNELS)))
    false_findings = 0
    cpu = 0.0
    for _ in range(n_blocks):
        t, x = _motion_block(rng, BLOCK_CHANNELS)
        start = time.process_time()
        res = detect_spikes("joint_state", t, x, names, params)
        cpu += time.process_time() - start
        false_findings += sum(f.kind == "spike" for f in res.findings)
    samples = n_blocks * BLOCK_SAMPLES * BLOCK_CHANNELS
    by_size = []
    for size in sizes:
        t, x = _motion_block(rng, BLOCK_CHANNELS)
        dirty, runs = _inject(rng, x, SPIKES_PER_SIZE, size)
        flagged = detect_spikes("joint_state", t, dirty, names, params).spike
        found = [bool(flagged[a : b + 1, c].any()) for c, a, b in runs]
        n_samples = sum(b - a + 1 for _, a, b in runs)
        hit = sum(int(flagged[a : b + 1, c].sum()) for c, a, b in runs)
        by_size.append(
            {
                "size_sigma": size,
                "runs": len(runs),
                "recall_runs": sum(found) / len(runs),
                "recall_samples": hit / n_samples,
                "best_possible": best_possible_recall(size, budget_per_sample),
            }
        )
    return {
        "noise_sigma": NOISE,
        "samples": samples,
        "false_spikes": false_findings,
        "false_spikes_per_million": false_findings / samples * 1e6,
        "budget_per_sample": budget_per_sample,
        "best_possible_threshold_sigma": float(norm.isf(budget_per_sample / 2.0)),
        "core_s_per_million": cpu / samples * 1e6,
        "by_size": by_size,
    }
