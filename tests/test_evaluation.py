"""Evaluation: known answers of the matching and of every score, and one small night scored
against the simulator's truth (targets asserted loosely enough to be stable)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.evaluation.camera_truth import (
    frame_match_counts,
    nearest_within,
    true_capture_ns,
)
from teleop_lake.evaluation.clock_error import clock_errors
from teleop_lake.evaluation.label_scores import label_scores
from teleop_lake.evaluation.matching import (
    EligibilityRules,
    dropout_truth,
    frozen_truth,
    match_detections,
    spike_truth,
)
from teleop_lake.evaluation.sample_scores import false_alarm_cells, repair_errors
from teleop_lake.evaluation.scorecard import lookup, spike_recall_by_size, table_rows

MS = 1_000_000
REC = {"center": "beijing", "recording_id": "bj-1"}


def faults(*rows: tuple[str, str, list[str], int, int, float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                **REC,
                "fault_id": f"f{i}",
                "kind": kind,
                "stream": stream,
                "channels": channels,
                "start_ns": start,
                "end_ns": end,
                "magnitude": magnitude,
            }
            for i, (kind, stream, channels, start, end, magnitude) in enumerate(rows)
        ],
        schema_overrides={"channels": pl.List(pl.String), "magnitude": pl.Float64},
    )


def findings(*rows: tuple[str, str, str, int, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                **REC,
                "stream": stream,
                "channel": channel,
                "kind": kind,
                "start_ns": start,
                "end_ns": end,
                "finding_id": f"x{i}",
                "is_gap": kind in ("dropout", "frame_drop"),
            }
            for i, (kind, stream, channel, start, end) in enumerate(rows)
        ]
    )


NOISE = pl.DataFrame([{**REC, "position_sigma_rad": 2e-4}])


def test_spike_matching_known_answer() -> None:
    truth = faults(
        ("spike", "joint_state", ["position_rad.a"], 100 * MS, 102 * MS, 40 * 2e-4),
        ("spike", "joint_state", ["position_rad.b"], 200 * MS, 206 * MS, 20 * 2e-4),
        ("spike", "joint_state", ["position_rad.a"], 300 * MS, 302 * MS, 3 * 2e-4),  # < 5x
        ("spike", "joint_state", ["position_rad.c"], 400 * MS, 402 * MS, 50 * 2e-4),  # missed
    )
    found = findings(
        ("spike", "joint_state", "position_rad.a", 101 * MS, 101 * MS),  # hit
        ("spike", "joint_state", "position_rad.b", 201 * MS, 205 * MS),  # hit
        ("spike", "joint_state", "position_rad.b", 206 * MS, 206 * MS),  # end is exclusive
        ("spike", "joint_state", "position_rad.a", 301 * MS, 301 * MS),  # ineligible: ignored
        ("spike", "joint_state", "velocity_rad_s.c", 401 * MS, 401 * MS),  # other channel
    )
    score = match_detections(spike_truth(truth, NOISE), found)
    assert (score.n_truth, score.n_truth_found) == (3, 2)
    assert score.recall == pytest.approx(2 / 3)
    assert (score.n_findings, score.n_findings_true, score.n_findings_ignored) == (5, 2, 1)
    assert score.precision == pytest.approx(2 / 4)
    assert sorted(score.false["finding_id"].to_list()) == ["x2", "x4"]
    assert score.missed["truth_id"].to_list() == ["f3"]
    # f0 (40x) and f3 (50x) fall in the open band, f1 (20x) too; f2 is ineligible
    assert spike_recall_by_size(spike_truth(truth, NOISE), score) == [
        {"size_sigma": ">=20", "n": 3, "found": 2, "recall": pytest.approx(2 / 3)}
    ]
    small = faults(
        ("spike", "joint_state", ["position_rad.a"], 100 * MS, 102 * MS, 6 * 2e-4),
        ("spike", "joint_state", ["position_rad.b"], 200 * MS, 202 * MS, 7.9 * 2e-4),
        ("spike", "joint_state", ["position_rad.c"], 300 * MS, 302 * MS, 8 * 2e-4),
    )
    hit = findings(("spike", "joint_state", "position_rad.b", 201 * MS, 201 * MS))
    items = spike_truth(small, NOISE)
    assert spike_recall_by_size(items, match_detections(items, hit)) == [
        {"size_sigma": "5-8", "n": 2, "found": 1, "recall": 0.5},
        {"size_sigma": "8-12", "n": 1, "found": 0, "recall": 0.0},
    ]


def test_eligibility_rules() -> None:
    truth = faults(
        ("dropout", "joint_state", [], 0, 6 * MS, None),  # 3 periods of 2 ms: eligible
        ("dropout", "joint_state", [], 10 * MS, 14 * MS, None),  # 2 periods
        ("frozen", "joint_state", ["position_rad.a", "effort_n_m.a"], 0, 300 * MS, None),
        ("frozen", "joint_state", ["position_rad.b"], 0, 250 * MS, None),
    )
    drops = dropout_truth(truth)
    assert drops["eligible"].to_list() == [True, False]
    frozen = frozen_truth(truth)
    assert frozen.select("channel", "eligible").rows() == [
        ("position_rad.a", True),
        ("effort_n_m.a", True),
        ("position_rad.b", False),
    ]
    strict = frozen_truth(truth, EligibilityRules(frozen_min_s=0.5))
    assert not strict["eligible"].any()


def test_dropout_boundaries_known_answer() -> None:
    # 10 samples of a 500 Hz stream missing: true times 100..118 ms, interval [99, 119) ms.
    truth = faults(("dropout", "joint_state", [], 99 * MS, 119 * MS, None))
    # The gap finding runs from the sample before (98 ms) to the one after (120 ms), with
    # +0.3 ms of stamp error on the last one: boundaries 0 and 0.3 ms off.
    found = findings(("dropout", "joint_state", "", 98 * MS, 120 * MS + 300_000))
    score = match_detections(dropout_truth(truth), found, keys=("center", "recording_id", "stream"))
    assert score.recall == 1.0 and score.precision == 1.0
    assert score.boundary_errors_ms() == pytest.approx([0.3])
    # A frozen finding (first..last affected sample) is widened by half a period instead.
    frozen = faults(("frozen", "joint_state", ["position_rad.a"], 99 * MS, 419 * MS, None))
    hit = findings(("frozen", "joint_state", "position_rad.a", 102 * MS, 418 * MS))
    assert match_detections(frozen_truth(frozen), hit).boundary_errors_ms() == pytest.approx([2.0])


def test_clock_error_at_midpoint_and_ends() -> None:
    truth = pl.DataFrame(
        [{**REC, "offset_ns": 500 * MS, "drift_ppm": 100.0, "reference_ns": 0}] * 2
    )  # two operator streams, one clock
    est = pl.DataFrame(
        [
            {
                **REC,
                "offset_ns": 500 * MS + 1 * MS,  # 1 ms off at its reference
                "drift_ppm": 100.0,
                "t_ref_ns": 1_000 * MS,  # 1 s later than the truth's reference
                "start_ns": 1_000 * MS,
                "end_ns": 21_000 * MS,
                "uncertainty_ms": 0.5,
                "method": "xcorr",
            }
        ]
    )
    # At t: est - truth = 1 ms + 100e-6 * ((t - 1 s) - t) = 1 ms - 0.1 ms = 0.9 ms everywhere.
    err = clock_errors(est, truth)
    assert err.height == 1
    assert err["error_mid_ms"][0] == pytest.approx(0.9)
    assert err["error_max_ms"][0] == pytest.approx(0.9)
    wrong_drift = est.with_columns(pl.lit(150.0).alias("drift_ppm"))
    # Extra 50 ppm over 10 s (start -> midpoint) = 0.5 ms; over 20 s at the end = 1.0 ms.
    err = clock_errors(wrong_drift, truth)
    assert err["error_mid_ms"][0] == pytest.approx(1.4)
    assert err["error_max_ms"][0] == pytest.approx(1.9)


def test_true_capture_times_and_frame_match() -> None:
    rng = np.random.default_rng(1)
    period = 1e9 / 30
    start = 1_700_000_000 * 10**9
    k = np.arange(300)
    k = k[(k < 100) | (k >= 105)]  # 5 frames dropped
    true_t = start + np.rint(7.3e6 + k * period).astype(np.int64)
    stamps = true_t + rng.normal(0, 1e6, len(k)).astype(np.int64)
    recovered = true_capture_ns(stamps, start, period)
    # The phase is a median over 295 stamps of 1 ms jitter: ~0.07 ms off, the ticks exact.
    assert np.max(np.abs(recovered - true_t)) < 0.25 * MS
    assert np.ptp(recovered - true_t) <= 1
    grid = start + np.arange(0, 10 * 10**9, 20 * MS)
    truly = nearest_within(true_t, grid, period / 2)
    by_stamp = nearest_within(stamps, grid, period / 2)
    judged, matched = frame_match_counts(by_stamp, truly)
    assert judged == len(grid) - int(np.sum((truly < 0) & (by_stamp < 0)))
    assert 0.9 < matched / judged < 1.0  # stamps with 1 ms jitter pick a wrong frame sometimes
    assert frame_match_counts(truly, truly) == (judged, judged)
    assert nearest_within(np.array([30, 10, 20]), np.array([11, 29, 100]), 5).tolist() == [1, 0, -1]


def test_label_scores_known_answer() -> None:
    processed = pl.DataFrame(
        {
            "center": ["c"] * 5,
            "recording_id": ["r1", "r2", "r3", "r4", "r5"],
            "outcome": ["success", "failure", "success", "unknown", "failure"],
            "needs_review": [False, False, True, True, False],
        }
    )
    recordings = pl.DataFrame(
        {
            "center": ["c"] * 5,
            "recording_id": ["r1", "r2", "r3", "r4", "r5"],
            "true_outcome": ["success", "success", "failure", "failure", "failure"],
            "operator_mark_status": ["correct", "wrong", "wrong", "missing", "missing"],
        }
    )
    s = label_scores(processed, recordings)
    assert s["accuracy"] == pytest.approx(2 / 4)  # r1, r5 right; r2, r3 wrong; r4 unknown
    assert s["unknown_rate"] == pytest.approx(1 / 5)
    # mismarked r2 (missed), r3 (flagged), r4 (flagged), r5 (corrected)
    assert s["mismark_caught_rate"] == pytest.approx(3 / 4)


def test_repair_error_and_false_alarm_cells() -> None:
    t = np.arange(10, dtype=np.int64) * 2 * MS
    raw = np.zeros((10, 2))
    raw[4, 0] = -0.01  # a spike of -0.01 rad on channel a at sample 4
    repaired = raw.copy()
    repaired[4, 0] = 3e-4  # repaired 1.5 sigmas off the true 0
    mask = np.zeros((10, 2), dtype=bool)
    mask[4, 0] = True
    spikes = pl.DataFrame(
        [
            {
                "truth_id": "f0",
                "channel": "position_rad.a",
                "start_ns": 7 * MS,
                "end_ns": 9 * MS,
                "magnitude": 0.01,
                "position_sigma_rad": 2e-4,
            }
        ]
    )
    rows = repair_errors(t, raw, repaired, mask, ("position_rad.a", "position_rad.b"), spikes)
    assert rows.height == 1 and rows["was_repaired"][0]
    assert rows["error_over_noise"][0] == pytest.approx(1.5)

    truth = faults(("frozen", "joint_state", ["position_rad.a"], 100 * MS, 500 * MS, None))
    found = findings(
        ("frozen", "joint_state", "position_rad.a", 101 * MS, 499 * MS),  # explained by truth
        ("spike", "joint_state", "position_rad.b", 300 * MS, 302 * MS),  # 2 samples: false
        ("dropout", "joint_state", "", 600 * MS, 610 * MS),  # 4 missing x 3 channels: false
        ("spike", "head_pose", "position_m.x", 0, 0),  # stream not scored
    )
    sizes = pl.DataFrame([{**REC, "stream": "joint_state", "n_samples": 1000, "n_channels": 3}])
    assert false_alarm_cells(found, truth, sizes) == 2 + 4 * 3


def test_table_rows_and_lookup() -> None:
    report = {
        "outliers": {"precision": 0.99, "recall": 0.5},
        "false_alarm_rate": 0.0,
        "episodes": {"total": 3},
    }
    assert lookup(report, "outliers.recall") == 0.5 and lookup(report, "nope.x") is None
    rows = {r[0]: r for r in table_rows(report)}
    assert rows["outliers.precision"][3] == "ok" and rows["outliers.recall"][3] == "MISS"
    assert rows["false_alarm_rate"][3] == "ok" and rows["frozen.recall"][1] == "n/a"
    assert rows["episodes.total"][1] == "3"


@pytest.mark.slow
def test_small_night_meets_targets_loosely(tmp_path: Path) -> None:
    """A 5-center x 2-episode default network at 0.4 duration scale, processed by the stages
    (no Prefect), scored through the CLI."""
    from teleop_lake.config.centers import CENTER_NAMES
    from teleop_lake.pipeline.process import process_batch
    from teleop_lake.pipeline.pull import plan_batches, pull_stage
    from teleop_lake.processing import ProcessingParams
    from teleop_lake.simulate import simulate_network

    net, lake = tmp_path / "net", tmp_path / "lake"
    simulate_network(
        net,
        episodes_per_center=2,
        seed=7,
        date="2026-11-23",
        duration_scale=0.4,
        camera_size=SMALL_CAMERA,
    )
    now = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)
    run_id = "20261124T020000Z-test"
    new = []
    for center in CENTER_NAMES:
        new += pull_stage(str(net), str(lake), center, run_id, None, now)["new"]
    for i, batch in enumerate(plan_batches(new, 6)):
        process_batch(str(lake), run_id, f"b{i:03d}", batch, ProcessingParams(), now)

    out = tmp_path / "eval.json"
    exe = Path(sys.executable).parent / "teleop-lake"
    proc = subprocess.run(
        [str(exe), "evaluate", "--network", str(net), "--lake", str(lake), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "outliers.precision" in proc.stdout
    r = json.loads(out.read_text())
    assert r["scope"]["runs"] == [run_id]
    e = r["episodes"]
    assert e["total"] == 10 and e["published"] + e["quarantined"] + e["pending"] == 10
    assert e["processed"] >= 6
    assert r["outliers"]["n_truth"] >= 3
    assert r["outliers"]["recall"] >= 0.9 and r["outliers"]["precision"] >= 0.9
    if r["dropouts"]["n_truth"]:
        assert r["dropouts"]["recall"] >= 0.9
        assert r["dropouts"]["boundary_error_periods_p95"] <= 1.5
    if r["frozen"]["n_truth"]:
        assert r["frozen"]["recall"] >= 0.8
    assert r["clock_offset_error_ms"]["n_episodes"] >= 3
    assert r["clock_offset_error_ms"]["median"] <= 3.0
    assert r["camera_frame_match_rate"] >= 0.97
    assert r["false_alarm_rate"] <= 1e-3
    assert r["repair_error"]["median_over_noise"] <= 2.0
    assert r["labels"]["accuracy"] >= 0.6
