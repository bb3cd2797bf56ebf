"""A Beijing-style center drop of Kuavo recordings, with ground truth, from a seed.

Command line::

    .venv/bin/python -m tests.independent_kuavo.network --out DIR --recordings N --seed S \\
        --date YYYY-MM-DD [--camera WxH] [--duration-s D]

writes ``DIR/beijing/<date>/<station>/<recording_id>.bag`` with its label files
(``<recording_id>.metadata.json``, and ``<recording_id>.moments.json`` unless the rig's label
tool puts the marks into metadata.json), then ``DIR/beijing/<date>/_manifest.jsonl`` last
(DROP.md), and the truth tables under ``DIR/_truth/`` (`truth`).

Rigs and variation (KUAVO.md "Variation between rigs"; all normal deliveries). Each recording
is made on a rig (one per recording unless ``rigs`` says otherwise; rig k stands at station
``st0{k % 4 + 1}``). A rig's build and firmware are drawn by quota from the shares in
`VariationParams`: with ``n`` rigs, each variant with a positive share gets
``round(share x n)`` rigs and at least one when there are enough rigs, shuffled with the seed,
so the default 10-recording network shows every variant. Per rig: end effector (dexterous hands,
``eef_type`` "qiangnao", or the Leju claw, "leju_claw"); hand-state topic (newer
/control_robot_hand_position_state, older /dexhand/state, or none; claws publish
/leju_claw_state); ``joint_v`` left all zeros; ``joint_torque`` left all zeros; ``joint_current``
instead of ``joint_torque``; bz2 chunk compression; qualified or package-relative type names in
the embedded definitions; connection records repeated per chunk; marks in ``moments.json`` or in
``metadata.json`` ``marks[]``; sensor noise levels (joint positions 1-3 mrad).

Per recording: the operator station's clock (offset 20 ms..1.5 s either sign, drift up to
+-100 ppm, reference = recording start) stamps the arm targets and the hand or claw commands;
the target -> joint-command latency is drawn in 15-25 ms; record times are the send instant plus
a transport delay (robot topics 2-6 ms + exponential jitter of 1-4 ms mean; station topics
5-20 ms + 2-6 ms; cameras 8-25 ms + uniform 0-15 ms), in order per topic. Stamps are the true
sampling instant (periodic at the nominal rate from a random phase) mapped to the sender's
clock plus Gaussian jitter; ``sensor_time`` is the true sampling instant.

Faults per recording (kept in the truth): one spike (1-3 samples of one joint position,
10-60 noise sigmas), one dropout (3..60 nominal periods, at most 20% of the stream, on one
stream), one frozen joint (position, velocity and torque/current repeated bit-exactly for
0.4-0.8 s, on a moving or a still joint by quota), and, by quota (default 10%), a station stream
stamped on the robot clock instead of the station's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import kuavo
from .bag import BagWriter, Compression
from .kuavo import BEIJING_TZ, EffortField, TypeNames
from .motion import (
    ARM_JOINTS_PER_SIDE,
    FOREARM_PITCH,
    CatalogTask,
    MotionModel,
    RobotJoints,
    load_robot_joints,
    load_task_catalog,
)
from .truth import write_tables

CENTER = "beijing"
RECORDING_PREFIX = "bj"
RAW_FORMAT = "ros1-bag"
STATIONS = ("st01", "st02", "st03", "st04")
SIM_PROFILE = "independent_kuavo"
MANIFEST_NAME = "_manifest.jsonl"

JOINT_RATE_HZ = 500.0
STATION_RATE_HZ = 100.0
HAND_STATE_RATE_HZ = 100.0
CAMERA_RATE_HZ = 30.0
NANOSECONDS_PER_SECOND = 1_000_000_000
FAULT_EDGE_FRACTION = 0.03  # faults stay out of the first and last 3% of a stream
FAULT_GAP_SAMPLES = 10  # free samples between two faults of one stream
DROPOUT_MAX_STREAM_FRACTION = 0.2
FROZEN_MOVING_SIGMAS = 10.0
AT_STOP_MIN_S = 0.3
CAMERA_RECORD_JITTER_MAX_S = 0.015
WORKDAY_START_LOCAL = time(9, 0)

# Torque constant per joint group, for rigs that report joint_current (A) instead of torque.
TORQUE_CONSTANT_NM_PER_A = {"leg": 8.0, "arm": 4.0, "head": 1.0}
JOINT_KP = {"leg": 300.0, "arm": 80.0, "head": 15.0}
JOINT_KD = {"leg": 10.0, "arm": 3.0, "head": 0.5}
POSITION_CONTROL_MODE = 2
CLAW_COMMAND_SPEED = 50.0  # percent of full speed
CLAW_COMMAND_CURRENT_A = 1.0
IMU_GYRO_SIGMA_RAD_S = 0.002
IMU_ACC_SIGMA_M_S2 = 0.02
IMU_QUAT_SIGMA = 1e-4

# Canonical stream names (docs/TRUTH.md) and the clock KUAVO.md says each is stamped on.
JOINT_STATE, JOINT_COMMAND, ARM_TARGET = "joint_state", "joint_command", "arm_target"
HAND_COMMAND, HAND_STATE = "hand_command", "hand_state"
CAMERAS = {
    "camera_head": kuavo.TOPIC_CAMERA_HEAD,
    "camera_left": kuavo.TOPIC_CAMERA_LEFT,
    "camera_right": kuavo.TOPIC_CAMERA_RIGHT,
}
DECLARED_CLOCK = {
    JOINT_STATE: "robot",
    JOINT_COMMAND: "robot",
    ARM_TARGET: "operator",
    HAND_COMMAND: "operator",
    HAND_STATE: "robot",
    **dict.fromkeys(CAMERAS, "robot"),
}
STREAM_RATE_HZ = {
    JOINT_STATE: JOINT_RATE_HZ,
    JOINT_COMMAND: JOINT_RATE_HZ,
    ARM_TARGET: STATION_RATE_HZ,
    HAND_COMMAND: STATION_RATE_HZ,
    HAND_STATE: HAND_STATE_RATE_HZ,
    **dict.fromkeys(CAMERAS, CAMERA_RATE_HZ),
}
CALLERIDS = {
    kuavo.TOPIC_SENSORS: "/hardware_plant",
    kuavo.TOPIC_JOINT_CMD: "/humanoid_controller",
    kuavo.TOPIC_ARM_TRAJ: "/vr_teleop_node",
    kuavo.TOPIC_HAND_COMMAND: "/vr_teleop_node",
    kuavo.TOPIC_CLAW_COMMAND: "/vr_teleop_node",
    kuavo.TOPIC_HAND_STATE_NEW: "/hand_controller",
    kuavo.TOPIC_HAND_STATE_OLD: "/dexhand_driver",
    kuavo.TOPIC_CLAW_STATE: "/leju_claw_driver",
    kuavo.TOPIC_CAMERA_HEAD: "/cam_h/camera",
    kuavo.TOPIC_CAMERA_LEFT: "/cam_l/camera",
    kuavo.TOPIC_CAMERA_RIGHT: "/cam_r/camera",
}

T = TypeVar("T")


def period_ns(rate_hz: float) -> int:
    return round(NANOSECONDS_PER_SECOND / rate_hz)


def episode_id_for(center: str, recording_id: str) -> str:
    """The lake's episode id (re-derived from teleop_lake.network.identity: sha256 of
    ``center/recording_id``, first 16 hex digits, after the center's first three letters)."""
    digest = hashlib.sha256(f"{center}/{recording_id}".encode()).hexdigest()[:16]
    return f"{center[:3]}-{digest}"


@dataclass(frozen=True)
class VariationParams:
    """Shares of rigs (or recordings) with each variant, and the ranges values are drawn from."""

    claw_share: float = 0.3
    hand_state_newer_share: float = 0.5  # of the hand rigs
    hand_state_older_share: float = 0.3
    hand_state_none_share: float = 0.2
    velocity_unpopulated_share: float = 0.2
    effort_unpopulated_share: float = 0.2
    joint_current_share: float = 0.3
    bz2_share: float = 0.2
    relative_type_names_share: float = 0.5
    repeat_connections_share: float = 0.2
    marks_in_metadata_share: float = 0.3
    no_eef_type_share: float = 0.0  # metadata.json without eef_type (not a KUAVO.md variant)
    clock_mismatch_share: float = 0.1  # of the recordings
    clock_mismatch_streams: tuple[str, ...] = (HAND_COMMAND, ARM_TARGET)
    frozen_moving_share: float = 0.5  # of the recordings
    position_sigma_rad: tuple[float, float] = (1e-3, 3e-3)
    velocity_sigma_rad_s: tuple[float, float] = (0.01, 0.04)
    acceleration_sigma_rad_s2: tuple[float, float] = (0.5, 2.0)
    torque_sigma_nm: tuple[float, float] = (0.05, 0.3)
    current_sigma_a: tuple[float, float] = (0.01, 0.05)
    hand_state_sigma: tuple[float, float] = (0.002, 0.006)  # closure units (0..1)
    joint_stamp_sigma_s: tuple[float, float] = (2e-5, 1e-4)
    station_stamp_sigma_s: tuple[float, float] = (1e-4, 5e-4)
    camera_stamp_sigma_s: tuple[float, float] = (5e-4, 2e-3)
    operator_offset_s: tuple[float, float] = (0.02, 1.5)  # magnitude; the sign is random
    operator_drift_ppm_max: float = 100.0
    control_latency_ms: tuple[float, float] = (15.0, 25.0)
    spike_sigmas: tuple[float, float] = (10.0, 60.0)
    spike_samples: tuple[int, int] = (1, 3)
    dropout_periods: tuple[int, int] = (3, 60)
    frozen_s: tuple[float, float] = (0.4, 0.8)


def allocate(rng: np.random.Generator, n: int, shares: dict[Any, float]) -> list[Any]:
    """``n`` draws by quota: each option ``round(share x n)`` times (largest remainder), every
    option with a positive share at least once when ``n`` allows, in shuffled order."""
    options = [(k, w) for k, w in shares.items() if w > 0]
    if not options or n <= 0:
        return [options[0][0]] * n if options else []
    total = sum(w for _, w in options)
    quotas = np.array([w / total * n for _, w in options])
    counts = np.floor(quotas).astype(int)
    if n >= len(options):
        counts = np.maximum(counts, 1)
    while counts.sum() > n:
        counts[int(np.argmax(np.where(counts > 1, counts - quotas, -np.inf)))] -= 1
    while counts.sum() < n:
        counts[int(np.argmax(quotas - counts))] += 1
    out = [k for (k, _), c in zip(options, counts, strict=True) for _ in range(c)]
    return [out[i] for i in rng.permutation(len(out))]


def _flag(rng: np.random.Generator, n: int, share: float) -> list[bool]:
    return [bool(x) for x in allocate(rng, n, {True: share, False: 1.0 - share})]


@dataclass(frozen=True)
class Rig:
    """One robot build with its firmware, recorder and label-tool settings and noise levels."""

    serial: str
    station: str
    end_effector: str  # hand | claw
    eef_type: str | None  # as written in metadata.json
    hand_state_topic: str | None
    velocity_populated: bool
    effort_populated: bool
    effort_field: EffortField
    compression: Compression
    type_names: TypeNames
    repeat_connections: bool
    marks_in_metadata: bool
    position_sigma_rad: float
    velocity_sigma_rad_s: float
    acceleration_sigma_rad_s2: float
    effort_sigma: float  # in the field's unit: N m (joint_torque) or A (joint_current)
    hand_state_sigma: float


def draw_rigs(rng: np.random.Generator, n: int, p: VariationParams) -> list[Rig]:
    ee = allocate(rng, n, {"hand": 1.0 - p.claw_share, "claw": p.claw_share})
    n_hand = ee.count("hand")
    hand_topics = iter(
        allocate(
            rng,
            n_hand,
            {
                kuavo.TOPIC_HAND_STATE_NEW: p.hand_state_newer_share,
                kuavo.TOPIC_HAND_STATE_OLD: p.hand_state_older_share,
                None: p.hand_state_none_share,
            },
        )
    )
    velocity_off = _flag(rng, n, p.velocity_unpopulated_share)
    effort_off = _flag(rng, n, p.effort_unpopulated_share)
    current = _flag(rng, n, p.joint_current_share)
    bz2 = _flag(rng, n, p.bz2_share)
    relative = _flag(rng, n, p.relative_type_names_share)
    repeat = _flag(rng, n, p.repeat_connections_share)
    marks_meta = _flag(rng, n, p.marks_in_metadata_share)
    no_eef = _flag(rng, n, p.no_eef_type_share)
    serials = rng.choice(np.arange(100, 400), size=n, replace=False)
    rigs = []
    for k in range(n):
        is_claw = ee[k] == "claw"
        rigs.append(
            Rig(
                serial=f"P4-{serials[k]}",
                station=STATIONS[k % len(STATIONS)],
                end_effector=ee[k],
                eef_type=None if no_eef[k] else ("leju_claw" if is_claw else "qiangnao"),
                hand_state_topic=kuavo.TOPIC_CLAW_STATE if is_claw else next(hand_topics),
                velocity_populated=not velocity_off[k],
                effort_populated=not effort_off[k],
                effort_field="joint_current" if current[k] else "joint_torque",
                compression="bz2" if bz2[k] else "none",
                type_names="relative" if relative[k] else "qualified",
                repeat_connections=repeat[k],
                marks_in_metadata=marks_meta[k],
                position_sigma_rad=float(rng.uniform(*p.position_sigma_rad)),
                velocity_sigma_rad_s=float(rng.uniform(*p.velocity_sigma_rad_s)),
                acceleration_sigma_rad_s2=float(rng.uniform(*p.acceleration_sigma_rad_s2)),
                effort_sigma=float(
                    rng.uniform(*(p.current_sigma_a if current[k] else p.torque_sigma_nm))
                ),
                hand_state_sigma=float(rng.uniform(*p.hand_state_sigma)),
            )
        )
    return rigs


@dataclass(frozen=True)
class RecordingPlan:
    """What one recording will be: rig, task, timing, clocks and which faults to inject."""

    index: int
    recording_id: str
    rig: Rig
    operator_id: str
    task: CatalogTask
    start_ns: int
    duration_s: float
    control_latency_s: float
    operator_offset_ns: int
    operator_drift_ppm: float
    clock_mismatch_stream: str | None
    frozen_moving: bool
    seed: int


@dataclass
class WrittenTopic:
    """What was written on one topic (for tests): type, stamps, record times, values."""

    topic: str
    msgtype: str
    stream: str
    stamps_ns: np.ndarray
    record_ns: np.ndarray
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.record_ns)


@dataclass
class WrittenRecording:
    plan: RecordingPlan
    files: list[Path]  # bag first, then the label files
    manifest_line: dict[str, Any]
    topics: dict[str, WrittenTopic]
    truth: dict[str, list[dict[str, Any]]]

    @property
    def recording_id(self) -> str:
        return self.plan.recording_id


@dataclass
class NetworkResult:
    out: Path
    date: str
    drop: Path  # <out>/beijing/<date>
    recordings: list[WrittenRecording]
    truth_paths: dict[str, Path]


# --- streams --------------------------------------------------------------------------------


@dataclass
class _Stream:
    """A stream's true sampling instants (robot clock, ns) and which samples survive."""

    name: str
    topic: str
    t_true_ns: np.ndarray
    keep: np.ndarray

    @property
    def period_ns(self) -> int:
        return period_ns(STREAM_RATE_HZ[self.name])


class _FaultPlacer:
    """Non-overlapping fault spans per stream (sample indices, 10 free samples between)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.taken: dict[str, list[tuple[int, int]]] = {}

    def place(self, stream: str, n: int, length: int) -> int | None:
        """First index of a free span of ``length`` samples, or None when none fits."""
        first = max(int(np.ceil(FAULT_EDGE_FRACTION * n)), 1)
        last = int(np.floor((1 - FAULT_EDGE_FRACTION) * n)) - length
        if last < first:
            return None
        for _ in range(200):
            k0 = int(self.rng.integers(first, last + 1))
            k1 = k0 + length - 1
            if all(
                k1 + FAULT_GAP_SAMPLES < a or k0 > b + FAULT_GAP_SAMPLES
                for a, b in self.taken.get(stream, [])
            ):
                self.taken.setdefault(stream, []).append((k0, k1))
                return k0
        return None


def _grid(rng: np.random.Generator, start_ns: int, duration_s: float, rate_hz: float) -> np.ndarray:
    p = period_ns(rate_hz)
    phase = int(rng.integers(0, p))
    end = start_ns + round(duration_s * NANOSECONDS_PER_SECOND)
    return np.arange(start_ns + phase, end, p, dtype=np.int64)


def _seconds(t_ns: np.ndarray, start_ns: int) -> np.ndarray:
    return (t_ns - start_ns).astype(float) / NANOSECONDS_PER_SECOND


def _record_times(send_ns: np.ndarray, base_s: float, jitter_s: np.ndarray) -> np.ndarray:
    """Receive times: send instant + transport delay, in order per topic."""
    t = send_ns + np.round((base_s + jitter_s) * NANOSECONDS_PER_SECOND).astype(np.int64)
    return np.maximum.accumulate(t)  # one TCP connection per topic: received in order


# --- one recording --------------------------------------------------------------------------


class _RecordingWriter:
    """Builds and writes one recording (bag + label files) from its plan."""

    def __init__(
        self,
        plan: RecordingPlan,
        joints: RobotJoints,
        params: VariationParams,
        camera: tuple[int, int],
    ) -> None:
        self.plan = plan
        self.rig = plan.rig
        self.joints = joints
        self.params = params
        self.camera_size = camera
        self.rng = np.random.default_rng(plan.seed)
        rng = self.rng
        self.fingers = kuavo.N_HAND_FINGERS if self.rig.end_effector == "hand" else 1
        self.motion = MotionModel(
            rng,
            joints,
            duration_s=plan.duration_s,
            grasp_hand=plan.task.grasp_hand,
            control_latency_s=plan.control_latency_s,
            fingers_per_side=self.fingers,
        )
        self.joint_stamp_sigma_s = float(rng.uniform(*params.joint_stamp_sigma_s))
        self.stream_100hz_stamp_sigma_s = float(rng.uniform(*params.station_stamp_sigma_s))
        self.camera_stamp_sigma_s = float(rng.uniform(*params.camera_stamp_sigma_s))
        self.registry = kuavo.registry_for(self.rig.type_names, self.rig.effort_field)
        self.faults: list[dict[str, Any]] = []
        self.topics: dict[str, WrittenTopic] = {}
        self.q_true = np.empty((0, len(joints.names)))  # noise-free joint_state positions
        self.streams = self._streams()

    # --- timing -------------------------------------------------------------------------

    def _streams(self) -> dict[str, _Stream]:
        rig, plan, rng = self.rig, self.plan, self.rng
        topics = {
            JOINT_STATE: kuavo.TOPIC_SENSORS,
            JOINT_COMMAND: kuavo.TOPIC_JOINT_CMD,
            ARM_TARGET: kuavo.TOPIC_ARM_TRAJ,
            HAND_COMMAND: kuavo.TOPIC_HAND_COMMAND
            if rig.end_effector == "hand"
            else kuavo.TOPIC_CLAW_COMMAND,
        }
        if rig.hand_state_topic is not None:
            topics[HAND_STATE] = rig.hand_state_topic
        topics.update(CAMERAS)
        out = {}
        for name, topic in topics.items():
            t = _grid(rng, plan.start_ns, plan.duration_s, STREAM_RATE_HZ[name])
            out[name] = _Stream(name, topic, t, np.ones(len(t), bool))
        return out

    def _clock(self, stream: str) -> str:
        if stream == self.plan.clock_mismatch_stream:
            return "robot" if DECLARED_CLOCK[stream] == "operator" else "operator"
        return DECLARED_CLOCK[stream]

    def _stamps(self, s: _Stream, sigma_s: float) -> np.ndarray:
        t = s.t_true_ns
        jitter = np.round(self.rng.normal(0.0, sigma_s, len(t)) * NANOSECONDS_PER_SECOND)
        if self._clock(s.name) == "operator":
            drift = np.round(self.plan.operator_drift_ppm * 1e-6 * (t - self.plan.start_ns))
            t = t + self.plan.operator_offset_ns + drift.astype(np.int64)
        return t + jitter.astype(np.int64)

    def _record(self, s: _Stream) -> np.ndarray:
        rng, n = self.rng, len(s.t_true_ns)
        if s.name in CAMERAS:
            base, jitter = rng.uniform(0.008, 0.025), rng.uniform(0, CAMERA_RECORD_JITTER_MAX_S, n)
        elif DECLARED_CLOCK[s.name] == "operator":
            base, jitter = rng.uniform(0.005, 0.020), rng.exponential(rng.uniform(0.002, 0.006), n)
        else:
            base, jitter = rng.uniform(0.002, 0.006), rng.exponential(rng.uniform(0.001, 0.004), n)
        return _record_times(s.t_true_ns, base, jitter)

    # --- faults -------------------------------------------------------------------------

    def _add_fault(
        self,
        kind: str,
        s: _Stream,
        k0: int,
        k1: int,
        channels: list[str],
        scope: str,
        magnitude: float | None = None,
        moving: bool | None = None,
    ) -> None:
        half = s.period_ns // 2
        self.faults.append(
            {
                "kind": kind,
                "stream": s.name,
                "channels": channels,
                "start_ns": int(s.t_true_ns[k0]) - half,
                "end_ns": int(s.t_true_ns[k1]) + half,
                "magnitude": magnitude,
                "scope": scope,
                "moving": moving,
            }
        )

    def _place_dropout(self, placer: _FaultPlacer) -> None:
        rng, p = self.rng, self.params
        name = str(rng.choice(sorted(self.streams)))
        s = self.streams[name]
        n = len(s.t_true_ns)
        longest = min(p.dropout_periods[1], int(DROPOUT_MAX_STREAM_FRACTION * n))
        if longest < p.dropout_periods[0]:
            return
        length = int(rng.integers(p.dropout_periods[0], longest + 1))
        k0 = placer.place(name, n, length)
        if k0 is None:
            return
        s.keep[k0 : k0 + length] = False
        self._add_fault("dropout", s, k0, k0 + length - 1, [], "stream")

    def _inject_joint_faults(
        self,
        placer: _FaultPlacer,
        q: np.ndarray,
        v: np.ndarray,
        vd: np.ndarray,
        eff: np.ndarray,
        q_true: np.ndarray,
    ) -> None:
        """One spike and one frozen joint on /sensors_data_raw (arrays changed in place)."""
        rng, p, rig = self.rng, self.params, self.rig
        s = self.streams[JOINT_STATE]
        n = len(s.t_true_ns)
        sigma = rig.position_sigma_rad
        names = self.joints.names
        # spike
        j = int(rng.integers(0, 26))
        m = int(rng.integers(p.spike_samples[0], p.spike_samples[1] + 1))
        k0 = placer.place(JOINT_STATE, n, m)
        if k0 is not None:
            mag = float(rng.uniform(*p.spike_sigmas) * sigma)
            q[k0 : k0 + m, j] += mag * rng.choice([-1.0, 1.0])
            self._add_fault(
                "spike", s, k0, k0 + m - 1, [f"position_rad.{names[j]}"], "channel", magnitude=mag
            )
        # frozen joint
        length = max(2, round(rng.uniform(*p.frozen_s) * JOINT_RATE_HZ))
        span = self._frozen_span(placer, n, length, q_true)
        if span is None:
            return
        j, k0 = span
        k1 = k0 + length - 1
        for arr in (q, v, vd, eff):
            arr[k0 : k1 + 1, j] = arr[k0 - 1, j]
        channels = [f"position_rad.{names[j]}"]
        if rig.velocity_populated:
            channels.append(f"velocity_rad_s.{names[j]}")
        if rig.effort_populated:
            channels.append(f"effort_n_m.{names[j]}")
        moved = float(np.ptp(q_true[k0 : k1 + 1, j]))
        self._add_fault(
            "frozen", s, k0, k1, channels, "channel", moving=moved > FROZEN_MOVING_SIGMAS * sigma
        )

    def _frozen_span(
        self, placer: _FaultPlacer, n: int, length: int, q_true: np.ndarray
    ) -> tuple[int, int] | None:
        rng, motion = self.rng, self.motion
        threshold = FROZEN_MOVING_SIGMAS * self.rig.position_sigma_rad
        if self.plan.frozen_moving:
            side = int(rng.choice(motion.grasp_sides))
            base = 12 + ARM_JOINTS_PER_SIDE * side
            candidates = [base + k for k in (0, 1, 3)]  # pitch, roll, elbow: the big movers
        else:
            idle = [s for s in (0, 1) if s not in motion.grasp_sides]
            candidates = list(range(12)) + [
                12 + ARM_JOINTS_PER_SIDE * s + FOREARM_PITCH for s in idle
            ]
        fallback: tuple[int, int, dict[str, list[tuple[int, int]]]] | None = None
        for _ in range(50):
            j = int(rng.choice(candidates))
            trial = _FaultPlacer(rng)
            trial.taken = {k: list(v) for k, v in placer.taken.items()}
            k0 = trial.place(JOINT_STATE, n, length)
            if k0 is None:
                continue
            moved = float(np.ptp(q_true[k0 : k0 + length, j]))
            if (moved > threshold) == self.plan.frozen_moving:
                placer.taken = trial.taken
                return j, k0
            fallback = fallback or (j, k0, trial.taken)
        if fallback is None:
            return None
        # no span of the wished kind: keep one of the other kind (the truth says which)
        placer.taken = fallback[2]
        return fallback[0], fallback[1]

    # --- messages -----------------------------------------------------------------------

    def _topic(
        self,
        s: _Stream,
        msgtype: str,
        stamps: np.ndarray,
        record: np.ndarray,
        messages: list[bytes],
        values: dict[str, Any],
    ) -> list[tuple[int, str, bytes]]:
        keep = s.keep
        kept = [m for m, k in zip(messages, keep, strict=True) if k]
        vals = {
            k: (v[keep] if isinstance(v, np.ndarray) and len(v) == len(keep) else v)
            for k, v in values.items()
        }
        self.topics[s.topic] = WrittenTopic(
            s.topic, msgtype, s.name, stamps[keep], record[keep], vals
        )
        return [(int(r), s.topic, m) for r, m in zip(record[keep], kept, strict=True)]

    def _joint_state_messages(self, placer: _FaultPlacer) -> list[tuple[int, str, bytes]]:
        rig, motion, rng = self.rig, self.motion, self.rng
        s = self.streams[JOINT_STATE]
        t = _seconds(s.t_true_ns, self.plan.start_ns)
        n = len(t)
        q_true, v_true, a_true = motion.joint_kinematics(t)
        tau_true = motion.joint_torque(t, q_true, v_true)
        q = q_true + rng.normal(0.0, rig.position_sigma_rad, q_true.shape)
        if rig.velocity_populated:
            v = v_true + rng.normal(0.0, rig.velocity_sigma_rad_s, v_true.shape)
        else:
            v = np.zeros_like(v_true)
        vd = a_true + rng.normal(0.0, rig.acceleration_sigma_rad_s2, a_true.shape)
        if not rig.effort_populated:
            eff = np.zeros_like(tau_true)
        elif rig.effort_field == "joint_current":
            kt = np.array([TORQUE_CONSTANT_NM_PER_A[g] for g in self.joints.groups])
            eff = tau_true / kt + rng.normal(0.0, rig.effort_sigma, tau_true.shape)
        else:
            eff = tau_true + rng.normal(0.0, rig.effort_sigma, tau_true.shape)
        self._inject_joint_faults(placer, q, v, vd, eff, q_true)
        self.q_true = q_true
        imu = motion.imu(t)
        gyro = imu["gyro"] + rng.normal(0, IMU_GYRO_SIGMA_RAD_S, imu["gyro"].shape)
        acc = imu["acc"] + rng.normal(0, IMU_ACC_SIGMA_M_S2, imu["acc"].shape)
        free_acc = rng.normal(0, IMU_ACC_SIGMA_M_S2, acc.shape)
        quat = imu["quat"] + rng.normal(0, IMU_QUAT_SIGMA, imu["quat"].shape)
        quat /= np.linalg.norm(quat, axis=1, keepdims=True)
        stamps = self._stamps(s, self.joint_stamp_sigma_s)
        record = self._record(s)
        seq0 = int(rng.integers(0, 100_000))
        msgs = [
            self.registry.serialize(
                kuavo.TYPE_SENSORS,
                kuavo.sensors_data(
                    seq0 + k,
                    int(stamps[k]),
                    int(s.t_true_ns[k]),
                    q[k],
                    v[k],
                    vd[k],
                    eff[k],
                    {"gyro": gyro[k], "acc": acc[k], "free_acc": free_acc[k], "quat": quat[k]},
                    rig.effort_field,
                ),
            )
            for k in range(n)
        ]
        values = {
            "sensor_time": s.t_true_ns,
            "joint_q": q,
            "joint_v": v,
            "joint_vd": vd,
            rig.effort_field: eff,
        }
        return self._topic(s, kuavo.TYPE_SENSORS, stamps, record, msgs, values)

    def _joint_cmd_messages(self) -> list[tuple[int, str, bytes]]:
        s, motion = self.streams[JOINT_COMMAND], self.motion
        t = _seconds(s.t_true_ns, self.plan.start_ns)
        q = motion.joint_command(t)
        v = motion.joint_command_velocity(t)
        tau = motion.feedforward_torque(q)
        groups = self.joints.groups
        kp = np.array([JOINT_KP[g] for g in groups])
        kd = np.array([JOINT_KD[g] for g in groups])
        modes = np.full(len(groups), POSITION_CONTROL_MODE, np.int32)
        stamps = self._stamps(s, self.joint_stamp_sigma_s)
        record = self._record(s)
        seq0 = int(self.rng.integers(0, 100_000))
        msgs = [
            self.registry.serialize(
                kuavo.TYPE_JOINT_CMD,
                kuavo.joint_cmd(
                    seq0 + k,
                    int(stamps[k]),
                    q[k],
                    v[k],
                    tau[k],
                    self.joints.effort_max_nm,
                    kp,
                    kd,
                    modes,
                ),
            )
            for k in range(len(t))
        ]
        return self._topic(s, kuavo.TYPE_JOINT_CMD, stamps, record, msgs, {"joint_q": q})

    def _arm_target_messages(self) -> list[tuple[int, str, bytes]]:
        s = self.streams[ARM_TARGET]
        t = _seconds(s.t_true_ns, self.plan.start_ns)
        deg = np.degrees(self.motion.arm_target_rad(t))
        stamps = self._stamps(s, self.stream_100hz_stamp_sigma_s)
        record = self._record(s)
        seq0 = int(self.rng.integers(0, 100_000))
        msgs = [
            self.registry.serialize(
                kuavo.TYPE_JOINT_STATE,
                kuavo.joint_state(seq0 + k, int(stamps[k]), kuavo.ARM_TRAJ_NAMES, deg[k]),
            )
            for k in range(len(t))
        ]
        return self._topic(s, kuavo.TYPE_JOINT_STATE, stamps, record, msgs, {"position": deg})

    def _hand_command_messages(self) -> list[tuple[int, str, bytes]]:
        s = self.streams[HAND_COMMAND]
        t = _seconds(s.t_true_ns, self.plan.start_ns)
        closure = self.motion.grasp_command(t)
        stamps = self._stamps(s, self.stream_100hz_stamp_sigma_s)
        record = self._record(s)
        seq0 = int(self.rng.integers(0, 100_000))
        f = self.fingers
        if self.rig.end_effector == "hand":
            counts = np.clip(np.round(closure * kuavo.HAND_FULL_SCALE), 0, 100).astype(np.uint8)
            msgs = [
                self.registry.serialize(
                    kuavo.TYPE_HAND_POSITION,
                    kuavo.hand_position(seq0 + k, int(stamps[k]), counts[k, :f], counts[k, f:]),
                )
                for k in range(len(t))
            ]
            return self._topic(
                s,
                kuavo.TYPE_HAND_POSITION,
                stamps,
                record,
                msgs,
                {"left": counts[:, :f], "right": counts[:, f:]},
            )
        pos = np.round(closure * kuavo.CLAW_FULL_SCALE, 1)
        speed = np.full(2, CLAW_COMMAND_SPEED)
        current = np.full(2, CLAW_COMMAND_CURRENT_A)
        msgs = [
            self.registry.serialize(
                kuavo.TYPE_CLAW_COMMAND,
                kuavo.claw_command(
                    seq0 + k, int(stamps[k]), kuavo.end_effector(pos[k], speed, current)
                ),
            )
            for k in range(len(t))
        ]
        return self._topic(s, kuavo.TYPE_CLAW_COMMAND, stamps, record, msgs, {"position": pos})

    def _hand_state_messages(self) -> list[tuple[int, str, bytes]]:
        if HAND_STATE not in self.streams:
            return []
        s, rig, rng, motion = self.streams[HAND_STATE], self.rig, self.rng, self.motion
        t = _seconds(s.t_true_ns, self.plan.start_ns)
        state = motion.grasp_state(t)
        noisy = np.clip(state + rng.normal(0.0, rig.hand_state_sigma, state.shape), 0.0, 1.0)
        h = 0.01
        rate = (motion.grasp_state(t + h) - motion.grasp_state(t - h)) / (2 * h)
        blocked = (motion.grasp_command(t - motion.hand_delay_s) - state) > 0.03
        effort = np.where(blocked, 0.45, 0.05) + rng.normal(0.0, 0.01, state.shape)
        stamps = self._stamps(s, self.stream_100hz_stamp_sigma_s)
        record = self._record(s)
        seq0 = int(rng.integers(0, 100_000))
        f = self.fingers
        topic = s.topic
        if topic == kuavo.TOPIC_HAND_STATE_NEW:
            counts = np.clip(np.round(noisy * kuavo.HAND_FULL_SCALE), 0, 100).astype(np.uint8)
            msgtype = kuavo.TYPE_HAND_POSITION
            msgs = [
                self.registry.serialize(
                    msgtype,
                    kuavo.hand_position(seq0 + k, int(stamps[k]), counts[k, :f], counts[k, f:]),
                )
                for k in range(len(t))
            ]
            values: dict[str, Any] = {"left": counts[:, :f], "right": counts[:, f:]}
        elif topic == kuavo.TOPIC_HAND_STATE_OLD:
            pos = noisy * kuavo.HAND_FULL_SCALE
            vel = rate * kuavo.HAND_FULL_SCALE
            msgtype = kuavo.TYPE_JOINT_STATE
            msgs = [
                self.registry.serialize(
                    msgtype,
                    kuavo.joint_state(
                        seq0 + k, int(stamps[k]), kuavo.DEXHAND_NAMES, pos[k], vel[k], effort[k]
                    ),
                )
                for k in range(len(t))
            ]
            values = {"position": pos}
        else:
            pos = noisy * kuavo.CLAW_FULL_SCALE
            vel = rate * kuavo.CLAW_FULL_SCALE
            cmd_now = motion.grasp_command(t - motion.hand_delay_s) * kuavo.CLAW_FULL_SCALE
            codes = np.where(
                np.abs(vel) > 2.0,
                kuavo.CLAW_MOVING,
                np.where(
                    cmd_now - state * kuavo.CLAW_FULL_SCALE > 3.0,
                    kuavo.CLAW_GRABBED,
                    kuavo.CLAW_REACHED,
                ),
            ).astype(np.int8)
            msgtype = kuavo.TYPE_CLAW_STATE
            msgs = [
                self.registry.serialize(
                    msgtype,
                    kuavo.claw_state(
                        seq0 + k,
                        int(stamps[k]),
                        codes[k],
                        kuavo.end_effector(pos[k], vel[k], effort[k]),
                    ),
                )
                for k in range(len(t))
            ]
            values = {"position": pos, "state": codes}
        return self._topic(s, msgtype, stamps, record, msgs, values)

    def _camera_messages(self) -> list[tuple[int, str, bytes]]:
        out = []
        width, height = self.camera_size
        for name, topic in CAMERAS.items():
            s = self.streams[name]
            t = _seconds(s.t_true_ns, self.plan.start_ns)
            arm = self.motion.joint_position(t)[:, 12:26]
            closure = self.motion.closure_for_camera(t)
            renderer = kuavo.CameraRenderer(width, height, int(self.rng.integers(0, 2**31)))
            stamps = self._stamps(s, self.camera_stamp_sigma_s)
            record = self._record(s)
            seq0 = int(self.rng.integers(0, 100_000))
            frame_id = kuavo.CAMERA_FRAME_IDS[topic]
            msgs, digests, sizes = [], [], []
            for k in range(len(t)):
                if not s.keep[k]:
                    msgs.append(b"")
                    digests.append("")
                    sizes.append(0)
                    continue
                jpeg = renderer.render(topic, k, arm[k], float(closure[k]))
                digests.append(hashlib.sha256(jpeg).hexdigest())
                sizes.append(len(jpeg))
                msgs.append(
                    self.registry.serialize(
                        kuavo.TYPE_COMPRESSED_IMAGE,
                        kuavo.compressed_image(seq0 + k, int(stamps[k]), frame_id, jpeg),
                    )
                )
            out += self._topic(
                s,
                kuavo.TYPE_COMPRESSED_IMAGE,
                stamps,
                record,
                msgs,
                {"jpeg_sha256": np.array(digests), "jpeg_bytes": np.array(sizes)},
            )
        return out

    # --- files --------------------------------------------------------------------------

    def write(self, folder: Path) -> WrittenRecording:
        """Write the bag and label files into ``folder`` (the station folder)."""
        placer = _FaultPlacer(self.rng)
        self._place_dropout(placer)
        entries = self._joint_state_messages(placer)
        entries += self._joint_cmd_messages()
        entries += self._arm_target_messages()
        entries += self._hand_command_messages()
        entries += self._hand_state_messages()
        entries += self._camera_messages()
        entries.sort(key=lambda e: e[0])  # the recorder writes in arrival order
        rid = self.plan.recording_id
        folder.mkdir(parents=True, exist_ok=True)
        bag_path = folder / f"{rid}.bag"
        with BagWriter(
            bag_path,
            compression=self.rig.compression,
            repeat_connections=self.rig.repeat_connections,
        ) as bag:
            conns = {}
            for topic, wt in self.topics.items():
                conns[topic] = bag.add_connection(
                    topic,
                    wt.msgtype,
                    md5sum=self.registry.md5sum(wt.msgtype),
                    message_definition=self.registry.full_definition(wt.msgtype),
                    callerid=CALLERIDS[topic],
                )
            for record_ns, topic, data in entries:
                bag.write(conns[topic], record_ns, data)
        bag_start, bag_end = entries[0][0], entries[-1][0]
        files = [bag_path]
        marks = self._marks()
        meta_doc = kuavo.metadata_document(
            device_sn=self.rig.serial,
            eef_type=self.rig.eef_type,
            task_code=self.plan.task.code,
            marks=marks if self.rig.marks_in_metadata else None,
            bag_start_ns=bag_start,
            bag_end_ns=bag_end,
        )
        meta_path = folder / f"{rid}.metadata.json"
        meta_path.write_bytes(kuavo.json_bytes(meta_doc))
        files.append(meta_path)
        if not self.rig.marks_in_metadata:
            moments_path = folder / f"{rid}.moments.json"
            moments_path.write_bytes(
                kuavo.json_bytes(kuavo.moments_document(marks, bag_start, bag_end))
            )
            files.append(moments_path)
        return WrittenRecording(self.plan, files, {}, self.topics, self._truth())

    def _marks(self) -> list[kuavo.Mark]:
        tl, plan, rng = self.motion.timeline, self.plan, self.rng
        lab = kuavo.task_labels(plan.task.code)
        obj_zh, obj_en = lab.object_zh, lab.object_en
        side_en = {"left": "the left arm", "right": "the right arm", "both": "both arms"}[
            plan.task.grasp_hand
        ]
        side_zh = {"left": "左臂", "right": "右臂", "both": "双臂"}[plan.task.grasp_hand]
        spans = [
            (
                tl.reach_start_s,
                tl.grasp_pose_s,
                "move",
                f"{side_zh}移动到{obj_zh}旁",
                f"move {side_en} to the {obj_en}",
            ),
            (
                tl.grasp_pose_s,
                tl.close_end_s + 0.05,
                "pick",
                f"抓取{obj_zh}",
                f"grasp the {obj_en}",
            ),
            (
                tl.close_end_s + 0.05,
                tl.place_pose_s,
                "move",
                f"搬运{obj_zh}",
                f"carry the {obj_en}",
            ),
            (
                tl.place_pose_s,
                tl.release_end_s + 0.05,
                "place",
                f"放下{obj_zh}",
                f"place the {obj_en}",
            ),
            (
                tl.release_end_s + 0.05,
                tl.rest_s,
                "move",
                f"{side_zh}回到初始位置",
                f"return {side_en} to rest",
            ),
        ]
        marks = []
        for a, b, skill, zh, en in spans:
            a_ns = plan.start_ns + round((a + rng.normal(0, 0.05)) * NANOSECONDS_PER_SECOND)
            b_ns = plan.start_ns + round((b + rng.normal(0, 0.05)) * NANOSECONDS_PER_SECOND)
            marks.append(kuavo.Mark(a_ns, max(b_ns, a_ns + 1_000_000), skill, zh, en))
        return marks

    # --- truth --------------------------------------------------------------------------

    def _truth(self) -> dict[str, list[dict[str, Any]]]:
        plan, rig = self.plan, self.rig
        key = {"center": CENTER, "recording_id": plan.recording_id}
        faults = sorted(self.faults, key=lambda f: f["start_ns"])
        for i, f in enumerate(faults, start=1):
            f.update(key, fault_id=f"{plan.recording_id}-f{i:03d}")
        clocks = []
        for name in self.streams:
            clock = self._clock(name)
            op = clock == "operator"
            clocks.append(
                {
                    **key,
                    "stream": name,
                    "clock": clock,
                    "offset_ns": plan.operator_offset_ns if op else 0,
                    "drift_ppm": plan.operator_drift_ppm if op else 0.0,
                    "reference_ns": plan.start_ns,
                    "declared_clock": DECLARED_CLOCK[name],
                }
            )
        noise = {
            **key,
            "position_sigma_rad": rig.position_sigma_rad,
            "velocity_sigma_rad_s": rig.velocity_sigma_rad_s if rig.velocity_populated else None,
            "acceleration_sigma_rad_s2": rig.acceleration_sigma_rad_s2,
            "effort_sigma_nm": rig.effort_sigma if rig.effort_populated else None,
            "hand_state_sigma": rig.hand_state_sigma if rig.hand_state_topic else None,
            "joint_stamp_sigma_s": self.joint_stamp_sigma_s,
            "stream_100hz_stamp_sigma_s": self.stream_100hz_stamp_sigma_s,
            "vr_stamp_sigma_s": None,
            "camera_stamp_sigma_s": self.camera_stamp_sigma_s,
        }
        mismatch = plan.clock_mismatch_stream
        recording = {
            **key,
            "date": "",  # filled by the network
            "episode_id": episode_id_for(CENTER, plan.recording_id),
            "station": rig.station,
            "robot_serial": rig.serial,
            "operator_id": plan.operator_id,
            "task_code": plan.task.code,
            "grasp_hand": plan.task.grasp_hand,
            "start_ns": plan.start_ns,
            "duration_s": plan.duration_s,
            "duration_scale": plan.duration_s / plan.task.expected_duration_s,
            "true_outcome": "success",
            "true_failure_reason": None,
            "hold_s": self.motion.hold_s(),
            "emergency_stop_ns": None,
            "operator_mark": None,
            "operator_mark_status": "missing",
            "file_fault": "none",
            "missing_stream": None,
            "sim_profile": SIM_PROFILE,
            "seed": 0,  # filled by the network
            "eef_type": rig.eef_type,
            "end_effector": rig.end_effector,
            "hand_state_topic": rig.hand_state_topic,
            "velocity_populated": rig.velocity_populated,
            "effort_populated": rig.effort_populated,
            "effort_field": rig.effort_field,
            "control_latency_ms": plan.control_latency_s * 1e3,
            "clock_mismatch_stream": mismatch,
            "clock_mismatch_actual_clock": self._clock(mismatch) if mismatch else None,
        }
        return {
            "recordings": [recording],
            "faults": faults,
            "clocks": clocks,
            "noise": [noise],
            "at_stop": self._at_stop(key),
        }

    def _at_stop(self, key: dict[str, str]) -> list[dict[str, Any]]:
        s = self.streams[JOINT_STATE]
        q = self.q_true
        half = s.period_ns // 2
        min_samples = round(AT_STOP_MIN_S * JOINT_RATE_HZ)
        rows = []
        for j, name in enumerate(self.joints.names):
            for limit in (self.joints.position_min_rad[j], self.joints.position_max_rad[j]):
                on = np.concatenate([[False], q[:, j] == limit, [False]])
                edges = np.flatnonzero(np.diff(on.astype(np.int8)))
                for a, b in zip(edges[::2], edges[1::2], strict=True):
                    if b - a < min_samples:
                        continue
                    rows.append(
                        {
                            **key,
                            "stream": JOINT_STATE,
                            "channel": f"position_rad.{name}",
                            "start_ns": int(s.t_true_ns[a]) - half,
                            "end_ns": int(s.t_true_ns[b - 1]) + half,
                            "stop_rad": float(limit),
                            "limit_rad": float(limit),
                        }
                    )
        return rows


# --- the network ----------------------------------------------------------------------------


def plan_recordings(
    *,
    recordings: int,
    seed: int,
    date: str,
    duration_s: float | None = None,
    params: VariationParams = VariationParams(),
    rigs: int | None = None,
) -> list[RecordingPlan]:
    """Draw rigs, tasks, timing, clocks and fault choices for ``recordings`` recordings."""
    rng = np.random.default_rng(seed)
    fleet = draw_rigs(rng, rigs or max(recordings, 1), params)
    catalog = load_task_catalog()
    mismatch = _flag(rng, recordings, params.clock_mismatch_share)
    moving = _flag(rng, recordings, params.frozen_moving_share)
    operators = {
        st: [f"op-{x}" for x in rng.choice(np.arange(1000, 2000), 2, replace=False)]
        for st in STATIONS
    }
    day = Date.fromisoformat(date)
    clock_at = {
        st: datetime.combine(day, WORKDAY_START_LOCAL, BEIJING_TZ)
        + timedelta(seconds=float(rng.uniform(0, 1800)))
        for st in STATIONS
    }
    counters = dict.fromkeys(STATIONS, 0)
    plans = []
    for i in range(recordings):
        rig = fleet[i % len(fleet)]
        task = catalog[int(rng.integers(0, len(catalog)))]
        d = (
            duration_s
            if duration_s is not None
            else task.expected_duration_s * rng.uniform(0.85, 1.25)
        )
        counters[rig.station] += 1
        start = clock_at[rig.station]
        clock_at[rig.station] = start + timedelta(seconds=d + float(rng.uniform(60, 300)))
        offset_s = rng.uniform(*params.operator_offset_s) * rng.choice([-1.0, 1.0])
        plans.append(
            RecordingPlan(
                index=i,
                recording_id=f"{RECORDING_PREFIX}-{rig.station}-{day:%Y%m%d}-{counters[rig.station]:04d}",
                rig=rig,
                operator_id=str(rng.choice(operators[rig.station])),
                task=task,
                start_ns=round(start.timestamp() * 1e6) * 1000,
                duration_s=float(d),
                control_latency_s=float(rng.uniform(*params.control_latency_ms)) / 1e3,
                operator_offset_ns=round(offset_s * NANOSECONDS_PER_SECOND),
                operator_drift_ppm=float(
                    rng.uniform(-params.operator_drift_ppm_max, params.operator_drift_ppm_max)
                ),
                clock_mismatch_stream=(
                    str(rng.choice(params.clock_mismatch_streams)) if mismatch[i] else None
                ),
                frozen_moving=moving[i],
                seed=int(rng.integers(0, 2**63 - 1)),
            )
        )
    return plans


def _file_entry(path: Path, date_dir: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {
        "path": path.relative_to(date_dir).as_posix(),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _write_manifest(date_dir: Path, lines: list[dict[str, Any]]) -> Path:
    """Write ``_manifest.jsonl`` last: earlier lines of other recordings kept, ours replaced."""
    path = date_dir / MANIFEST_NAME
    ours = {line["recording_id"] for line in lines}
    kept = []
    if path.exists():
        for raw in path.read_text(encoding="utf-8").splitlines():
            if raw.strip() and json.loads(raw).get("recording_id") not in ours:
                kept.append(raw)
    text = "".join(f"{raw}\n" for raw in kept)
    text += "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    tmp = path.with_name(f".{MANIFEST_NAME}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_network(
    out: Path | str,
    *,
    recordings: int,
    seed: int,
    date: str,
    camera: tuple[int, int] = (640, 480),
    duration_s: float | None = None,
    params: VariationParams = VariationParams(),
    rigs: int | None = None,
) -> NetworkResult:
    """Write a Beijing drop of ``recordings`` recordings for ``date`` and its ground truth."""
    out = Path(out)
    date_dir = out / CENTER / date
    joints = load_robot_joints()
    plans = plan_recordings(
        recordings=recordings, seed=seed, date=date, duration_s=duration_s, params=params, rigs=rigs
    )
    written: list[WrittenRecording] = []
    for plan in plans:
        rec = _RecordingWriter(plan, joints, params, camera).write(date_dir / plan.rig.station)
        rec.truth["recordings"][0].update(date=date, seed=seed)
        rec.manifest_line = {
            "recording_id": plan.recording_id,
            "format": RAW_FORMAT,
            "files": [_file_entry(p, date_dir) for p in rec.files],
            "recorded_at": datetime.fromtimestamp(plan.start_ns / 1e9, BEIJING_TZ).isoformat(
                timespec="seconds"
            ),
            "station": plan.rig.station,
            "robot_serial": plan.rig.serial,
            "operator_id": plan.operator_id,
            "task_code": plan.task.code,
        }
        written.append(rec)
    _write_manifest(date_dir, [r.manifest_line for r in written])
    tables: dict[str, list[dict[str, Any]]] = {}
    for r in written:
        for table, rows in r.truth.items():
            tables.setdefault(table, []).extend(rows)
    truth_paths = write_tables(out, tables)
    return NetworkResult(out, date, date_dir, written, truth_paths)


def _camera_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"camera size must be WxH, e.g. 640x480: {text!r}"
        ) from None
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError("camera size must be at least 8x8")
    return w, h


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.independent_kuavo.network",
        description="Write a Beijing-style drop of Kuavo ROS 1 bags with ground truth.",
    )
    parser.add_argument("--out", type=Path, required=True, help="network root folder")
    parser.add_argument("--recordings", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--date", required=True, help="drop date folder, YYYY-MM-DD")
    parser.add_argument("--camera", type=_camera_size, default=(640, 480), help="WxH")
    parser.add_argument(
        "--duration-s",
        type=float,
        default=None,
        help="every recording this long (default: the task's expected duration x 0.85..1.25)",
    )
    parser.add_argument(
        "--rigs", type=int, default=None, help="robots (default: one per recording)"
    )
    parser.add_argument(
        "--clock-mismatch-share", type=float, default=VariationParams.clock_mismatch_share
    )
    args = parser.parse_args(argv)
    Date.fromisoformat(args.date)
    params = VariationParams(clock_mismatch_share=args.clock_mismatch_share)
    result = write_network(
        args.out,
        recordings=args.recordings,
        seed=args.seed,
        date=args.date,
        camera=args.camera,
        duration_s=args.duration_s,
        params=params,
        rigs=args.rigs,
    )
    for r in result.recordings:
        rig = r.plan.rig
        print(
            f"{r.recording_id}  {rig.serial}  {rig.end_effector:<4} {rig.hand_state_topic or '-':<36}"
            f" v={'on' if rig.velocity_populated else 'zero'} "
            f"{rig.effort_field}={'on' if rig.effort_populated else 'zero'} {rig.compression}"
        )
    print(f"manifest: {result.drop / MANIFEST_NAME}")
    print(f"truth: {result.out / '_truth'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
