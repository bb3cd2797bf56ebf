"""Adapter for ``hdf5`` recordings: RoboMIND-style episode files with master/ and puppet/ groups.

What belongs here: opening the episode file with h5py (a truncated or damaged file is a
rejection, not a crash), checking that every group the profile maps is there, reading
each stream group into a canonical stream, the label file beside the episode, and
`decode_benchmark`. The layout is written by `teleop_lake.simulate.hdf5_episode` and
documented there; the profile's ``topic`` is a group path and ``message`` its layout:
- ``joints``: ``joint_position`` (+ ``joint_velocity``, ``joint_effort``), (n, joints)
  with the names in the ``joint_names`` attribute -> ``position_raw.<name>``,
  ``velocity_raw.<name>``, ``effort_raw.<name>``;
- ``pose``: ``position`` (n, 3) and ``orientation`` (n, 4, x y z w);
- cameras (profile ``[cameras]``): ``data``, variable-length uint8 arrays of encoded frames.
Every group has its own ``timestamps`` (int64 with a ``unit`` attribute: ns, us or ms) on
the stream's clock; the format has no receive times (``t_received_ns`` is None).
Datasets are read whole (one h5py read per dataset), never row by row. Raw units and the
file's joint names are kept; standardization converts. Duplicated or decreasing stamps
reject the recording (`stamp_order`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from teleop_lake.canonical import (
    CAMERA_STREAMS,
    CameraStream,
    Event,
    Recording,
    RecordingMeta,
    SignalStream,
)
from teleop_lake.config.centers import CenterProfile, StreamMapping
from teleop_lake.formats.end_effector import resolve_end_effector
from teleop_lake.formats.frame_files import FileFrames, FrameSpool
from teleop_lake.formats.kuavo_labels import apply_labels, read_label_files
from teleop_lake.formats.kuavo_ros1 import OPTIONAL_STREAMS, REQUIRED_STREAMS
from teleop_lake.formats.kuavo_topics import check_stamps, reject
from teleop_lake.formats.stamp_order import check_increasing, parse_events
from teleop_lake.rejection import Reason, RecordingRejected

RAW_FORMAT = "hdf5"
SUFFIXES = (".hdf5", ".h5")
TIMESTAMPS = "timestamps"
TIME_UNIT_TO_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000}
# Frames HDF5 must read itself are spooled this many at a time.
SPOOL_SLICE = 64
# Dataset name -> raw quantity of a ``joints`` group.
JOINT_DATASETS = {
    "joint_position": "position_raw",
    "joint_velocity": "velocity_raw",
    "joint_effort": "effort_raw",
}
POSE_DATASETS = (
    ("position", "position_raw", ("x", "y", "z")),
    ("orientation", "orientation_raw", ("qx", "qy", "qz", "qw")),
)
IMAGE_DATASET = "data"
EVENTS_GROUP = "events"


def open_episode(path: Path) -> h5py.File:
    """The episode file opened read-only, or a rejection saying what is wrong with it."""
    try:
        return h5py.File(path, "r")
    except FileNotFoundError as err:
        reject("file_missing", f"cannot open the HDF5 file: {err}", path.name)
    except OSError as err:
        text = str(err)
        if "truncated" in text or "eof" in text.lower():
            reject(
                "truncated_file",
                f"the HDF5 file ends early ({text}); ask the center to re-deliver it",
                path.name,
            )
        reject("corrupt_file", f"not a readable HDF5 file: {text}", path.name)


def _times(group: h5py.Group, file: str, stream: str) -> np.ndarray:
    ds = group.get(TIMESTAMPS)
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
        reject("corrupt_file", f"group {group.name!r} has no 1-D {TIMESTAMPS!r}", file, stream)
    unit = ds.attrs.get("unit", "ns")
    unit = unit.decode() if isinstance(unit, bytes) else str(unit)
    if unit not in TIME_UNIT_TO_NS:
        reject(
            "corrupt_file",
            f"{group.name}/{TIMESTAMPS} has unit {unit!r}, not one of {sorted(TIME_UNIT_TO_NS)}",
            file,
            stream,
        )
    t_ns = np.asarray(ds[()], dtype=np.int64) * TIME_UNIT_TO_NS[unit]
    check_increasing(t_ns, file, stream, f"{group.name}/{TIMESTAMPS}")
    return t_ns


def _names(ds: h5py.Dataset, file: str, stream: str) -> list[str]:
    raw = ds.attrs.get("joint_names")
    if raw is None:
        reject("corrupt_file", f"{ds.name} has no joint_names attribute", file, stream)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.atleast_1d(raw)]
    if ds.ndim != 2 or ds.shape[1] != len(names):
        reject(
            "corrupt_file",
            f"{ds.name} has shape {ds.shape} but {len(names)} joint_names",
            file,
            stream,
        )
    return names


def _block(group: h5py.Group, name: str, n: int, file: str, stream: str) -> h5py.Dataset | None:
    ds = group.get(name)
    if ds is None:
        return None
    if not isinstance(ds, h5py.Dataset) or ds.shape[0] != n:
        reject(
            "corrupt_file",
            f"{group.name}/{name} has {getattr(ds, 'shape', '?')} rows, its timestamps {n}",
            file,
            stream,
        )
    return ds


def read_stream(group: h5py.Group, mapping: StreamMapping, file: str) -> SignalStream:
    """One stream group -> `SignalStream` (raw units, the file's joint names)."""
    name = mapping.name
    t_ns = _times(group, file, name)
    channels: list[str] = []
    blocks: list[np.ndarray] = []
    if mapping.message == "joints":
        for dataset, quantity in JOINT_DATASETS.items():
            ds = _block(group, dataset, len(t_ns), file, name)
            if ds is None:
                continue
            channels += [f"{quantity}.{j}" for j in _names(ds, file, name)]
            blocks.append(np.asarray(ds[()], dtype=np.float64))
        if not blocks or not channels[0].startswith("position_raw."):
            reject("missing_stream", f"{group.name} has no joint_position", file, name)
    elif mapping.message == "pose":
        for dataset, quantity, axes in POSE_DATASETS:
            ds = _block(group, dataset, len(t_ns), file, name)
            if ds is None or ds.ndim != 2 or ds.shape[1] != len(axes):
                reject(
                    "missing_stream", f"{group.name} lacks a (n, {len(axes)}) {dataset}", file, name
                )
            channels += [f"{quantity}.{a}" for a in axes]
            blocks.append(np.asarray(ds[()], dtype=np.float64))
    else:
        reject(
            "unmapped_stream",
            f"profile layout {mapping.message!r} is not joints or pose",
            file,
            name,
        )
    stream = SignalStream(
        name=name,
        clock="operator" if mapping.clock == "operator" else "robot",
        t_ns=t_ns,
        channels=tuple(channels),
        values=np.hstack(blocks),
        source=f"{file}:{group.name}",
    )
    check_stamps(stream, file)
    return stream


def check_vlen_heap(
    ds: h5py.Dataset, file: str, stream: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """Check, before HDF5 reads them, that the variable-length elements of ``ds`` point at
    sound global-heap objects of the right size. HDF5 itself loops forever on some damaged
    heap collections (a zeroed region), out of reach of any timeout but a process kill.

    Checked where the raw elements can be read directly (contiguous storage); each element is
    a length, a collection address and an object index. Returns each element's data as
    (file offsets, byte lengths) when checked, else None: a heap object's bytes are stored
    as they are, so the frames can be read from the file without HDF5."""
    offset = ds.id.get_offset()
    base = h5py.check_vlen_dtype(ds.dtype)
    if offset is None or base is None or ds.ndim != 1:
        return None
    sizeof_addr, sizeof_size = ds.file.id.get_create_plist().get_sizes()
    if (sizeof_addr, sizeof_size) != (8, 8):
        return None
    userblock = ds.file.id.get_create_plist().get_userblock()
    elements = np.dtype([("length", "<u4"), ("address", "<u8"), ("index", "<u4")])
    n = ds.shape[0]
    starts = np.zeros(n, dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    with open(ds.file.filename, "rb") as f:
        fd = f.fileno()
        file_size = os.fstat(fd).st_size
        raw = os.pread(fd, n * elements.itemsize, userblock + offset)
        if len(raw) < n * elements.itemsize:
            reject("truncated_file", f"{ds.name}: its elements run past the end", file, stream)
        refs = np.frombuffer(raw, dtype=elements)
        heaps: dict[int, dict[int, tuple[int, int]]] = {}
        for k, (length, address, index) in enumerate(refs.tolist()):
            if length == 0:
                continue  # an empty element points nowhere
            if address not in heaps:
                heaps[address] = _heap_objects(fd, userblock + address, file_size, ds.name, file)
            size, start = heaps[address].get(index, (None, 0))
            if size is None or size != length * base.itemsize:
                reject(
                    "corrupt_file",
                    f"{ds.name} element {k}: its data (heap object {index} at byte "
                    f"{userblock + address}) is {'missing' if size is None else 'the wrong size'}"
                    "; the file is damaged",
                    file,
                    stream,
                )
            starts[k], lengths[k] = start, size
    return starts, lengths


def _heap_objects(
    fd: int, at: int, file_size: int, dataset: str, file: str
) -> dict[int, tuple[int, int]]:
    """{object index: (size, file offset of its data)} of the global heap collection at byte
    ``at``, read object header by object header (the objects' data is skipped)."""
    head = os.pread(fd, 16, at)
    if len(head) < 16 or head[:4] != b"GCOL" or head[4] != 1:
        reject("corrupt_file", f"{dataset}: no heap collection at byte {at}", file)
    size = int.from_bytes(head[8:16], "little")
    if size < 16 or at + size > file_size:
        reject("corrupt_file", f"{dataset}: the heap collection at byte {at} is damaged", file)
    objects: dict[int, tuple[int, int]] = {}
    pos, end = at + 16, at + size
    while pos + 16 <= end:
        obj = os.pread(fd, 16, pos)
        index = int.from_bytes(obj[0:2], "little")
        length = int.from_bytes(obj[8:16], "little")
        if index == 0:
            break  # free space: the rest of the collection
        if pos + 16 + length > end:
            reject("corrupt_file", f"{dataset}: heap object {index} at byte {at} overruns", file)
        objects[index] = (length, pos + 16)
        pos += 16 + (length + 7) // 8 * 8
    return objects


def _spooled(ds: h5py.Dataset, source: str) -> FileFrames:
    """The elements of a variable-length dataset HDF5 must read itself (chunked storage),
    a slice at a time, into a `FrameSpool`."""
    spool = FrameSpool(source)
    for lo in range(0, ds.shape[0], SPOOL_SLICE):
        for element in ds[lo : lo + SPOOL_SLICE]:
            spool.append(np.asarray(element, dtype=np.uint8).tobytes())
    return spool.frames()


def read_camera(group: h5py.Group, name: str, file: str) -> CameraStream:
    """A camera's frames stay in the file where its heap objects could be located and
    checked; otherwise they are spooled. Either way they are never all in memory."""
    t_ns = _times(group, file, name)
    ds = _block(group, IMAGE_DATASET, len(t_ns), file, name)
    if ds is None:
        reject("missing_stream", f"{group.name} has no {IMAGE_DATASET!r} frames", file, name)
    located = check_vlen_heap(ds, file, name)
    frames: Sequence[bytes]
    if located is not None and h5py.check_vlen_dtype(ds.dtype) == np.dtype(np.uint8):
        frames = FileFrames(Path(ds.file.filename), *located)
    else:
        frames = _spooled(ds, f"{file}:{ds.name}")
    enc = ds.attrs.get("encoding", "jpeg")
    enc = enc.decode() if isinstance(enc, bytes) else str(enc)
    cam = CameraStream(name, "robot", t_ns, frames, enc, None, f"{file}:{group.name}")
    check_stamps(cam, file)
    return cam


def _events(f: h5py.File, file: str) -> tuple[list[Event], list[str]]:
    group = f.get(EVENTS_GROUP)
    if not isinstance(group, h5py.Group) or "kind" not in group:
        return [], []
    t_ns = _times(group, file, "events")
    kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in group["kind"][()]]
    if len(kinds) != len(t_ns):
        reject("corrupt_file", f"{len(kinds)} event kinds for {len(t_ns)} stamps", file, "events")
    return parse_events(zip(t_ns.tolist(), kinds, strict=True))


def check_self_contained(f: h5py.File, file: str) -> None:
    """Refuse a file whose data lies (or could be read) outside it, before reading any: an
    external link, a dataset with external raw storage, a virtual dataset. Links are walked
    without being followed; soft links stay inside the file and are skipped."""
    problems: list[str] = []
    seen: set[Any] = set()

    def walk(group: h5py.Group, prefix: str) -> None:
        for name in group:
            path = f"{prefix}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                problems.append(f"{path} is an external link to {link.filename!r}")
                continue
            if isinstance(link, h5py.SoftLink):
                continue
            obj = group.get(name)
            if obj is None or obj.id in seen:
                continue
            seen.add(obj.id)
            if isinstance(obj, h5py.Group):
                walk(obj, path)
            elif isinstance(obj, h5py.Dataset):
                plist = obj.id.get_create_plist()
                if plist.get_layout() == h5py.h5d.VIRTUAL:
                    problems.append(f"{path} is a virtual dataset (its data is in other files)")
                elif plist.get_external_count() > 0:
                    problems.append(f"{path} keeps its data in external files")

    walk(f, "")
    if problems:
        reject(
            "unsafe_path",
            f"the HDF5 file reaches outside itself: {'; '.join(problems[:5])}; nothing was "
            "read: deliver self-contained files",
            file,
        )


def _groups(f: h5py.File) -> list[str]:
    found: list[str] = []
    f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Group) else None)
    return found


def _check_groups(f: h5py.File, file: str, profile: CenterProfile, required: Sequence[str]) -> None:
    reasons: list[Reason] = []
    for name in required:
        mapping = profile.streams.get(name)
        if mapping is None:
            reasons.append(
                Reason(
                    "unmapped_stream",
                    f"profile {profile.name!r} maps no group; add [streams.{name}] to it",
                    stream=name,
                )
            )
        elif not isinstance(f.get(mapping.topic.strip("/")), h5py.Group):
            top = mapping.topic.strip("/").split("/")[0]
            whole = f"the whole {top}/ group is missing; " if top not in f else ""
            reasons.append(
                Reason(
                    "missing_stream",
                    f"required group {mapping.topic!r} is not in the file; {whole}"
                    f"it has groups {_groups(f)}",
                    file=file,
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
) -> tuple[dict[str, SignalStream], dict[str, CameraStream], list[Event], dict[str, Any]]:
    """Decode the mapped streams, cameras and events of one episode file."""
    episodes = [Path(p) for p in paths if Path(p).suffix in SUFFIXES]
    if len(episodes) != 1:
        reject(
            "file_missing",
            f"expected one episode file ({'/'.join(SUFFIXES)}), got {[p.name for p in episodes]}",
        )
    path = episodes[0]
    file = path.name
    with open_episode(path) as f:
        try:
            check_self_contained(f, file)
            _check_groups(f, file, profile, required)
            signals: dict[str, SignalStream] = {}
            info: dict[str, Any] = {"absent_optional_streams": []}
            for name in (*REQUIRED_STREAMS, *OPTIONAL_STREAMS):
                mapping = profile.streams.get(name)
                group = f.get(mapping.topic.strip("/")) if mapping else None
                if mapping is None or not isinstance(group, h5py.Group):
                    info["absent_optional_streams"].append(name)
                    continue
                signals[name] = read_stream(group, mapping, file)
            cameras: dict[str, CameraStream] = {}
            for cam, topic in profile.cameras.items() if with_cameras else ():
                group = f.get(topic.strip("/"))
                if cam in CAMERA_STREAMS and isinstance(group, h5py.Group):
                    cameras[cam] = read_camera(group, cam, file)
            events, unknown = _events(f, file)
        # damage inside the file: HDF5 raises RuntimeError for broken B-trees and symbol tables
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as err:
            reject("corrupt_file", f"cannot read the HDF5 file: {type(err).__name__}: {err}", file)
    if unknown:
        info["unknown_events"] = unknown
    robot_t = [s.t_ns for s in signals.values() if s.clock == "robot" and s.n_samples]
    info["t_first_record_ns"] = min([int(t[0]) for t in robot_t] + [e.t_ns for e in events] or [0])
    info["t_last_record_ns"] = max([int(t[-1]) for t in robot_t] + [e.t_ns for e in events] or [0])
    return signals, cameras, events, info


def read(files: Sequence[Path], meta: RecordingMeta, profile: CenterProfile) -> Recording:
    """The canonical `Recording` (raw units, the file's joint names) of one hdf5 delivery."""
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
    other = [p.name for p in paths if p.suffix not in SUFFIXES and p != label]
    if other:
        extra["ignored_files"] = other
    return Recording(
        meta=dataclasses.replace(new_meta, extra=extra),
        signals=signals,
        cameras=cameras,
        events=tuple(sorted([*events, *label_events], key=lambda e: e.t_ns)),
    )


def decode_benchmark(path: Path, profile: CenterProfile) -> dict[str, float]:
    """Read the joint-state positions of ``path`` whole and row by row with h5py (CPU s)."""
    topic = profile.streams["joint_state"].topic.strip("/")
    with open_episode(Path(path)) as f:
        ds = f[topic]["joint_position"]
        t0 = time.process_time()
        bulk = np.asarray(ds[()], dtype=np.float64)
        t1 = time.process_time()
        slow = np.array([ds[i] for i in range(ds.shape[0])], dtype=np.float64)
        t2 = time.process_time()
    return {
        "n_messages": float(len(bulk)),
        "bulk_s": t1 - t0,
        "per_message_s": t2 - t1,
        "speedup": (t2 - t1) / max(t1 - t0, 1e-9),
        "max_abs_diff": float(np.max(np.abs(bulk - slow))) if bulk.size else 0.0,
        "bulk_used": 1.0,
    }
