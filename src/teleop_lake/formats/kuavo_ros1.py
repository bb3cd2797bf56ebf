"""Adapter for ``ros1-bag`` recordings: Kuavo-style ROS 1 bags plus their label files.

What belongs here: sorting a delivery's files (bag parts, label files), checking
the bags against the center profile (missing or mistyped topics), reading the
parts in order and joining them, merging the label files, and `decode_benchmark`.
Per-topic decoding lives in `kuavo_topics`, the byte level in `ros1_bag` /
`ros1_records` (container) and `ros1_layout` (messages), labels in `kuavo_labels`.

Output contract (RAW units, recorder order; `teleop_lake.standardize` converts):
- channel names ``<quantity>_raw.<joint>``: ``position_raw``, ``velocity_raw``,
  ``effort_raw``, with joint names from the profile's ``joint_order`` (the order
  the recorder writes them) and units as the profile states (``position_unit``,
  ``closure_full_scale``); for poses ``position_raw.x|y|z`` and
  ``orientation_raw.qx|qy|qz|qw``;
- ``t_ns`` = header stamp (``sensor_time`` when a sensorsData header is empty, or
  the field named by the profile's ``stamp_field``) on the profile's clock;
  ``t_received_ns`` = bag record time (recorder = robot computer clock);
- a message whose array has another length than the profile's joint order becomes
  a NaN row (counted in ``meta.extra["malformed_messages"]``): the data is kept as
  recorded, duplicated or non-monotonic stamps included, for cleaning to flag.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.typesys.msg import normalize_msgtype

from teleop_lake.canonical import (
    CAMERA_STREAMS,
    CameraStream,
    Event,
    Recording,
    RecordingMeta,
    SignalStream,
)
from teleop_lake.formats.kuavo_labels import apply_labels, read_label_files
from teleop_lake.formats.kuavo_topics import (
    MESSAGE_FIELDS,
    check_stamps,
    decode_camera,
    decode_events,
    decode_signal,
    reject,
)
from teleop_lake.formats.ros1_bag import BagReadError, Ros1Bag
from teleop_lake.formats.ros1_layout import (
    decode_fields,
    numeric_rows,
    typestore_for,
)
from teleop_lake.formats.topic_check import check_topics
from teleop_lake.network.profiles import CenterProfile, StreamMapping
from teleop_lake.rejection import Reason, RecordingRejected

RAW_FORMAT = "ros1-bag"
REQUIRED_STREAMS = ("joint_state", "joint_command", "arm_target", "hand_command", "hand_state")
OPTIONAL_STREAMS = ("head_pose",)
EVENTS_TOPIC = "/teleop/event"  # std_msgs/String; a profile stream "events" overrides it


def _part_key(path: Path) -> tuple[int, str]:
    m = re.search(r"_(\d+)\.bag$", path.name)
    return (int(m.group(1)) if m else -1, path.name)


def _split_files(files: Sequence[Path]) -> tuple[list[Path], Path | None, Path | None, list[str]]:
    bags = sorted((Path(f) for f in files if str(f).endswith(".bag")), key=_part_key)
    meta = next((Path(f) for f in files if Path(f).name.endswith("metadata.json")), None)
    moments = next((Path(f) for f in files if Path(f).name.endswith("moments.json")), None)
    used = {*map(str, bags), str(meta), str(moments)}
    return bags, meta, moments, [Path(f).name for f in files if str(f) not in used]


def check_parts(paths: Sequence[Path], part_key: Callable[[Path], tuple[int, str]]) -> None:
    """Reject a split recording (``_0``, ``_1``, ... parts) whose part numbers have a hole."""
    numbers = [part_key(p)[0] for p in paths]
    if -1 in numbers or (len(numbers) == 1 and numbers[0] == 0):
        return  # not split (or a single part _0)
    missing = sorted(set(range(max(numbers) + 1)) - set(numbers))
    if missing or len(set(numbers)) != len(numbers):
        stem = re.sub(r"_\d+(\.\w+)$", r"_{k}\1", paths[0].name)
        raise RecordingRejected(
            Reason(
                "file_missing",
                f"split recording lacks part(s) {missing} ({stem}); it has parts "
                f"{sorted(numbers)}. Ask the center to re-deliver the missing part(s).",
                file=", ".join(p.name for p in paths),
            )
        )


def _check_topics(
    bags: list[Ros1Bag], profile: CenterProfile
) -> tuple[dict[str, StreamMapping], dict[str, str], list[str]]:
    """Which mapped streams and cameras the bag holds; reject what is missing or mistyped."""
    present: dict[str, set[str]] = {}
    for bag in bags:
        for topic, conns in bag.topic_connections().items():
            present.setdefault(topic, set()).update(normalize_msgtype(c.msgtype) for c in conns)
    files = ", ".join(b.path.name for b in bags)
    return check_topics(present, files, profile, REQUIRED_STREAMS, OPTIONAL_STREAMS)


def concat_signal_parts(name: str, parts: list[SignalStream]) -> SignalStream:
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    for p in parts[1:]:
        if p.channels != first.channels:
            reject("corrupt_file", "bag parts disagree on the stream's channels", stream=name)
    recv = [p.t_received_ns for p in parts if p.t_received_ns is not None]
    return dataclasses.replace(
        first,
        t_ns=np.concatenate([p.t_ns for p in parts]),
        values=np.vstack([p.values for p in parts]),
        t_received_ns=np.concatenate(recv) if len(recv) == len(parts) else None,
    )


def concat_camera_parts(parts: list[CameraStream]) -> CameraStream:
    if len(parts) == 1:
        return parts[0]
    recv = [p.t_received_ns for p in parts if p.t_received_ns is not None]
    return dataclasses.replace(
        parts[0],
        t_ns=np.concatenate([p.t_ns for p in parts]),
        frames=tuple(f for p in parts for f in p.frames),
        t_received_ns=np.concatenate(recv) if len(recv) == len(parts) else None,
    )


def _open_bags(paths: list[Path]) -> list[Ros1Bag]:
    bags: list[Ros1Bag] = []
    try:
        for p in paths:
            bags.append(Ros1Bag(p))
    except BagReadError as err:
        for b in bags:
            b.close()
        reject(err.code, str(err), file=p.name)
    except OSError as err:
        for b in bags:
            b.close()
        reject("file_missing", f"cannot open the bag: {err}", file=p.name)
    return bags


def read_signals(
    bag_paths: list[Path], profile: CenterProfile, *, with_cameras: bool = True
) -> tuple[dict[str, SignalStream], dict[str, CameraStream], list[Event], dict[str, Any]]:
    """Decode the mapped streams of one recording's bag parts (read in part order)."""
    bags = _open_bags(bag_paths)
    try:
        mappings, cameras, absent = _check_topics(bags, profile)
        events_topic = (
            profile.streams["events"].topic if "events" in profile.streams else EVENTS_TOPIC
        )
        sig_parts: dict[str, list[SignalStream]] = {}
        cam_parts: dict[str, list[CameraStream]] = {}
        events: list[Event] = []
        info: dict[str, Any] = {"absent_optional_streams": absent, "malformed_messages": {}}
        unknown_events: list[str] = []
        t_first: list[int] = []
        t_last: list[int] = []
        for bag in bags:
            file = bag.path.name
            topics = [m.topic for m in mappings.values()] + [events_topic]
            topics += list(cameras.values()) if with_cameras else []
            try:
                raw = bag.read_topics(topics)
            except BagReadError as err:
                reject(err.code, str(err), file=file)
            all_t = bag.record_times_ns(bag.connections)
            if len(all_t):
                t_first.append(int(all_t.min()))
                t_last.append(int(all_t.max()))
            for name, mapping in mappings.items():
                if mapping.topic not in raw:
                    continue  # topic absent from this part only
                stream, bad = decode_signal(raw[mapping.topic], mapping, file)
                check_stamps(stream, file)
                if bad:
                    info["malformed_messages"][name] = info["malformed_messages"].get(name, 0) + bad
                sig_parts.setdefault(name, []).append(stream)
            for name, topic in cameras.items():
                if with_cameras and topic in raw and name in CAMERA_STREAMS:
                    try:
                        cam = decode_camera(raw[topic], name)
                    except struct.error as err:
                        reject("corrupt_file", f"camera {topic!r}: {err}", file, name)
                    check_stamps(cam, file)
                    cam_parts.setdefault(name, []).append(cam)
            if events_topic in raw:
                try:
                    ev, unknown = decode_events(raw[events_topic])
                except struct.error as err:
                    reject("corrupt_file", f"{events_topic}: {err}", file, "events")
                events += ev
                unknown_events += unknown
        if unknown_events:
            info["unknown_events"] = unknown_events
        info["t_first_record_ns"] = min(t_first) if t_first else 0
        info["t_last_record_ns"] = max(t_last) if t_last else 0
        signals = {n: concat_signal_parts(n, p) for n, p in sig_parts.items()}
        empty = [n for n in REQUIRED_STREAMS if n in signals and signals[n].n_samples == 0]
        if empty:
            raise RecordingRejected(
                *(
                    Reason(
                        "missing_stream",
                        f"topic {mappings[n].topic!r} is in the bag but holds no messages",
                        file=", ".join(p.name for p in bag_paths),
                        stream=n,
                    )
                    for n in empty
                )
            )
        cams = {n: concat_camera_parts(p) for n, p in cam_parts.items()}
        return signals, cams, events, info
    finally:
        for b in bags:
            b.close()


def read(files: Sequence[Path], meta: RecordingMeta, profile: CenterProfile) -> Recording:
    """The canonical `Recording` (raw units, recorder order) of one ros1-bag delivery."""
    bag_paths, meta_path, moments_path, other = _split_files(files)
    if not bag_paths:
        reject("file_missing", f"no .bag file among {[Path(f).name for f in files]}")
    check_parts(bag_paths, _part_key)
    labels = read_label_files(meta_path, moments_path)
    signals, cameras, events, info = read_signals(bag_paths, profile)
    new_meta, label_events = apply_labels(
        meta, labels, info["t_first_record_ns"], info["t_last_record_ns"]
    )
    extra = dict(new_meta.extra)
    extra.update({k: v for k, v in info.items() if v})
    extra["bag_files"] = [p.name for p in bag_paths]
    if other:
        extra["ignored_files"] = other
    all_events = sorted([*events, *label_events], key=lambda e: e.t_ns)
    return Recording(
        meta=dataclasses.replace(new_meta, extra=extra),
        signals=signals,
        cameras=cameras,
        events=tuple(all_events),
    )


def decode_benchmark(bag: Path, profile: CenterProfile) -> dict[str, float]:
    """Decode the joint-state topic of ``bag`` in bulk and per message; seconds and speed-up.

    Times are process (CPU) seconds of the decoding only, after reading the payloads.
    """
    mapping = profile.streams["joint_state"]
    with Ros1Bag(Path(bag)) as b:
        raw = b.read_topics([mapping.topic])[mapping.topic]
        store, msgtype = typestore_for(raw.connection.msgtype, raw.connection.msgdef)
        paths = [p for g in MESSAGE_FIELDS[msgtype]["position"] for p in g] + ["header.stamp"]
        t0 = time.process_time()
        bulk = decode_fields(raw, store, msgtype, paths)
        t1 = time.process_time()
        slow = decode_fields(raw, store, msgtype, paths, allow_bulk=False)
        t2 = time.process_time()
    width = len(mapping.joint_order) or None
    a, _ = numeric_rows(bulk, tuple(paths[:-1]), width)
    b_, _ = numeric_rows(slow, tuple(paths[:-1]), width)
    return {
        "n_messages": float(raw.n_messages),
        "bulk_s": t1 - t0,
        "per_message_s": t2 - t1,
        "speedup": (t2 - t1) / max(t1 - t0, 1e-9),
        "max_abs_diff": float(np.nanmax(np.abs(a - b_))) if a.size else 0.0,
        "bulk_used": float(bulk.bulk),
    }
