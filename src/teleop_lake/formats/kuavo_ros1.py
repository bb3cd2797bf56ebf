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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rosbags.typesys.msg import normalize_msgtype

from teleop_lake.canonical import (
    CameraStream,
    Event,
    Recording,
    RecordingMeta,
    SignalStream,
)
from teleop_lake.config.centers import CenterProfile, StreamMapping
from teleop_lake.formats.end_effector import resolve_end_effector
from teleop_lake.formats.kuavo_labels import apply_labels, read_label_files
from teleop_lake.formats.kuavo_topics import (
    decode_events,
    decode_signal_piece,
    reject,
    ros1_image_header,
)
from teleop_lake.formats.ros1_bag import BATCH_MESSAGES, BagReadError, Ros1Bag
from teleop_lake.formats.ros1_layout import (
    decode_fields,
    typestore_for,
)
from teleop_lake.formats.topic_check import check_topics
from teleop_lake.formats.topic_parts import (
    PartAssembler,
    TopicDecoders,
    time_bulk_decoding,
)
from teleop_lake.rejection import Reason, RecordingRejected

RAW_FORMAT = "ros1-bag"
REQUIRED_STREAMS = ("joint_state", "joint_command", "arm_target", "hand_command")
# Some rigs publish no hand (or claw) state at all (KUAVO.md): its absence is recorded, not
# refused; so is a missing VR head pose.
OPTIONAL_STREAMS = ("hand_state", "head_pose")
EVENTS_TOPIC = "/teleop/event"  # std_msgs/String; a profile stream "events" overrides it
ROS1_DECODERS = TopicDecoders(
    signal=decode_signal_piece, frame_header=ros1_image_header, events=decode_events
)


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


def _present_topics(bags: list[Ros1Bag]) -> dict[str, set[str]]:
    """Topic -> normalised message types, over every part."""
    present: dict[str, set[str]] = {}
    for bag in bags:
        for topic, conns in bag.topic_connections().items():
            present.setdefault(topic, set()).update(normalize_msgtype(c.msgtype) for c in conns)
    return present


def _check_topics(
    bags: list[Ros1Bag], profile: CenterProfile, metadata: dict[str, Any] | None
) -> tuple[dict[str, StreamMapping], dict[str, str], list[str], dict[str, Any]]:
    """Which mapped streams and cameras the bag holds, for the end effector the recording
    carries; reject what is missing or mistyped. The last item: end-effector facts."""
    present = _present_topics(bags)
    files = ", ".join(b.path.name for b in bags)
    profile, eef = resolve_end_effector(profile, metadata, set(present), files)
    found = check_topics(present, files, profile, REQUIRED_STREAMS, OPTIONAL_STREAMS)
    return (*found, eef)


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
    bag_paths: list[Path],
    profile: CenterProfile,
    *,
    with_cameras: bool = True,
    metadata: dict[str, Any] | None = None,
    batch_messages: int | None = BATCH_MESSAGES,
) -> tuple[dict[str, SignalStream], dict[str, CameraStream], list[Event], dict[str, Any]]:
    """Decode the mapped streams of one recording's bag parts (read in part order), each
    part in batches of about ``batch_messages`` messages (None: whole).

    ``metadata``: the recording's metadata.json, whose ``eef_type`` picks the end-effector
    streams (`teleop_lake.formats.end_effector`); without it the topics decide."""
    bags = _open_bags(bag_paths)
    try:
        mappings, cameras, absent, eef = _check_topics(bags, profile, metadata)
        events_topic = (
            profile.streams["events"].topic if "events" in profile.streams else EVENTS_TOPIC
        )
        parts = PartAssembler(
            mappings,
            cameras,
            events_topic,
            ROS1_DECODERS,
            with_cameras,
            info={"absent_optional_streams": absent, "malformed_messages": {}, **eef},
        )
        for bag in bags:
            parts.add_record_times(bag.record_times_ns(bag.connections))
            parts.add_batches(bag.path.name, bag.read_topic_batches(parts.topics, batch_messages))
        return parts.finish(REQUIRED_STREAMS, ", ".join(p.name for p in bag_paths))
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
    signals, cameras, events, info = read_signals(bag_paths, profile, metadata=labels.metadata)
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
        return time_bulk_decoding(raw, mapping, store, msgtype, decode_fields)
