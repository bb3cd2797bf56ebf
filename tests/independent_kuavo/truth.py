"""The ground-truth tables under ``<out>/_truth/``: their columns and how they are written.

Columns and types follow docs/TRUTH.md plus the issue-9 additions (eef and rig columns in
``recordings``, ``scope``/``moving`` in ``faults``, ``declared_clock`` in ``clocks``, the new
``at_stop`` table). Every listed column exists with its type; a value this writer cannot give
meaningfully is null (e.g. ``vr_stamp_sigma_s``: Kuavo bags per KUAVO.md have no VR stream).
Writing a table again keeps the old rows and replaces those of the same recordings, then sorts
by the table's keys. Written with polars, as Parquet.

What this writer puts where docs/TRUTH.md describes the repository's own simulator:

- ``recordings.start_ns``: the robot-clock instant the recording starts (Kuavo bags per
  KUAVO.md carry no ``/teleop/event`` topic); every stream's samples lie in
  ``[start_ns, start_ns + duration_s)``. ``duration_scale`` is ``duration_s`` over the task's
  catalog ``expected_duration_s``; ``sim_profile`` is ``independent_kuavo``. Every attempt
  succeeds (grasp, hold, release; ``hold_s`` measured on the motion model); no operator mark is
  written (KUAVO.md names none), so ``operator_mark_status`` is ``missing``; no file faults.
- ``noise``: sigmas of the rig that made the recording. ``velocity_sigma_rad_s`` and
  ``effort_sigma_nm`` are null when the field is unpopulated (all zeros); on ``joint_current``
  rigs ``effort_sigma_nm`` is the current sensor's sigma in A, the unit of that field.
  ``hand_state_sigma`` is in closure units (0..1), null without a hand or claw state topic.
- ``faults``: ``stream`` may be any stream of the bag for a dropout (``joint_command`` and the
  end-effector streams included); ``magnitude`` is the spike's absolute offset in rad.
- ``at_stop``: the stops are the robot model's nominal limits, so ``stop_rad == limit_rad``;
  spans shorter than 0.3 s are not listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

TRUTH_DIR = "_truth"

RECORDINGS_SCHEMA: dict[str, pl.DataType] = {
    "center": pl.String(),
    "date": pl.String(),
    "recording_id": pl.String(),
    "episode_id": pl.String(),
    "station": pl.String(),
    "robot_serial": pl.String(),
    "operator_id": pl.String(),
    "task_code": pl.String(),
    "grasp_hand": pl.String(),
    "start_ns": pl.Int64(),
    "duration_s": pl.Float64(),
    "duration_scale": pl.Float64(),
    "true_outcome": pl.String(),
    "true_failure_reason": pl.String(),
    "hold_s": pl.Float64(),
    "emergency_stop_ns": pl.Int64(),
    "operator_mark": pl.String(),
    "operator_mark_status": pl.String(),
    "file_fault": pl.String(),
    "missing_stream": pl.String(),
    "sim_profile": pl.String(),
    "seed": pl.Int64(),
    "eef_type": pl.String(),
    "end_effector": pl.String(),
    "hand_state_topic": pl.String(),
    "velocity_populated": pl.Boolean(),
    "effort_populated": pl.Boolean(),
    "effort_field": pl.String(),
    "control_latency_ms": pl.Float64(),
    "clock_mismatch_stream": pl.String(),
    "clock_mismatch_actual_clock": pl.String(),
}

FAULTS_SCHEMA: dict[str, pl.DataType] = {
    "center": pl.String(),
    "recording_id": pl.String(),
    "fault_id": pl.String(),
    "kind": pl.String(),
    "stream": pl.String(),
    "channels": pl.List(pl.String()),
    "start_ns": pl.Int64(),
    "end_ns": pl.Int64(),
    "magnitude": pl.Float64(),
    "scope": pl.String(),
    "moving": pl.Boolean(),
}

CLOCKS_SCHEMA: dict[str, pl.DataType] = {
    "center": pl.String(),
    "recording_id": pl.String(),
    "stream": pl.String(),
    "clock": pl.String(),
    "offset_ns": pl.Int64(),
    "drift_ppm": pl.Float64(),
    "reference_ns": pl.Int64(),
    "declared_clock": pl.String(),
}

NOISE_SCHEMA: dict[str, pl.DataType] = {
    "center": pl.String(),
    "recording_id": pl.String(),
    "position_sigma_rad": pl.Float64(),
    "velocity_sigma_rad_s": pl.Float64(),
    "acceleration_sigma_rad_s2": pl.Float64(),
    "effort_sigma_nm": pl.Float64(),
    "hand_state_sigma": pl.Float64(),
    "joint_stamp_sigma_s": pl.Float64(),
    "stream_100hz_stamp_sigma_s": pl.Float64(),
    "vr_stamp_sigma_s": pl.Float64(),
    "camera_stamp_sigma_s": pl.Float64(),
}

AT_STOP_SCHEMA: dict[str, pl.DataType] = {
    "center": pl.String(),
    "recording_id": pl.String(),
    "stream": pl.String(),
    "channel": pl.String(),
    "start_ns": pl.Int64(),
    "end_ns": pl.Int64(),
    "stop_rad": pl.Float64(),
    "limit_rad": pl.Float64(),
}

TABLES: dict[str, tuple[dict[str, pl.DataType], tuple[str, ...]]] = {
    "recordings": (RECORDINGS_SCHEMA, ("center", "recording_id")),
    "faults": (FAULTS_SCHEMA, ("center", "recording_id", "fault_id")),
    "clocks": (CLOCKS_SCHEMA, ("center", "recording_id", "stream")),
    "noise": (NOISE_SCHEMA, ("center", "recording_id")),
    "at_stop": (AT_STOP_SCHEMA, ("center", "recording_id", "channel", "start_ns")),
}


def frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows as a frame with exactly the table's columns and types (missing values null)."""
    schema, _ = TABLES[table]
    unknown = {k for r in rows for k in r} - set(schema)
    if unknown:
        raise KeyError(f"{table}: columns not in the truth layout: {sorted(unknown)}")
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")


def write_tables(out: Path, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Path]:
    """Write (or merge into) every truth table; returns the paths."""
    folder = out / TRUTH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for table, (schema, keys) in TABLES.items():
        new = frame(table, rows.get(table, []))
        path = folder / f"{table}.parquet"
        if path.exists():
            old = pl.read_parquet(path)
            replaced = new.select("center", "recording_id").unique()
            old = old.join(replaced, on=["center", "recording_id"], how="anti")
            new = pl.concat([old.select(list(schema)).cast(schema), new], how="vertical")  # type: ignore[arg-type]
        new.sort(list(keys)).write_parquet(path)
        paths[table] = path
    return paths
