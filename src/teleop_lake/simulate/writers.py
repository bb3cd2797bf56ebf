"""Which writer lays out a simulated recording in a center's raw format.

What belongs here: `write_recording`, the one place that maps a profile's
``raw_format`` to the module that writes it with the format's own library, and the
file layout of each format inside a station folder. The writers get the profile as the
episode's rig lays it out (`rig.recording_profile`: its end effector's streams, its
hand-state topic). Adding a simulated format is adding a writer module and one entry here.
"""

from __future__ import annotations

from pathlib import Path

from teleop_lake.config.centers import CenterProfile
from teleop_lake.config.robots import RobotModel
from teleop_lake.simulate.episode import EpisodeData
from teleop_lake.simulate.hdf5_episode import write_hdf5_episode
from teleop_lake.simulate.kuavo_bag import write_kuavo_bag, write_split_kuavo_bag
from teleop_lake.simulate.parquet_dir import write_parquet_dir
from teleop_lake.simulate.rig import recording_profile
from teleop_lake.simulate.ros2_bag import write_ros2_mcap


def write_recording(
    station_dir: Path,
    recording_id: str,
    profile: CenterProfile,
    robot: RobotModel,
    ep: EpisodeData,
    duration_scale: float = 1.0,
    robot_serial: str = "",
) -> list[Path]:
    """Write one recording's raw files; return them, the file a fault would damage first."""
    profile = recording_profile(profile, ep.rig)
    effort_field = ep.rig.effort_field or "joint_torque"
    split_s = profile.recorder.get("split_duration_s")
    if profile.raw_format == "ros1-bag" and split_s:
        # Sessions shrink with the duration scale, so does the recorder's split interval.
        split_ns = round(float(split_s) * duration_scale * 1e9)
        return write_split_kuavo_bag(
            station_dir / recording_id,
            split_ns,
            profile,
            robot,
            ep.streams,
            ep.frames,
            ep.events,
            effort_field,
        )
    if profile.raw_format == "ros1-bag":
        bag_path = station_dir / f"{recording_id}.bag"
        write_kuavo_bag(bag_path, profile, robot, ep.streams, ep.frames, ep.events, effort_field)
        return [bag_path]
    if profile.raw_format == "ros2-mcap":
        return write_ros2_mcap(
            station_dir / recording_id,
            profile,
            ep.streams,
            ep.frames,
            ep.events,
            compression=ep.rig.rosbag2_compression,
            storage=ep.rig.mcap_storage,
        )
    if profile.raw_format == "parquet-dir":
        return write_parquet_dir(
            station_dir / recording_id, profile, ep.streams, ep.frames, ep.events, robot_serial
        )
    if profile.raw_format == "hdf5":
        return write_hdf5_episode(
            station_dir / f"{recording_id}.hdf5",
            profile,
            robot.name,
            ep.streams,
            ep.frames,
            ep.events,
            robot_serial,
        )
    raise ValueError(
        f"center {profile.name}: the simulator writes no {profile.raw_format!r} recordings; "
        "add a writer to teleop_lake/simulate/writers.py"
    )
