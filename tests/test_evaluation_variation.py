"""Evaluation of rig variation and honest evidence (issue 9): known answers on small synthetic
frames for the frozen split, clock uncertainty coverage and candidates, clock-domain
mismatches, limits against stops, unpopulated channels, wrongly quarantined recordings, the
per-variant breakdown and the worst over several networks; and scores that need a table or
column an older network or lake lacks come out null instead of failing."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from teleop_lake.evaluation.clock_error import (
    candidate_estimates,
    clock_errors,
    error_summary,
    errors_by,
)
from teleop_lake.evaluation.matching import frozen_truth, match_detections, subset_recall
from teleop_lake.evaluation.night import _primary_topics
from teleop_lake.evaluation.outcome_scores import (
    by_variant,
    justified_codes,
    unpopulated_quarantined,
    wrongly_quarantined,
    wrongly_quarantined_block,
)
from teleop_lake.evaluation.sample_scores import false_alarm_cells
from teleop_lake.evaluation.scorecard import NightEvidence, frozen_split, score_night
from teleop_lake.evaluation.targets import (
    TARGETS,
    lookup,
    merge_reports,
    merged_table_rows,
    table_rows,
)
from teleop_lake.evaluation.variation import (
    clock_mismatch_score,
    limit_score,
    unpopulated_score,
)

MS = 1_000_000
S = 1_000_000_000
BJ = "beijing"


def faults(*rows: dict[str, Any]) -> pl.DataFrame:
    """Truth faults; each row gives at least recording_id, kind, channels, start_ns, end_ns."""
    base = {"center": BJ, "stream": "joint_state", "magnitude": None, "scope": None, "moving": None}
    return pl.DataFrame(
        [{**base, "fault_id": f"f{i}", **r} for i, r in enumerate(rows)],
        schema_overrides={
            "channels": pl.List(pl.String),
            "magnitude": pl.Float64,
            "scope": pl.String,
            "moving": pl.Boolean,
        },
    )


def findings(*rows: tuple[str, str, str, str, int, int]) -> pl.DataFrame:
    """(recording_id, kind, stream, channel, start_ns, end_ns) rows, all on the robot clock."""
    return pl.DataFrame(
        [
            {
                "center": BJ,
                "recording_id": rid,
                "kind": kind,
                "stream": stream,
                "channel": channel,
                "start_ns": start,
                "end_ns": end,
                "finding_id": f"x{i}",
                "on_robot_clock": True,
            }
            for i, (rid, kind, stream, channel, start, end) in enumerate(rows)
        ],
        schema_overrides={"start_ns": pl.Int64, "end_ns": pl.Int64},
    )


def frozen(rid: str, channels: list[str], start: int, end: int, scope: str, moving: bool) -> dict:
    return {
        "recording_id": rid,
        "kind": "frozen",
        "channels": channels,
        "start_ns": start,
        "end_ns": end,
        "scope": scope,
        "moving": moving,
    }


def test_frozen_split_and_a_whole_message_matched_by_one_stream_wide_finding() -> None:
    truth = faults(
        frozen("r", ["position_rad.a", "velocity_rad_s.a"], 0, 500 * MS, "channel", True),
        frozen("r", ["position_rad.b"], 1000 * MS, 1500 * MS, "channel", False),
        frozen("r", [], 2000 * MS, 2600 * MS, "message", True),  # the whole message
        frozen("r", ["position_rad.c"], 3000 * MS, 3500 * MS, "channel", False),  # missed
    )
    found = findings(
        ("r", "frozen", "joint_state", "position_rad.a", 1 * MS, 499 * MS),
        ("r", "frozen", "joint_state", "velocity_rad_s.a", 1 * MS, 499 * MS),
        ("r", "frozen", "joint_state", "position_rad.b", 1001 * MS, 1499 * MS),
        ("r", "frozen", "joint_state", "", 2001 * MS, 2599 * MS),  # one stream-wide finding
        ("r", "frozen", "joint_state", "position_rad.z", 2100 * MS, 2200 * MS),  # inside it
        # stream-wide where one channel froze: claims the whole message, false
        ("r", "frozen", "joint_state", "", 3100 * MS, 3200 * MS),
    )
    items = frozen_truth(truth)
    message = items.filter(pl.col("scope") == "message")
    assert message.select("channel", "stream_wide").rows() == [("", True)]
    score = match_detections(items, found)
    assert (score.n_truth, score.n_truth_found) == (5, 4)
    assert score.precision == pytest.approx(5 / 6)
    assert score.false["finding_id"].to_list() == ["x5"]
    split = frozen_split(items, score)
    assert (split["recall_moving"], split["n_moving"]) == (1.0, 2)
    assert (split["recall_still"], split["n_still"], split["n_still_found"]) == (0.5, 2, 1)
    assert (split["recall_message"], split["n_message"]) == (1.0, 1)


def test_frozen_truth_without_scope_or_moving_columns() -> None:
    old = faults(
        frozen("r", ["position_rad.a"], 0, 500 * MS, "channel", True),
        frozen("r", [], S, 2 * S, "message", True),
    ).drop("scope", "moving")
    items = frozen_truth(old)
    assert items["scope"].to_list() == ["channel", "message"]
    assert items["moving"].to_list() == [None, None]
    score = match_detections(items, findings(("r", "frozen", "joint_state", "x", S, S)))
    assert subset_recall(items, score, pl.col("moving")) == {"recall": None, "n": 0, "n_found": 0}
    assert frozen_split(items, score)["recall_message"] == 1.0


def test_clock_coverage_counting_and_groups() -> None:
    errors = pl.DataFrame(
        {
            "error_mid_ms": [0.5, -1.5, 2.0, 0.1],
            "error_max_ms": [0.6, 1.6, 2.5, 3.0],
            "uncertainty_ms": [1.0, 1.0, 2.0, None],  # a missing claim covers nothing
            "method": ["xcorr", "xcorr", "envelope", None],
        }
    )
    s = error_summary(errors)
    assert s["n"] == 4 and s["coverage"] == 0.5  # 0.5 <= 1 and 2.0 <= 2 (bound inclusive)
    assert s["coverage_worst"] == 0.25
    assert s["median"] == pytest.approx(1.0) and s["max"] == pytest.approx(2.0)
    by = errors_by(errors, "method")
    assert by is not None and sorted(by) == ["envelope", "null", "xcorr"]
    assert (by["xcorr"]["n"], by["xcorr"]["coverage"]) == (2, 0.5)
    assert errors_by(errors, "clock_status") is None  # evidence without the column
    assert error_summary(errors.head(0))["coverage"] is None


def test_candidate_estimates_use_their_own_reference() -> None:
    truth = pl.DataFrame(
        [
            {
                "center": BJ,
                "recording_id": "r",
                "offset_ns": 500 * MS,
                "drift_ppm": 100.0,
                "reference_ns": 0,
            }
        ]
    )
    # The truth at 11 s: 500 ms + 100 ppm x 11 s = 501.1 ms.
    processed = pl.DataFrame(
        [
            {
                "center": BJ,
                "recording_id": "r",
                "start_ns": 1 * S,
                "end_ns": 21 * S,
                "clock_reference_ns": 11 * S,
                "clock_xcorr_offset_ms": 501.4,  # 0.3 ms off, right drift: 0.3 everywhere
                "clock_xcorr_drift_ppm": 100.0,
                "clock_xcorr_uncertainty_ms": 0.5,
                "clock_envelope_offset_ms": 501.1,  # right at 11 s, no drift: 1 ms at the ends
                "clock_envelope_drift_ppm": 0.0,
                "clock_envelope_uncertainty_ms": 0.5,
            }
        ]
    )
    errors = clock_errors(candidate_estimates(processed), truth).sort("method")
    assert errors["method"].to_list() == ["envelope", "xcorr"]
    assert errors["error_mid_ms"].to_list() == pytest.approx([0.0, 0.3], abs=1e-9)
    assert errors["error_max_ms"].to_list() == pytest.approx([1.0, 0.3], abs=1e-9)
    assert error_summary(errors.filter(pl.col("method") == "envelope"))["coverage_worst"] == 0.0
    assert candidate_estimates(processed.select("center", "recording_id", "start_ns")).is_empty()


def test_clock_domain_mismatch_recall_and_precision() -> None:
    recordings = pl.DataFrame(
        {
            "center": [BJ] * 5,
            "recording_id": ["m1", "m2", "m3", "m4", "m5"],
            "start_ns": [0] * 5,
            "duration_s": [10.0] * 5,
            "clock_mismatch_stream": [
                "hand_command",
                "hand_state",
                "hand_command",
                None,
                "arm_target",
            ],
        }
    )
    clocks = pl.DataFrame(
        {
            "center": [BJ] * 4,
            "recording_id": ["m1", "m2", "m4", "m5"],  # m3: no operator clock known
            "offset_ns": [500 * MS, 5 * MS, 300 * MS, -28 * MS],
            "drift_ppm": [0.0, 0.0, 0.0, -500.0],  # m5: -28 - 2.5 ms at the midpoint
            "reference_ns": [0] * 4,
        }
    )
    found = findings(
        ("m1", "clock_domain_mismatch", "hand_command", "", 0, 0),  # right
        ("m2", "clock_domain_mismatch", "hand_state", "", 0, 0),  # 5 ms: ineligible, ignored
        ("m4", "clock_domain_mismatch", "arm_target", "", 0, 0),  # no mismatch there: false
        ("m1", "clock_domain_mismatch", "head_pose", "", 0, 0),  # wrong stream: false
        ("m5", "spike", "arm_target", "target_rad.a", 0, 0),  # another kind
    )
    s = clock_mismatch_score(recordings, clocks, found)
    assert (s["n"], s["n_found"], s["n_ineligible"]) == (2, 1, 2)
    assert s["recall"] == 0.5 and s["precision"] == pytest.approx(1 / 3)
    assert [m["recording_id"] for m in s["missed"]] == ["m5"]
    assert s["missed"][0]["true_offset_ms"] == pytest.approx(-30.5)
    old = clock_mismatch_score(recordings.drop("clock_mismatch_stream"), clocks, found)
    assert old["available"] is False and old["recall"] is None


def test_limits_against_truth_and_at_stop_recall() -> None:
    truth = faults(
        {
            "recording_id": "r",
            "kind": "spike",
            "channels": ["position_rad.a"],
            "start_ns": 100 * MS,
            "end_ns": 102 * MS,
            "magnitude": 0.01,
        }
    )
    at_stop = pl.DataFrame(
        {
            "center": [BJ, BJ],
            "recording_id": ["r", "r"],
            "stream": ["joint_state", "joint_state"],
            "channel": ["position_rad.b", "position_rad.c"],
            "start_ns": [1000 * MS, 6000 * MS],
            "end_ns": [5000 * MS, 7000 * MS],
            "stop_rad": [1.2, -0.5],
            "limit_rad": [1.2, -0.5],
        }
    )
    found = findings(
        ("r", "limit_violation", "joint_state", "position_rad.a", 101 * MS, 101 * MS),  # spike
        ("r", "limit_violation", "joint_state", "position_rad.b", 2000 * MS, 2100 * MS),  # stop
        ("r", "limit_violation", "joint_state", "position_rad.d", 2000 * MS, 2100 * MS),
        ("r", "at_stop", "joint_state", "position_rad.b", 1500 * MS, 4000 * MS),
        ("r", "at_stop", "joint_state", "position_rad.e", 0, 10 * MS),  # no stop there
        ("r", "limit_violation", "arm_target", "target_rad.b", 2000 * MS, 2100 * MS),
    ).with_columns(pl.Series("on_robot_clock", [True] * 5 + [False]))  # clock unresolved
    s = limit_score(found, truth, at_stop)
    assert s["limits"] == {
        "n_findings": 4,
        "n_false": 3,
        "n_false_at_stop": 1,
        "false_by_stream": {"arm_target": 1, "joint_state": 2},
    }
    assert s["at_stop"] == {
        "recall": 0.5,
        "n": 2,
        "n_found": 1,
        "n_findings": 2,
        "n_findings_outside_truth": 1,
    }
    without = limit_score(found, truth, None)  # an older network: no at_stop table
    assert without["limits"]["n_false"] == 3 and without["limits"]["n_false_at_stop"] is None
    assert without["at_stop"]["available"] is False and without["at_stop"]["recall"] is None


def test_informational_findings_are_not_false_alarms() -> None:
    found = findings(
        ("r", "at_stop", "joint_state", "position_rad.b", 0, 100 * MS),
        ("r", "clock_domain_mismatch", "joint_state", "", 0, 1000 * MS),
        ("r", "limit_violation", "joint_state", "position_rad.b", 0, 2 * MS),  # 2 samples
    )
    sizes = pl.DataFrame(
        [
            {
                "center": BJ,
                "recording_id": "r",
                "stream": "joint_state",
                "n_samples": 10,
                "n_channels": 3,
            }
        ]
    )
    assert false_alarm_cells(found, faults().head(0), sizes) == 2


def outcome(rid: str, status: str, *codes: str) -> dict[str, Any]:
    return {"center": BJ, "recording_id": rid, "status": status, "reason_codes": list(codes)}


def recording(rid: str, file_fault: str = "none", missing: str | None = None) -> dict[str, Any]:
    return {
        "center": BJ,
        "recording_id": rid,
        "file_fault": file_fault,
        "missing_stream": missing,
        "duration_s": 6.0,
        "start_ns": 0,
    }


def test_wrongly_quarantined_recordings_are_counted() -> None:
    recordings = pl.DataFrame(
        [
            recording("r01", "checksum_mismatch"),
            recording("r02"),
            recording("r03"),
            recording("r04"),
            recording("r05"),
            recording("r06", "missing_stream", "arm_target"),
            recording("r07"),
            recording("r08"),
            recording("r09"),
            recording("r10"),
        ]
    )
    truth = faults(
        {
            "recording_id": "r03",
            "kind": "dropout",
            "channels": [],
            "start_ns": S,
            "end_ns": 2200 * MS,
        },
        frozen("r04", ["velocity_rad_s.a"], S, 3500 * MS, "channel", True),  # optional channel
        frozen("r05", [], S, 3500 * MS, "message", False),
        {
            "recording_id": "r08",
            "kind": "dropout",
            "stream": "head_pose",
            "channels": [],
            "start_ns": 0,
            "end_ns": 900 * MS,
        },
        {
            "recording_id": "r08",
            "kind": "dropout",
            "stream": "head_pose",
            "channels": [],
            "start_ns": 3 * S,
            "end_ns": 3900 * MS,
        },
        frozen("r10", ["position_rad.a"], S, 2990 * MS, "channel", False),  # 1.99 s: within slack
    )
    outcomes = pl.DataFrame(
        [
            outcome("r01", "quarantined", "checksum_mismatch"),
            outcome("r02", "quarantined", "missing_stream"),  # nothing missing: wrong
            outcome("r03", "quarantined", "long_dropout"),
            outcome("r04", "quarantined", "long_frozen"),  # velocity is not gated: wrong
            outcome("r05", "quarantined", "long_frozen", "low_quality"),
            outcome("r06", "quarantined", "clock_unresolved"),
            outcome("r07", "quarantined", "clock_unresolved"),  # wrong
            outcome("r08", "quarantined", "low_quality"),  # 1.8 s of 6 s in faults
            outcome("r09", "published"),
            outcome("r10", "quarantined", "long_frozen"),
            outcome("r99", "quarantined", "processing_error"),  # not in the truth: left out
        ]
    )
    justified = justified_codes(recordings, truth)
    assert "low_quality" in justified[(BJ, "r08")] and "long_dropout" in justified[(BJ, "r03")]
    wrong = wrongly_quarantined(outcomes, recordings, truth)
    assert wrong["recording_id"].to_list() == ["r02", "r04", "r07"]
    block = wrongly_quarantined_block(wrong)
    assert block["wrongly_quarantined"] == 3
    assert block["wrongly_quarantined_list"][0] == {
        "recording": "beijing/r02",
        "reasons": ["missing_stream"],
    }
    assert block["wrongly_quarantined_reasons"] == {
        "clock_unresolved": 1,
        "long_frozen": 1,
        "missing_stream": 1,
    }


def test_unpopulated_channels_known_answer() -> None:
    recordings = pl.DataFrame(
        {
            "center": [BJ] * 3,
            "recording_id": ["u1", "u2", "u3"],
            "velocity_populated": [False, True, True],
            "effort_populated": [True, True, False],
        }
    )
    rows = [
        ("u1", "joint_state", "velocity_rad_s.a", "unpopulated"),
        ("u1", "joint_state", "velocity_rad_s.b", "unpopulated"),
        ("u1", "joint_state", "position_rad.a", "measured"),
        ("u1", "joint_state", "effort_n_m.a", "measured"),
        ("u2", "joint_state", "effort_n_m.a", "unpopulated"),  # the truth says populated
        ("u2", "hand_state", "closure.l_thumb", "unpopulated"),  # not judged
        ("u3", "joint_state", "effort_n_m.a", "unpopulated"),
        ("u3", "joint_state", "effort_n_m.b", "measured"),  # so u3's effort is not found
    ]
    channels = pl.DataFrame(
        [
            {"center": BJ, "recording_id": r, "stream": s, "channel": c, "status": st}
            for r, s, c, st in rows
        ]
    )
    s = unpopulated_score(recordings, channels)
    assert (s["recall"], s["n"], s["n_found"]) == (0.5, 2, 1)
    assert s["precision"] == pytest.approx(3 / 4)
    assert s["missed"] == [{"center": BJ, "recording_id": "u3", "field": "effort_n_m"}]
    assert s["false"] == [{"center": BJ, "recording_id": "u2", "channel": "effort_n_m.a"}]
    assert s["elsewhere_by_stream"] == {"hand_state": 1}
    none = unpopulated_score(recordings, None)  # a lake without channels.parquet
    assert none["available"] is False and none["recall"] is None
    old = unpopulated_score(recordings.select("center", "recording_id"), channels)
    assert old["available"] is False
    wrong = pl.DataFrame({"center": [BJ, BJ], "recording_id": ["u1", "u2"]})
    assert unpopulated_quarantined(recordings, wrong) == 1
    assert unpopulated_quarantined(recordings.select("center", "recording_id"), wrong) is None


def test_by_variant_counts() -> None:
    recordings = pl.DataFrame(
        {
            "center": [BJ] * 4,
            "recording_id": ["v1", "v2", "v3", "v4"],
            "end_effector": ["hand", "claw", "hand", "hand"],
            "hand_state_topic": [
                "/control_robot_hand_position_state",
                "/leju_claw_state",
                "/dexhand/state",
                None,
            ],
            "velocity_populated": [True, True, False, True],
            "effort_populated": [True, True, True, True],
            "effort_field": ["joint_torque", "joint_torque", "joint_current", "joint_torque"],
            "clock_mismatch_stream": [None, None, "hand_command", None],
            "eef_type": ["dexhand", None, "dexhand", "dexhand"],
        }
    )
    primary = pl.DataFrame(
        {
            "center": [BJ, BJ],
            "end_effector": ["hand", "claw"],
            "hand_state_topic": ["/control_robot_hand_position_state", "/leju_claw_state"],
        }
    )
    outcomes = pl.DataFrame(
        [
            outcome("v1", "published"),
            outcome("v2", "quarantined", "missing_stream"),
            outcome("v3", "pending"),
            outcome("v4", "quarantined", "missing_stream"),
        ]
    )
    wrong = pl.DataFrame({"center": [BJ], "recording_id": ["v2"]})
    v = by_variant(recordings, outcomes, wrong, primary)

    def counts(name: str) -> tuple[int, ...]:
        b = v[name]
        return tuple(
            b[k]
            for k in ("recordings", "published", "quarantined", "wrongly_quarantined", "pending")
        )

    assert counts("claw") == (1, 0, 1, 1, 0)
    assert counts("hand") == (3, 1, 1, 0, 1)
    assert counts("no_hand_state") == (1, 0, 1, 0, 0)
    assert counts("hand_state_alternative_topic") == (1, 0, 0, 0, 1)
    assert counts("velocity_unpopulated") == (1, 0, 0, 0, 1)
    assert counts("effort_unpopulated") == (0, 0, 0, 0, 0)
    assert counts("joint_current") == (1, 0, 0, 0, 1)
    assert counts("clock_mismatch") == (1, 0, 0, 0, 1)
    assert counts("eef_type_missing") == (1, 0, 1, 1, 0)
    old = by_variant(recordings.select("center", "recording_id"), outcomes, wrong, None)
    assert all(b["available"] is False for b in old.values())


def test_primary_hand_state_topics_from_the_profiles() -> None:
    topics = _primary_topics(["beijing", "beijing", "nowhere"])
    kinds = dict(
        topics.filter(pl.col("center") == "beijing")
        .select("end_effector", "hand_state_topic")
        .rows()
    )
    assert set(kinds) == {"hand", "claw"} and kinds["claw"] != kinds["hand"]
    assert "nowhere" not in topics["center"].to_list()


def night(new_truth: bool) -> NightEvidence:
    """One processed recording and one quarantined at decode, as an old network and lake
    (``new_truth`` False: no issue-9 column or table) or a new one."""
    recs = pl.DataFrame(
        [
            {**recording("p1"), "true_outcome": "success", "operator_mark_status": "correct"},
            {**recording("q1"), "true_outcome": "success", "operator_mark_status": "correct"},
        ]
    ).with_columns(pl.lit(10.0).alias("duration_s"))
    truth = faults(frozen("p1", [], 2 * S, 2600 * MS, "message", False))
    found = findings(
        ("p1", "frozen", "joint_state", "", 2001 * MS, 2599 * MS),
        ("p1", "limit_violation", "joint_state", "position_rad.b", 5 * S, 5 * S),
    )
    processed = pl.DataFrame(
        [
            {
                "center": BJ,
                "recording_id": "p1",
                "start_ns": 0,
                "end_ns": 10 * S,
                "outcome": "success",
                "needs_review": False,
            }
        ]
    )
    estimates = pl.DataFrame(
        [
            {
                "center": BJ,
                "recording_id": "p1",
                "offset_ns": 501 * MS,
                "drift_ppm": 0.0,
                "t_ref_ns": 0,
                "start_ns": 0,
                "end_ns": 10 * S,
                "uncertainty_ms": 0.5,  # the error is 1 ms: not covered
                "method": "xcorr",
            }
        ]
    )
    truth_clocks = pl.DataFrame(
        [
            {
                "center": BJ,
                "recording_id": "p1",
                "offset_ns": 500 * MS,
                "drift_ppm": 0.0,
                "reference_ns": 0,
            }
        ]
    )
    channels = None
    at_stop = None
    if new_truth:
        recs = recs.with_columns(
            pl.Series("end_effector", ["hand", "claw"]),
            pl.Series("hand_state_topic", ["/h", None], dtype=pl.String),
            pl.Series("velocity_populated", [False, True]),
            pl.Series("effort_populated", [True, True]),
            pl.Series("effort_field", ["joint_torque", "joint_torque"]),
            pl.Series("clock_mismatch_stream", ["hand_command", None]),
            pl.Series("eef_type", ["dexhand", "leju_claw"]),
            pl.Series("control_latency_ms", [21.0, 19.0]),
        )
        found = pl.concat(
            [found, findings(("p1", "clock_domain_mismatch", "hand_command", "", 0, 10 * S))],
            how="diagonal_relaxed",
        )
        processed = processed.with_columns(pl.lit("resolved").alias("clock_status"))
        channels = pl.DataFrame(
            {
                "center": [BJ],
                "recording_id": ["p1"],
                "stream": ["joint_state"],
                "channel": ["velocity_rad_s.a"],
                "status": ["unpopulated"],
            }
        )
        at_stop = pl.DataFrame(
            {
                "center": [BJ],
                "recording_id": ["p1"],
                "stream": ["joint_state"],
                "channel": ["position_rad.b"],
                "start_ns": [4 * S],
                "end_ns": [6 * S],
            }
        )
    else:
        truth = truth.drop("scope", "moving")
    return NightEvidence(
        recordings=recs,
        faults=truth,
        noise=pl.DataFrame({"center": [BJ], "recording_id": ["p1"], "position_sigma_rad": [2e-4]}),
        truth_clocks=truth_clocks,
        processed=processed,
        findings=found,
        clock_estimates=estimates,
        n_clock_unresolved=0,
        outcomes=pl.DataFrame(
            [outcome("p1", "published"), outcome("q1", "quarantined", "missing_stream")]
        ),
        camera_counts=pl.DataFrame(
            schema={"rows_judged": pl.Int64, "rows_matched": pl.Int64, "rows_near_tie": pl.Int64}
        ),
        repairs=pl.DataFrame(schema={"was_repaired": pl.Boolean, "error_over_noise": pl.Float64}),
        sizes=pl.DataFrame(
            [
                {
                    "center": BJ,
                    "recording_id": "p1",
                    "stream": "joint_state",
                    "n_samples": 5000,
                    "n_channels": 84,
                }
            ]
        ),
        at_stop=at_stop,
        channels=channels,
        primary_topics=pl.DataFrame(
            {"center": [BJ], "end_effector": ["hand"], "hand_state_topic": ["/h"]}
        ),
    )


def test_score_night_on_an_old_network_gives_nulls_not_errors() -> None:
    r = score_night(night(new_truth=False))
    for key in (
        "clock_domain_mismatch.recall",
        "unpopulated.recall",
        "unpopulated.quarantined",
        "at_stop.recall",
        "limits.n_false_at_stop",
        "frozen.recall_moving",
        "frozen.recall_still",
        "clock_offset_error_ms.by_status",
    ):
        assert lookup(r, key) is None, key
    assert r["by_variant"]["claw"]["available"] is False
    # what needs nothing new is scored: the message fault without a scope column, the limit
    assert r["frozen"]["recall_message"] == 1.0 and r["frozen"]["precision"] == 1.0
    assert r["limits"]["n_false"] == 1
    assert r["clock_offset_error_ms"]["coverage"] == 0.0
    assert r["episodes"]["wrongly_quarantined"] == 1  # q1: nothing was missing
    rows = {row[0]: row for row in table_rows(r)}
    assert rows["episodes.wrongly_quarantined"][3] == "MISS"
    assert rows["clock_domain_mismatch.recall"][1] == "n/a"


def test_score_night_on_a_new_network() -> None:
    r = score_night(night(new_truth=True))
    assert r["clock_domain_mismatch"]["recall"] == 1.0
    assert r["clock_domain_mismatch"]["precision"] == 1.0
    assert r["unpopulated"]["recall"] == 1.0 and r["unpopulated"]["quarantined"] == 0
    assert r["limits"]["n_false_at_stop"] == 1 and r["at_stop"]["recall"] == 0.0
    assert r["frozen"]["recall_message"] == 1.0 and r["frozen"]["n_message"] == 1
    assert r["clock_offset_error_ms"]["by_status"]["resolved"]["n"] == 1
    assert r["clock_offset_error_ms"]["n_by_status"] == {"resolved": 1}
    assert r["clock_offset_error_ms"]["by_episode"][0]["true_latency_ms"] == 21.0
    assert r["by_variant"]["claw"]["wrongly_quarantined"] == 1
    assert r["by_variant"]["velocity_unpopulated"]["published"] == 1
    # informational and clock findings flag no sample: only the limit's one cell is false
    assert r["false_alarm"]["cells_flagged"] == 1


def test_worst_over_several_networks() -> None:
    a = {
        "scope": {"network": "a"},
        "outliers": {"precision": 1.0, "recall": 0.99},
        "clock_offset_error_ms": {"p95": 1.0, "coverage": 0.97},
        "episodes": {"total": 10, "wrongly_quarantined": 0},
        "by_variant": {"claw": {"recordings": 2, "published": 2}, "hand": {"available": False}},
    }
    b = {
        "scope": {"network": "b"},
        "outliers": {"precision": None, "recall": 0.97},
        "clock_offset_error_ms": {"p95": 3.0, "coverage": 0.99},
        "episodes": {"total": 5, "wrongly_quarantined": 2},
        "by_variant": {"claw": {"recordings": 1, "published": 0}, "hand": {"recordings": 3}},
    }
    m = merge_reports([a, b])
    w = m["worst"]
    assert lookup(w, "outliers.recall") == 0.97 and m["worst_network"]["outliers.recall"] == 1
    assert lookup(w, "outliers.precision") == 1.0  # b has none: left out
    assert lookup(w, "clock_offset_error_ms.p95") == 3.0
    assert lookup(w, "clock_offset_error_ms.coverage") == 0.97
    assert lookup(w, "episodes.wrongly_quarantined") == 2
    assert lookup(w, "episodes.total") == 15 and m["worst_network"]["episodes.total"] is None
    assert lookup(w, "frozen.recall") is None
    assert m["by_variant"]["claw"] == {"recordings": 3, "published": 2}
    assert m["by_variant"]["hand"] == {"recordings": 3}
    rows = {row[0]: row for row in merged_table_rows(m)}
    assert rows["outliers.recall"] == ("outliers.recall", "0.97", ">= 0.98", "MISS", "0.99 / 0.97")
    assert rows["outliers.precision"][4] == "1 / n/a"


def test_new_targets_are_printed() -> None:
    keys = {k for k, _, _ in TARGETS}
    assert {
        "frozen.recall_moving",
        "frozen.recall_still",
        "frozen.recall_message",
        "clock_offset_error_ms.coverage",
        "clock_domain_mismatch.recall",
        "limits.n_false",
        "episodes.wrongly_quarantined",
        "unpopulated.quarantined",
    } <= keys
    rows = {row[0]: row for row in table_rows({"limits": {"n_false": 3}})}
    assert rows["limits.n_false"][1:] == ("3", "<= 0", "MISS")
