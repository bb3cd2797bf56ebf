"""Write one recording as a ROS 2 bag in MCAP storage (CDR), laid out by the center's profile.

Standard messages only, as a ROS 2 rig records them: sensor_msgs/JointState for the
joint state (position, velocity, effort), the joint command, the exoskeleton's arm
targets and the hands (closures on the profile's full scale), geometry_msgs/PoseStamped
for the VR head, sensor_msgs/CompressedImage for the cameras, std_msgs/String events.
Messages are serialized with rosbags' ROS 2 (Humble) type store and written with its
rosbag2 writer (MCAP storage): a folder ``<recording_id>/`` with ``metadata.yaml`` and
``<recording_id>.mcap``. Header stamps are on each stream's own clock; the MCAP log
time is when the recorder received the message (robot clock), so the two differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from mcap.reader import make_reader
from mcap.writer import CompressionType
from mcap.writer import Writer as McapWriter
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from teleop_lake.config.centers import CenterProfile, StreamMapping
from teleop_lake.simulate.kuavo_bag import (
    CAMERA_MSGTYPE,
    EVENT_MSGTYPE,
    EVENT_TOPIC,
    BagEvent,
    joint_positions,
    position_scale,
    take_channels,
)
from teleop_lake.simulate.kuavo_types import normalized_msgtype
from teleop_lake.simulate.streams import HEAD_POSE_CHANNELS, SimStream

ROSBAG2_VERSION: Literal[8] = 8  # metadata.yaml version written by ROS 2 Humble/Iron recorders


@cache
def ros2_typestore() -> Typestore:
    return get_typestore(Stores.ROS2_HUMBLE)


def _header(t: dict[str, Any], stamp_ns: int, frame_id: str) -> Any:
    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    time = t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec)
    return t["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)


def _optional(s: SimStream, prefix: str, order: Sequence[str], scale: float) -> np.ndarray:
    names = [f"{prefix}{j}" for j in order]
    if all(n in s.channels for n in names):
        return take_channels(s, names, scale)
    return np.zeros((s.n_samples, 0))


def _joint_state(t: dict[str, Any], s: SimStream, m: StreamMapping) -> list[Any]:
    """JointState with names, positions and, when the stream has them, velocity and effort."""
    pos = joint_positions(s, m)
    vel = _optional(s, "velocity_rad_s.", m.joint_order, position_scale(m))
    eff = _optional(s, "effort_n_m.", m.joint_order, 1.0)
    names = list(m.joint_order)
    cls = t["sensor_msgs/msg/JointState"]
    return [
        cls(
            header=_header(t, s.stamp_ns[i], ""),
            name=names,
            position=pos[i],
            velocity=vel[i],
            effort=eff[i],
        )
        for i in range(s.n_samples)
    ]


def _pose(t: dict[str, Any], s: SimStream, m: StreamMapping) -> list[Any]:
    x = take_channels(s, HEAD_POSE_CHANNELS)
    pose_t, point_t, quat_t = (t[f"geometry_msgs/msg/{n}"] for n in ("Pose", "Point", "Quaternion"))
    cls = t["geometry_msgs/msg/PoseStamped"]
    return [
        cls(
            header=_header(t, s.stamp_ns[i], "vr_world"),
            pose=pose_t(
                position=point_t(x=x[i, 0], y=x[i, 1], z=x[i, 2]),
                orientation=quat_t(x=x[i, 3], y=x[i, 4], z=x[i, 5], w=x[i, 6]),
            ),
        )
        for i in range(s.n_samples)
    ]


ENCODERS: dict[str, Callable[[dict[str, Any], SimStream, StreamMapping], list[Any]]] = {
    "sensor_msgs/msg/JointState": _joint_state,
    "geometry_msgs/msg/PoseStamped": _pose,
}


def write_ros2_mcap(
    bag_dir: Path,
    profile: CenterProfile,
    streams: dict[str, SimStream],
    frames: dict[str, Sequence[bytes]],
    events: Sequence[BagEvent],
    compression: str = "",
    storage: str = "",
) -> list[Path]:
    """Write the rosbag2 folder ``bag_dir``; return its files (the storage file first).
    ``compression`` "message" or "file": rosbag2's own zstd compression, per message or of
    the whole storage file (then ``.mcap.zstd``). ``storage`` "fastwrite" or "zstd_chunks":
    the MCAP file rewritten as a recorder with that storage configuration writes it
    (`restore_mcap`); not with ``compression`` "file"."""
    if storage and compression == "file":
        raise ValueError("a storage configuration is not simulated under file compression")
    store = ros2_typestore()
    t = store.types
    plan: list[tuple[str, str, np.ndarray, list[bytes]]] = []
    for name, mapping in profile.streams.items():
        if name not in streams:
            continue
        msgtype = normalized_msgtype(mapping.message)
        encode = ENCODERS.get(msgtype)
        if encode is None:
            raise ValueError(f"center {profile.name}: no ROS 2 encoder for {mapping.message!r}")
        s = streams[name]
        data = [bytes(store.serialize_cdr(msg, msgtype)) for msg in encode(t, s, mapping)]
        plan.append((mapping.topic, msgtype, s.received_ns, data))
    for cam, topic in profile.cameras.items():
        if cam not in streams or cam not in frames:
            continue
        s = streams[cam]
        frame_id = topic.strip("/").split("/")[0] + "_optical_frame"
        cls = t[CAMERA_MSGTYPE]
        data = [
            bytes(
                store.serialize_cdr(
                    cls(
                        header=_header(t, s.stamp_ns[i], frame_id),
                        format="jpeg",
                        data=np.frombuffer(f, np.uint8),
                    ),
                    CAMERA_MSGTYPE,
                )
            )
            for i, f in enumerate(frames[cam])
        ]
        plan.append((topic, CAMERA_MSGTYPE, s.received_ns, data))
    string_t = t[EVENT_MSGTYPE]
    ev_data = [bytes(store.serialize_cdr(string_t(data=e.text), EVENT_MSGTYPE)) for e in events]
    plan.append(
        (EVENT_TOPIC, EVENT_MSGTYPE, np.array([e.t_ns for e in events], dtype=np.int64), ev_data)
    )
    times = np.concatenate([p[2] for p in plan])
    conn_idx = np.concatenate([np.full(len(p[2]), k) for k, p in enumerate(plan)])
    row_idx = np.concatenate([np.arange(len(p[2])) for p in plan])
    order = np.lexsort((row_idx, conn_idx, times))
    writer = Writer(bag_dir, version=ROSBAG2_VERSION, storage_plugin=StoragePlugin.MCAP)
    if compression:
        writer.set_compression(CompressionMode[compression.upper()], CompressionFormat.ZSTD)
    writer.open()
    try:
        conns = [writer.add_connection(tp, mt, typestore=store) for tp, mt, _, _ in plan]
        for k in order:
            c, r = int(conn_idx[k]), int(row_idx[k])
            writer.write(conns[c], int(times[k]), plan[c][3][r])
    finally:
        writer.close()
    name = f"{bag_dir.name}.mcap" + (".zstd" if compression == "file" else "")
    if storage:
        restore_mcap(bag_dir / name, storage)
    return [bag_dir / name, bag_dir / "metadata.yaml"]


MCAP_STORAGES = ("fastwrite", "zstd_chunks")
MCAP_CHUNK_BYTES = 1 << 20


def restore_mcap(path: Path, storage: str) -> None:
    """Rewrite the MCAP file at ``path`` with the MCAP library's own writer, as a recorder
    configured so writes it: ``fastwrite`` (records straight in the data section, no chunks,
    no CRCs) or ``zstd_chunks`` (zstd-compressed chunks of 1 MB with CRCs and message
    indexes). Schemas, channels (ids kept in order), messages in file order and metadata
    records are carried over."""
    if storage not in MCAP_STORAGES:
        raise ValueError(f"unknown MCAP storage {storage!r}; one of {MCAP_STORAGES}")
    tmp = path.with_name(path.name + ".restore")
    chunked = storage == "zstd_chunks"
    with path.open("rb") as src, tmp.open("wb") as out:
        reader = make_reader(src)
        writer = McapWriter(
            out,
            chunk_size=MCAP_CHUNK_BYTES,
            compression=CompressionType.ZSTD if chunked else CompressionType.NONE,
            use_chunking=chunked,
            enable_crcs=chunked,
        )
        header, summary = reader.get_header(), reader.get_summary()
        if summary is None:
            raise ValueError(f"{path}: no summary to take the channels from")
        writer.start(profile=header.profile, library=header.library)
        # every channel, also one without messages, in the order of its id
        schemas = {
            sid: writer.register_schema(x.name, x.encoding, x.data)
            for sid, x in sorted(summary.schemas.items())
        }
        channels = {
            cid: writer.register_channel(
                c.topic, c.message_encoding, schemas.get(c.schema_id, 0), dict(c.metadata)
            )
            for cid, c in sorted(summary.channels.items())
        }
        for _, channel, message in reader.iter_messages(log_time_order=False):
            writer.add_message(
                channels[channel.id],
                message.log_time,
                message.data,
                message.publish_time,
                message.sequence,
            )
        for record in reader.iter_metadata():
            writer.add_metadata(record.name, dict(record.metadata))
        writer.finish()
    tmp.replace(path)
