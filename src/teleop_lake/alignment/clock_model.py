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

CANDIDATE_METHODS = ("xcorr", "envelope", "events")
"""The independent ways an operator clock is estimated: cross-correlation of the arm targets
with the robot's joint commands, the lower envelope of the receive stamps, and events logged on
both clocks (no delivery format carries those yet; the columns stay null)."""

CLOCK_STATUSES = ("reference", "resolved", "disagreement", "unresolved")
"""``reference``: no stream needed mapping; ``resolved``: the candidates agree (or one alone);
``disagreement``: they do not, and the uncertainty covers all of them; ``unresolved``: none."""


@dataclass(frozen=True)
class ClockCandidate:
    """One estimate of the operator clock: ``t_op = s + offset + drift * 1e-6 * (s - t_ref)``.

    ``uncertainty_ms`` is the half-width of the interval that holds the true offset at
    ``t_ref_ns`` (a 95% bound: what the estimate's own errors and its assumptions allow);
    ``streams`` the streams it was computed from."""

    method: str
    offset_ns: float
    drift_ppm: float
    uncertainty_ms: float
    t_ref_ns: int
    streams: tuple[str, ...]

    @property
    def low_ns(self) -> float:
        return self.offset_ns - self.uncertainty_ms * 1e6

    @property
    def high_ns(self) -> float:
        return self.offset_ns + self.uncertainty_ms * 1e6


@dataclass(frozen=True, eq=False)
class ClockEstimate:
    """An estimated clock relation; ``resolved`` False means no method produced one.

    ``uncertainty_ms`` is a 95% bound on the offset at ``t_ref_ns`` (see `ClockCandidate`);
    ``candidates`` every estimate it was made from; ``status`` one of `CLOCK_STATUSES`;
    ``observed_clock`` the clock each stream's stamps are on where its receive stamps show
    another than declared (`teleop_lake.alignment.clock_domain`)."""

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
    status: str = "resolved"
    candidates: tuple[ClockCandidate, ...] = ()
    domains: tuple[Any, ...] = ()
    """`teleop_lake.alignment.clock_domain.DomainVerdict` per stream with receive stamps."""

    def candidate(self, method: str) -> ClockCandidate | None:
        return next((c for c in self.candidates if c.method == method), None)

    def observed_clock(self, stream: str, declared: str) -> str:
        """The clock ``stream``'s stamps are on (its declared one unless shown otherwise)."""
        verdict = next((d for d in self.domains if d.stream == stream), None)
        return verdict.observed if verdict is not None else declared

    @classmethod
    def identity(cls, t_ref_ns: int) -> ClockEstimate:
        return cls(0, 0.0, t_ref_ns, 0.0, "reference", status="reference")

    @classmethod
    def unresolved(
        cls,
        t_ref_ns: int,
        why: str,
        candidates: tuple[ClockCandidate, ...] = (),
        domains: tuple[Any, ...] = (),
    ) -> ClockEstimate:
        return cls(
            0,
            0.0,
            t_ref_ns,
            float("nan"),
            f"unresolved: {why}",
            resolved=False,
            status="unresolved",
            candidates=candidates,
            domains=domains,
        )


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
    """One row per stream: the clock its profile declares, the clock its stamps are on
    (``clock``), and how it was put on the robot clock."""
    rows: list[dict[str, Any]] = []
    streams = [(n, s.clock) for n, s in recording.signals.items()]
    streams += [(n, c.clock) for n, c in recording.cameras.items()]
    for name, declared in sorted(streams):
        on = clock.observed_clock(name, declared)
        mapped = on == "operator" and clock.resolved
        rows.append(
            {
                "stream": name,
                "clock": on,
                "declared_clock": declared,
                "observed_clock": on,
                "offset_ns": clock.offset_ns if mapped else (0 if on == "robot" else None),
                "drift_ppm": clock.drift_ppm if mapped else (0.0 if on == "robot" else None),
                "uncertainty_ms": clock.uncertainty_ms
                if mapped
                else (0.0 if on == "robot" else None),
                "method": clock.method if on == "operator" else "reference",
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "stream": pl.String,
            "clock": pl.String,
            "declared_clock": pl.String,
            "observed_clock": pl.String,
            "offset_ns": pl.Int64,
            "drift_ppm": pl.Float64,
            "uncertainty_ms": pl.Float64,
            "method": pl.String,
        },
    )
