"""The spike benchmark's figures are computed, not asserted for speed: known answers only."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from teleop_lake.cli import app
from teleop_lake.evaluation.spike_bench import bench_spikes, best_possible_recall


def test_best_possible_recall_is_the_gaussian_tail() -> None:
    # 2e-7 per sample, two-sided: threshold 5.199 sigma; a 5-sigma spike clears it 42% of the time
    assert best_possible_recall(5.0, 2e-7) == pytest.approx(0.421, abs=0.002)
    assert best_possible_recall(8.0, 2e-7) == pytest.approx(0.9974, abs=0.001)
    assert best_possible_recall(5.0, 1e-3) > best_possible_recall(5.0, 2e-7)


def test_bench_spikes_figures() -> None:
    res = bench_spikes(seed=3, million_samples=1.2, sizes=(5.0, 20.0))
    assert res["samples"] == 1_200_000
    assert res["false_spikes"] <= 1
    small, large = res["by_size"]
    assert large["recall_runs"] >= 0.99
    assert small["recall_runs"] < large["recall_runs"]
    assert small["recall_runs"] <= small["best_possible"] + 0.1


def test_bench_spikes_cli_json() -> None:
    out = CliRunner().invoke(app, ["bench", "spikes", "--million-samples", "0.2", "--json"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert [row["size_sigma"] for row in res["by_size"]] == [5.0, 6.0, 7.0, 8.0, 10.0, 20.0]
