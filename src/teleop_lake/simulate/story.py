"""The story of one simulated episode: what was attempted, what really happened, when.

A `Story` is drawn from a numpy Generator before any signal exists: the task, the true
outcome and failure reason, the phase timeline (reach, grasp, hold, release, retreat),
the operator clock error, the operator's mark and the file fault. Motion and bag writing
only follow the story; the ground truth is read off it. Pure: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from teleop_lake.config.tasks import TaskSpec
from teleop_lake.simulate.params import FAILURE_REASONS, ClockRange, SimulationProfile

# Fixed parts of the phase timeline, seconds (a trained operator's rhythm in the SOP videos).
IDLE_START_S = 0.3
GRASP_CLOSE_S = 0.5
RELEASE_OPEN_S = 0.4
IDLE_END_S = 0.3
MIN_REACH_S = 0.8
MIN_RETREAT_S = 0.8
# A successful hold lasts at least this multiple of the task's hold_min_s.
HOLD_MARGIN = 1.15
# Timeouts last this multiple of the catalog's timeout_s (well beyond it).
TIMEOUT_FACTOR = (1.25, 1.6)
# Successful and ordinary failed attempts last this multiple of the expected duration.
DURATION_FACTOR = (0.85, 1.2)


@dataclass(frozen=True)
class Timeline:
    """Phase boundaries in seconds from the recording start (robot clock)."""

    reach_start_s: float
    grasp_start_s: float
    grasp_closed_s: float
    release_s: float
    retreat_start_s: float
    retreat_end_s: float
    duration_s: float
    # Failure-specific instants (None when the story has none).
    drop_s: float | None = None
    miss_open_s: float | None = None
    estop_s: float | None = None
    robot_fault_s: float | None = None
    abort_s: float | None = None

    @property
    def motion_end_s(self) -> float:
        """When the robot stops following the operator (e-stop), else the end."""
        return self.estop_s if self.estop_s is not None else self.duration_s


@dataclass(frozen=True)
class Story:
    """What one episode is: the attempt, its true outcome, and what will go wrong around it."""

    task: TaskSpec
    true_outcome: str  # "success" | "failure"
    failure_reason: str | None
    timeline: Timeline
    operator_mark: str | None  # what the operator wrote; None when not marked
    operator_mark_status: str  # "correct" | "wrong" | "missing"
    clock_offset_ns: int
    clock_drift_ppm: float
    file_fault: str  # one of FILE_FAULTS
    missing_stream: str | None  # canonical stream name when file_fault == "missing_stream"
    grasp_holds_object: bool  # the hand closed on the object (not a miss)


def _min_duration_s(task: TaskSpec) -> float:
    return (
        IDLE_START_S
        + MIN_REACH_S
        + GRASP_CLOSE_S
        + HOLD_MARGIN * task.hold_min_s
        + RELEASE_OPEN_S
        + MIN_RETREAT_S
        + IDLE_END_S
    )


def _timeline(task: TaskSpec, planned_s: float, rng: np.random.Generator) -> Timeline:
    """Success-shaped phases filling ``planned_s`` (which is >= the task's minimum)."""
    fixed_s = IDLE_START_S + GRASP_CLOSE_S + RELEASE_OPEN_S + IDLE_END_S
    hold_min_s = HOLD_MARGIN * task.hold_min_s
    flex_s = planned_s - fixed_s - hold_min_s - MIN_REACH_S - MIN_RETREAT_S
    share = rng.dirichlet([3.0, 3.0, 2.5]) * max(flex_s, 0.0)
    reach_s = MIN_REACH_S + share[0]
    hold_s = hold_min_s + share[1]
    grasp_start = IDLE_START_S + reach_s
    grasp_closed = grasp_start + GRASP_CLOSE_S
    release = grasp_closed + hold_s
    retreat_start = release + RELEASE_OPEN_S
    retreat_end = planned_s - IDLE_END_S
    return Timeline(
        reach_start_s=IDLE_START_S,
        grasp_start_s=grasp_start,
        grasp_closed_s=grasp_closed,
        release_s=release,
        retreat_start_s=retreat_start,
        retreat_end_s=retreat_end,
        duration_s=planned_s,
    )


def _clock(clock: ClockRange, rng: np.random.Generator) -> tuple[int, float]:
    magnitude_s = rng.uniform(clock.offset_min_s, clock.offset_max_s)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    drift_ppm = (
        rng.uniform(-clock.drift_max_ppm, clock.drift_max_ppm) if clock.drift_max_ppm else 0.0
    )
    return round(sign * magnitude_s * 1e9), float(drift_ppm)


def _with_failure(
    base: Timeline, reason: str, task: TaskSpec, rng: np.random.Generator
) -> Timeline:
    """Reshape a success timeline so that the motion can carry the failure's evidence."""
    tl = base
    if reason == "grasp_missed":
        # The fingers close on nothing; the operator notices and opens again.
        miss_open = tl.grasp_closed_s + rng.uniform(0.5, 1.0)
        return replace(tl, miss_open_s=min(miss_open, tl.release_s))
    if reason == "object_dropped":
        # The object slips out before the hold could have lasted hold_min_s.
        drop = tl.grasp_closed_s + rng.uniform(0.2, 0.8) * task.hold_min_s
        return replace(tl, drop_s=drop)
    if reason == "emergency_stop":
        estop = rng.uniform(0.3, 0.8) * tl.duration_s
        end = estop + rng.uniform(1.0, 2.5)
        fault = estop - rng.uniform(0.1, 0.3) if rng.random() < 0.3 else None
        return replace(tl, estop_s=estop, robot_fault_s=fault, duration_s=end)
    if reason == "task_incomplete":
        # The recording stops while the hand still holds the object, before any release.
        hold_s = tl.release_s - tl.grasp_closed_s
        end = tl.release_s - rng.uniform(0.1, 0.4) * hold_s
        abort = end - rng.uniform(0.05, 0.3) if rng.random() < 0.5 else None
        return replace(tl, duration_s=end, abort_s=abort)
    return tl  # timeout: a slow but otherwise complete attempt


def draw_story(
    task: TaskSpec,
    center: str,
    profile: SimulationProfile,
    duration_scale: float,
    rng: np.random.Generator,
) -> Story:
    """Draw one episode's story for ``task`` at ``center``."""
    is_success = bool(rng.random() < profile.success_rate)
    reason: str | None = None
    if not is_success:
        weights = np.asarray(profile.failure_weights, dtype=float)
        reason = str(rng.choice(FAILURE_REASONS, p=weights / weights.sum()))
    if reason == "timeout":
        planned_s = task.timeout_s * rng.uniform(*TIMEOUT_FACTOR) * duration_scale
    else:
        planned_s = task.expected_duration_s * rng.uniform(*DURATION_FACTOR) * duration_scale
    planned_s = max(planned_s, _min_duration_s(task) * rng.uniform(1.0, 1.1))
    timeline = _timeline(task, planned_s, rng)
    if reason is not None:
        timeline = _with_failure(timeline, reason, task, rng)

    outcome = "success" if is_success else "failure"
    rates = profile.faults
    u = rng.random()
    if u < rates.mark_wrong_prob:
        mark: str | None = "failure" if is_success else "success"
        mark_status = "wrong"
    elif u < rates.mark_wrong_prob + rates.mark_missing_prob:
        mark, mark_status = None, "missing"
    else:
        mark, mark_status = outcome, "correct"

    offset_ns, drift_ppm = _clock(profile.clock_range_for(center), rng)

    u = rng.random()
    missing_stream: str | None = None
    if u < rates.truncated_prob:
        file_fault = "truncated"
    elif u < rates.truncated_prob + rates.checksum_mismatch_prob:
        file_fault = "checksum_mismatch"
    elif u < rates.truncated_prob + rates.checksum_mismatch_prob + rates.missing_stream_prob:
        file_fault = "missing_stream"
        missing_stream = "joint_state" if rng.random() < 0.5 else "arm_target"
    else:
        file_fault = "none"

    return Story(
        task=task,
        true_outcome=outcome,
        failure_reason=reason,
        timeline=timeline,
        operator_mark=mark,
        operator_mark_status=mark_status,
        clock_offset_ns=offset_ns,
        clock_drift_ppm=drift_ppm,
        file_fault=file_fault,
        missing_stream=missing_stream,
        grasp_holds_object=reason != "grasp_missed",
    )
