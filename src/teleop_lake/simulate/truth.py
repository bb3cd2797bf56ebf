"""Ground truth of a simulated network: what really happened, as Parquet under ``<out>/_truth/``.

Row builders (pure) turn an episode into truth rows; `merge_truth` (IO) rewrites each
table with the old rows plus the new ones, replacing rows of re-simulated recordings.
The tables and their columns are documented in docs/TRUTH.md; the pipeline never reads
them, only evaluation does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from teleop_lake.network.identity import episode_id_for
from teleop_lake.simulate.episode import EpisodeData
from teleop_lake.simulate.params import SimulationProfile

TRUTH_DIR = "_truth"
SCHEMAS: dict[str, pl.Schema] = {
    "recordings": pl.Schema(
        {
            "center": pl.String,
            "date": pl.String,
            "recording_id": pl.String,
            "episode_id": pl.String,
            "station": pl.String,
            "robot_serial": pl.String,
            "operator_id": pl.String,
            "task_code": pl.String,
            "grasp_hand": pl.String,
            "start_ns": pl.Int64,
            "duration_s": pl.Float64,
            "duration_scale": pl.Float64,
            "true_outcome": pl.String,
            "true_failure_reason": pl.String,
            "hold_s": pl.Float64,
            "emergency_stop_ns": pl.Int64,
            "operator_mark": pl.String,
            "operator_mark_status": pl.String,
            "file_fault": pl.String,
            "missing_stream": pl.String,
            "sim_profile": pl.String,
            "seed": pl.Int64,
        }
    ),
    "faults": pl.Schema(
        {
            "center": pl.String(),
            "recording_id": pl.String(),
            "fault_id": pl.String(),
            "kind": pl.String(),
            "stream": pl.String(),
            "channels": pl.List(pl.String),
            "start_ns": pl.Int64(),
            "end_ns": pl.Int64(),
            "magnitude": pl.Float64(),
        }
    ),
    "clocks": pl.Schema(
        {
            "center": pl.String,
            "recording_id": pl.String,
            "stream": pl.String,
            "clock": pl.String,
            "offset_ns": pl.Int64,
            "drift_ppm": pl.Float64,
            "reference_ns": pl.Int64,
        }
    ),
    "noise": pl.Schema(
        {
            "center": pl.String,
            "recording_id": pl.String,
            "position_sigma_rad": pl.Float64,
            "velocity_sigma_rad_s": pl.Float64,
            "acceleration_sigma_rad_s2": pl.Float64,
            "effort_sigma_nm": pl.Float64,
            "hand_state_sigma": pl.Float64,
            "joint_stamp_sigma_s": pl.Float64,
            "stream_100hz_stamp_sigma_s": pl.Float64,
            "vr_stamp_sigma_s": pl.Float64,
            "camera_stamp_sigma_s": pl.Float64,
        }
    ),
}
SORT_KEYS = {
    "recordings": ["center", "recording_id"],
    "faults": ["center", "recording_id", "fault_id"],
    "clocks": ["center", "recording_id", "stream"],
    "noise": ["center", "recording_id"],
}


def _hold_s(ep: EpisodeData) -> float | None:
    """How long the hand really held the object (None when it never did)."""
    story, tl = ep.story, ep.story.timeline
    if not story.grasp_holds_object or tl.motion_end_s <= tl.grasp_closed_s:
        return None
    end_s = min(tl.release_s, tl.duration_s, tl.motion_end_s)
    if tl.drop_s is not None:
        end_s = min(end_s, tl.drop_s)
    return round(end_s - tl.grasp_closed_s, 6)


def truth_rows(
    ep: EpisodeData,
    *,
    center: str,
    date: str,
    recording_id: str,
    station: str,
    robot_serial: str,
    operator_id: str,
    duration_scale: float,
    sim: SimulationProfile,
    seed: int,
) -> dict[str, list[dict[str, Any]]]:
    """Rows of every truth table for one episode."""
    story, tl = ep.story, ep.story.timeline
    recording = {
        "center": center,
        "date": date,
        "recording_id": recording_id,
        "episode_id": episode_id_for(center, recording_id),
        "station": station,
        "robot_serial": robot_serial,
        "operator_id": operator_id,
        "task_code": story.task.code,
        "grasp_hand": story.task.grasp_hand,
        "start_ns": ep.start_ns,
        "duration_s": round(tl.duration_s, 9),
        "duration_scale": duration_scale,
        "true_outcome": story.true_outcome,
        "true_failure_reason": story.failure_reason,
        "hold_s": _hold_s(ep),
        "emergency_stop_ns": None if tl.estop_s is None else ep.start_ns + round(tl.estop_s * 1e9),
        "operator_mark": story.operator_mark,
        "operator_mark_status": story.operator_mark_status,
        "file_fault": story.file_fault,
        "missing_stream": story.missing_stream,
        "sim_profile": sim.name,
        "seed": seed,
    }
    faults = [
        {
            "center": center,
            "recording_id": recording_id,
            "fault_id": f"{recording_id}-f{i:03d}",
            "kind": f.kind,
            "stream": f.stream,
            "channels": list(f.channels),
            "start_ns": f.start_ns,
            "end_ns": f.end_ns,
            "magnitude": f.magnitude_rad,
        }
        for i, f in enumerate(ep.faults)
    ]
    clocks = [
        {
            "center": center,
            "recording_id": recording_id,
            "stream": name,
            "clock": s.clock,
            "offset_ns": story.clock_offset_ns if s.clock == "operator" else 0,
            "drift_ppm": story.clock_drift_ppm if s.clock == "operator" else 0.0,
            "reference_ns": ep.start_ns,
        }
        for name, s in ep.streams.items()
    ]
    m, j = sim.motion, sim.jitter
    noise = {
        "center": center,
        "recording_id": recording_id,
        "position_sigma_rad": ep.position_noise_rad,
        "velocity_sigma_rad_s": m.velocity_noise_rad_s,
        "acceleration_sigma_rad_s2": m.acceleration_noise_rad_s2,
        "effort_sigma_nm": m.effort_noise_nm,
        "hand_state_sigma": m.hand_state_noise,
        "joint_stamp_sigma_s": j.joint_stamp_sigma_s,
        "stream_100hz_stamp_sigma_s": j.stream_100hz_stamp_sigma_s,
        "vr_stamp_sigma_s": j.vr_stamp_sigma_s,
        "camera_stamp_sigma_s": j.camera_stamp_sigma_s,
    }
    return {"recordings": [recording], "faults": faults, "clocks": clocks, "noise": [noise]}


def merge_truth(out_dir: str | os.PathLike[str], rows: dict[str, list[dict[str, Any]]]) -> None:
    """Rewrite ``<out>/_truth/<table>.parquet`` with old rows plus ``rows``.

    Rows of a (center, recording_id) present in ``rows`` replace the old ones.
    """
    truth_dir = Path(out_dir) / TRUTH_DIR
    truth_dir.mkdir(parents=True, exist_ok=True)
    new_keys = pl.DataFrame(
        [(r["center"], r["recording_id"]) for r in rows.get("recordings", [])],
        schema={"center": pl.String, "recording_id": pl.String},
        orient="row",
    )
    for table, schema in SCHEMAS.items():
        new = pl.DataFrame(rows.get(table, []), schema=schema)
        path = truth_dir / f"{table}.parquet"
        if path.exists():
            old = pl.read_parquet(path).join(new_keys, on=["center", "recording_id"], how="anti")
            new = pl.concat([old.select(list(schema)).cast(schema), new])
        new.sort(SORT_KEYS[table]).write_parquet(path)
