"""Alignment: estimate the operator clock against the robot clock, put every stream on the
robot clock, and resample onto the training grid.

Pure transforms over numpy arrays and canonical streams: no IO, no orchestration.

Names are imported on first use (`teleop_lake.lazy_names`): the nightly flow's process needs
the parameter dataclasses, not scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teleop_lake.lazy_names import lazy_getattr

if TYPE_CHECKING:
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

_EXPORTS = {
    "ClockEstimate": "teleop_lake.alignment.clock_model",
    "operator_to_robot_ns": "teleop_lake.alignment.clock_model",
    "robot_to_operator_ns": "teleop_lake.alignment.clock_model",
    "stream_to_robot_clock": "teleop_lake.alignment.clock_model",
    "EnvelopeFit": "teleop_lake.alignment.envelope",
    "estimate_by_envelope": "teleop_lake.alignment.envelope",
    "estimate_operator_clock": "teleop_lake.alignment.operator_clock",
    "AlignmentParams": "teleop_lake.alignment.params",
    "Resampled": "teleop_lake.alignment.resample",
    "grid_times": "teleop_lake.alignment.resample",
    "nearest_index": "teleop_lake.alignment.resample",
    "resample_linear": "teleop_lake.alignment.resample",
    "resample_previous": "teleop_lake.alignment.resample",
    "slerp_quaternions": "teleop_lake.alignment.resample",
    "LagFit": "teleop_lake.alignment.xcorr",
    "estimate_by_xcorr": "teleop_lake.alignment.xcorr",
}

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

__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
