"""The episodes table: one row per published (or processed) episode, with its label.

`EPISODE_FIELDS` documents every column once; the release's dataset card and
the README table are generated from it. Columns added in schema 1.2.0 (rig variant, channel
counts, clock status and candidates) and 2.1.0 (task texts) are null for episodes processed
before it: a release still holds them, unchanged.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

OUTCOMES = ("success", "failure", "unknown")
LABEL_SOURCES = ("operator", "rule", "qa_override")
FAILURE_REASONS = (
    "operator_marked_failure",
    "emergency_stop",
    "robot_fault",
    "timeout",
    "grasp_missed",
    "object_dropped",
    "task_incomplete",
    "data_unusable",
    "unknown_task",
)

# name -> (polars dtype, nullable, description)
EPISODE_FIELDS: dict[str, tuple[type[pl.DataType] | pl.DataType, bool, str]] = {
    "episode_id": (pl.String, False, "stable id derived from center + recording id"),
    "split_from": (
        pl.String,
        True,
        "for a piece of a recording split at a long fault: the whole recording's episode id",
    ),
    "piece_index": (pl.Int64, True, "1, 2, ... in time order for a piece; null otherwise"),
    "center": (pl.String, False, "collection center (beijing, suzhou, jinan, hefei, zhengzhou)"),
    "recording_id": (pl.String, False, "the center's own recording id"),
    "station": (pl.String, True, "teleoperation station within the center"),
    "scene": (pl.String, True, "scene code from the recording's label file"),
    "task_code": (pl.String, True, "task from the task catalog"),
    "task_text_en": (
        pl.String,
        True,
        "the task in English as the recording's label file words it (null if it has none)",
    ),
    "task_text_zh": (
        pl.String,
        True,
        "the task in Chinese as the recording's label file words it (null if it has none)",
    ),
    "robot_model": (pl.String, False, "robot model; arrays of different models never mix"),
    "robot_serial": (pl.String, True, "robot serial number"),
    "operator_pseudonym": (pl.String, True, "keyed hash of the operator id (never the raw id)"),
    "start_time_utc": (pl.Datetime("us", "UTC"), False, "first grid tick, UTC"),
    "duration_s": (pl.Float64, False, "time covered by the grid"),
    "n_frames": (pl.Int64, False, "rows in the frames table"),
    "raw_format": (pl.String, False, "ros1-bag, ros2-mcap, hdf5 or parquet-dir"),
    "source_uri": (pl.String, False, "bronze location of the raw recording"),
    "content_key": (pl.String, False, "sha256 over the raw files (path, sha256) pairs"),
    "pipeline_version": (pl.String, False, "teleop-lake version that processed it"),
    "param_hash": (pl.String, False, "hash of the processing parameters"),
    "run_id": (pl.String, False, "the night that processed it"),
    "segment_id": (pl.String, False, "data segment holding the frames"),
    "segment_row_start": (pl.Int64, False, "first row of this episode in its segment"),
    "quality_score": (
        pl.Float64,
        False,
        "0..1: 1 minus weighted shares of dropouts, frozen stretches, limit violations, "
        "interpolated rows, spikes and clock uncertainty (the card's Quality section)",
    ),
    "n_spikes": (pl.Int64, False, "spikes flagged"),
    "n_dropouts": (pl.Int64, False, "dropouts flagged"),
    "n_frozen": (pl.Int64, False, "frozen segments flagged"),
    "n_limit_violations": (
        pl.Int64,
        True,
        "runs of readings past a joint limit by more than a few noise sigmas (kept, flagged)",
    ),
    "n_at_stop": (
        pl.Int64,
        True,
        "stretches of a joint resting at a mechanical stop (informational, never a fault)",
    ),
    "end_effector": (pl.String, True, "hand (dexterous hands) or claw (two-finger claws)"),
    "eef_type": (pl.String, True, "the end-effector type the recording's label file names"),
    "absent_streams": (
        pl.String,
        True,
        "optional streams the rig does not record, comma-separated (hand_state, head_pose); "
        "empty when it records them all",
    ),
    "n_unpopulated_channels": (
        pl.Int64,
        True,
        "channels constant for the whole recording (firmware left them unfilled): null in frames",
    ),
    "n_faulty_channels": (
        pl.Int64,
        True,
        "channels with a long frozen stretch or readings past their limits (see channels table)",
    ),
    "operator_clock_offset_ms": (
        pl.Float64,
        True,
        "estimated operator clock offset at clock_reference_ns: t_op = t_robot + offset + drift",
    ),
    "operator_clock_drift_ppm": (pl.Float64, True, "estimated operator clock drift"),
    "clock_uncertainty_ms": (
        pl.Float64,
        True,
        "95% bound on the offset estimate: covers every candidate's interval",
    ),
    "clock_status": (
        pl.String,
        True,
        "reference (no operator stream), resolved, disagreement (candidates disagree; the "
        "uncertainty covers them all) or unresolved",
    ),
    "clock_method": (pl.String, True, "how the estimate was made from its candidates"),
    "clock_reference_ns": (
        pl.Int64,
        True,
        "robot-clock instant (UTC epoch ns) the offsets and candidates refer to",
    ),
    "n_clock_domain_mismatches": (
        pl.Int64,
        True,
        "streams whose stamps are on another clock than their center profile declares",
    ),
    **{
        f"clock_{method}_{what}": (
            dtype,
            True,
            f"{label} candidate: {doc}",
        )
        for method, label in (
            ("xcorr", "cross-correlation (arm targets vs joint commands)"),
            ("envelope", "receive-stamp envelope"),
            ("events", "paired events (no format logs them yet)"),
        )
        for what, dtype, doc in (
            ("offset_ms", pl.Float64, "offset at clock_reference_ns"),
            ("drift_ppm", pl.Float64, "drift"),
            ("uncertainty_ms", pl.Float64, "95% bound of its own interval"),
            ("streams", pl.String, "streams it was computed from, comma-separated"),
        )
    },
    "outcome": (
        pl.String,
        False,
        "success, failure or unknown: in a release's table with QA overrides applied; in a "
        "segment's table as processed",
    ),
    "failure_reason": (pl.String, True, "taxonomy code when not a success"),
    "label_source": (pl.String, False, "operator, rule or qa_override"),
    "label_confidence": (pl.Float64, False, "0..1"),
    "needs_review": (pl.Boolean, False, "the evidence and the operator disagree, or no mark"),
    "review_reason": (pl.String, True, "why the episode needs review"),
    "operator_mark": (pl.String, True, "the operator's own mark, if any"),
    "labeler_version": (pl.String, False, "version of the labeling rules"),
}


def episodes_schema() -> pa.DataFrameSchema:
    """The Pandera model of the episodes table."""
    columns: dict[str, pa.Column] = {
        name: pa.Column(dtype, nullable=nullable, description=doc)
        for name, (dtype, nullable, doc) in EPISODE_FIELDS.items()
    }
    columns["episode_id"] = pa.Column(pl.String, unique=True, nullable=False)
    columns["outcome"] = pa.Column(pl.String, pa.Check.isin(OUTCOMES), nullable=False)
    columns["label_source"] = pa.Column(pl.String, pa.Check.isin(LABEL_SOURCES), nullable=False)
    columns["failure_reason"] = pa.Column(pl.String, pa.Check.isin(FAILURE_REASONS), nullable=True)
    columns["quality_score"] = pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0))
    columns["label_confidence"] = pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0))
    columns["duration_s"] = pa.Column(pl.Float64, pa.Check.gt(0.0))
    columns["n_frames"] = pa.Column(pl.Int64, pa.Check.gt(0))
    return pa.DataFrameSchema(columns, strict=True, name="episodes")
