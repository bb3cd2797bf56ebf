"""Adapter for ``parquet-dir`` recordings: a folder of Parquet files per stream plus a sidecar.

What belongs here: finding a delivery's files (``sidecar.json``, the stream files the
profile maps by file name in ``topic``, ``events.jsonl``, camera files, the label file
``<recording_id>.metadata.json`` beside the folder), reading each stream with polars
into a `SignalStream`, and `decode_benchmark`. The layout is written by
`teleop_lake.simulate.parquet_dir` and documented there; the profile's ``message`` says
a file's layout:
- ``long``: one row per time and joint; the profile's ``columns`` maps raw quantities
  (``position_raw``, ``velocity_raw``, ``effort_raw``) to value columns. Pivoted to one
  row per time with numpy (a scatter by time group and joint code), never row by row;
- ``wide``: one column per joint, ``position_raw.<column>``;
- ``pose``: ``x y z qx qy qz qw`` -> ``position_raw.*`` and ``orientation_raw.*``.
Output contract as the other adapters: raw units, the rig's joint names (standardization
maps them with the profile's ``joint_name_map``), ``t_ns`` = the stamp column (unit from
the sidecar's ``time_unit``), ``t_received_ns`` = ``t_recv_us`` when present. A missing
(time, joint) pair of a long table is NaN (counted in ``meta.extra["malformed_messages"]``);
duplicated or decreasing stamps reject the recording (`stamp_order`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from teleop_lake.canonical import CAMERA_STREAMS, CameraStream, Recording, RecordingMeta
from teleop_lake.canonical import SignalStream as Signal
from teleop_lake.config.centers import CenterProfile, StreamMapping
from teleop_lake.formats.end_effector import resolve_end_effector
from teleop_lake.formats.frame_files import FileFrames, FrameSpool
from teleop_lake.formats.kuavo_labels import apply_labels, read_label_files
from teleop_lake.formats.kuavo_ros1 import OPTIONAL_STREAMS, REQUIRED_STREAMS
from teleop_lake.formats.kuavo_topics import check_stamps, reject
from teleop_lake.formats.stamp_order import check_increasing, parse_events
from teleop_lake.rejection import Reason, RecordingRejected

RAW_FORMAT = "parquet-dir"
SIDECAR_NAME = "sidecar.json"
EVENTS_NAME = "events.jsonl"
TIME_COLUMN = "t_us"
RECEIVED_COLUMN = "t_recv_us"
JOINT_COLUMN = "joint"
IMAGE_COLUMN = "jpeg"
# A camera file's frames are read (and spooled) this many rows at a time.
SPOOL_ROWS = 64
TIME_UNIT_TO_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000}
POSE_COLUMNS = {
    "x": "position_raw.x",
    "y": "position_raw.y",
    "z": "position_raw.z",
    "qx": "orientation_raw.qx",
    "qy": "orientation_raw.qy",
    "qz": "orientation_raw.qz",
    "qw": "orientation_raw.qw",
}
PARQUET_MAGIC = b"PAR1"


def _read_table(
    path: Path, stream: str, columns: Sequence[str] | None = None, *, leave: Sequence[str] = ()
) -> pl.DataFrame:
    """The Parquet file (without the columns in ``leave``), or a rejection saying whether it
    is cut short or unreadable."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
            f.seek(max(path.stat().st_size - 4, 0))
            tail = f.read(4)
    except OSError as err:
        reject("file_missing", f"cannot open the Parquet file: {err}", path.name, stream)
    if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        reject(
            "truncated_file",
            f"not a complete Parquet file (header {head!r}, footer {tail!r}): the upload was "
            "cut short; ask the center to re-deliver it",
            path.name,
            stream,
        )
    try:
        if leave:
            schema = pl.read_parquet_schema(path)
            df = pl.read_parquet(path, columns=[c for c in schema if c not in leave])
            df = df.with_columns([pl.lit(None).alias(c) for c in leave if c in schema])
        else:
            df = pl.read_parquet(path)
    except Exception as err:  # polars raises several error types for damaged files
        reject("corrupt_file", f"cannot read the Parquet file: {err}", path.name, stream)
    if columns is not None:
        absent = [c for c in columns if c not in df.columns]
        if absent:
            reject(
                "unmapped_stream",
                f"columns {absent} are missing; the file has {df.columns}. Fix the profile's "
                "columns or the rig's export",
                path.name,
                stream,
            )
    return df


def _times(df: pl.DataFrame, column: str, factor_ns: int) -> np.ndarray:
    return df.get_column(column).cast(pl.Int64).to_numpy() * factor_ns


def pivot_long(
    t_ns: np.ndarray, joints: pl.Series, values: np.ndarray, file: str, stream: str
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, int]:
    """Long rows (time, joint, k values) -> (times, joint names, (times, joints*k), first row
    of each time, missing pairs). Rows of one time must be together and times increasing."""
    names = joints.unique(maintain_order=True).cast(pl.String).to_list()
    # An Enum over the names found, in order of appearance: its physical codes index ``names``.
    codes = joints.cast(pl.String).cast(pl.Enum(names)).to_physical().to_numpy().astype(np.int64)
    new_time = np.empty(len(t_ns), dtype=bool)
    new_time[:1] = True
    new_time[1:] = t_ns[1:] != t_ns[:-1]
    starts = np.flatnonzero(new_time)
    check_increasing(t_ns[starts], file, stream, f"{TIME_COLUMN} (per time group)")
    group = np.cumsum(new_time) - 1
    n_t, n_j = len(starts), len(names)
    flat = group * n_j + codes
    counts = np.bincount(flat, minlength=n_t * n_j)
    if (counts > 1).any():
        first = int(np.flatnonzero(counts > 1)[0])
        raise RecordingRejected(
            Reason(
                "bad_timestamps",
                f"{int((counts > 1).sum())} (time, joint) pairs are duplicated (first: joint "
                f"{names[first % n_j]!r} at {int(t_ns[starts[first // n_j]])} ns); one row "
                "per time and joint is expected, ask the center to re-export",
                file=file,
                stream=stream,
            )
        )
    k = values.shape[1]
    out = np.full((n_t * n_j, k), np.nan)
    out[flat] = values
    wide = out.reshape(n_t, n_j, k).transpose(0, 2, 1).reshape(n_t, k * n_j)
    missing_rows = int((counts.reshape(n_t, n_j) == 0).any(axis=1).sum())
    return t_ns[starts], names, wide, starts, missing_rows


def _read_signal(path: Path, mapping: StreamMapping, factor_ns: int) -> tuple[Signal, int]:
    name, file = mapping.name, path.name
    received: np.ndarray | None = None
    malformed = 0
    if mapping.message == "long":
        columns: dict[str, str] = dict(mapping.extra.get("columns", {}))
        if not columns:
            reject("unmapped_stream", "a long table needs the profile's columns", file, name)
        df = _read_table(path, name, [TIME_COLUMN, JOINT_COLUMN, *columns.values()])
        t_rows = _times(df, TIME_COLUMN, factor_ns)
        values = df.select([pl.col(c).cast(pl.Float64) for c in columns.values()]).to_numpy()
        t_ns, joints, wide, starts, malformed = pivot_long(
            t_rows, df.get_column(JOINT_COLUMN), values, file, name
        )
        channels = [f"{q}.{j}" for q in columns for j in joints]
        if RECEIVED_COLUMN in df.columns:
            received = _times(df, RECEIVED_COLUMN, factor_ns)[starts]
    else:
        if mapping.message not in ("wide", "pose"):
            reject(
                "unmapped_stream",
                f"profile layout {mapping.message!r} is not long, wide or pose",
                file,
                name,
            )
        wanted = [TIME_COLUMN, *POSE_COLUMNS] if mapping.message == "pose" else [TIME_COLUMN]
        df = _read_table(path, name, wanted)
        t_ns = _times(df, TIME_COLUMN, factor_ns)
        check_increasing(t_ns, file, name, TIME_COLUMN)
        if mapping.message == "pose":
            cols, channels = list(POSE_COLUMNS), list(POSE_COLUMNS.values())
        else:
            cols = [c for c in df.columns if c not in (TIME_COLUMN, RECEIVED_COLUMN)]
            channels = [f"position_raw.{c}" for c in cols]
        wide = df.select([pl.col(c).cast(pl.Float64) for c in cols]).to_numpy()
        if RECEIVED_COLUMN in df.columns:
            received = _times(df, RECEIVED_COLUMN, factor_ns)
    stream = Signal(
        name=name,
        clock="operator" if mapping.clock == "operator" else "robot",
        t_ns=t_ns,
        channels=tuple(channels),
        values=np.ascontiguousarray(wide, dtype=np.float64),
        t_received_ns=received,
        source=file,
    )
    check_stamps(stream, file)
    return stream, malformed


def _spooled_frames(path: Path, name: str, n: int) -> FileFrames:
    """The image column, `SPOOL_ROWS` rows at a time, into a `FrameSpool`: a camera file's
    frames are never all in memory."""
    import pyarrow.parquet as pq  # only here: importing pyarrow costs a reader 30 MB of RSS

    spool = FrameSpool(f"{path.name}:{IMAGE_COLUMN}")
    try:
        # buffered reads: pages are read as they are decoded, not the whole column chunk
        with pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False) as pf:
            for batch in pf.iter_batches(batch_size=SPOOL_ROWS, columns=[IMAGE_COLUMN]):
                column = batch.column(0)
                for k in range(len(column)):
                    frame = column[k].as_buffer()
                    spool.append(b"" if frame is None else memoryview(frame))
    except Exception as err:  # pyarrow raises several error types for damaged pages
        reject("corrupt_file", f"cannot read the frames: {err}", path.name, name)
    if len(spool) != n:
        reject("corrupt_file", f"{len(spool)} frames for {n} stamps", path.name, name)
    return spool.frames()


def _read_camera(path: Path, name: str, factor_ns: int) -> CameraStream:
    df = _read_table(path, name, [TIME_COLUMN, IMAGE_COLUMN], leave=[IMAGE_COLUMN])
    t_ns = _times(df, TIME_COLUMN, factor_ns)
    check_increasing(t_ns, path.name, name, TIME_COLUMN)
    received = _times(df, RECEIVED_COLUMN, factor_ns) if RECEIVED_COLUMN in df.columns else None
    frames = _spooled_frames(path, name, len(t_ns))
    cam = CameraStream(name, "robot", t_ns, frames, "jpeg", received, path.name)
    check_stamps(cam, path.name)
    return cam


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        reject("corrupt_file", f"{what} is not valid JSON: {err}", path.name)


def _read_events(path: Path, factor_ns: int) -> tuple[list[Any], list[str]]:
    items: list[tuple[int, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        reject("corrupt_file", f"the events file is not UTF-8 text: {err}", path.name, "events")
    for k, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            items.append((int(doc[TIME_COLUMN]) * factor_ns, str(doc["event"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            reject("corrupt_file", f"line {k + 1} is not an event: {err}", path.name, "events")
    return parse_events(items)


def _sidecar(by_name: dict[str, Path]) -> tuple[dict[str, Any], int]:
    path = by_name.get(SIDECAR_NAME)
    if path is None:
        reject(
            "file_missing",
            f"no {SIDECAR_NAME} among {sorted(by_name)}: the rig's export is incomplete",
        )
    doc = _read_json(path, SIDECAR_NAME)
    unit = doc.get("time_unit") if isinstance(doc, dict) else None
    if unit not in TIME_UNIT_TO_NS:
        reject(
            "corrupt_file",
            f"time_unit {unit!r} is not one of {sorted(TIME_UNIT_TO_NS)}",
            SIDECAR_NAME,
        )
    return doc, TIME_UNIT_TO_NS[unit]


def _check_present(
    by_name: dict[str, Path],
    sidecar: dict[str, Any],
    profile: CenterProfile,
    required: Sequence[str],
) -> None:
    listed = sidecar.get("files", {}) if isinstance(sidecar.get("files"), dict) else {}
    reasons: list[Reason] = []
    for name in required:
        mapping = profile.streams.get(name)
        if mapping is None:
            reasons.append(
                Reason(
                    "unmapped_stream",
                    f"profile {profile.name!r} maps no file; add [streams.{name}] to it",
                    stream=name,
                )
            )
        elif mapping.topic not in by_name:
            why = (
                "the sidecar lists it, so the upload lost it: ask for a re-delivery"
                if mapping.topic in listed
                else "the rig did not record it (the sidecar does not list it)"
            )
            reasons.append(
                Reason(
                    "missing_stream",
                    f"required Parquet stream {mapping.topic!r} is not in the delivery; {why}",
                    file=mapping.topic,
                    stream=name,
                )
            )
    if reasons:
        raise RecordingRejected(*reasons)


def read_signals(
    paths: Sequence[Path],
    profile: CenterProfile,
    *,
    with_cameras: bool = True,
    required: Sequence[str] = REQUIRED_STREAMS,
) -> tuple[dict[str, Signal], dict[str, CameraStream], list[Any], dict[str, Any]]:
    """Decode the mapped streams, cameras and events of one recording folder's files."""
    by_name = {Path(p).name: Path(p) for p in paths}
    sidecar, factor_ns = _sidecar(by_name)
    _check_present(by_name, sidecar, profile, required)
    signals: dict[str, Signal] = {}
    info: dict[str, Any] = {"malformed_messages": {}, "absent_optional_streams": []}
    for name in (*REQUIRED_STREAMS, *OPTIONAL_STREAMS):
        mapping = profile.streams.get(name)
        if mapping is None or mapping.topic not in by_name:
            info["absent_optional_streams"].append(name)
            continue
        signals[name], bad = _read_signal(by_name[mapping.topic], mapping, factor_ns)
        if bad:
            info["malformed_messages"][name] = bad
    cameras: dict[str, CameraStream] = {}
    if with_cameras:
        for cam, file in profile.cameras.items():
            if cam in CAMERA_STREAMS and file in by_name:
                cameras[cam] = _read_camera(by_name[file], cam, factor_ns)
    events: list[Any] = []
    if EVENTS_NAME in by_name:
        events, unknown = _read_events(by_name[EVENTS_NAME], factor_ns)
        if unknown:
            info["unknown_events"] = unknown
    # The recorder's span (robot computer clock): receive times, else robot-clock stamps.
    spans = [
        (int(a.min()), int(a.max()))
        for s in signals.values()
        if s.n_samples
        for a in [s.t_received_ns if s.t_received_ns is not None else s.t_ns]
    ] + [(e.t_ns, e.t_ns) for e in events]
    info["t_first_record_ns"] = min((a for a, _ in spans), default=0)
    info["t_last_record_ns"] = max((b for _, b in spans), default=0)
    info["rig"] = sidecar.get("rig")
    return signals, cameras, events, info


def read(files: Sequence[Path], meta: RecordingMeta, profile: CenterProfile) -> Recording:
    """The canonical `Recording` (raw units, rig joint names) of one parquet-dir delivery."""
    paths = [Path(f) for f in files]
    label = next((p for p in paths if p.name.endswith("metadata.json")), None)
    labels = read_label_files(label, None)
    profile, eef = resolve_end_effector(profile, labels.metadata, None, labels.metadata_file)
    signals, cameras, events, info = read_signals(paths, profile)
    info.update(eef)
    new_meta, label_events = apply_labels(
        meta, labels, info["t_first_record_ns"], info["t_last_record_ns"]
    )
    extra = dict(new_meta.extra)
    extra.update({k: v for k, v in info.items() if v})
    known = {SIDECAR_NAME, EVENTS_NAME, *(m.topic for m in profile.streams.values())}
    known |= set(profile.cameras.values())
    other = [p.name for p in paths if p.name not in known and p != label]
    if other:
        extra["ignored_files"] = other
    return Recording(
        meta=dataclasses.replace(new_meta, extra=extra),
        signals=signals,
        cameras=cameras,
        events=tuple(sorted([*events, *label_events], key=lambda e: e.t_ns)),
    )


def _pivot_per_row(df: pl.DataFrame, columns: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The obvious oracle: walk the rows in Python, one dict entry per (time, joint)."""
    rows: dict[int, dict[str, tuple[float, ...]]] = {}
    joints: dict[str, None] = {}
    value_cols = list(columns.values())
    for row in df.select([TIME_COLUMN, JOINT_COLUMN, *value_cols]).iter_rows():
        rows.setdefault(int(row[0]), {})[str(row[1])] = tuple(float(v) for v in row[2:])
        joints.setdefault(str(row[1]), None)
    names = list(joints)
    t = np.array(sorted(rows), dtype=np.int64)
    out = np.full((len(t), len(value_cols) * len(names)), np.nan)
    for i, ti in enumerate(t.tolist()):
        for j, name in enumerate(names):
            vals = rows[ti].get(name)
            if vals is not None:
                out[i, [q * len(names) + j for q in range(len(value_cols))]] = vals
    return t, out


def decode_benchmark(path: Path, profile: CenterProfile) -> dict[str, float]:
    """Pivot the long joint-state table of ``path`` vectorised and row by row (CPU seconds)."""
    mapping = profile.streams["joint_state"]
    columns: dict[str, str] = dict(mapping.extra["columns"])
    df = _read_table(Path(path), "joint_state")
    t0 = time.process_time()
    t_rows = _times(df, TIME_COLUMN, 1)
    values = df.select([pl.col(c).cast(pl.Float64) for c in columns.values()]).to_numpy()
    t_bulk, _, bulk, _, _ = pivot_long(
        t_rows, df.get_column(JOINT_COLUMN), values, Path(path).name, "joint_state"
    )
    t1 = time.process_time()
    t_slow, slow = _pivot_per_row(df, columns)
    t2 = time.process_time()
    same_t = len(t_bulk) == len(t_slow) and bool((t_bulk == t_slow).all())
    return {
        "n_messages": float(len(t_bulk)),
        "bulk_s": t1 - t0,
        "per_message_s": t2 - t1,
        "speedup": (t2 - t1) / max(t1 - t0, 1e-9),
        "max_abs_diff": float(np.nanmax(np.abs(bulk - slow))) if same_t and bulk.size else np.inf,
        "bulk_used": 1.0,
    }
