"""Joints resting against a mechanical stop: which, on which side, when, and what that does.

The robot model's nominal position limits are the stops. `plan_stop_rests` draws, per
recording, the arm joints that rest against one (the whole recording, from the start, or a
stretch); `overlay_stop_rests` drives the operator's target for those joints past the stop
(an exoskeleton's range is wider than the robot's), blending in and out with minimum-jerk
ramps slow enough for the velocity budget; `clamp_at_stops` keeps the joint on the stop and
says how far the servo is pushing into it; `stop_spans` reads off where the noise-free
position sits on the stop (the truth). Pure: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teleop_lake.config.robots import RobotModel
from teleop_lake.simulate.params import REST_KINDS, StopRestParams
from teleop_lake.simulate.story import Story

# A ramp onto or off the stop takes at least this long (s) ...
MIN_RAMP_S = 0.3
# ... and its peak speed (1.875 x distance / ramp time for a minimum-jerk blend) stays below
# this fraction of the joint's velocity limit, on top of the normal motion's own budget
# (`MotionParams.velocity_limit_fraction`, 0.5): together below the limit.
RAMP_VELOCITY_FRACTION = 0.4
# Where a stretch rest may start: not before this fraction of the recording.
STRETCH_EARLIEST_FRACTION = 0.1


@dataclass(frozen=True)
class StopRest:
    """One joint driven against its stop over ``[start_s, end_s]`` (seconds from the start;
    -inf / +inf for a rest from the start / to the end), its target past the stop by
    ``overdrive_rad``. ``limit_rad`` is the robot model's nominal limit on that side; the
    stop is where the joint really stops (here: at the nominal limit)."""

    joint: str
    side: str  # "min" | "max"
    limit_rad: float
    stop_rad: float
    kind: str  # one of REST_KINDS
    start_s: float
    end_s: float
    overdrive_rad: float

    @property
    def target_rad(self) -> float:
        """Where the operator's target (and the robot's command) goes: past the stop."""
        sign = 1.0 if self.side == "max" else -1.0
        return self.stop_rad + sign * self.overdrive_rad


def home_pose_rad(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The arms' rest pose: zero, kept 10% of the range away from either limit."""
    return np.clip(0.0, lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo))


def plan_stop_rests(
    robot: RobotModel, story: Story, params: StopRestParams, rng: np.random.Generator
) -> tuple[StopRest, ...]:
    """The arm joints resting against a stop in this recording (none when the model has no arm).

    Each rests on the stop nearer its home pose (a random one when both are as near).
    """
    low, high = params.joints_per_recording
    arm = robot.arm_joint_names
    if high <= 0 or not arm:
        return ()
    n = min(int(rng.integers(low, high + 1)), len(arm))
    joints = [arm[int(i)] for i in np.sort(rng.choice(len(arm), size=n, replace=False))]
    weights = np.asarray(params.kind_weights, dtype=float)
    duration_s = story.timeline.duration_s
    by_name = {j.name: j for j in robot.joints}
    rests: list[StopRest] = []
    for name in joints:
        j = by_name[name]
        lo, hi = j.position_min_rad, j.position_max_rad
        home = float(home_pose_rad(np.array(lo), np.array(hi)))
        to_min, to_max = home - lo, hi - home
        if np.isclose(to_min, to_max):
            side = "max" if rng.random() < 0.5 else "min"
        else:
            side = "min" if to_min < to_max else "max"
        kind = str(rng.choice(REST_KINDS, p=weights / weights.sum()))
        start_s, end_s = -np.inf, np.inf
        if kind == "start":
            end_s = rng.uniform(*params.start_rest_end_fraction) * duration_s
        elif kind == "stretch":
            longest = max(params.stretch_min_s, params.stretch_max_fraction * duration_s)
            length = rng.uniform(params.stretch_min_s, longest)
            earliest = STRETCH_EARLIEST_FRACTION * duration_s
            start_s = rng.uniform(earliest, max(earliest, duration_s - length - earliest))
            end_s = start_s + length
        rests.append(
            StopRest(
                joint=name,
                side=side,
                limit_rad=lo if side == "min" else hi,
                stop_rad=lo if side == "min" else hi,
                kind=kind,
                start_s=float(start_s),
                end_s=float(end_s),
                overdrive_rad=float(rng.uniform(*params.command_overdrive_rad)),
            )
        )
    return tuple(rests)


def _min_jerk(tau: np.ndarray) -> np.ndarray:
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


def overlay_stop_rests(
    t_s: np.ndarray,
    arm_target_rad: np.ndarray,
    arm_joint_names: tuple[str, ...],
    rests: tuple[StopRest, ...],
    robot: RobotModel,
) -> np.ndarray:
    """The operator's arm target (n, arm joints) with each rest's joint driven past its stop."""
    if not rests:
        return arm_target_rad
    out = arm_target_rad.copy()
    by_name = {j.name: j for j in robot.joints}
    for rest in rests:
        col = arm_joint_names.index(rest.joint)
        x = out[:, col]
        v_max = by_name[rest.joint].velocity_max_rad_s
        distance = float(np.max(np.abs(rest.target_rad - x)))
        ramp_s = max(MIN_RAMP_S, 1.875 * distance / (RAMP_VELOCITY_FRACTION * v_max))
        rise = np.clip((t_s - (rest.start_s - ramp_s)) / ramp_s, 0.0, 1.0)
        fall = np.clip(((rest.end_s + ramp_s) - t_s) / ramp_s, 0.0, 1.0)
        w = _min_jerk(np.minimum(rise, fall))
        out[:, col] = (1.0 - w) * x + w * rest.target_rad
    return out


def clamp_at_stops(
    position_rad: np.ndarray, robot: RobotModel, rests: tuple[StopRest, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (n, joints) with each resting joint kept inside its limits, and how far (rad)
    the servo's command-following position would have gone past the stop (0 off the stop)."""
    if not rests:
        return position_rad, np.zeros_like(position_rad)
    clamped = position_rad.copy()
    for rest in rests:
        i = robot.joint_names.index(rest.joint)
        bound = np.minimum if rest.side == "max" else np.maximum
        clamped[:, i] = bound(position_rad[:, i], rest.stop_rad)
    return clamped, position_rad - clamped


def stop_spans(
    t_s: np.ndarray, position_rad: np.ndarray, robot: RobotModel, rests: tuple[StopRest, ...]
) -> list[tuple[StopRest, float, float]]:
    """``(rest, first_s, end_s)`` for every run of grid samples where a resting joint sits
    exactly on its stop: ``[t_s[first], t_s[last] + dt)``."""
    spans: list[tuple[StopRest, float, float]] = []
    if len(t_s) < 2:
        return spans
    dt_s = float(t_s[1] - t_s[0])
    for rest in rests:
        on = position_rad[:, robot.joint_names.index(rest.joint)] == rest.stop_rad
        edges = np.diff(np.r_[0, on.astype(np.int8), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            spans.append((rest, float(t_s[a]), float(t_s[b - 1]) + dt_s))
    return spans
