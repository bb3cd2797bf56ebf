"""The ``grasp_hold_release`` success predicate on one hand's closure over time (0 open .. 1 fist).

The task catalog declares the predicate's numbers per task (`teleop_lake.config.tasks.SuccessPredicate`:
the stop-short ``closure_band``, ``full_closure``, ``open_below``, ``release_required``, and the
task's ``hold_min_s``); `GraspParams` holds how the trace is read (how long a stop must last to
count, how soon a slip shows). The hand's closure is the mean over its finger joints.

Around an object the fingers close and stop short inside the band. Each such *stop* (a run in
the band lasting at least ``min_stop_s``) ends in one of four ways:

- **rise**: within ``jump_window_s`` the closure climbs above the band: the object slipped out
  and the fingers closed on nothing (a drop; seen even when the operator opens at once, because
  the fingers first close on the empty space) -> ``dropped``;
- **release**: the hand opens below ``open_below`` -> ``held`` when the stop lasted at least
  ``hold_min_s``, else ``dropped`` (let go before the hold was complete);
- **end**: the recording ends inside the band -> ``not_released`` (the attempt was cut short
  while holding), or ``held`` when the task does not require a release and the hold is long
  enough;
- otherwise (left the band downwards without opening) -> ``not_released``.

A hand with any held stop is ``held``; else ``not_released``, ``dropped``, ``missed`` (it
reached ``full_closure`` without a stop) or ``no_grasp`` (it never closed on anything), in this
order. ``margin`` is how far the deciding measurement is from its threshold, as a fraction of
it (small = borderline evidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from teleop_lake.config.tasks import SuccessPredicate

GraspOutcome = Literal["held", "not_released", "dropped", "missed", "no_grasp"]


@dataclass(frozen=True)
class GraspParams:
    """How a closure trace is read (the thresholds themselves are in the task catalog)."""

    min_stop_s: float = 0.2
    """Shortest time in the band that counts as a stop on something: a closing hand crosses
    the band in ~0.1 s (a 0.5 s minimum-jerk close), so 0.2 s is twice that."""
    jump_window_s: float = 0.6
    """A slip shows as a climb above the band within this long after the stop: the fingers
    close with a ~60 ms lag, so a slip reaches the band top in well under 0.3 s."""


@dataclass(frozen=True)
class GraspEvidence:
    outcome: GraspOutcome
    longest_hold_s: float
    max_closure: float
    margin: float
    """Distance of the deciding measurement from its threshold, as a fraction of it."""

    def describe(self, hand: str) -> str:
        return (
            f"{hand} hand {self.outcome}: longest stop in band {self.longest_hold_s:.2f} s, "
            f"max closure {self.max_closure:.2f}"
        )


def _stops(
    t_ns: np.ndarray, closure: np.ndarray, band: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs inside the band: (first index, last index inclusive, duration s)."""
    lo, hi = band
    in_band = (closure >= lo) & (closure <= hi)
    padded = np.r_[False, in_band, False].astype(np.int8)
    starts = np.flatnonzero(np.diff(padded) == 1)
    ends = np.flatnonzero(np.diff(padded) == -1) - 1
    durations = (t_ns[ends] - t_ns[starts]) / 1e9 if len(starts) else np.zeros(0)
    return starts, ends, durations


def _stop_ending(
    t_ns: np.ndarray,
    closure: np.ndarray,
    end: int,
    predicate: SuccessPredicate,
    params: GraspParams,
) -> Literal["rise", "release", "end", "other"]:
    if end + 1 >= len(t_ns):
        return "end"
    after_t, after = t_ns[end + 1 :], closure[end + 1 :]
    soon = after_t <= t_ns[end] + params.jump_window_s * 1e9
    if np.any(after[soon] > predicate.closure_band[1]):
        return "rise"
    if np.any(after < predicate.open_below):
        return "release"
    return "other"


def grasp_evidence(
    t_ns: np.ndarray,
    closure: np.ndarray,
    hold_min_s: float,
    predicate: SuccessPredicate,
    params: GraspParams,
) -> GraspEvidence:
    """Classify one hand's closure trace (``closure`` 1-D, mean over the hand's joints)."""
    finite = np.isfinite(closure)
    t_ns, closure = t_ns[finite], closure[finite]
    if len(t_ns) == 0:
        return GraspEvidence("no_grasp", 0.0, float("nan"), 0.0)
    _, ends, durations = _stops(t_ns, closure, predicate.closure_band)
    longest = float(durations.max()) if len(durations) else 0.0
    max_closure = float(np.max(closure))
    kinds: list[tuple[GraspOutcome, float]] = []
    for end, dur in zip(ends, durations, strict=True):
        if dur < params.min_stop_s:
            continue
        ending = _stop_ending(t_ns, closure, int(end), predicate, params)
        hold_margin = abs(dur - hold_min_s) / hold_min_s
        if ending == "rise":
            kinds.append(("dropped", 1.0))
        elif ending == "release" or (ending == "end" and not predicate.release_required):
            kinds.append(("held", hold_margin) if dur >= hold_min_s else ("dropped", hold_margin))
        else:
            kinds.append(("not_released", 1.0))
    for outcome in ("held", "not_released", "dropped"):
        margins = [m for k, m in kinds if k == outcome]
        if margins:
            return GraspEvidence(outcome, longest, max_closure, max(margins))
    full = predicate.full_closure
    if max_closure >= full:
        return GraspEvidence("missed", longest, max_closure, (max_closure - full) / full)
    return GraspEvidence("no_grasp", longest, max_closure, abs(full - max_closure) / full)
