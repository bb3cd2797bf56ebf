"""Write one recording as a newer rig exports it: a folder of Parquet files plus a JSON sidecar.

The layout (the ``parquet-dir`` format; `teleop_lake.formats.parquet_dir` reads it):
``<recording_id>/sidecar.json`` (rig, units, time unit, the files and their row counts),
one Parquet file per stream named by the profile's ``topic``, ``events.jsonl`` (one JSON
object per event) and one Parquet file per camera (``t_us``, ``t_recv_us``, ``jpeg``).
Each stream file's layout follows the profile's ``message``:
- ``long``: one row per time and joint (``t_us``, ``t_recv_us``, ``joint`` and the value
  columns the profile's ``columns`` names), rows of one time together;
- ``wide``: ``t_us``, ``t_recv_us`` and one column per joint;
- ``pose``: ``t_us``, ``t_recv_us``, ``x``, ``y``, ``z``, ``qx``, ``qy``, ``qz``, ``qw``.
Stamps are microseconds on the stream's own clock (rows sorted by stamp, as the rig's
exporter writes them), ``t_recv_us`` the robot computer's receive time; angles are in the
profile's unit (degrees at Hefei), hand closures on its full scale, joint names the rig's
own (the profile's ``joint_name_map`` read backwards). Written with polars. Deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from teleop_lake.config.centers import CenterProfile, StreamMapping
from teleop_lake.simulate.kuavo_bag import BagEvent, joint_positions, position_scale, take_channels
from teleop_lake.simulate.streams import HEAD_POSE_CHANNELS, SimStream

SIDECAR_NAME = "sidecar.json"
EVENTS_NAME = "events.jsonl"
SIDECAR_SCHEMA = "teleop-rig-parquet/1"
RIG_NAME = "tk-upper-body-rig v2.3"
POSE_COLUMNS = ("x", "y", "z", "qx", "qy", "qz", "qw")
# Value column (profile ``columns`` key) -> SimStream channel prefix and whether degrees apply.
_LONG_QUANTITIES = {
    "position_raw": (("target_rad.", "position_rad."), True),
    "velocity_raw": (("velocity_rad_s.",), True),
    "effort_raw": (("effort_n_m.",), False),
}


def rig_joint_names(mapping: StreamMapping) -> list[str]:
    """The rig's names for the profile's ``joint_order`` (canonical names)."""
    raw = mapping.extra.get("joint_name_map", {})
    to_rig = {str(canonical): str(rig) for rig, canonical in raw.items()}
    return [to_rig.get(j, j) for j in mapping.joint_order]


def _sorted(s: SimStream) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order by stamp, stamps and receive times in microseconds (floor)."""
    order = np.argsort(s.stamp_ns, kind="stable")
    return order, s.stamp_ns[order] // 1000, s.received_ns[order] // 1000


def _long_frame(s: SimStream, m: StreamMapping) -> pl.DataFrame:
    order, t_us, recv_us = _sorted(s)
    n, joints = len(order), rig_joint_names(m)
    columns: dict[str, Any] = {
        "t_us": np.repeat(t_us, len(joints)),
        "t_recv_us": np.repeat(recv_us, len(joints)),
        "joint": np.tile(np.array(joints, dtype=object), n),
    }
    for quantity, column in m.extra["columns"].items():
        prefixes, angular = _LONG_QUANTITIES[quantity]
        prefix = next(p for p in prefixes if f"{p}{m.joint_order[0]}" in s.channels)
        scale = position_scale(m) if angular else 1.0
        block = take_channels(s, [f"{prefix}{j}" for j in m.joint_order], scale)[order]
        columns[column] = block.reshape(-1)
    return pl.DataFrame(columns).with_columns(pl.col("joint").cast(pl.Categorical))


def _wide_frame(s: SimStream, m: StreamMapping) -> pl.DataFrame:
    order, t_us, recv_us = _sorted(s)
    values = joint_positions(s, m)[order]
    if m.closure_full_scale != 1.0:  # hand closures: integer counts, as the hand reports them
        block: dict[str, Any] = {
            j: np.round(values[:, k]).astype(np.int16) for k, j in enumerate(rig_joint_names(m))
        }
    else:
        block = {j: values[:, k] for k, j in enumerate(rig_joint_names(m))}
    return pl.DataFrame({"t_us": t_us, "t_recv_us": recv_us, **block})


def _pose_frame(s: SimStream, m: StreamMapping) -> pl.DataFrame:
    order, t_us, recv_us = _sorted(s)
    x = take_channels(s, HEAD_POSE_CHANNELS)[order]
    return pl.DataFrame(
        {"t_us": t_us, "t_recv_us": recv_us, **{c: x[:, k] for k, c in enumerate(POSE_COLUMNS)}}
    )


LAYOUTS = {"long": _long_frame, "wide": _wide_frame, "pose": _pose_frame}


def write_parquet_dir(
    rec_dir: Path,
    profile: CenterProfile,
    streams: dict[str, SimStream],
    frames: dict[str, Sequence[bytes]],
    events: Sequence[BagEvent],
    robot_serial: str,
) -> list[Path]:
    """Write the recording folder; return its files, the joint-state Parquet first if present."""
    rec_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    written: list[Path] = []
    for name, mapping in profile.streams.items():
        if name not in streams:
            continue  # the rig never recorded it: no file, not in the sidecar
        layout = LAYOUTS.get(mapping.message)
        if layout is None:
            raise ValueError(f"center {profile.name}: no Parquet layout {mapping.message!r}")
        df = layout(streams[name], mapping)
        path = rec_dir / mapping.topic
        df.write_parquet(path, compression="zstd", statistics=False)
        files[mapping.topic] = {"stream": name, "layout": mapping.message, "rows": df.height}
        written.append(path)
    for cam, file in profile.cameras.items():
        if cam not in streams or cam not in frames:
            continue
        order, t_us, recv_us = _sorted(streams[cam])
        df = pl.DataFrame(
            {
                "t_us": t_us,
                "t_recv_us": recv_us,
                "jpeg": [frames[cam][int(i)] for i in order],
            },
            schema={"t_us": pl.Int64, "t_recv_us": pl.Int64, "jpeg": pl.Binary},
        )
        path = rec_dir / file
        df.write_parquet(path, compression="uncompressed", statistics=False)
        files[file] = {"stream": cam, "layout": "image", "rows": df.height}
        written.append(path)
    events_path = rec_dir / EVENTS_NAME
    events_path.write_text(
        "".join(json.dumps({"t_us": e.t_ns // 1000, "event": e.text}) + "\n" for e in events),
        encoding="utf-8",
    )
    files[EVENTS_NAME] = {"stream": "events", "layout": "jsonl", "rows": len(events)}
    sidecar = {
        "schema": SIDECAR_SCHEMA,
        "rig": RIG_NAME,
        "recording_id": rec_dir.name,
        "robot_serial": robot_serial,
        "time_unit": "us",
        "clock": "robot computer (t_recv_us); each stream's own sender clock (t_us)",
        "files": files,
    }
    sidecar_path = rec_dir / SIDECAR_NAME
    sidecar_path.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    first = [p for p in written if p.name == profile.streams["joint_state"].topic]
    rest = [p for p in written if p not in first]
    return first + rest + [events_path, sidecar_path]
