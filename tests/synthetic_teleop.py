"""Small synthetic teleoperation recordings for the transform tests (known truth, no IO).

Smooth joint trajectories (sums of slow sinusoids inside the joint limits), an operator clock
with a known offset and drift, receive stamps 1-15 ms after sending, a hand that closes on an
object and holds it, a head pose, cameras with distinct frames. Faults are injected by the
tests on the returned arrays.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from teleop_lake.canonical import (
    CameraStream,
    Event,
    Recording,
    RecordingMeta,
    SignalStream,
)
from teleop_lake.config.robots import RobotModel, load_robot_model

T0_NS = 1_700_000_000_000_000_000
NOISE_RAD = 2e-4


@dataclass(frozen=True)
class Truth:
    offset_ns: int
    drift_ppm: float
    t_ref_ns: int
    latency_ns: int
    extras: dict[str, object] = field(default_factory=dict)


class Trajectory:
    """Smooth joint motion: per joint a centre inside the limits plus 3 slow sinusoids."""

    def __init__(self, robot: RobotModel, rng: np.random.Generator, amplitude: float = 0.25):
        lo, hi = robot.position_limits_rad()
        self.centre = (lo + hi) / 2
        span = (hi - lo) / 2
        n = len(lo)
        self.freq = rng.uniform(0.1, 0.8, size=(3, n))
        self.phase = rng.uniform(0, 2 * np.pi, size=(3, n))
        self.amp = np.minimum(amplitude, 0.25 * span) * rng.uniform(0.3, 1.0, size=(3, n)) / 3

    def position(self, t_s: np.ndarray) -> np.ndarray:
        arg = 2 * np.pi * self.freq[None] * t_s[:, None, None] + self.phase[None]
        return self.centre + np.sum(self.amp[None] * np.sin(arg), axis=1)

    def velocity(self, t_s: np.ndarray) -> np.ndarray:
        arg = 2 * np.pi * self.freq[None] * t_s[:, None, None] + self.phase[None]
        w = 2 * np.pi * self.freq[None]
        return np.sum(self.amp[None] * w * np.cos(arg), axis=1)


def hand_profile(t_s: np.ndarray, close_at_s: float, stop: float, hold_s: float) -> np.ndarray:
    """Closure: open, closes over 0.4 s to ``stop``, holds ``hold_s``, opens over 0.4 s."""
    ramp = np.clip((t_s - close_at_s) / 0.4, 0, 1) * stop
    release = np.clip((t_s - close_at_s - 0.4 - hold_s) / 0.4, 0, 1)
    return ramp * (1 - release)


def make_recording(
    rng: np.random.Generator,
    duration_s: float = 20.0,
    offset_ns: int = 350_000_000,
    drift_ppm: float = 80.0,
    *,
    robot: RobotModel | None = None,
    with_received: bool = True,
    hand_stop: float = 0.6,
    hold_s: float = 4.0,
    mark: str | None = "success",
    task_code: str = "open_microwave_door",
    events: tuple[Event, ...] = (),
    cameras: bool = True,
) -> tuple[Recording, Truth]:
    robot = robot or load_robot_model("kuavo_4pro")
    joints = robot.joint_names
    arms = robot.arm_joint_names
    arm_cols = [joints.index(a) for a in arms]
    latency_ns = round(robot.control_latency_ms * 1e6)
    traj = Trajectory(robot, rng)
    t_ref = T0_NS

    def op_stamp(s_ns: np.ndarray) -> np.ndarray:
        rel = (s_ns - t_ref).astype(np.float64)
        return (t_ref + offset_ns + np.rint(rel * (1 + drift_ppm * 1e-6))).astype(np.int64)

    def received(s_ns: np.ndarray) -> np.ndarray | None:
        if not with_received:
            return None
        return s_ns + rng.integers(1_000_000, 15_000_000, size=len(s_ns))

    # joint_state / joint_command at 500 Hz on the robot clock
    n = int(duration_s * 500) + 1
    t_js = t_ref + np.arange(n, dtype=np.int64) * 2_000_000
    ts = (t_js - t_ref) / 1e9
    lag_s = latency_ns / 1e9
    pos = traj.position(ts - lag_s - 0.01) + rng.normal(0, NOISE_RAD, size=(n, len(joints)))
    vel = traj.velocity(ts - lag_s - 0.01) + rng.normal(0, 2e-3, size=(n, len(joints)))
    eff = 5 * np.sin(ts[:, None] * 0.7 + np.arange(len(joints))) + rng.normal(
        0, 0.02, size=(n, len(joints))
    )
    js_channels = tuple(
        f"{q}.{j}" for q in ("position_rad", "velocity_rad_s", "effort_n_m") for j in joints
    )
    joint_state = SignalStream(
        "joint_state",
        "robot",
        t_js,
        js_channels,
        np.hstack([pos, vel, eff]),
        t_received_ns=received(t_js),
    )
    command = traj.position(ts - lag_s) + rng.normal(0, 1e-5, (n, len(joints)))
    joint_command = SignalStream(
        "joint_command",
        "robot",
        t_js,
        tuple(f"target_rad.{j}" for j in joints),
        command,
        t_received_ns=received(t_js),
    )
    # arm_target at ~100 Hz: sent at robot times s, stamped on the operator clock
    m = int(duration_s * 100) + 1
    s_arm = t_ref + np.arange(m, dtype=np.int64) * 10_000_000 + rng.integers(0, 1_000_000, m)
    arm_values = traj.position((s_arm - t_ref) / 1e9)[:, arm_cols]
    arm_values = arm_values + rng.normal(0, 5e-4, arm_values.shape)  # exoskeleton encoders
    arm_target = SignalStream(
        "arm_target",
        "operator",
        op_stamp(s_arm),
        tuple(f"target_rad.{a}" for a in arms),
        arm_values,
        t_received_ns=received(s_arm),
    )
    # hands at 100 Hz
    hands = robot.hand_joints
    s_hand = t_ref + np.arange(m, dtype=np.int64) * 10_000_000 + 3_000_000
    th = (s_hand - t_ref) / 1e9
    close_at = duration_s * 0.25
    cmd_closure = hand_profile(th, close_at, 1.0, hold_s)
    state_closure = hand_profile(th - 0.05, close_at, hand_stop, hold_s)
    right = np.array([h.startswith("r_") for h in hands])
    hand_cmd_values = np.where(right[None], cmd_closure[:, None], 0.0)
    hand_state_values = np.round(np.where(right[None], state_closure[:, None], 0.0) * 100) / 100
    hand_channels = tuple(f"closure.{h}" for h in hands)
    hand_command = SignalStream(
        "hand_command",
        "operator",
        op_stamp(s_hand),
        hand_channels,
        hand_cmd_values,
        t_received_ns=received(s_hand),
    )
    hand_state = SignalStream(
        "hand_state",
        "robot",
        s_hand + 5_000_000,
        hand_channels,
        hand_state_values,
        t_received_ns=received(s_hand + 5_000_000),
    )
    # head pose at ~90 Hz
    k = int(duration_s * 90) + 1
    s_head = t_ref + np.rint(np.arange(k) * 1e9 / 90).astype(np.int64)
    tk = (s_head - t_ref) / 1e9
    yaw = 0.3 * np.sin(0.5 * tk)
    pitch = 0.1 * np.sin(0.3 * tk + 1)
    quat = np.stack(
        [np.zeros(k), np.sin(pitch / 2), np.sin(yaw / 2), np.cos(yaw / 2) * np.cos(pitch / 2)],
        axis=1,
    )
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    head_values = np.hstack(
        [np.stack([0.1 * np.sin(tk), 0.05 * np.cos(tk), 1.5 + 0.01 * tk], axis=1), quat]
    )
    head_pose = SignalStream(
        "head_pose",
        "operator",
        op_stamp(s_head),
        (
            "position_m.x",
            "position_m.y",
            "position_m.z",
            "orientation.qx",
            "orientation.qy",
            "orientation.qz",
            "orientation.qw",
        ),
        head_values,
        t_received_ns=received(s_head),
    )
    camera_streams: dict[str, CameraStream] = {}
    if cameras:
        f = int(duration_s * 30) + 1
        t_cam = t_ref + np.rint(np.arange(f) * 1e9 / 30).astype(np.int64) + 1_000_000
        for name in ("camera_head", "camera_left"):
            frames = tiny_jpegs(f, seed=hash(name) % 1000)
            camera_streams[name] = CameraStream(name, "robot", t_cam, frames)
    all_events = [
        Event(t_ref, "robot", "recording_start"),
        Event(int(t_js[-1]), "robot", "recording_stop"),
        *events,
    ]
    if mark is not None:
        all_events.append(Event(int(t_js[-1]), "operator", "operator_mark", mark))
    meta = RecordingMeta(
        "beijing", f"rec-{rng.integers(1 << 30)}", "ros1-bag", robot.name, task_code
    )
    recording = Recording(
        meta,
        {
            s.name: s
            for s in (joint_state, joint_command, arm_target, hand_command, hand_state, head_pose)
        },
        camera_streams,
        tuple(all_events),
    )
    return recording, Truth(offset_ns, drift_ppm, t_ref, latency_ns)


def tiny_jpegs(n: int, seed: int = 0) -> tuple[bytes, ...]:
    """``n`` distinct, real 16x12 JPEG frames (a grey level and a moving dot)."""
    out = []
    for i in range(n):
        img = np.full((12, 16), 60 + (seed + i) % 120, dtype=np.uint8)
        img[(i // 16) % 12, i % 16] = 250
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return tuple(out)


def with_signal(recording: Recording, stream: SignalStream) -> Recording:
    """The recording with one signal stream replaced (or added)."""
    return replace(recording, signals={**recording.signals, stream.name: stream})


# Simulated networks for tests that do not look at pixels: 64x48 frames render ~70x faster
# than the profiles' 640x480 (the rigs' size). The real size is exercised by its own tests.
SMALL_CAMERA = (64, 48)
