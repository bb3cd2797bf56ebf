"""Building an episode's training grid from its streams on the robot clock (a processing stage).

Every stream is resampled onto the grid ticks with its per-row flags; cameras are matched to
their nearest frame; channels never populated are null. The columns are those of
``datalake_schemas.frames``; the end effector names its closure columns (``hand_closure`` for
dexterous hands, ``gripper_closure`` and ``gripper_state_code`` for claws). No IO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from teleop_lake.alignment import ClockEstimate, grid_times, stream_to_robot_clock
from teleop_lake.alignment.frames import FrameColumns, GridStream, frames_frame
from teleop_lake.canonical import (
    STREAM_ARM_TARGET,
    STREAM_HAND_COMMAND,
    STREAM_HAND_STATE,
    STREAM_HEAD_POSE,
    STREAM_JOINT_COMMAND,
    STREAM_JOINT_STATE,
    Recording,
)
from teleop_lake.cleaning import CameraCheck, CleaningParams, check_camera_stream
from teleop_lake.config.robots import RobotModel
from teleop_lake.episode_stages import HEAD_ORIENTATION, HEAD_POSITION, OnRobotClock
from teleop_lake.rejection import Reason, RecordingRejected

if TYPE_CHECKING:
    from teleop_lake.processing import ProcessingParams

REQUIRED_FOR_DROPOUT_FLAG = (
    STREAM_JOINT_STATE,
    STREAM_JOINT_COMMAND,
    STREAM_ARM_TARGET,
    STREAM_HAND_COMMAND,
    STREAM_HAND_STATE,
)
"""Streams whose gaps flag the grid rows inside them as ``flag.dropout``."""


def check_cameras(
    recording: Recording, clock: ClockEstimate, cp: CleaningParams
) -> dict[str, CameraCheck]:
    """Every camera on the robot clock, checked (`teleop_lake.cleaning.cameras`): its usable
    frames, their capture instants, and its findings. A camera on an operator clock that could
    not be estimated is left out. Nothing here decodes a frame."""
    checks: dict[str, CameraCheck] = {}
    for name, camera in sorted(recording.cameras.items()):
        if camera.clock == "operator":
            if not clock.resolved:
                continue
            camera = stream_to_robot_clock(camera, clock)
        checks[name] = check_camera_stream(camera, cp)
    return checks


def build_frames(
    recording: Recording,
    aligned: OnRobotClock,
    frozen: dict[str, np.ndarray],
    cameras: dict[str, CameraCheck],
    clock: ClockEstimate,
    robot: RobotModel,
    params: ProcessingParams,
    episode_id: str,
) -> pl.DataFrame:
    """The training grid: every stream on the robot clock resampled onto it, each camera's
    nearest frame (its number and its offset from the row), flags following the values;
    unpopulated channels null."""
    cp = params.cleaning
    js = aligned.streams[STREAM_JOINT_STATE].stream
    t_grid = grid_times(int(js.t_ns[0]), int(js.t_ns[-1]), params.grid_rate_hz)
    if len(t_grid) < 2:
        raise RecordingRejected(
            Reason(
                "too_short",
                "fewer than two grid frames",
                recording.meta.recording_id,
                STREAM_JOINT_STATE,
            )
        )
    cols = FrameColumns(t_grid, cp.interpolated_min_periods, params.alignment.edge_hold_periods)

    def grid_stream(name: str) -> GridStream | None:
        c = aligned.streams.get(name)
        if c is None:
            return None
        dropouts = (
            tuple(zip(c.gaps.start_ns.tolist(), c.gaps.end_ns.tolist(), strict=True))
            if name in REQUIRED_FOR_DROPOUT_FLAG
            else ()
        )
        return GridStream(
            name,
            c.stream.t_ns,
            c.stream.channels,
            c.stream.values,
            c.period_ns,
            c.spike,
            c.limit,
            frozen.get(name),
            dropouts,
            c.unpopulated if c.unpopulated.any() else None,  # null in the frames, not zeros
        )

    joints, arms = robot.joint_names, robot.arm_joint_names
    kind = str(recording.meta.extra.get("end_effector", "hand"))
    eef = robot.end_effector_joints(kind)
    closure_column = "hand_closure" if kind == "hand" else "gripper_closure"
    state = grid_stream(STREAM_JOINT_STATE)
    cols.add_stream(
        state,
        [
            (f"{q}.{j}", f"obs.{q}.{j}")
            for q in ("position_rad", "velocity_rad_s", "effort_n_m")
            for j in joints
        ],
    )
    hand_state = grid_stream(STREAM_HAND_STATE)
    cols.add_stream(hand_state, [(f"closure.{h}", f"obs.{closure_column}.{h}") for h in eef])
    if hand_state is not None and any(c.startswith("state_code.") for c in hand_state.channels):
        cols.add_stream(
            hand_state,
            [(f"state_code.{h}", f"obs.gripper_state_code.{h}") for h in eef],
            method="previous",
        )
    head = grid_stream(STREAM_HEAD_POSE)
    cols.add_stream(head, [(c, f"obs.head_position_m.{c[-1]}") for c in HEAD_POSITION])
    cols.add_stream(
        head,
        [(c, f"obs.head_orientation.{c.partition('.')[2]}") for c in HEAD_ORIENTATION],
        method="slerp",
    )
    cols.add_stream(
        grid_stream(STREAM_JOINT_COMMAND),
        [(f"target_rad.{j}", f"action.target_rad.{j}") for j in joints],
    )
    cols.add_stream(
        grid_stream(STREAM_ARM_TARGET),
        [(f"target_rad.{j}", f"action.arm_target_rad.{j}") for j in arms],
    )
    cols.add_stream(
        grid_stream(STREAM_HAND_COMMAND),
        [(f"closure.{h}", f"action.{closure_column}.{h}") for h in eef],
        method="previous",
    )

    for name, check in sorted(cameras.items()):
        if np.isfinite(check.period_ns):
            cols.add_camera(
                name,
                check.t_capture_ns,
                check.frame_index,
                check.period_ns,
                params.alignment.max_camera_distance_periods,
            )

    residual = np.full(len(t_grid), np.nan, dtype=np.float32)
    if clock.resolved and len(clock.residual_t_ns):
        residual[:] = np.interp(t_grid, clock.residual_t_ns, np.abs(clock.residual_ms))
    return frames_frame(episode_id, t_grid, cols, residual)
