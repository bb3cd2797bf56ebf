"""The motion model of one recording: what the operator asks, what the robot commands and does.

All functions take true instants ``t`` in seconds since the recording start (float arrays) and
return noise-free values; the network adds sensor noise, stamps and faults.

- Operator (teleop station): the arm targets move between random poses by minimum-jerk
  segments: rest (arm hanging, elbow fully extended against its stop), pre-grasp, grasp,
  place, back to rest. The arm(s) that do not grasp stay at rest. The grasp command (glove or
  claw trigger, closure 0 = open .. 1 = closed) closes to 0.86-0.94 at the grasp and opens at
  the release. Targets are clamped to the robot model's range by the teleop software.
- Robot: the arm joint command is the operator's target ``control_latency_s`` later (clamped
  to the range); legs stand with a small sway from the balance controller; the head looks down
  at the work. The measured joint follows its command through a short lag (a dead time plus a
  moving average) and cannot pass the mechanical stops, which are the robot model's nominal
  position limits (read from ``src/teleop_lake/config/robots/kuavo_4pro.toml``). A joint whose command
  rests on a stop therefore sits exactly on it.
- Hands and claws: the state follows the command through a lag and stops short on the object
  (contact closure 0.55-0.75 per finger) while the command says more.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
ROBOT_MODEL_TOML = REPO_ROOT / "src" / "teleop_lake" / "config" / "robots" / "kuavo_4pro.toml"
TASK_CATALOG_TOML = REPO_ROOT / "src" / "teleop_lake" / "config" / "tasks" / "catalog.toml"

GRAVITY_M_S2 = 9.81
ARM_JOINTS_PER_SIDE = 7
LEFT, RIGHT = 0, 1
# Arm joint order within one side (KUAVO.md: indices 12..18 left, 19..25 right).
ARM_PITCH, ARM_ROLL, ARM_YAW, FOREARM_PITCH, HAND_YAW, HAND_PITCH, HAND_ROLL = range(7)
DERIVATIVE_STEP_S = 1e-3
LAG_WINDOW_POINTS = 12
AT_STOP_SNAP_RAD = 1e-9  # a lagged value this close to a stop is on it
POSE_MARGIN_RAD = 0.05  # random poses keep this far from the limits


@dataclass(frozen=True)
class RobotJoints:
    """The robot model's 28 body joints in recorder order, with their nominal limits."""

    names: tuple[str, ...]
    groups: tuple[str, ...]
    position_min_rad: np.ndarray
    position_max_rad: np.ndarray
    velocity_max_rad_s: np.ndarray
    effort_max_nm: np.ndarray
    control_latency_ms: float


def load_robot_joints(path: Path = ROBOT_MODEL_TOML) -> RobotJoints:
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    joints = doc["joints"]
    return RobotJoints(
        names=tuple(j["name"] for j in joints),
        groups=tuple(j["group"] for j in joints),
        position_min_rad=np.array([j["position_min_rad"] for j in joints], float),
        position_max_rad=np.array([j["position_max_rad"] for j in joints], float),
        velocity_max_rad_s=np.array([j["velocity_max_rad_s"] for j in joints], float),
        effort_max_nm=np.array([j["effort_max_nm"] for j in joints], float),
        control_latency_ms=float(doc["control_latency_ms"]),
    )


@dataclass(frozen=True)
class CatalogTask:
    code: str
    expected_duration_s: float
    grasp_hand: str  # left, right, both
    hold_min_s: float


def load_task_catalog(path: Path = TASK_CATALOG_TOML) -> list[CatalogTask]:
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        CatalogTask(t["code"], float(t["expected_duration_s"]), t["grasp_hand"], t["hold_min_s"])
        for t in doc["tasks"]
    ]


def min_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk blend 0 -> 1 of the normalised time ``s`` (clipped to 0..1)."""
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)


@dataclass(frozen=True)
class Trajectory:
    """Piecewise minimum-jerk path through waypoints ``(t_s, values)``; constant outside."""

    times_s: tuple[float, ...]
    values: np.ndarray  # (n_waypoints, n_dims)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """Values at instants t (1-D): exactly the waypoint values where the path rests."""
        t = np.asarray(t, dtype=float)
        times = np.asarray(self.times_s)
        k = np.clip(np.searchsorted(times, t, side="right"), 1, len(times) - 1)
        t0, t1 = times[k - 1], times[k]
        b = min_jerk((t - t0) / np.maximum(t1 - t0, 1e-9))[:, None]
        v0, v1 = self.values[k - 1], self.values[k]
        return np.where(v0 == v1, v0, (1.0 - b) * v0 + b * v1)


@dataclass(frozen=True)
class Timeline:
    """Phase instants of one grasp-and-place attempt (seconds since the recording start)."""

    reach_start_s: float
    pregrasp_s: float
    grasp_pose_s: float
    close_start_s: float
    close_end_s: float
    place_pose_s: float
    release_start_s: float
    release_end_s: float
    rest_s: float


def _lag(
    fn: Callable[[np.ndarray], np.ndarray], t: np.ndarray, delay_s: float, window_s: float
) -> np.ndarray:
    """Dead time plus a moving average over ``window_s`` of the function ``fn`` of time."""
    offsets = delay_s + np.linspace(0.0, window_s, LAG_WINDOW_POINTS)
    grid = np.asarray(t, float)[:, None] - offsets[None, :]
    vals = fn(grid.ravel())
    return vals.reshape(len(t), LAG_WINDOW_POINTS, -1).mean(axis=1)


class MotionModel:
    """The noise-free motion of one recording (see the module docstring)."""

    def __init__(
        self,
        rng: np.random.Generator,
        joints: RobotJoints,
        *,
        duration_s: float,
        grasp_hand: str,
        control_latency_s: float,
        fingers_per_side: int,
    ) -> None:
        self.joints = joints
        self.duration_s = duration_s
        self.grasp_sides: tuple[int, ...] = {
            "left": (LEFT,),
            "right": (RIGHT,),
            "both": (LEFT, RIGHT),
        }[grasp_hand]
        self.control_latency_s = control_latency_s
        self.fingers_per_side = fingers_per_side
        self.lo = joints.position_min_rad
        self.hi = joints.position_max_rad
        self.motor_delay_s = float(rng.uniform(0.002, 0.006))
        self.motor_window_s = float(rng.uniform(0.02, 0.04))
        self.timeline = self._draw_timeline(rng)
        self.arm_path = self._draw_arm_path(rng)
        self.head_path = self._draw_head_path(rng)
        self._draw_legs(rng)
        self._draw_grasp(rng)
        self._draw_dynamics(rng)

    # --- plan ---------------------------------------------------------------------------

    def _draw_timeline(self, rng: np.random.Generator) -> Timeline:
        d = self.duration_s
        ramp_scale = min(1.0, d / 10.0)
        reach_start = d * rng.uniform(0.08, 0.12)
        pregrasp = reach_start + d * rng.uniform(0.16, 0.20)
        grasp_pose = pregrasp + d * rng.uniform(0.06, 0.08)
        close_start = grasp_pose + d * rng.uniform(0.005, 0.015)
        close_end = close_start + ramp_scale * rng.uniform(0.3, 0.5)
        place_pose = max(close_end + 0.05 * d, d * rng.uniform(0.62, 0.68))
        release_start = place_pose + d * rng.uniform(0.005, 0.015)
        release_end = release_start + ramp_scale * rng.uniform(0.25, 0.4)
        rest = max(release_end + 0.05 * d, d * rng.uniform(0.84, 0.88))
        return Timeline(
            reach_start,
            pregrasp,
            grasp_pose,
            close_start,
            close_end,
            place_pose,
            release_start,
            release_end,
            rest,
        )

    def _side_bounds(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        base = 12 + ARM_JOINTS_PER_SIDE * side
        sl = slice(base, base + ARM_JOINTS_PER_SIDE)
        return self.lo[sl], self.hi[sl]

    def _pose(self, rng: np.random.Generator, side: int, kind: str) -> np.ndarray:
        lo, hi = self._side_bounds(side)
        sign = 1.0 if side == LEFT else -1.0
        if kind == "rest":
            pose = np.array(
                [
                    rng.uniform(-0.05, 0.05),
                    sign * rng.uniform(0.05, 0.15),
                    rng.uniform(-0.05, 0.05),
                    0.0,
                    rng.uniform(-0.05, 0.05),
                    rng.uniform(-0.05, 0.05),
                    rng.uniform(-0.05, 0.05),
                ]
            )
            pose = np.clip(pose, lo, hi)
            pose[FOREARM_PITCH] = hi[FOREARM_PITCH]  # elbow fully extended: on its stop
            return pose
        pose = np.array(
            [
                rng.uniform(-1.3, -0.6),
                sign * rng.uniform(0.1, 0.4),
                rng.uniform(-0.4, 0.4),
                rng.uniform(-1.6, -0.7),
                rng.uniform(-0.5, 0.5),
                rng.uniform(-0.4, 0.4),
                rng.uniform(-0.4, 0.4),
            ]
        )
        return np.clip(pose, lo + POSE_MARGIN_RAD, hi - POSE_MARGIN_RAD)

    def _draw_arm_path(self, rng: np.random.Generator) -> Trajectory:
        tl = self.timeline
        times = (
            0.0,
            tl.reach_start_s,
            tl.pregrasp_s,
            tl.grasp_pose_s,
            tl.close_end_s + 0.05,
            tl.place_pose_s,
            tl.release_end_s + 0.05,
            tl.rest_s,
        )
        per_side = []
        for side in (LEFT, RIGHT):
            rest = self._pose(rng, side, "rest")
            if side not in self.grasp_sides:
                per_side.append(np.repeat(rest[None, :], len(times), axis=0))
                continue
            pre = self._pose(rng, side, "reach")
            lo, hi = self._side_bounds(side)
            grasp = pre + np.array([-0.15, 0.0, 0.0, 0.2, 0.0, 0.05, 0.0]) * rng.uniform(0.7, 1.3)
            grasp = np.clip(grasp, lo + POSE_MARGIN_RAD, hi - POSE_MARGIN_RAD)
            place = self._pose(rng, side, "reach")
            per_side.append(np.stack([rest, rest, pre, grasp, grasp, place, place, rest]))
        return Trajectory(times, np.concatenate(per_side, axis=1))

    def _draw_head_path(self, rng: np.random.Generator) -> Trajectory:
        tl = self.timeline
        # head yaw toward the grasping arm (positive = left), straight ahead for both
        toward = 0.0 if len(self.grasp_sides) == 2 else (1.0 if LEFT in self.grasp_sides else -1.0)
        rest = np.array([rng.uniform(-0.03, 0.03), rng.uniform(0.0, 0.08)])
        look = np.array([toward * rng.uniform(0.1, 0.3), rng.uniform(0.25, 0.4)])
        times = (0.0, tl.reach_start_s, tl.pregrasp_s, tl.release_end_s, tl.rest_s)
        return Trajectory(times, np.stack([rest, rest, look, look, rest]))

    def _draw_legs(self, rng: np.random.Generator) -> None:
        hip_pitch = rng.uniform(-0.3, -0.2)
        knee = rng.uniform(0.45, 0.6)
        side = np.array([0.0, 0.0, hip_pitch, knee, -(knee + hip_pitch), 0.0])
        self.leg_stand = np.concatenate([side, side])
        self.sway_lateral_rad = rng.uniform(0.002, 0.005)
        self.sway_sagittal_rad = rng.uniform(0.001, 0.003)
        self.sway_lateral_hz = rng.uniform(0.2, 0.5)
        self.sway_sagittal_hz = rng.uniform(0.15, 0.4)
        self.sway_phase = rng.uniform(0, 2 * np.pi, size=2)
        self.heading_rad = rng.uniform(-np.pi, np.pi)

    def _draw_grasp(self, rng: np.random.Generator) -> None:
        n = 2 * self.fingers_per_side
        self.open_level = rng.uniform(0.0, 0.04, size=2)
        self.close_level = rng.uniform(0.86, 0.94)
        self.finger_gain = rng.uniform(0.93, 1.0, size=n)
        contact = rng.uniform(0.55, 0.75)
        self.contact = np.clip(contact + rng.uniform(-0.02, 0.02, size=n), 0.5, 0.8)
        self.second_hand_offset_s = rng.uniform(0.0, 0.08)
        self.hand_delay_s = self.control_latency_s + rng.uniform(0.02, 0.04)
        self.hand_window_s = rng.uniform(0.08, 0.15)
        self.object_load_nm = rng.uniform(0.5, 2.0)

    def _draw_dynamics(self, rng: np.random.Generator) -> None:
        groups = np.array(self.joints.groups)
        n = len(groups)
        self.torque_bias_nm = np.where(
            groups == "leg", rng.uniform(-8, 8, n), rng.uniform(-1, 1, n)
        )
        self.torque_bias_nm[[3, 9]] = rng.uniform(25, 40, size=2)  # knees carry the body
        self.gravity_gain_nm = np.where(
            groups == "leg",
            rng.uniform(5, 15, n),
            np.where(groups == "arm", rng.uniform(1, 6, n), 0.5),
        )
        self.damping_nm_s = np.where(groups == "head", 0.05, rng.uniform(0.2, 1.0, n))
        self.gravity_phase = rng.uniform(-0.3, 0.3, n)

    # --- operator side ------------------------------------------------------------------

    def arm_target_rad(self, t: np.ndarray) -> np.ndarray:
        """The operator's 14 arm targets (rad, clamped to the range), at true instants t."""
        return np.clip(self.arm_path(t), self.lo[12:26], self.hi[12:26])

    def grasp_command(self, t: np.ndarray) -> np.ndarray:
        """Closure commands 0..1, ``fingers_per_side`` per side, left first."""
        t = np.asarray(t, float)
        tl = self.timeline
        per_side = []
        for side in (LEFT, RIGHT):
            level = np.full(t.shape, self.open_level[side])
            if side in self.grasp_sides:
                shift = self.second_hand_offset_s if side == RIGHT else 0.0
                closing = min_jerk(
                    (t - tl.close_start_s - shift) / (tl.close_end_s - tl.close_start_s)
                )
                opening = min_jerk(
                    (t - tl.release_start_s - shift) / (tl.release_end_s - tl.release_start_s)
                )
                level = level + (self.close_level - self.open_level[side]) * (closing - opening)
            per_side.append(np.repeat(level[:, None], self.fingers_per_side, axis=1))
        return np.clip(np.concatenate(per_side, axis=1) * self.finger_gain, 0.0, 1.0)

    # --- robot side ---------------------------------------------------------------------

    def joint_command(self, t: np.ndarray) -> np.ndarray:
        """The robot's 28 joint commands (rad): legs sway, arms follow the delayed targets."""
        t = np.asarray(t, float)
        out = np.empty((len(t), 28))
        lat = self.sway_lateral_rad * np.sin(
            2 * np.pi * self.sway_lateral_hz * t + self.sway_phase[0]
        )
        sag = self.sway_sagittal_rad * np.sin(
            2 * np.pi * self.sway_sagittal_hz * t + self.sway_phase[1]
        )
        legs = np.broadcast_to(self.leg_stand, (len(t), 12)).copy()
        for base in (0, 6):
            legs[:, base + 0] += lat
            legs[:, base + 5] -= lat
            legs[:, base + 2] += sag
            legs[:, base + 4] -= sag
        out[:, :12] = legs
        out[:, 12:26] = self.arm_target_rad(t - self.control_latency_s)
        out[:, 26:28] = self.head_path(t)
        return np.clip(out, self.lo, self.hi)

    def joint_command_velocity(self, t: np.ndarray) -> np.ndarray:
        h = DERIVATIVE_STEP_S
        return (self.joint_command(t + h) - self.joint_command(t - h)) / (2 * h)

    def joint_position(self, t: np.ndarray) -> np.ndarray:
        """Noise-free measured joint positions: the lagged command, never past a stop."""
        q = _lag(self.joint_command, np.asarray(t, float), self.motor_delay_s, self.motor_window_s)
        q = np.where(np.abs(q - self.hi) < AT_STOP_SNAP_RAD, self.hi, q)
        q = np.where(np.abs(q - self.lo) < AT_STOP_SNAP_RAD, self.lo, q)
        return np.clip(q, self.lo, self.hi)

    def joint_kinematics(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Noise-free positions, velocities and accelerations (central differences)."""
        t = np.asarray(t, float)
        h = DERIVATIVE_STEP_S
        before, now, after = np.split(self.joint_position(np.concatenate([t - h, t, t + h])), 3)
        return now, (after - before) / (2 * h), (after - 2 * now + before) / (h * h)

    def feedforward_torque(self, q: np.ndarray) -> np.ndarray:
        return self.torque_bias_nm + self.gravity_gain_nm * np.sin(q + self.gravity_phase)

    def joint_torque(self, t: np.ndarray, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Joint torques (N m): gravity, damping, and the object's weight while it is held."""
        tau = self.feedforward_torque(q) + self.damping_nm_s * v
        held = self.held(t).astype(float)
        for side in self.grasp_sides:
            base = 12 + ARM_JOINTS_PER_SIDE * side
            tau[:, base + ARM_PITCH] += self.object_load_nm * held
            tau[:, base + FOREARM_PITCH] += 0.5 * self.object_load_nm * held
        return tau

    def imu(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Noise-free IMU: the torso tilts with the sway; gravity seen by the accelerometer."""
        t = np.asarray(t, float)
        w_lat = 2 * np.pi * self.sway_lateral_hz
        w_sag = 2 * np.pi * self.sway_sagittal_hz
        roll = self.sway_lateral_rad * np.sin(w_lat * t + self.sway_phase[0])
        pitch = self.sway_sagittal_rad * np.sin(w_sag * t + self.sway_phase[1])
        gyro = np.stack(
            [
                self.sway_lateral_rad * w_lat * np.cos(w_lat * t + self.sway_phase[0]),
                self.sway_sagittal_rad * w_sag * np.cos(w_sag * t + self.sway_phase[1]),
                np.zeros_like(t),
            ],
            axis=1,
        )
        acc = GRAVITY_M_S2 * np.stack(
            [-np.sin(pitch), np.sin(roll) * np.cos(pitch), np.cos(roll) * np.cos(pitch)], axis=1
        )
        cr, sr = np.cos(roll / 2), np.sin(roll / 2)
        cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
        cy, sy = np.cos(self.heading_rad / 2), np.sin(self.heading_rad / 2)
        quat = np.stack(
            [
                sr * cp * cy - cr * sp * sy,
                cr * sp * cy + sr * cp * sy,
                cr * cp * sy - sr * sp * cy,
                cr * cp * cy + sr * sp * sy,
            ],
            axis=1,
        )
        return {"gyro": gyro, "acc": acc, "free_acc": np.zeros_like(acc), "quat": quat}

    # --- end effector -------------------------------------------------------------------

    def _lagged_grasp(self, t: np.ndarray) -> np.ndarray:
        return _lag(self.grasp_command, np.asarray(t, float), self.hand_delay_s, self.hand_window_s)

    def grasp_state(self, t: np.ndarray) -> np.ndarray:
        """Noise-free hand or claw state 0..1: the lagged command, stopped on the object."""
        lagged = self._lagged_grasp(t)
        out = lagged.copy()
        f = self.fingers_per_side
        for side in self.grasp_sides:
            sl = slice(side * f, (side + 1) * f)
            out[:, sl] = np.minimum(lagged[:, sl], self.contact[sl])
        return out

    def held(self, t: np.ndarray) -> np.ndarray:
        """Whether every grasping finger is stopped on the object at instants t."""
        lagged = self._lagged_grasp(t)
        f = self.fingers_per_side
        ok = np.ones(len(np.asarray(t)), bool)
        for side in self.grasp_sides:
            sl = slice(side * f, (side + 1) * f)
            ok &= np.all(lagged[:, sl] >= self.contact[sl], axis=1)
        return ok

    def hold_s(self, step_s: float = 1e-3) -> float | None:
        """How long the object was really held (first to last held instant), None if never."""
        t = np.arange(0.0, self.duration_s, step_s)
        held = self.held(t)
        if not held.any():
            return None
        idx = np.flatnonzero(held)
        return float((idx[-1] - idx[0] + 1) * step_s)

    def closure_for_camera(self, t: np.ndarray) -> np.ndarray:
        state = self.grasp_state(t)
        f = self.fingers_per_side
        return np.mean([state[:, s * f : (s + 1) * f].mean(axis=1) for s in self.grasp_sides], 0)
