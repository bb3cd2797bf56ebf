"""Ground truth of a simulated network: what really happened, as Parquet under ``<out>/_truth/``.

Row builders (pure) turn an episode into truth rows; `merge_truth` (IO) rewrites each
table with the old rows plus the new ones, replacing rows of re-simulated recordings
(columns an older truth lacks are null there). The tables and their columns are documented
in docs/TRUTH.md; the pipeline never reads them, only evaluation does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from teleop_lake.canonical import STREAM_JOINT_STATE
from teleop_lake.config.centers import CenterProfile
from teleop_lake.network.identity import episode_id_for
from teleop_lake.simulate.episode import EpisodeData
from teleop_lake.simulate.params import SimulationProfile
from teleop_lake.simulate.rig import end_effector_state_topic
from teleop_lake.simulate.streams import other_clock

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
            "eef_type": pl.String,
            "end_effector": pl.String,
            "hand_state_topic": pl.String,
            "velocity_populated": pl.Boolean,
            "effort_populated": pl.Boolean,
            "effort_field": pl.String,
            "rosbag2_compression": pl.String,
            "mcap_storage": pl.String,
            "control_latency_ms": pl.Float64,
            "clock_mismatch_stream": pl.String,
            "clock_mismatch_actual_clock": pl.String,
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
            "scope": pl.String(),
            "moving": pl.Boolean(),
        }
    ),
    "clocks": pl.Schema(
        {
            "center": pl.String,
            "recording_id": pl.String,
            "stream": pl.String,
            "clock": pl.String,
            "declared_clock": pl.String,
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
            "joint_rate_hz": pl.Float64,
            "arm_target_rate_hz": pl.Float64,
            "hand_command_rate_hz": pl.Float64,
            "hand_state_rate_hz": pl.Float64,
            "head_pose_rate_hz": pl.Float64,
            "camera_rate_hz": pl.Float64,
            "transport_delay_min_s": pl.Float64,
            "transport_delay_max_s": pl.Float64,
        }
    ),
    "at_stop": pl.Schema(
        {
            "center": pl.String,
            "recording_id": pl.String,
            "stream": pl.String,
            "channel": pl.String,
            "start_ns": pl.Int64,
            "end_ns": pl.Int64,
            "stop_rad": pl.Float64,
            "limit_rad": pl.Float64,
            "command_overdrive_rad": pl.Float64,
        }
    ),
}
SORT_KEYS = {
    "recordings": ["center", "recording_id"],
    "faults": ["center", "recording_id", "fault_id"],
    "clocks": ["center", "recording_id", "stream"],
    "noise": ["center", "recording_id"],
    "at_stop": ["center", "recording_id", "channel", "start_ns"],
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
    profile: CenterProfile,
) -> dict[str, list[dict[str, Any]]]:
    """Rows of every truth table for one episode of ``profile``'s center."""
    story, tl = ep.story, ep.story.timeline
    rig, conditions = ep.rig, ep.conditions
    mismatch = conditions.clock_mismatch_stream
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
        "eef_type": conditions.eef_type,
        "end_effector": rig.end_effector,
        "hand_state_topic": end_effector_state_topic(profile, rig),
        "velocity_populated": rig.velocity_populated,
        "effort_populated": rig.effort_populated,
        "effort_field": rig.effort_field,
        "rosbag2_compression": rig.rosbag2_compression or None,
        "mcap_storage": rig.mcap_storage or None,
        "control_latency_ms": conditions.control_latency_ms,
        "clock_mismatch_stream": mismatch,
        "clock_mismatch_actual_clock": None if mismatch is None else other_clock(mismatch),
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
            "scope": f.scope,
            "moving": f.moving,
        }
        for i, f in enumerate(ep.faults)
    ]
    clocks = [
        {
            "center": center,
            "recording_id": recording_id,
            "stream": name,
            "clock": s.clock,
            "declared_clock": s.declared_clock,
            "offset_ns": story.clock_offset_ns if s.clock == "operator" else 0,
            "drift_ppm": story.clock_drift_ppm if s.clock == "operator" else 0.0,
            "reference_ns": ep.start_ns,
        }
        for name, s in ep.streams.items()
    ]
    levels, j, rates = conditions.noise, ep.jitter, rig.rates
    noise = {
        "center": center,
        "recording_id": recording_id,
        "position_sigma_rad": levels.position_rad,
        "velocity_sigma_rad_s": levels.velocity_rad_s,
        "acceleration_sigma_rad_s2": levels.acceleration_rad_s2,
        "effort_sigma_nm": levels.effort_n_m,
        "hand_state_sigma": levels.hand_state,
        "joint_stamp_sigma_s": j.joint_stamp_sigma_s,
        "stream_100hz_stamp_sigma_s": j.stream_100hz_stamp_sigma_s,
        "vr_stamp_sigma_s": j.vr_stamp_sigma_s,
        "camera_stamp_sigma_s": j.camera_stamp_sigma_s,
        "joint_rate_hz": rates.joint_rate_hz,
        "arm_target_rate_hz": rates.arm_target_rate_hz,
        "hand_command_rate_hz": rates.hand_command_rate_hz,
        "hand_state_rate_hz": rates.hand_state_rate_hz,
        "head_pose_rate_hz": rates.head_pose_rate_hz,
        "camera_rate_hz": rates.camera_rate_hz,
        "transport_delay_min_s": j.transport_delay_min_s,
        "transport_delay_max_s": j.transport_delay_max_s,
    }
    at_stop = [
        {
            "center": center,
            "recording_id": recording_id,
            "stream": STREAM_JOINT_STATE,
            "channel": f"position_rad.{span.rest.joint}",
            "start_ns": span.start_ns,
            "end_ns": span.end_ns,
            "stop_rad": span.rest.stop_rad,
            "limit_rad": span.rest.limit_rad,
            "command_overdrive_rad": span.rest.overdrive_rad,
        }
        for span in ep.at_stop
    ]
    return {
        "recordings": [recording],
        "faults": faults,
        "clocks": clocks,
        "noise": [noise],
        "at_stop": at_stop,
    }


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
            columns = [
                pl.col(c) if c in old.columns else pl.lit(None, dtype=t).alias(c)
                for c, t in schema.items()
            ]
            new = pl.concat([old.select(columns).cast(schema), new])
        new.sort(SORT_KEYS[table]).write_parquet(path)
