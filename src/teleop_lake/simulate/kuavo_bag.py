"""Write one recording as a Kuavo-layout ROS 1 bag, laid out by the center's profile.

Topic names, message types, joint order, position units and hand full scale are all
looked up in the center profile (`StreamMapping`; the caller passes the profile as the
rig lays out, `rig.recording_profile`: hands or claws, its hand-state topic); nothing here
is center-specific. jointData's effort field is named as the rig names it. Messages are
serialized with the rosbags typestore and written in the order the recorder received them,
with the receive time as the bag record time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag1 import Writer

from teleop_lake.config.centers import CenterProfile, StreamMapping
from teleop_lake.config.robots import RobotModel
from teleop_lake.simulate.kuavo_types import (
    connection_definition,
    kuavo_typestore,
    normalized_msgtype,
)
from teleop_lake.simulate.streams import (
    CLAW_STATE_QUANTITIES,
    HEAD_POSE_CHANNELS,
    IMU_CHANNELS,
    SimStream,
)

EVENT_TOPIC = "/teleop/event"
EVENT_MSGTYPE = "std_msgs/msg/String"
CAMERA_MSGTYPE = "sensor_msgs/msg/CompressedImage"
# jointCmd constants per joint group: PD gains of Kuavo's position mode (control mode 2).
JOINT_KP = {"leg": 300.0, "arm": 80.0, "head": 20.0}
JOINT_KD = {"leg": 5.0, "arm": 2.0, "head": 0.5}
POSITION_CONTROL_MODE = 2
# What a claw command carries besides positions: the claw speed (percent of full speed) and
# current limit (A) the teleop station sends with every command (Leju's claw examples).
CLAW_COMMAND_SPEED = 50.0
CLAW_COMMAND_CURRENT_A = 1.0


@dataclass(frozen=True)
class BagEvent:
    """A /teleop/event message: ``text`` logged at robot-clock ``t_ns`` (its record time)."""

    t_ns: int
    text: str


class _Builder:
    """Builds message objects from the typestore's classes (jointData naming its fourth field
    ``effort_field``)."""

    def __init__(self, effort_field: str = "joint_torque") -> None:
        self.effort_field = effort_field
        self.store = kuavo_typestore(effort_field)
        self.t = self.store.types

    def header(self, seq: int, stamp_ns: int, frame_id: str) -> Any:
        return self.t["std_msgs/msg/Header"](seq=seq, stamp=self.time(stamp_ns), frame_id=frame_id)

    def time(self, t_ns: int) -> Any:
        sec, nsec = divmod(int(t_ns), 1_000_000_000)
        return self.t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec)

    def vec(self, x: float, y: float, z: float) -> Any:
        return self.t["geometry_msgs/msg/Vector3"](x=x, y=y, z=z)

    def quat(self, q: np.ndarray) -> Any:
        return self.t["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3])


def _cols(stream: SimStream, names: Sequence[str]) -> list[int]:
    return [stream.channels.index(n) for n in names]


def take_channels(stream: SimStream, names: Sequence[str], scale: float = 1.0) -> np.ndarray:
    """The named channels as a C-contiguous (n, len(names)) array (rows serialize directly)."""
    return np.ascontiguousarray(stream.values[:, _cols(stream, names)] * scale)


def position_scale(mapping: StreamMapping) -> float:
    units = {"rad": 1.0, "deg": 180.0 / np.pi}
    if mapping.position_unit not in units:
        raise ValueError(
            f"profile stream {mapping.name!r}: unknown position_unit {mapping.position_unit!r}"
        )
    return units[mapping.position_unit]


def joint_positions(stream: SimStream, mapping: StreamMapping) -> np.ndarray:
    """Positions in the profile's order and unit: joint targets/positions or hand closures."""
    cols, scales = [], []
    for j in mapping.joint_order:
        for prefix, scale in (
            ("target_rad.", position_scale(mapping)),
            ("position_rad.", position_scale(mapping)),
            ("closure.", mapping.closure_full_scale),
        ):
            if prefix + j in stream.channels:
                cols.append(stream.channels.index(prefix + j))
                scales.append(scale)
                break
        else:
            raise ValueError(f"stream {stream.name!r} has no channel for joint {j!r}")
    return np.ascontiguousarray(stream.values[:, cols] * np.asarray(scales))


def _sensors_data(b: _Builder, s: SimStream, m: StreamMapping, robot: RobotModel) -> list[Any]:
    order = m.joint_order
    q = take_channels(s, [f"position_rad.{j}" for j in order], position_scale(m))
    v = take_channels(s, [f"velocity_rad_s.{j}" for j in order], position_scale(m))
    vd = take_channels(s, [f"acceleration_rad_s2.{j}" for j in order], position_scale(m))
    tau = take_channels(s, [f"effort_n_m.{j}" for j in order])
    imu = take_channels(s, IMU_CHANNELS)
    jd, imu_t, ee_t = (
        b.t[f"kuavo_msgs/msg/{n}"] for n in ("jointData", "imuData", "endEffectorData")
    )
    empty = np.zeros(0)
    msgs = []
    for i in range(s.n_samples):
        g = imu[i]
        msgs.append(
            b.t["kuavo_msgs/msg/sensorsData"](
                header=b.header(i, s.stamp_ns[i], ""),
                sensor_time=b.time(s.stamp_ns[i]),
                joint_data=jd(
                    joint_q=q[i], joint_v=v[i], joint_vd=vd[i], **{b.effort_field: tau[i]}
                ),
                imu_data=imu_t(
                    gyro=b.vec(g[0], g[1], g[2]),
                    acc=b.vec(g[3], g[4], g[5]),
                    free_acc=b.vec(g[3], g[4], g[5] - 9.81),
                    quat=b.quat(g[6:10]),
                ),
                end_effector_data=ee_t(name=[], position=empty, velocity=empty, effort=empty),
            )
        )
    return msgs


def _joint_cmd(b: _Builder, s: SimStream, m: StreamMapping, robot: RobotModel) -> list[Any]:
    order = m.joint_order
    q = joint_positions(s, m)
    v = take_channels(s, [f"velocity_rad_s.{j}" for j in order], position_scale(m))
    joints = {j.name: j for j in robot.joints}
    zeros = np.zeros(len(order))
    tau_max = np.array([joints[j].effort_max_nm for j in order])
    ones = np.ones(len(order))
    kp = np.array([JOINT_KP[joints[j].group] for j in order])
    kd = np.array([JOINT_KD[joints[j].group] for j in order])
    modes = np.full(len(order), POSITION_CONTROL_MODE, dtype=np.int32)
    cls = b.t["kuavo_msgs/msg/jointCmd"]
    return [
        cls(
            header=b.header(i, s.stamp_ns[i], ""),
            joint_q=q[i],
            joint_v=v[i],
            tau=zeros,
            tau_max=tau_max,
            tau_ratio=ones,
            joint_kp=kp,
            joint_kd=kd,
            control_modes=modes,
        )
        for i in range(s.n_samples)
    ]


def _joint_state(b: _Builder, s: SimStream, m: StreamMapping, robot: RobotModel) -> list[Any]:
    pos = joint_positions(s, m)
    names = list(m.joint_order)
    empty = np.zeros(0)
    cls = b.t["sensor_msgs/msg/JointState"]
    return [
        cls(
            header=b.header(i, s.stamp_ns[i], ""),
            name=names,
            position=pos[i],
            velocity=empty,
            effort=empty,
        )
        for i in range(s.n_samples)
    ]


def _hand_position(b: _Builder, s: SimStream, m: StreamMapping, robot: RobotModel) -> list[Any]:
    raw = np.clip(np.round(joint_positions(s, m)), 0, 255).astype(np.uint8)
    left = np.array([j.startswith("l_") for j in m.joint_order])
    left_raw, right_raw = np.ascontiguousarray(raw[:, left]), np.ascontiguousarray(raw[:, ~left])
    cls = b.t["kuavo_msgs/msg/robotHandPosition"]
    return [
        cls(
            header=b.header(i, s.stamp_ns[i], ""),
            left_hand_position=left_raw[i],
            right_hand_position=right_raw[i],
        )
        for i in range(s.n_samples)
    ]


def _pose(b: _Builder, s: SimStream, m: StreamMapping, robot: RobotModel) -> list[Any]:
    x = take_channels(s, HEAD_POSE_CHANNELS)
    pose_t, point_t, cls = (b.t[f"geometry_msgs/msg/{n}"] for n in ("Pose", "Point", "PoseStamped"))
    return [
        cls(
            header=b.header(i, s.stamp_ns[i], "vr_world"),
            pose=pose_t(
                position=point_t(x=x[i, 0], y=x[i, 1], z=x[i, 2]), orientation=b.quat(x[i, 3:7])
            ),
        )
        for i in range(s.n_samples)
    ]


def _claw_command(b: _Builder, s: SimStream, m: StreamMapping, robot: RobotModel) -> list[Any]:
    """lejuClawCommand: positions 0..100 per claw, with the station's speed and current limit."""
    pos = joint_positions(s, m)
    names = list(m.joint_order)
    speed = np.full(len(names), CLAW_COMMAND_SPEED)
    current = np.full(len(names), CLAW_COMMAND_CURRENT_A)
    ee_t, cls = b.t["kuavo_msgs/msg/endEffectorData"], b.t["kuavo_msgs/msg/lejuClawCommand"]
    return [
        cls(
            header=b.header(i, s.stamp_ns[i], ""),
            data=ee_t(name=names, position=pos[i], velocity=speed, effort=current),
        )
        for i in range(s.n_samples)
    ]


def _claw_state(b: _Builder, s: SimStream, m: StreamMapping, robot: RobotModel) -> list[Any]:
    """lejuClawState: a state code per claw and positions 0..100, speeds, motor currents (A)."""
    pos = joint_positions(s, m)
    speed_q, current_q, code_q = CLAW_STATE_QUANTITIES
    scale = m.closure_full_scale
    speed = take_channels(s, [f"{speed_q}.{j}" for j in m.joint_order], scale)
    current = take_channels(s, [f"{current_q}.{j}" for j in m.joint_order])
    codes = np.ascontiguousarray(
        take_channels(s, [f"{code_q}.{j}" for j in m.joint_order]).astype(np.int8)
    )
    names = list(m.joint_order)
    ee_t, cls = b.t["kuavo_msgs/msg/endEffectorData"], b.t["kuavo_msgs/msg/lejuClawState"]
    return [
        cls(
            header=b.header(i, s.stamp_ns[i], ""),
            state=codes[i],
            data=ee_t(name=names, position=pos[i], velocity=speed[i], effort=current[i]),
        )
        for i in range(s.n_samples)
    ]


ENCODERS: dict[str, Callable[[_Builder, SimStream, StreamMapping, RobotModel], list[Any]]] = {
    "kuavo_msgs/msg/sensorsData": _sensors_data,
    "kuavo_msgs/msg/jointCmd": _joint_cmd,
    "sensor_msgs/msg/JointState": _joint_state,
    "kuavo_msgs/msg/robotHandPosition": _hand_position,
    "kuavo_msgs/msg/lejuClawCommand": _claw_command,
    "kuavo_msgs/msg/lejuClawState": _claw_state,
    "geometry_msgs/msg/PoseStamped": _pose,
}


class _ImageMessages(Sequence[bytes]):
    """sensor_msgs/CompressedImage messages of one camera, serialized when indexed."""

    def __init__(self, b: _Builder, frames: Sequence[bytes], s: SimStream, frame_id: str) -> None:
        self._b, self._frames, self._s, self._frame_id = b, frames, s, frame_id

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]
        msg = self._b.t[CAMERA_MSGTYPE](
            header=self._b.header(i, self._s.stamp_ns[i], self._frame_id),
            format="jpeg",
            data=np.frombuffer(self._frames[i], np.uint8),
        )
        return bytes(self._b.store.serialize_ros1(msg, CAMERA_MSGTYPE))


class _Subset(Sequence[bytes]):
    """``items[indices[k]]`` for k, read when indexed."""

    def __init__(self, items: Sequence[bytes], indices: np.ndarray) -> None:
        self._items, self._indices = items, indices

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, k: int) -> bytes:  # type: ignore[override]
        return self._items[int(self._indices[k])]


def write_kuavo_bag(
    path: str | os.PathLike[str],
    profile: CenterProfile,
    robot: RobotModel,
    streams: dict[str, SimStream],
    frames: dict[str, Sequence[bytes]],
    events: Sequence[BagEvent],
    effort_field: str = "joint_torque",
) -> int:
    """Write the streams present in ``streams`` (cameras from ``frames``) and the events.

    Streams the profile maps but ``streams`` lacks are not written (a missing stream).
    ``effort_field`` names jointData's fourth field. Returns the number of messages written.
    """
    b = _Builder(effort_field)
    # (topic, msgtype, record times, serialized messages) per connection; camera messages
    # are serialized as they are written, so a recording's frames are never all in memory
    plan: list[tuple[str, str, np.ndarray, Sequence[bytes]]] = []
    for name, mapping in profile.streams.items():
        if name not in streams:
            continue
        msgtype = normalized_msgtype(mapping.message)
        encode = ENCODERS.get(msgtype)
        if encode is None:
            raise ValueError(
                f"center {profile.name}: no encoder for message type {mapping.message!r}"
            )
        s = streams[name]
        data = [bytes(b.store.serialize_ros1(msg, msgtype)) for msg in encode(b, s, mapping, robot)]
        plan.append((mapping.topic, msgtype, s.received_ns, data))
    for cam, topic in profile.cameras.items():
        if cam not in streams or cam not in frames:
            continue
        s = streams[cam]
        frame_id = topic.strip("/").split("/")[0] + "_color_optical_frame"
        plan.append(
            (topic, CAMERA_MSGTYPE, s.received_ns, _ImageMessages(b, frames[cam], s, frame_id))
        )
    string_t = b.t[EVENT_MSGTYPE]
    ev_data = [bytes(b.store.serialize_ros1(string_t(data=e.text), EVENT_MSGTYPE)) for e in events]
    plan.append(
        (EVENT_TOPIC, EVENT_MSGTYPE, np.array([e.t_ns for e in events], dtype=np.int64), ev_data)
    )

    times = np.concatenate([p[2] for p in plan])
    conn_idx = np.concatenate([np.full(len(p[2]), k) for k, p in enumerate(plan)])
    row_idx = np.concatenate([np.arange(len(p[2])) for p in plan])
    order = np.lexsort((row_idx, conn_idx, times))
    with Writer(Path(path)) as writer:
        conns = []
        for t, mt, _, _ in plan:
            msgdef, md5sum = connection_definition(b.store, mt)
            conns.append(writer.add_connection(t, mt, msgdef=msgdef, md5sum=md5sum))
        for k in order:
            c, r = int(conn_idx[k]), int(row_idx[k])
            writer.write(conns[c], int(times[k]), plan[c][3][r])
    return len(order)


def write_split_kuavo_bag(
    base: Path,
    split_ns: int,
    profile: CenterProfile,
    robot: RobotModel,
    streams: dict[str, SimStream],
    frames: dict[str, Sequence[bytes]],
    events: Sequence[BagEvent],
    effort_field: str = "joint_torque",
) -> list[Path]:
    """Write the recording as ``rosbag record --split --duration`` does: ``<base>_<k>.bag``.

    Part ``k`` holds the messages received in ``[t0 + k * split_ns, t0 + (k + 1) * split_ns)``
    where ``t0`` is the first receive time; each part is a complete bag whose connections
    are the topics it holds. Returns the part paths in order.
    """
    starts = [int(s.received_ns[0]) for s in streams.values() if s.n_samples]
    starts += [e.t_ns for e in events]
    t0 = min(starts)

    def part_of(t_ns: np.ndarray) -> np.ndarray:
        return (np.asarray(t_ns, dtype=np.int64) - t0) // split_ns

    ends = [int(s.received_ns[-1]) for s in streams.values() if s.n_samples]
    last = (max([t0, *ends, *(e.t_ns for e in events)]) - t0) // split_ns
    paths: list[Path] = []
    for k in range(last + 1):
        part_streams = {n: s.keep(part_of(s.received_ns) == k) for n, s in streams.items()}
        part_frames: dict[str, Sequence[bytes]] = {
            n: _Subset(fr, np.flatnonzero(part_of(streams[n].received_ns) == k))
            for n, fr in frames.items()
            if n in streams
        }
        part_events = [e for e in events if (e.t_ns - t0) // split_ns == k]
        part_streams = {n: s for n, s in part_streams.items() if s.n_samples}
        path = base.with_name(f"{base.name}_{k}.bag")
        write_kuavo_bag(path, profile, robot, part_streams, part_frames, part_events, effort_field)
        paths.append(path)
    return paths
