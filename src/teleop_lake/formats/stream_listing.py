"""Stream listings of the exported formats (HDF5 episodes, Parquet export folders) for `inspect`.

What belongs here: one `TopicInfo` per stream of an HDF5 episode (every group with a
``timestamps`` dataset; the type says its datasets and widths) or of a Parquet export
(every ``.parquet`` file and ``events.jsonl``; the type says the table layout: long
tables count distinct stamps, not rows). Only stamps and shapes are read, never values.
`teleop_lake.formats.listing` picks the lister by path.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import polars as pl

from teleop_lake.formats.hdf5_episode import TIME_UNIT_TO_NS, open_episode
from teleop_lake.formats.ros1_bag import TopicInfo

HDF5_SUFFIXES = (".hdf5", ".h5")
PARQUET_TIME_COLUMN = "t_us"
PARQUET_SIDECAR = "sidecar.json"
PARQUET_EVENTS = "events.jsonl"


def _describe_group(group: h5py.Group) -> str:
    parts = []
    for name, obj in group.items():
        if not isinstance(obj, h5py.Dataset) or name == "timestamps":
            continue
        if obj.dtype.kind == "O":
            parts.append(f"{name}(variable-length)")
        else:
            width = "x".join(str(d) for d in obj.shape[1:])
            parts.append(f"{name}[{width}]" if width else name)
    return "hdf5: " + " ".join(parts)


def list_hdf5_streams(path: Path) -> list[TopicInfo]:
    """Every group of the episode file that has its own ``timestamps``."""
    out: list[TopicInfo] = []
    with open_episode(Path(path)) as f:
        groups: list[tuple[str, h5py.Group]] = []
        f.visititems(
            lambda n, o: (
                groups.append((n, o))
                if isinstance(o, h5py.Group) and isinstance(o.get("timestamps"), h5py.Dataset)
                else None
            )
        )
        for name, group in groups:
            ts = group["timestamps"]
            unit = ts.attrs.get("unit", "ns")
            unit = unit.decode() if isinstance(unit, bytes) else str(unit)
            t_ns = np.asarray(ts[()], dtype=np.int64) * TIME_UNIT_TO_NS.get(unit, 1)
            out.append(TopicInfo.from_times(name, _describe_group(group), t_ns))
    return sorted(out, key=lambda t: t.topic)


def _time_factor_ns(folder: Path) -> int:
    sidecar = folder / PARQUET_SIDECAR
    if sidecar.is_file():
        unit = json.loads(sidecar.read_text(encoding="utf-8")).get("time_unit", "us")
        return TIME_UNIT_TO_NS.get(str(unit), 1_000)
    return 1_000


def list_parquet_file(path: Path, factor_ns: int | None = None) -> list[TopicInfo]:
    """One Parquet stream file: its distinct stamps and its layout."""
    path = Path(path)
    factor = factor_ns if factor_ns is not None else _time_factor_ns(path.parent)
    schema = pl.read_parquet_schema(path)
    if PARQUET_TIME_COLUMN not in schema:
        raise ValueError(
            f"{path.name} has no {PARQUET_TIME_COLUMN!r} column; it has {list(schema)}"
        )
    t = pl.read_parquet(path, columns=[PARQUET_TIME_COLUMN]).get_column(PARQUET_TIME_COLUMN)
    values = [c for c in schema if c not in (PARQUET_TIME_COLUMN, "t_recv_us")]
    if "joint" in schema:
        joints = pl.read_parquet(path, columns=["joint"]).get_column("joint").n_unique()
        kind = f"parquet long: {joints} joints x {', '.join(c for c in values if c != 'joint')}"
        t = t.unique(maintain_order=True)
    elif "jpeg" in schema:
        kind = "parquet images: jpeg"
    else:
        kind = f"parquet wide: {len(values)} columns"
    return [TopicInfo.from_times(path.name, kind, t.to_numpy().astype(np.int64) * factor)]


def list_parquet_dir(folder: Path) -> list[TopicInfo]:
    """Every Parquet stream of an export folder, and its events."""
    folder = Path(folder)
    factor = _time_factor_ns(folder)
    out = [t for p in sorted(folder.glob("*.parquet")) for t in list_parquet_file(p, factor)]
    events = folder / PARQUET_EVENTS
    if events.is_file():
        lines = [json.loads(x) for x in events.read_text(encoding="utf-8").splitlines() if x]
        t_ns = np.array([int(e.get(PARQUET_TIME_COLUMN, 0)) for e in lines], np.int64) * factor
        out.append(TopicInfo.from_times(events.name, "json lines: events", t_ns))
    return out
