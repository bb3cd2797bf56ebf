"""Alignment: estimate the operator clock against the robot clock, put every stream on the
robot clock, and resample onto the training grid.

Pure transforms over numpy arrays and canonical streams: no IO, no orchestration.
"""

from teleop_lake.alignment.clock_model import (
    ClockEstimate,
    operator_to_robot_ns,
    robot_to_operator_ns,
    stream_to_robot_clock,
)
from teleop_lake.alignment.envelope import EnvelopeFit, estimate_by_envelope
from teleop_lake.alignment.operator_clock import estimate_operator_clock
from teleop_lake.alignment.params import AlignmentParams
from teleop_lake.alignment.resample import (
    Resampled,
    grid_times,
    nearest_index,
    resample_linear,
    resample_previous,
    slerp_quaternions,
)
from teleop_lake.alignment.xcorr import LagFit, estimate_by_xcorr

__all__ = [
    "AlignmentParams",
    "ClockEstimate",
    "EnvelopeFit",
    "LagFit",
    "Resampled",
    "estimate_by_envelope",
    "estimate_by_xcorr",
    "estimate_operator_clock",
    "grid_times",
    "nearest_index",
    "operator_to_robot_ns",
    "resample_linear",
    "resample_previous",
    "robot_to_operator_ns",
    "slerp_quaternions",
    "stream_to_robot_clock",
]
