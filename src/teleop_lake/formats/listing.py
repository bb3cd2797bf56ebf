"""`list_streams`: what a recording holds, for `teleop-lake inspect`, whatever its format.

What belongs here: recognising a recording by its path (a ROS 1 ``.bag``, an ``.mcap``
file, a rosbag2 folder with ``metadata.yaml`` in MCAP or SQLite storage, an HDF5
episode ``.hdf5``/``.h5``, a Parquet export folder with ``sidecar.json`` or one of its
``.parquet`` files) and listing its streams (`TopicInfo`: type or layout, count, rate,
span, longest gap) with the container readers (`stream_listing` for the exported
formats). SQLite rosbag2 storage is listed with rosbags' reader (it is read nowhere
else: no center delivers it). Nothing here decodes message contents.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from teleop_lake.formats.mcap_container import list_mcap_topics
from teleop_lake.formats.ros1_bag import TopicInfo, list_topics
from teleop_lake.formats.stream_listing import (
    HDF5_SUFFIXES,
    list_hdf5_streams,
    list_parquet_dir,
    list_parquet_file,
)

SUPPORTED = (
    "ROS 1 bags (.bag), MCAP files (.mcap), rosbag2 folders (metadata.yaml + .mcap/.db3), "
    "HDF5 episodes (.hdf5/.h5), Parquet export folders (sidecar.json + .parquet) or files"
)


class UnsupportedRecordingError(ValueError):
    """The path is not a recording any reader here understands."""


def _list_rosbag2_dir(path: Path) -> list[TopicInfo]:
    mcaps = sorted(path.glob("*.mcap"))
    if mcaps:
        merged: dict[str, list[TopicInfo]] = {}
        for f in mcaps:
            for t in list_mcap_topics(f):
                merged.setdefault(t.topic, []).append(t)
        return [_merge(parts) for _, parts in sorted(merged.items())]
    from rosbags.rosbag2 import Reader

    with Reader(path) as reader:
        times: dict[str, list[int]] = {c.topic: [] for c in reader.connections}
        types = {c.topic: c.msgtype for c in reader.connections}
        for conn, t_ns, _ in reader.messages():
            times[conn.topic].append(t_ns)
    return [
        TopicInfo.from_times(topic, types[topic], np.asarray(t, dtype=np.int64))
        for topic, t in sorted(times.items())
    ]


def _merge(parts: list[TopicInfo]) -> TopicInfo:
    if len(parts) == 1:
        return parts[0]
    count = sum(p.count for p in parts)
    first, last = min(p.first_ns for p in parts), max(p.last_ns for p in parts)
    rate = (count - 1) / ((last - first) / 1e9) if count > 1 and last > first else 0.0
    gap = max(p.max_gap_s for p in parts)
    return TopicInfo(parts[0].topic, parts[0].msgtype, count, first, last, rate, gap)


def list_streams(path: Path) -> list[TopicInfo]:
    """Every stream of the recording at ``path``; `UnsupportedRecordingError` otherwise."""
    path = Path(path)
    if path.is_dir():
        if (path / "metadata.yaml").is_file() or any(path.glob("*.mcap")):
            return _list_rosbag2_dir(path)
        if (path / "sidecar.json").is_file() or any(path.glob("*.parquet")):
            return list_parquet_dir(path)
        raise UnsupportedRecordingError(
            f"{path} is a folder without a recording; supported: {SUPPORTED}"
        )
    if path.suffix == ".bag":
        return list_topics(path)
    if path.suffix == ".mcap":
        return list_mcap_topics(path)
    if path.suffix in HDF5_SUFFIXES:
        return list_hdf5_streams(path)
    if path.suffix == ".parquet":
        return list_parquet_file(path)
    if path.name == "sidecar.json":
        return list_parquet_dir(path.parent)
    if path.name == "metadata.yaml" or path.suffix == ".db3":
        return _list_rosbag2_dir(path.parent)
    raise UnsupportedRecordingError(f"{path.name}: unknown recording type; supported: {SUPPORTED}")
