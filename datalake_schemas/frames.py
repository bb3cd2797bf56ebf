"""The frames table: the aligned training grid, one row per tick on the robot clock.

Columns (units in the names):
- ``episode_id``, ``frame_index`` (0-based within the episode), ``t_ns`` (robot
  clock, UTC epoch ns), ``t_rel_s`` (seconds since the episode's first tick);
- observations ``obs.position_rad.<joint>``, ``obs.velocity_rad_s.<joint>``,
  ``obs.effort_n_m.<joint>`` (velocity and effort null where the robot's firmware left the field
  unpopulated: see the episode's channel statuses), ``obs.hand_closure.<hand joint>`` (0 open ..
  1 closed) on robots with dexterous hands, or ``obs.gripper_closure.<claw>`` and
  ``obs.gripper_state_code.<claw>`` (the claw's own code: -1 error, 0 unknown, 1 moving,
  2 reached, 3 grabbed) on robots with claws; ``obs.head_position_m.{x,y,z}``,
  ``obs.head_orientation.{qx,qy,qz,qw}``; end-effector and head columns are null where the rig
  records no such stream;
- actions ``action.target_rad.<joint>`` (robot command), ``action.arm_target_rad.<arm
  joint>`` (the exoskeleton's command, on the robot clock), ``action.hand_closure.<hand joint>``
  or ``action.gripper_closure.<claw>``;
- ``camera.<name>.frame_index``: the nearest frame of that camera (-1: none): its number in
  the camera stream as delivered, a row of the segment's ``cameras/<name>.parquet`` (the JPEG
  bytes as recorded); ``camera.<name>.offset_ms``: that frame's capture instant minus the row's
  time (null where none);
- per-row quality flags ``flag.*`` and ``alignment_residual_ms``.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

FRAME_FLAG_COLUMNS = (
    "flag.interpolated",
    "flag.repaired",
    "flag.dropout",
    "flag.frozen",
    "flag.limit_violation",
)

FLAG_DOCS: dict[str, str] = {
    "flag.interpolated": "a value of the row was filled in across a short gap (dropout)",
    "flag.repaired": "a spike was replaced by its neighbours' trend (the raw value is in "
    "findings.parquet)",
    "flag.dropout": "a stream delivered nothing here; values are interpolated or null",
    "flag.frozen": "a channel repeated one value longer than its noise allows (a stuck sensor)",
    "flag.limit_violation": "a joint is past its position, velocity or implied-velocity limit; "
    "values kept as read",
}
"""What each per-row quality flag means; a flag is true when any channel of the row has it."""

FRAME_FIXED_COLUMNS: dict[str, tuple[str, str]] = {
    "episode_id": ("", "the episode (episodes.parquet)"),
    "frame_index": ("", "0-based row within the episode"),
    "t_ns": ("ns", "grid instant on the robot clock, UTC epoch nanoseconds"),
    "t_rel_s": ("s", "seconds since the episode's first row"),
    "alignment_residual_ms": (
        "ms",
        "how far the operator streams' clock estimate may be off at this row",
    ),
}
"""name -> (unit, meaning) of the columns every frames table has (flags aside)."""


FRAME_FAMILIES: dict[str, tuple[str, str, str]] = {
    "obs.position_rad": ("rad", "joint position the robot measured", "joint_state.position_rad"),
    "obs.velocity_rad_s": (
        "rad/s",
        "joint velocity the robot measured (null where its firmware leaves it unpopulated)",
        "joint_state.velocity_rad_s",
    ),
    "obs.effort_n_m": (
        "N*m",
        "joint torque the robot measured, in newton-metres (null where unpopulated)",
        "joint_state.effort_n_m",
    ),
    "obs.hand_closure": (
        "1",
        "dexterous hand finger closure, 0 open .. 1 closed",
        "hand_state.closure",
    ),
    "obs.gripper_closure": ("1", "claw closure, 0 open .. 1 closed", "hand_state.closure"),
    "obs.gripper_state_code": (
        "code",
        "the claw's own state: -1 error, 0 unknown, 1 moving, 2 reached, 3 grabbed",
        "hand_state.state_code",
    ),
    "obs.head_position_m": ("m", "VR headset position", "head_pose.position_m"),
    "obs.head_orientation": (
        "1",
        "VR headset orientation, unit quaternion (qx, qy, qz, qw)",
        "head_pose.orientation",
    ),
    "action.target_rad": (
        "rad",
        "joint command sent to the robot",
        "joint_command.target_rad",
    ),
    "action.arm_target_rad": (
        "rad",
        "the exoskeleton's arm target, moved onto the robot clock",
        "arm_target.target_rad",
    ),
    "action.hand_closure": (
        "1",
        "hand closure command, 0 open .. 1 closed",
        "hand_command.closure",
    ),
    "action.gripper_closure": (
        "1",
        "claw closure command, 0 open .. 1 closed",
        "hand_command.closure",
    ),
}
"""Column families ``<family>.<channel>``: family -> (unit, meaning, source
``<stream>.<quantity>`` as robot models name their required channels)."""

CAMERA_COLUMNS: dict[str, tuple[str, str]] = {
    "frame_index": (
        "",
        "the camera's nearest frame (-1: none), a row of cameras/<name>.parquet",
    ),
    "offset_ms": ("ms", "that frame's capture instant minus the row's time (null where none)"),
}
"""``camera.<name>.<suffix>``: suffix -> (unit, meaning)."""


def _t_strictly_increasing(data: pa.PolarsData) -> pl.LazyFrame:
    """Within each episode, t_ns strictly increases with frame_index."""
    return data.lazyframe.select(
        (pl.col("t_ns").diff().over("episode_id").fill_null(1) > 0).alias("t_ns_increasing")
    )


def _frame_index_contiguous(data: pa.PolarsData) -> pl.LazyFrame:
    """frame_index runs 0, 1, 2, ... within each episode."""
    return data.lazyframe.select(
        (pl.col("frame_index") == pl.int_range(pl.len()).over("episode_id")).alias("contiguous")
    )


def _floats_finite(data: pa.PolarsData) -> pl.LazyFrame:
    """No float column holds an infinity or NaN (null marks what is missing, never NaN)."""
    lf = data.lazyframe
    floats = [c for c, t in lf.collect_schema().items() if t in (pl.Float32, pl.Float64)]
    if not floats:
        return lf.select(pl.lit(True).alias("finite"))
    return lf.select(
        pl.all_horizontal([pl.col(c).is_finite().fill_null(True) for c in floats]).alias("finite")
    )


def frames_schema() -> pa.DataFrameSchema:
    """The Pandera model of a batch of frames (several episodes concatenated)."""
    return pa.DataFrameSchema(
        {
            "episode_id": pa.Column(pl.String, nullable=False),
            "frame_index": pa.Column(pl.Int32, pa.Check.ge(0)),
            "t_ns": pa.Column(pl.Int64, pa.Check.gt(946_684_800_000_000_000)),  # after 2000-01-01
            "t_rel_s": pa.Column(pl.Float64, pa.Check.ge(0.0)),
            r"^obs\.position_rad\..+$": pa.Column(pl.Float32, nullable=False, regex=True),
            r"^obs\.(velocity_rad_s|effort_n_m)\..+$": pa.Column(
                pl.Float32, nullable=True, regex=True
            ),
            r"^obs\.(hand|gripper)_closure\..+$": pa.Column(
                pl.Float32,
                pa.Check.in_range(-0.05, 1.05),
                nullable=True,
                regex=True,
                required=False,
            ),
            r"^obs\.gripper_state_code\..+$": pa.Column(
                pl.Float32, pa.Check.in_range(-1.0, 3.0), nullable=True, regex=True, required=False
            ),
            r"^obs\.head_(position_m|orientation)\..+$": pa.Column(
                pl.Float32, nullable=True, regex=True
            ),
            r"^action\.(target_rad|arm_target_rad)\..+$": pa.Column(
                pl.Float32, nullable=True, regex=True
            ),
            r"^action\.(hand|gripper)_closure\..+$": pa.Column(
                pl.Float32,
                pa.Check.in_range(-0.05, 1.05),
                nullable=True,
                regex=True,
                required=False,
            ),
            r"^camera\..+\.frame_index$": pa.Column(
                pl.Int32, pa.Check.ge(-1), regex=True, required=False
            ),
            r"^camera\..+\.offset_ms$": pa.Column(
                pl.Float32, nullable=True, regex=True, required=False
            ),
            **{name: pa.Column(pl.Boolean, nullable=False) for name in FRAME_FLAG_COLUMNS},
            "alignment_residual_ms": pa.Column(pl.Float32, nullable=True),
        },
        checks=[
            pa.Check(_t_strictly_increasing, name="t_ns_strictly_increasing"),
            pa.Check(_frame_index_contiguous, name="frame_index_contiguous"),
            pa.Check(_floats_finite, name="values_finite"),
        ],
        strict=False,
        name="frames",
    )
