"""Write one recording as a RoboMIND-style HDF5 episode file, laid out by the center's profile.

The layout (the ``hdf5`` format; `teleop_lake.formats.hdf5_episode` reads it), one file
``<recording_id>.hdf5``:
- ``master/`` holds what the teleoperation device sent (operator clock): the exoskeleton's
  arm targets, the glove's hand command, the VR head pose; ``puppet/`` what the robot
  measured and was commanded (robot clock); ``observations/images/<camera>`` the cameras;
  ``events`` the recorder's event texts. Each stream is a group at the profile's ``topic``.
- every stream group has its own ``timestamps`` (int64, attribute ``unit`` = "ns") and,
  per the profile's ``message``: ``joints`` -> ``joint_position`` (+ ``joint_velocity``,
  ``joint_effort`` for the joint state), each (n, joints) float64 with the joint names as
  the ``joint_names`` attribute and the ``unit`` attribute; ``pose`` -> ``position`` (n, 3)
  and ``orientation`` (n, 4, x y z w); ``images`` -> ``data``, encoded JPEG frames as
  variable-length uint8 arrays.
Rows are sorted by stamp. Written with h5py without object timestamps, so the same episode
gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from teleop_lake.config.centers import CenterProfile, StreamMapping
from teleop_lake.simulate.kuavo_bag import BagEvent, joint_positions, position_scale, take_channels
from teleop_lake.simulate.streams import HEAD_POSE_CHANNELS, SimStream

FORMAT_NAME = "robomind-style-episode/1"
GROUP_DESCRIPTIONS = {
    "master": "teleoperation device: exoskeleton arm targets, glove hand command, VR head pose",
    "puppet": "robot: measured joint state, joint command, hand state",
    "observations": "cameras",
}
EVENTS_PATH = "events"


def _dataset(group: h5py.Group, name: str, data: Any, **attrs: Any) -> None:
    ds = group.create_dataset(name, data=data, track_times=False)
    for k, v in attrs.items():
        ds.attrs[k] = v


def _timestamps(group: h5py.Group, s: SimStream) -> np.ndarray:
    order = np.argsort(s.stamp_ns, kind="stable")
    _dataset(group, "timestamps", s.stamp_ns[order].astype(np.int64), unit="ns")
    return order


def _joints(group: h5py.Group, s: SimStream, m: StreamMapping) -> None:
    order = _timestamps(group, s)
    names = np.array(m.joint_order, dtype=h5py.string_dtype())
    unit = "closure" if s.channels[0].startswith("closure.") else m.position_unit
    _dataset(group, "joint_position", joint_positions(s, m)[order], joint_names=names, unit=unit)
    for quantity, prefix, scale, unit in (
        ("joint_velocity", "velocity_rad_s.", position_scale(m), f"{m.position_unit}/s"),
        ("joint_effort", "effort_n_m.", 1.0, "N*m"),
    ):
        wanted = [f"{prefix}{j}" for j in m.joint_order]
        if s.name == "joint_state" and all(c in s.channels for c in wanted):
            values = take_channels(s, wanted, scale)[order]
            _dataset(group, quantity, values, joint_names=names, unit=unit)


def _pose(group: h5py.Group, s: SimStream, m: StreamMapping) -> None:
    order = _timestamps(group, s)
    x = take_channels(s, HEAD_POSE_CHANNELS)[order]
    _dataset(group, "position", x[:, :3], unit="m")
    _dataset(group, "orientation", x[:, 3:], order="x y z w")


LAYOUTS = {"joints": _joints, "pose": _pose}


def _group(f: h5py.File, path: str) -> h5py.Group:
    top = path.strip("/").split("/")[0]
    if top not in f and top in GROUP_DESCRIPTIONS:
        f.create_group(top).attrs["description"] = GROUP_DESCRIPTIONS[top]
    return f.create_group(path.strip("/"))


def write_hdf5_episode(
    path: Path,
    profile: CenterProfile,
    robot_model: str,
    streams: dict[str, SimStream],
    frames: dict[str, Sequence[bytes]],
    events: Sequence[BagEvent],
    robot_serial: str,
) -> list[Path]:
    """Write the episode file ``path`` (streams absent from ``streams`` are not written)."""
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["robot_model"] = robot_model
        f.attrs["robot_serial"] = robot_serial
        f.attrs["recording_id"] = path.stem
        for name, mapping in profile.streams.items():
            if name not in streams:
                continue  # a stream the recorder lost: its group is absent
            layout = LAYOUTS.get(mapping.message)
            if layout is None:
                raise ValueError(f"center {profile.name}: no HDF5 layout {mapping.message!r}")
            group = _group(f, mapping.topic)
            group.attrs["clock"] = mapping.clock
            layout(group, streams[name], mapping)
        for cam, topic in profile.cameras.items():
            if cam not in streams or cam not in frames:
                continue
            group = _group(f, topic)
            group.attrs["clock"] = "robot"
            order = _timestamps(group, streams[cam])
            data = group.create_dataset(
                "data", (len(order),), dtype=h5py.vlen_dtype(np.uint8), track_times=False
            )
            data[:] = [np.frombuffer(frames[cam][int(i)], np.uint8) for i in order]
            data.attrs["encoding"] = "jpeg"
        group = f.create_group(EVENTS_PATH)
        _dataset(group, "timestamps", np.array([e.t_ns for e in events], np.int64), unit="ns")
        _dataset(group, "kind", np.array([e.text for e in events], dtype=h5py.string_dtype()))
    return [path]
