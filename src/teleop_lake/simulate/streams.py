"""Sample the episode's physics at the recorder's rates: noise, clocks, stamps, receive times.

A `SimStream` is one canonical stream as the recorder saw it, before faults and before
it is laid out in a center's topic format: true sample times on the robot clock, header
stamps on the clock the stream is really stamped with (with jitter), the recorder's
receive times, and values in canonical channels and SI units. Rates, noise levels and
unpopulated fields come from the rig and the recording (`rig`). Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from teleop_lake.canonical import (
    CAMERA_STREAMS,
    STREAM_ARM_TARGET,
    STREAM_HAND_COMMAND,
    STREAM_HAND_STATE,
    STREAM_HEAD_POSE,
    STREAM_JOINT_COMMAND,
    STREAM_JOINT_STATE,
)
from teleop_lake.config.robots import RobotModel
from teleop_lake.simulate.claw import claw_current_a, claw_state_codes
from teleop_lake.simulate.motion import Physics
from teleop_lake.simulate.params import JitterLevels
from teleop_lake.simulate.rig import NoiseLevels, StreamRates
from teleop_lake.simulate.story import Story

IMU_CHANNELS = (
    "gyro_rad_s.x",
    "gyro_rad_s.y",
    "gyro_rad_s.z",
    "acc_m_s2.x",
    "acc_m_s2.y",
    "acc_m_s2.z",
    "imu_orientation.qx",
    "imu_orientation.qy",
    "imu_orientation.qz",
    "imu_orientation.qw",
)
HEAD_POSE_CHANNELS = (
    "position_m.x",
    "position_m.y",
    "position_m.z",
    "orientation.qx",
    "orientation.qy",
    "orientation.qz",
    "orientation.qw",
)
# What a camera frame is drawn from: both hands' closure and two shoulder angles per side
# (the side's first and third arm joints: pitch and yaw on every arm the robots here have).
CAMERA_CHANNELS = (
    "closure.left",
    "closure.right",
    "arm_pitch_rad.left",
    "arm_yaw_rad.left",
    "arm_pitch_rad.right",
    "arm_yaw_rad.right",
)
# Index of the shoulder pitch and yaw joints among one side's arm joints.
CAMERA_ARM_JOINT_INDEX = (0, 2)
IMU_NOISE = 0.002  # rad/s and m/s^2 (MEMS IMU at 500 Hz)
# The clock each stream's sender stamps it with, as every center profile declares it: what
# the operator station sends (exoskeleton, glove, VR headset) on the operator clock, what
# the robot measures or commands on the robot clock.
DECLARED_CLOCKS = {
    STREAM_JOINT_STATE: "robot",
    STREAM_JOINT_COMMAND: "robot",
    STREAM_ARM_TARGET: "operator",
    STREAM_HAND_COMMAND: "operator",
    STREAM_HAND_STATE: "robot",
    STREAM_HEAD_POSE: "operator",
    **dict.fromkeys(CAMERA_STREAMS, "robot"),
}


def other_clock(stream: str) -> str:
    """The clock a misconfigured rig stamps ``stream`` with: not the one declared for it."""
    return "operator" if DECLARED_CLOCKS[stream] == "robot" else "robot"


# Claw state channels besides ``closure.<claw>``: speed (closure per s), motor current (A)
# and the message's state code (`claw`), per claw.
CLAW_STATE_QUANTITIES = ("closure_velocity_per_s", "current_a", "state_code")
# Noise on the claw's reported speed, per unit of hand-state closure noise (per s).
CLAW_VELOCITY_NOISE_PER_S = 10.0
CLAW_CURRENT_NOISE_A = 0.01


@dataclass(frozen=True, eq=False)
class SimStream:
    """One canonical stream as recorded (before faults).

    ``t_true_ns``: absolute robot-clock instant each sample was taken (int64).
    ``clock``: the clock the stamps are really on; ``declared_clock`` the one the center
    profile declares for the stream (they differ on a misconfigured rig).
    ``stamp_ns``: header stamp on ``clock`` (robot or operator), with jitter.
    ``received_ns``: robot-clock instant the recorder logged it; strictly increasing.
    ``values``: (n, len(channels)) float64 in canonical units.
    """

    name: str
    clock: str
    declared_clock: str
    period_ns: int
    t_true_ns: np.ndarray
    stamp_ns: np.ndarray
    received_ns: np.ndarray
    channels: tuple[str, ...]
    values: np.ndarray

    @property
    def n_samples(self) -> int:
        return len(self.t_true_ns)

    def keep(self, mask: np.ndarray) -> SimStream:
        """The stream with only the rows where ``mask`` is true."""
        return replace(
            self,
            t_true_ns=self.t_true_ns[mask],
            stamp_ns=self.stamp_ns[mask],
            received_ns=self.received_ns[mask],
            values=self.values[mask],
        )


@dataclass(frozen=True)
class OperatorClock:
    """t_op = t_robot + offset_ns + drift_ppm * 1e-6 * (t_robot - reference_ns)."""

    offset_ns: int
    drift_ppm: float
    reference_ns: int

    def to_operator(self, t_robot_ns: np.ndarray) -> np.ndarray:
        drift = self.drift_ppm * 1e-6 * (t_robot_ns - self.reference_ns).astype(np.float64)
        return t_robot_ns + self.offset_ns + np.round(drift).astype(np.int64)


def _sample_times_s(duration_s: float, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    period_s = 1.0 / rate_hz
    first_s = rng.uniform(0.0, period_s)
    return first_s + period_s * np.arange(int(np.floor((duration_s - first_s) / period_s)) + 1)


def camera_arm_joints(robot: RobotModel) -> list[str]:
    """The arm joints behind `CAMERA_CHANNELS` ``arm_*`` columns, in that order."""
    out: list[str] = []
    for prefix in ("l_", "r_"):
        side = [j for j in robot.arm_joint_names if j.startswith(prefix)]
        if len(side) <= max(CAMERA_ARM_JOINT_INDEX):
            raise ValueError(f"robot model {robot.name!r} has too few {prefix}* arm joints")
        out += [side[k] for k in CAMERA_ARM_JOINT_INDEX]
    return out


def _received_ns(
    t_true_ns: np.ndarray, jitter: JitterLevels, rng: np.random.Generator
) -> np.ndarray:
    """Receive times: send time + a 1-15 ms transport delay, in order, strictly increasing."""
    lo_ns, hi_ns = jitter.transport_delay_min_s * 1e9, jitter.transport_delay_max_s * 1e9
    base_ns = rng.uniform(lo_ns, lo_ns + 0.25 * (hi_ns - lo_ns))
    delay_ns = np.clip(
        base_ns + rng.exponential(0.1 * (hi_ns - lo_ns), size=len(t_true_ns)), lo_ns, hi_ns
    )
    raw = t_true_ns + delay_ns.astype(np.int64)
    steps = np.arange(len(raw), dtype=np.int64)
    return np.maximum.accumulate(raw - steps) + steps


def _interp(physics: Physics, t_s: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(t_s, physics.t_s, x[:, j]) for j in range(x.shape[1])], axis=1)


def _make(
    name: str,
    clock: str,
    rate_hz: float,
    t_s: np.ndarray,
    start_ns: int,
    stamp_sigma_s: float,
    channels: tuple[str, ...],
    values: np.ndarray,
    op_clock: OperatorClock,
    jitter: JitterLevels,
    rng: np.random.Generator,
) -> SimStream:
    t_true = start_ns + np.round(t_s * 1e9).astype(np.int64)
    on_clock = op_clock.to_operator(t_true) if clock == "operator" else t_true
    stamp = on_clock + np.round(rng.normal(0.0, stamp_sigma_s * 1e9, size=len(t_true))).astype(
        np.int64
    )
    return SimStream(
        name=name,
        clock=clock,
        declared_clock=DECLARED_CLOCKS[name],
        period_ns=round(1e9 / rate_hz),
        t_true_ns=t_true,
        stamp_ns=stamp,
        received_ns=_received_ns(t_true, jitter, rng),
        channels=channels,
        values=values,
    )


def _grid_index(physics: Physics, t_s: np.ndarray) -> np.ndarray:
    """Index of the physics grid point at or before each of ``t_s``."""
    i = np.searchsorted(physics.t_s, t_s, side="right") - 1
    return np.clip(i, 0, len(physics.t_s) - 1)


def _claw_state(
    physics: Physics,
    t_s: np.ndarray,
    first_command_s: float,
    error_from_s: float | None,
    noise: NoiseLevels,
    rng: np.random.Generator,
) -> np.ndarray:
    """Claw state values: closures, speeds, currents, then state codes (`CLAW_STATE_QUANTITIES`)."""
    n, k = len(t_s), len(physics.end_effector_joints)
    closure = _interp(physics, t_s, physics.hand_state)
    free = _interp(physics, t_s, physics.hand_free_target)
    dt_s = float(physics.t_s[1] - physics.t_s[0])
    speed = _interp(physics, t_s, np.asarray(np.gradient(physics.hand_state, dt_s, axis=0)))
    codes = claw_state_codes(
        physics.t_s, physics.hand_state, physics.hand_free_target, first_command_s, error_from_s
    )[_grid_index(physics, t_s)]
    return np.hstack(
        [
            np.clip(closure + rng.normal(0, noise.hand_state, (n, k)), 0.0, 1.0),
            speed + rng.normal(0, CLAW_VELOCITY_NOISE_PER_S * noise.hand_state, (n, k)),
            claw_current_a(closure, free) + rng.normal(0, CLAW_CURRENT_NOISE_A, (n, k)),
            codes.astype(np.float64),
        ]
    )


def sample_streams(
    physics: Physics,
    robot: RobotModel,
    story: Story,
    start_ns: int,
    noise: NoiseLevels,
    rates: StreamRates,
    jitter: JitterLevels,
    rng: np.random.Generator,
    *,
    clocks: Mapping[str, str] | None = None,
    velocity_populated: bool = True,
    effort_populated: bool = True,
    claw: bool = False,
) -> dict[str, SimStream]:
    """Every canonical stream of the episode, keyed by canonical stream name.

    ``clocks`` overrides the clock a stream is stamped with (default `DECLARED_CLOCKS`);
    an unpopulated velocity or effort is all zeros; ``claw`` adds the claw's speed, current
    and state-code channels to the hand state.
    """
    duration_s = story.timeline.duration_s
    op_clock = OperatorClock(story.clock_offset_ns, story.clock_drift_ppm, start_ns)
    stamped_on = {**DECLARED_CLOCKS, **(clocks or {})}
    names = robot.joint_names
    n_joints = len(names)
    out: dict[str, SimStream] = {}

    def add(
        name: str,
        rate_hz: float,
        sigma_s: float,
        ch: tuple[str, ...],
        fn: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        t_s = _sample_times_s(duration_s, rate_hz, rng)
        out[name] = _make(
            name,
            stamped_on[name],
            rate_hz,
            t_s,
            start_ns,
            sigma_s,
            ch,
            fn(t_s),
            op_clock,
            jitter,
            rng,
        )

    def measured(t_s: np.ndarray, x: np.ndarray, sigma: float, populated: bool) -> np.ndarray:
        if not populated:  # firmware leaves the field at zero
            return np.zeros((len(t_s), n_joints))
        return _interp(physics, t_s, x) + rng.normal(0, sigma, (len(t_s), n_joints))

    def joint_values(t_s: np.ndarray) -> np.ndarray:
        n = len(t_s)
        pos = measured(t_s, physics.position_rad, noise.position_rad, True)
        vel = measured(t_s, physics.velocity_rad_s, noise.velocity_rad_s, velocity_populated)
        acc = measured(t_s, physics.acceleration_rad_s2, noise.acceleration_rad_s2, True)
        eff = measured(t_s, physics.effort_n_m, noise.effort_n_m, effort_populated)
        imu = np.hstack(
            [
                _interp(physics, t_s, physics.imu_gyro_rad_s),
                _interp(physics, t_s, physics.imu_acc_m_s2),
                _interp(physics, t_s, physics.imu_quat_xyzw),
            ]
        )
        imu[:, :6] += rng.normal(0, IMU_NOISE, (n, 6))
        return np.hstack([pos, vel, acc, eff, imu])

    joint_channels = (
        tuple(f"position_rad.{j}" for j in names)
        + tuple(f"velocity_rad_s.{j}" for j in names)
        + tuple(f"acceleration_rad_s2.{j}" for j in names)
        + tuple(f"effort_n_m.{j}" for j in names)
        + IMU_CHANNELS
    )
    add(
        STREAM_JOINT_STATE,
        rates.joint_rate_hz,
        jitter.joint_stamp_sigma_s,
        joint_channels,
        joint_values,
    )
    add(
        STREAM_JOINT_COMMAND,
        rates.joint_rate_hz,
        jitter.joint_stamp_sigma_s,
        tuple(f"target_rad.{j}" for j in names) + tuple(f"velocity_rad_s.{j}" for j in names),
        lambda t: _interp(
            physics, t, np.hstack([physics.command_rad, physics.command_velocity_rad_s])
        ),
    )
    add(
        STREAM_ARM_TARGET,
        rates.arm_target_rate_hz,
        jitter.stream_100hz_stamp_sigma_s,
        tuple(f"target_rad.{j}" for j in robot.arm_joint_names),
        lambda t: _interp(physics, t, physics.operator_arm_rad),
    )
    eef = physics.end_effector_joints
    hand_channels = tuple(f"closure.{h}" for h in eef)
    add(
        STREAM_HAND_COMMAND,
        rates.hand_command_rate_hz,
        jitter.stream_100hz_stamp_sigma_s,
        hand_channels,
        lambda t: _interp(physics, t, physics.hand_command),
    )
    if claw:
        first_command_s = float(out[STREAM_HAND_COMMAND].t_true_ns[0] - start_ns) / 1e9
        add(
            STREAM_HAND_STATE,
            rates.hand_state_rate_hz,
            jitter.stream_100hz_stamp_sigma_s,
            hand_channels + tuple(f"{q}.{h}" for q in CLAW_STATE_QUANTITIES for h in eef),
            lambda t: _claw_state(
                physics,
                t,
                first_command_s + physics.control_latency_s,
                story.timeline.robot_fault_s,
                noise,
                rng,
            ),
        )
    else:
        add(
            STREAM_HAND_STATE,
            rates.hand_state_rate_hz,
            jitter.stream_100hz_stamp_sigma_s,
            hand_channels,
            lambda t: np.clip(
                _interp(physics, t, physics.hand_state)
                + rng.normal(0, noise.hand_state, (len(t), len(eef))),
                0.0,
                1.0,
            ),
        )
    add(
        STREAM_HEAD_POSE,
        rates.head_pose_rate_hz,
        jitter.vr_stamp_sigma_s,
        HEAD_POSE_CHANNELS,
        lambda t: _interp(physics, t, np.hstack([physics.head_position_m, physics.head_quat_xyzw])),
    )
    left = np.char.startswith(np.array(eef), "l_")
    cam_source = np.column_stack(
        [
            physics.hand_state[:, left].mean(axis=1),
            physics.hand_state[:, ~left].mean(axis=1),
            physics.position_rad[:, [names.index(j) for j in camera_arm_joints(robot)]],
        ]
    )
    for cam in CAMERA_STREAMS:
        add(
            cam,
            rates.camera_rate_hz,
            jitter.camera_stamp_sigma_s,
            CAMERA_CHANNELS,
            lambda t: _interp(physics, t, cam_source),
        )
    return out
