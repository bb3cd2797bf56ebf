"""The operator clock model and the mapping of operator stamps onto the robot clock.

Model (the network contract): a message sent at robot time ``s`` carries the operator stamp

    t_op = s + offset_ns + drift_ppm * 1e-6 * (s - t_ref_ns)

where ``t_ref_ns`` is the episode start on the robot clock. The inverse is exact in float64 for
the spans involved (< 2**53 ns relative to the reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import polars as pl

from teleop_lake.canonical import CameraStream, Recording, SignalStream


@dataclass(frozen=True, eq=False)
class ClockEstimate:
    """An estimated clock relation; ``resolved`` False means no method produced one."""

    offset_ns: int
    drift_ppm: float
    t_ref_ns: int
    uncertainty_ms: float
    method: str
    resolved: bool = True
    correlation: float | None = None
    residual_t_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    residual_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Per-window residuals of the lag fit (robot time of the window centre, ms)."""

    @classmethod
    def identity(cls, t_ref_ns: int) -> ClockEstimate:
        return cls(0, 0.0, t_ref_ns, 0.0, "reference")

    @classmethod
    def unresolved(cls, t_ref_ns: int, why: str) -> ClockEstimate:
        return cls(0, 0.0, t_ref_ns, float("nan"), f"unresolved: {why}", resolved=False)


def operator_to_robot_ns(t_op_ns: np.ndarray, clock: ClockEstimate) -> np.ndarray:
    """Robot-clock times of operator stamps under ``clock`` (int64 ns)."""
    rel = (np.asarray(t_op_ns, dtype=np.int64) - clock.t_ref_ns - clock.offset_ns).astype(
        np.float64
    )
    return clock.t_ref_ns + np.rint(rel / (1.0 + clock.drift_ppm * 1e-6)).astype(np.int64)


def robot_to_operator_ns(t_robot_ns: np.ndarray, clock: ClockEstimate) -> np.ndarray:
    """Operator stamps of robot-clock times under ``clock`` (the forward model)."""
    rel = (np.asarray(t_robot_ns, dtype=np.int64) - clock.t_ref_ns).astype(np.float64)
    shift = np.rint(rel * (1.0 + clock.drift_ppm * 1e-6)).astype(np.int64)
    return clock.t_ref_ns + clock.offset_ns + shift


StreamT = TypeVar("StreamT", SignalStream, CameraStream)


def stream_to_robot_clock(stream: StreamT, clock: ClockEstimate) -> StreamT:
    """The stream with its stamps on the robot clock. Robot-clock streams come back unchanged,
    so applying it twice changes nothing."""
    if stream.clock == "robot":
        return stream
    return replace(stream, clock="robot", t_ns=operator_to_robot_ns(stream.t_ns, clock))


def clocks_frame(recording: Recording, clock: ClockEstimate) -> pl.DataFrame:
    """One row per stream: its clock and how it was put on the robot clock."""
    rows: list[dict[str, Any]] = []
    streams = [(n, s.clock) for n, s in recording.signals.items()]
    streams += [(n, c.clock) for n, c in recording.cameras.items()]
    for name, on in sorted(streams):
        if on == "robot":
            rows.append(
                {
                    "stream": name,
                    "clock": on,
                    "offset_ns": 0,
                    "drift_ppm": 0.0,
                    "uncertainty_ms": 0.0,
                    "method": "reference",
                }
            )
        else:
            rows.append(
                {
                    "stream": name,
                    "clock": on,
                    "offset_ns": clock.offset_ns if clock.resolved else None,
                    "drift_ppm": clock.drift_ppm if clock.resolved else None,
                    "uncertainty_ms": clock.uncertainty_ms if clock.resolved else None,
                    "method": clock.method,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "stream": pl.String,
            "clock": pl.String,
            "offset_ns": pl.Int64,
            "drift_ppm": pl.Float64,
            "uncertainty_ms": pl.Float64,
            "method": pl.String,
        },
    )
