"""Adapter for ``ros2-mcap`` recordings: ROS 2 bags in MCAP storage (CDR), plus label files.

What belongs here: sorting a delivery's files (``.mcap`` parts in part order, the
rosbag2 ``metadata.yaml``, the label JSON), checking the channels against the center
profile, decoding mapped topics (standard messages: sensor_msgs/JointState,
geometry_msgs/PoseStamped or PoseWithCovarianceStamped, sensor_msgs/CompressedImage,
std_msgs/String events), and `decode_benchmark`. The container is `mcap_container`,
CDR decoding `cdr_layout`; the per-topic field table and channel naming are shared
with the ROS 1 adapter (`kuavo_topics`), so the output contract is the same:
raw units, recorder joint order, ``t_ns`` = header stamp (the profile's
``stamp_field`` may name another field, or ``record_time``), ``t_received_ns`` =
MCAP log time (the recorder's clock; it differs from the header stamps).
"""

from __future__ import annotations

import dataclasses
import re
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from rosbags.typesys.msg import normalize_msgtype

from teleop_lake.canonical import (
    EVENT_KINDS,
    CameraStream,
    Event,
    Recording,
    RecordingMeta,
    SignalStream,
)
from teleop_lake.config.centers import CenterProfile, StreamMapping
from teleop_lake.formats.cdr_layout import cdr_typestore_for, decode_cdr_fields
from teleop_lake.formats.end_effector import resolve_end_effector
from teleop_lake.formats.kuavo_labels import apply_labels, read_label_files
from teleop_lake.formats.kuavo_ros1 import (
    EVENTS_TOPIC,
    OPTIONAL_STREAMS,
    REQUIRED_STREAMS,
    check_parts,
)
from teleop_lake.formats.kuavo_topics import SignalPiece, decode_signal_piece, reject
from teleop_lake.formats.mcap_container import McapFile
from teleop_lake.formats.ros1_bag import BATCH_MESSAGES, BagReadError, RawMessages
from teleop_lake.formats.topic_check import check_topics
from teleop_lake.formats.topic_parts import PartAssembler, TopicDecoders, time_bulk_decoding
from teleop_lake.rejection import Reason, RecordingRejected
from teleop_lake.transient import is_transient

RAW_FORMAT = "ros2-mcap"
MAX_METADATA_BYTES = 1 << 20
"""A rosbag2 ``metadata.yaml`` larger than this is not read (it is a few kB)."""
SUPPORTED_ENCODINGS = (("cdr", "ros2msg"),)


def _part_key(path: Path) -> tuple[int, str]:
    m = re.search(r"_(\d+)\.mcap$", path.name)
    return (int(m.group(1)) if m else -1, path.name)


def _setting(info: dict[Any, Any], key: str) -> str:
    """A ``metadata.yaml`` setting as text; anything but a short string (a list, an alias
    tree) counts as unset."""
    value = info.get(key)
    return value.strip().lower()[:40] if isinstance(value, str) else ""


def rosbag2_compression(path: Path | None) -> str:
    """rosbag2's own compression of the bag, from its ``metadata.yaml``: "" (none),
    "message" (each message compressed on its own) or "file" (each storage file compressed
    whole, named ``.mcap.zstd``). Only zstd exists; another format is refused. A missing or
    unreadable ``metadata.yaml`` says nothing (the MCAP files describe themselves)."""
    if path is None:
        return ""
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            return ""
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError, RecursionError):
        return ""
    info = doc.get("rosbag2_bagfile_information") if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        return ""
    mode, fmt = _setting(info, "compression_mode"), _setting(info, "compression_format")
    if mode in ("", "none"):
        return ""
    if mode not in ("message", "file") or fmt != "zstd":
        reject(
            "unknown_format",
            f"rosbag2 compression {mode!r} with {fmt!r}: only zstd, per message or per file, is "
            "read; decompress the bag (`ros2 bag convert`) and re-deliver it",
            file=path.name,
        )
    return mode


INFLATE_PIECE = 4 << 10
"""Compressed bytes fed to the decompressor at a time: zstd inflates at most ~32,000x (a
run-length block of 4 bytes gives 128 kB), so one step yields at most ~128 MB."""


def decompress_part(path: Path, into: Path, cap: int) -> Path:
    """A ``.mcap.zstd`` part (rosbag2 file compression) inflated into folder ``into``,
    streaming. Refused beyond ``cap`` bytes (a file that inflates without bound), when it
    ends inside a frame (cut), when it does not decompress, or cannot be read. A transient
    error (a full disk) is raised as it is: the recording is retried later."""
    import zstandard

    out = into / path.name.removesuffix(".zstd")
    written = 0
    inside = False  # input fed to a frame that has not ended yet
    try:
        with path.open("rb") as src, out.open("wb") as dst:
            dobj = zstandard.ZstdDecompressor().decompressobj()
            while piece := src.read(INFLATE_PIECE):
                while piece:
                    inside = True
                    data = dobj.decompress(piece)
                    piece = b""
                    if dobj.eof:  # a frame ended; what follows starts the next one
                        inside = False
                        piece = dobj.unused_data
                        dobj = zstandard.ZstdDecompressor().decompressobj()
                    written += len(data)
                    if written > cap:
                        reject(
                            "file_too_large",
                            f"decompresses to over {cap} bytes, the center's per-file cap "
                            "(profile [limits] max_file_gib)",
                            file=path.name,
                        )
                    dst.write(data)
    except zstandard.ZstdError as err:
        reject(
            "corrupt_file",
            f"the zstd-compressed bag file does not decompress: {err}",
            file=path.name,
        )
    except OSError as err:
        if is_transient(err):
            raise
        reject("file_missing", f"cannot read the compressed bag file: {err}", file=path.name)
    if inside or written == 0:
        reject(
            "truncated_file",
            "the zstd-compressed bag file ends inside a frame (cut in transfer?); ask the "
            "center to re-deliver it",
            file=path.name,
        )
    return out


def _open_files(paths: list[Path], message_compression: str | None = None) -> list[McapFile]:
    files: list[McapFile] = []
    for p in paths:
        try:
            files.append(McapFile(p, message_compression))
        except BagReadError as err:
            for f in files:
                f.close()
            reject(err.code, str(err), file=p.name)
        except OSError as err:
            for f in files:
                f.close()
            reject("file_missing", f"cannot open the MCAP file: {err}", file=p.name)
    return files


def _present(files: list[McapFile]) -> dict[str, set[str]]:
    present: dict[str, set[str]] = {}
    for f in files:
        for topic, chans in f.topic_channels().items():
            present.setdefault(topic, set()).update(
                normalize_msgtype(c.schema_name) if c.schema_name else "" for c in chans
            )
    return present


def _check_encodings(f: McapFile, topics: set[str]) -> None:
    for ch in f.channels.values():
        if ch.topic not in topics:
            continue
        if not ch.schema_name:
            reject(
                "unknown_message_type",
                f"topic {ch.topic!r} has no schema: its message type is unknown",
                f.path.name,
                ch.topic,
            )
        if (ch.message_encoding, ch.schema_encoding) not in SUPPORTED_ENCODINGS:
            reject(
                "unknown_message_type",
                f"topic {ch.topic!r} is {ch.message_encoding!r} with a "
                f"{ch.schema_encoding!r} schema; only ROS 2 CDR (ros2msg schemas) is read",
                f.path.name,
                ch.topic,
            )


def _cdr_string(p: memoryview, pos: int) -> tuple[str, int]:
    pos += (-(pos - 4)) % 4
    (n,) = struct.unpack_from("<I", p, pos)
    text = bytes(p[pos + 4 : pos + 4 + n]).rstrip(b"\0").decode("utf-8", "replace")
    return text, pos + 4 + n


def cdr_image_header(p: memoryview, payload_length: int) -> tuple[int, int, int, str]:
    """sensor_msgs/msg/CompressedImage (CDR): encapsulation, header (stamp, frame_id),
    format, data."""
    sec, nsec = struct.unpack_from("<iI", p, 4)
    _, pos = _cdr_string(p, 12)
    fmt, pos = _cdr_string(p, pos)
    pos += (-(pos - 4)) % 4
    (dlen,) = struct.unpack_from("<I", p, pos)
    return sec * 1_000_000_000 + nsec, pos + 4, dlen, fmt


def decode_cdr_events(raw: RawMessages) -> tuple[list[Event], list[str]]:
    """std_msgs/msg/String event texts at their log times (robot clock)."""
    events: list[Event] = []
    unknown: list[str] = []
    for t, p in zip(raw.t_record_ns.tolist(), raw.payloads(), strict=True):
        value, _ = _cdr_string(p, 4)
        if value.strip() in EVENT_KINDS:
            events.append(Event(t_ns=int(t), clock="robot", kind=value.strip()))
        else:
            unknown.append(value)
    return events, unknown


def _decode_cdr_signal(raw: RawMessages, mapping: StreamMapping, file: str) -> SignalPiece:
    return decode_signal_piece(raw, mapping, file, decode_cdr_fields, cdr_typestore_for)


CDR_DECODERS = TopicDecoders(
    signal=_decode_cdr_signal, frame_header=cdr_image_header, events=decode_cdr_events
)


def read_signals(
    mcap_paths: list[Path],
    profile: CenterProfile,
    *,
    with_cameras: bool = True,
    required: Sequence[str] = REQUIRED_STREAMS,
    metadata: dict[str, Any] | None = None,
    batch_messages: int | None = BATCH_MESSAGES,
    message_compression: str | None = None,
) -> tuple[dict[str, SignalStream], dict[str, CameraStream], list[Event], dict[str, Any]]:
    """Decode the mapped streams of one recording's MCAP parts (read in part order), each
    part in batches of about ``batch_messages`` messages (None: whole); ``metadata``'s
    ``eef_type`` picks the end-effector streams (else the topics do). With
    ``message_compression`` ("zstd") every message payload is decompressed first."""
    files = _open_files(mcap_paths, message_compression)
    names = ", ".join(p.name for p in mcap_paths)
    try:
        optional = tuple(n for n in (*REQUIRED_STREAMS, *OPTIONAL_STREAMS) if n not in required)
        present = _present(files)
        profile, eef = resolve_end_effector(profile, metadata, set(present), names)
        mappings, cameras, absent = check_topics(present, names, profile, required, optional)
        events_topic = (
            profile.streams["events"].topic if "events" in profile.streams else EVENTS_TOPIC
        )
        parts = PartAssembler(
            mappings,
            cameras,
            events_topic,
            CDR_DECODERS,
            with_cameras,
            info={"absent_optional_streams": absent, "malformed_messages": {}, **eef},
        )
        for f in files:
            _check_encodings(f, set(parts.topics))
            parts.add_record_times(f.log_times_ns(f.channels))
            parts.add_batches(f.path.name, f.read_topic_batches(parts.topics, batch_messages))
        return parts.finish(required, names)
    finally:
        for f in files:
            f.close()


def _renamed(reason: Reason, names: dict[str, str]) -> Reason:
    """``reason`` naming the delivered files instead of their inflated copies."""
    message = reason.message
    for inflated, packed in names.items():
        message = message.replace(inflated, packed)
    return dataclasses.replace(
        reason, file=names.get(reason.file or "", reason.file), message=message
    )


def read(files: Sequence[Path], meta: RecordingMeta, profile: CenterProfile) -> Recording:
    """The canonical `Recording` (raw units, recorder order) of one ros2-mcap delivery."""
    paths = [Path(f) for f in files]
    compression = rosbag2_compression(next((p for p in paths if p.name == "metadata.yaml"), None))
    packed = [p for p in paths if p.name.endswith(".mcap.zstd")]
    parts = sorted((p for p in paths if p.suffix == ".mcap"), key=_part_key)
    if not parts and not packed:
        if any(p.suffix == ".db3" for p in paths):
            reject(
                "unknown_format",
                "a rosbag2 bag in sqlite3 storage (.db3): format ros2-mcap reads MCAP storage; "
                "convert it (`ros2 bag convert` with storage_id mcap) and re-deliver it",
                file=next(p.name for p in paths if p.suffix == ".db3"),
            )
        reject("file_missing", f"no .mcap (or .mcap.zstd) file among {[p.name for p in paths]}")
    meta_path = next((p for p in paths if p.name.endswith("metadata.json")), None)
    moments_path = next((p for p in paths if p.name.endswith("moments.json")), None)
    labels = read_label_files(meta_path, moments_path)
    # rosbag2 file compression: each part inflated into a temporary folder, read, deleted (the
    # camera frames located in it keep their open file until they are used). Refusals name
    # the delivered file, not the inflated one.
    check_parts(sorted([*parts, *(p.with_suffix("") for p in packed)], key=_part_key), _part_key)
    delivered: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="teleop-mcap-") as unpacked:
        for p in packed:
            inflated = decompress_part(p, Path(unpacked), profile.max_file_bytes())
            delivered[inflated.name] = p.name
            parts.append(inflated)
        parts.sort(key=_part_key)
        try:
            signals, cameras, events, info = read_signals(
                parts,
                profile,
                metadata=labels.metadata,
                message_compression="zstd" if compression == "message" else None,
            )
        except RecordingRejected as exc:
            if not delivered:
                raise
            raise RecordingRejected(*(_renamed(r, delivered) for r in exc.reasons)) from None
    new_meta, label_events = apply_labels(
        meta, labels, info["t_first_record_ns"], info["t_last_record_ns"]
    )
    extra = dict(new_meta.extra)
    extra.update({k: v for k, v in info.items() if v})
    extra["mcap_files"] = [delivered.get(p.name, p.name) for p in parts]
    if compression:
        extra["rosbag2_compression"] = f"zstd per {compression}"
    used = {*parts, *packed, meta_path, moments_path}
    other = [p.name for p in paths if p not in used and p.name != "metadata.yaml"]
    if other:
        extra["ignored_files"] = other
    return Recording(
        meta=dataclasses.replace(new_meta, extra=extra),
        signals=signals,
        cameras=cameras,
        events=tuple(sorted([*events, *label_events], key=lambda e: e.t_ns)),
    )


def decode_benchmark(path: Path, profile: CenterProfile) -> dict[str, float]:
    """Decode the joint-state topic of ``path`` in bulk and per message (rosbags' CDR).

    Times are process (CPU) seconds of the decoding only, after reading the payloads.
    """
    mapping = profile.streams["joint_state"]
    with McapFile(Path(path)) as f:
        raw = f.read_topics([mapping.topic])[mapping.topic]
        store = cdr_typestore_for(raw.connection.msgtype, raw.connection.msgdef)
        msgtype = normalize_msgtype(raw.connection.msgtype)
        return time_bulk_decoding(raw, mapping, store, msgtype, decode_cdr_fields)
