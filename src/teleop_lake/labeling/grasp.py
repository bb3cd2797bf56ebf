"""The grasp predicate on a hand's closure over time (0 open .. 1 closed).

The hand's closure is the mean over its finger joints. Around an object the fingers close and
stop short; with nothing in the hand they close fully; an object that slips out lets the
fingers jump on to full closure. So, per hand:

- **held**: the closure stays inside the stop-short band (``hold_band``) for at least the task's
  ``hold_min_s`` -> success evidence;
- **dropped**: it stops inside the band for at least ``min_stop_s`` but less than ``hold_min_s``
  and then reaches ``full_closure`` within ``jump_window_s`` -> object_dropped;
- **missed**: it reaches ``full_closure`` without such a stop -> grasp_missed;
- **no_grasp**: it never closes into the band or beyond -> task_incomplete evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

GraspOutcome = Literal["held", "dropped", "missed", "no_grasp"]


@dataclass(frozen=True)
class GraspParams:
    hold_band: tuple[float, float] = (0.45, 0.85)
    """Closure of fingers stopped by an object (task rules of the network's SOP)."""
    full_closure: float = 0.95
    """Closure of an empty fist."""
    min_stop_s: float = 0.2
    """Shortest time in the band that counts as having stopped on something (a closing hand
    passes the band in well under 0.2 s)."""
    jump_window_s: float = 0.5
    """A drop shows as full closure within this long after leaving the band."""


@dataclass(frozen=True)
class GraspEvidence:
    outcome: GraspOutcome
    longest_hold_s: float
    max_closure: float

    def describe(self, hand: str) -> str:
        return (
            f"{hand} hand {self.outcome}: longest stop in band {self.longest_hold_s:.2f} s, "
            f"max closure {self.max_closure:.2f}"
        )


def grasp_evidence(
    t_ns: np.ndarray, closure: np.ndarray, hold_min_s: float, params: GraspParams
) -> GraspEvidence:
    """Classify one hand's closure trace (``closure`` 1-D, mean over the hand's joints)."""
    if len(t_ns) == 0:
        return GraspEvidence("no_grasp", 0.0, float("nan"))
    lo, hi = params.hold_band
    in_band = (closure >= lo) & (closure <= hi)
    padded = np.r_[False, in_band, False].astype(np.int8)
    starts = np.flatnonzero(np.diff(padded) == 1)
    ends = np.flatnonzero(np.diff(padded) == -1) - 1  # inclusive
    durations = (t_ns[ends] - t_ns[starts]) / 1e9 if len(starts) else np.zeros(0)
    longest = float(durations.max()) if len(durations) else 0.0
    max_closure = float(np.max(closure))
    if longest >= hold_min_s:
        return GraspEvidence("held", longest, max_closure)
    full = closure >= params.full_closure
    for end, dur in zip(ends, durations, strict=True):
        if dur < params.min_stop_s or end + 1 >= len(t_ns):
            continue
        after = (t_ns > t_ns[end]) & (t_ns <= t_ns[end] + params.jump_window_s * 1e9)
        if np.any(full & after):
            return GraspEvidence("dropped", longest, max_closure)
    if full.any():
        return GraspEvidence("missed", longest, max_closure)
    return GraspEvidence("no_grasp", longest, max_closure)
