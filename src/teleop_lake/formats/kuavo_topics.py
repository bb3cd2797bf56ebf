"""Decoding one Kuavo bag topic into a canonical stream (raw units, recorder order).

What belongs here: the table of which fields of each Kuavo / standard message
type carry which quantity (`MESSAGE_FIELDS`), turning a bag part's raw messages
of a mapped topic, batch by batch, into a `SignalStream` (`decode_signal_piece`,
`join_signal_pieces`), cameras (`FrameLocator` with `ros1_image_header`),
``/teleop/event`` (`decode_events`) and the stamp sanity check (`check_stamps`). Which topics to read and how parts and labels combine is
`kuavo_ros1`'s business. Channel naming is documented there.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, Protocol

import numpy as np
from rosbags.typesys.msg import normalize_msgtype

from teleop_lake.canonical import EVENT_KINDS, CameraStream, Event, SignalStream
from teleop_lake.config.centers import StreamMapping
from teleop_lake.formats.frame_files import FileFrames, FrameEnds, FrameSpool
from teleop_lake.formats.ros1_bag import RawMessages
from teleop_lake.formats.ros1_layout import (
    DecodedFields,
    LayoutError,
    MessageDefinitionError,
    copy_rows,
    decode_fields,
    has_field,
    numeric_rows,
    stamp_ns,
    typestore_for,
)
from teleop_lake.formats.ros1_records import PAYLOAD_TAIL, PayloadSegment, windows
from teleop_lake.rejection import Reason, RecordingRejected

# Plausible stamps: 2000-01-01 .. 2100-01-01 UTC. Zero or out-of-range stamps mean an
# unset header or a wrong clock source, which no later stage can repair.
STAMP_MIN_NS = 946_684_800 * 10**9
STAMP_MAX_NS = 4_102_444_800 * 10**9

# Per message type: quantity -> alternatives; an alternative is a group of field paths
# whose values are concatenated (left hand then right hand). The first alternative
# the definition has wins (jointData's fourth field is joint_torque or joint_current).
MESSAGE_FIELDS: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "kuavo_msgs/msg/sensorsData": {
        "position": (("joint_data.joint_q",),),
        "velocity": (("joint_data.joint_v",),),
        "effort": (("joint_data.joint_torque",), ("joint_data.joint_current",)),
    },
    "kuavo_msgs/msg/jointCmd": {
        "position": (("joint_q",),),
        "velocity": (("joint_v",),),
        "effort": (("tau",),),
    },
    "sensor_msgs/msg/JointState": {
        "position": (("position",),),
        "velocity": (("velocity",),),
        "effort": (("effort",),),
    },
    "kuavo_msgs/msg/robotHandPosition": {
        "position": (("left_hand_position", "right_hand_position"),),
    },
    # The claw state carries one int8 code per claw beside the positions (KUAVO.md: -1 error,
    # 0 unknown, 1 moving, 2 reached, 3 grabbed); kept as ``state_code_raw.<claw>``.
    "kuavo_msgs/msg/lejuClawState": {
        "position": (("data.position",),),
        "state_code": (("state",),),
    },
    "kuavo_msgs/msg/lejuClawCommand": {"position": (("data.position",),)},
    "kuavo_msgs/msg/controlLejuClaw": {"position": (("data.position",),)},
    "geometry_msgs/msg/PoseWithCovarianceStamped": {
        "position": (("pose.pose.position.x", "pose.pose.position.y", "pose.pose.position.z"),),
        "orientation": (
            (
                "pose.pose.orientation.x",
                "pose.pose.orientation.y",
                "pose.pose.orientation.z",
                "pose.pose.orientation.w",
            ),
        ),
    },
    "geometry_msgs/msg/PoseStamped": {
        "position": (("pose.position.x", "pose.position.y", "pose.position.z"),),
        "orientation": (
            (
                "pose.orientation.x",
                "pose.orientation.y",
                "pose.orientation.z",
                "pose.orientation.w",
            ),
        ),
    },
}
MESSAGE_FIELDS["nav_msgs/msg/Odometry"] = MESSAGE_FIELDS[
    "geometry_msgs/msg/PoseWithCovarianceStamped"
]
STAMP_FIELDS = ("header.stamp", "sensor_time")
# A profile's ``stamp_field`` naming this uses the record (ROS 1) / log (MCAP) time instead
# of a header stamp: for recorders whose header stamps are on another time base (sim time).
RECORD_TIME = "record_time"


class FieldDecoder(Protocol):
    """`ros1_layout.decode_fields` or `cdr_layout.decode_cdr_fields`."""

    def __call__(
        self, raw: RawMessages, store: Any, msgtype: str, paths: Sequence[str]
    ) -> DecodedFields: ...


class TypestoreFor(Protocol):
    def __call__(self, msgtype: str, msgdef: str) -> Any: ...


# Quantities each canonical stream keeps; the first is required, the others optional.
STREAM_QUANTITIES: dict[str, tuple[str, ...]] = {
    "joint_state": ("position", "velocity", "effort"),
    "head_pose": ("position", "orientation"),
    "hand_state": ("position", "state_code"),
}
POSE_CHANNELS = {"position": ("x", "y", "z"), "orientation": ("qx", "qy", "qz", "qw")}


def reject(code: str, message: str, file: str | None = None, stream: str | None = None) -> NoReturn:
    raise RecordingRejected(Reason(code, message, file=file, stream=stream))


def _stamp_path(store: Any, msgtype: str, mapping: StreamMapping) -> str | None:
    wanted = mapping.extra.get("stamp_field")
    if wanted == RECORD_TIME:
        return None
    candidates = (wanted,) if wanted else STAMP_FIELDS
    return next((p for p in candidates if has_field(store, msgtype, p)), None)


def _ros1_store(msgtype: str, msgdef: str) -> Any:
    return typestore_for(msgtype, msgdef)[0]


@dataclass(frozen=True, eq=False)
class SignalPiece:
    """One batch of a mapped topic's messages, decoded: stamps, and the values of each
    quantity side by side (``values`` float64, columns in ``quantities`` order), with each
    quantity's channel labels and how many of its rows were malformed (NaN)."""

    t_ns: np.ndarray
    received_ns: np.ndarray
    values: np.ndarray
    quantities: tuple[tuple[str, tuple[str, ...], int], ...]  # (quantity, labels, bad rows)
    topic: str
    clock: str


def decode_signal_piece(
    raw: RawMessages,
    mapping: StreamMapping,
    file: str,
    decode: FieldDecoder = decode_fields,
    store_for: TypestoreFor = _ros1_store,
) -> SignalPiece:
    """A batch of a mapped topic's messages as a `SignalPiece` (raw units); `join_signal_pieces`
    makes the stream once every batch is decoded. ``decode`` / ``store_for`` pick the
    serialization (ROS 1 by default; CDR for ROS 2)."""
    name = mapping.name
    msgtype = normalize_msgtype(raw.connection.msgtype)
    try:
        store = store_for(raw.connection.msgtype, raw.connection.msgdef)
    except MessageDefinitionError as err:
        reject("unknown_message_type", str(err), file=file, stream=name)
    spec = MESSAGE_FIELDS.get(msgtype)
    if spec is None:
        reject("unmapped_stream", f"no decoder for message type {msgtype}", file, name)
    quantities = STREAM_QUANTITIES.get(name, ("position",))
    groups: dict[str, tuple[str, ...]] = {}
    for q in quantities:
        alts = [g for g in spec.get(q, ()) if all(has_field(store, msgtype, p) for p in g)]
        if alts:
            groups[q] = alts[0]
    if "position" not in groups:
        reject("unmapped_stream", f"{msgtype} has no position field", file, name)
    stamp = _stamp_path(store, msgtype, mapping)
    paths = [p for g in groups.values() for p in g] + ([stamp] if stamp else [])
    if stamp == "header.stamp" and has_field(store, msgtype, "sensor_time"):
        paths.append("sensor_time")
    try:
        decoded = decode(raw, store, msgtype, paths)
    except LayoutError as err:
        reject("corrupt_file", str(err), file, name)
    t_ns = _stamps(decoded, stamp, raw)
    found: list[tuple[str, tuple[str, ...], int]] = []
    blocks: list[np.ndarray] = []
    for q, group in groups.items():
        names = POSE_CHANNELS.get(q) if name == "head_pose" else mapping.joint_order
        width = len(names) if names else None
        block, bad = numeric_rows(decoded, group, width)
        found.append((q, tuple(names or (str(i) for i in range(block.shape[1]))), bad))
        blocks.append(block)
    values = np.empty((len(t_ns), sum(b.shape[1] for b in blocks)), dtype=np.float64)
    col = 0
    for block in blocks:  # one cast-and-copy per block, straight from the byte matrix
        copy_rows(values[:, col : col + block.shape[1]], block)
        col += block.shape[1]
    return SignalPiece(
        t_ns,
        raw.t_record_ns.astype(np.int64),
        values,
        tuple(found),
        raw.topic,
        "operator" if mapping.clock == "operator" else "robot",
    )


def join_signal_pieces(
    mapping: StreamMapping, pieces: list[SignalPiece], file: str
) -> tuple[SignalStream, int]:
    """The stream of a topic's decoded batches (in order), and its malformed message count.

    A quantity malformed in every message is dropped (an optional quantity the recorder
    leaves empty), or rejects the recording when it is the position. The batches are
    released as they are copied in."""
    name = mapping.name
    n = sum(len(p.t_ns) for p in pieces)
    labels: dict[str, dict[str, None]] = {}  # quantity -> its labels, in order
    bad: dict[str, int] = {}
    for piece in pieces:
        for q, names, b in piece.quantities:
            labels.setdefault(q, {}).update(dict.fromkeys(names))
            bad[q] = bad.get(q, 0) + b
    kept = [q for q in labels if not (n and bad[q] == n)]
    if "position" not in kept and n:
        names = POSE_CHANNELS["position"] if name == "head_pose" else mapping.joint_order
        width = len(names or ())
        reject(
            "unmapped_stream",
            f"{pieces[0].topic}: messages carry another number of values than the profile's "
            f"{width} names",
            file,
            name,
        )
    channels = [f"{q}_raw.{j}" for q in kept for j in labels[q]]
    column = {c: i for i, c in enumerate(channels)}
    malformed = max((bad[q] for q in kept), default=0)
    first = pieces[0]
    t_ns = np.concatenate([p.t_ns for p in pieces]) if len(pieces) > 1 else first.t_ns
    received = (
        np.concatenate([p.received_ns for p in pieces]) if len(pieces) > 1 else first.received_ns
    )
    if len(pieces) == 1 and len(channels) == first.values.shape[1]:
        values = first.values  # one batch, every quantity kept: no copy
    else:
        # Not np.full: its pages would all be touched (and resident) before the first batch
        # is let go. Each batch's rows are written once, NaN where it lacks a channel, so the
        # stream grows as its batches go and the read holds one copy plus a batch.
        values = np.empty((n, len(channels)))
        row = 0
        while pieces:  # each batch is let go once copied
            piece = pieces.pop(0)
            rows = slice(row, row + len(piece.t_ns))
            written = np.zeros(len(channels), dtype=bool)
            col = 0
            for q, names, _ in piece.quantities:
                if q in kept:
                    idx = [column[f"{q}_raw.{j}"] for j in names]
                    cols: slice | list[int] = idx
                    if idx == list(range(idx[0], idx[0] + len(idx))) if idx else False:
                        cols = slice(idx[0], idx[0] + len(idx))
                    values[rows, cols] = piece.values[:, col : col + len(names)]
                    written[idx] = True
                col += len(names)
            if not written.all():
                values[rows, ~written] = np.nan
            row += len(piece.t_ns)
            del piece
    stream = SignalStream(
        name=name,
        clock="operator" if first.clock == "operator" else "robot",
        t_ns=t_ns,
        channels=tuple(channels),
        values=values,
        t_received_ns=received,
        source=first.topic,
    )
    return stream, malformed


def _stamps(decoded: DecodedFields, stamp: str | None, raw: RawMessages) -> np.ndarray:
    if stamp is None:
        return raw.t_record_ns.astype(np.int64)
    t = stamp_ns(decoded, stamp)
    has_sensor_time = "sensor_time" in decoded.columns or "sensor_time.sec" in decoded.columns
    if stamp == "header.stamp" and len(t) and not t.any() and has_sensor_time:
        return stamp_ns(decoded, "sensor_time")  # recorders that leave the header empty
    return t


def check_stamps(stream: SignalStream | CameraStream, file: str) -> None:
    t = stream.t_ns
    bad = (t < STAMP_MIN_NS) | (t > STAMP_MAX_NS)
    if bad.any():
        reject(
            "bad_timestamps",
            f"{int(bad.sum())} of {len(t)} stamps on {stream.source!r} are zero or outside "
            f"2000..2100 (first bad: {int(t[bad][0])} ns); the recorder's stamp source is broken",
            file,
            stream.name,
        )


# Parses one image message's first bytes (and knows the whole payload's length): the stamp
# in ns, where the frame's data starts in the payload, its length, and the format text.
FrameHeader = Callable[[memoryview, int], tuple[int, int, int, str]]


def ros1_image_header(p: memoryview, payload_length: int) -> tuple[int, int, int, str]:
    """sensor_msgs/CompressedImage (ROS 1): header (seq, stamp, frame_id), format, data."""
    _, sec, nsec, flen = struct.unpack_from("<IIII", p, 0)
    pos = 16 + flen
    (fmt_len,) = struct.unpack_from("<I", p, pos)
    fmt = bytes(p[pos + 4 : pos + 4 + fmt_len]).decode("ascii", "replace")
    pos += 4 + fmt_len
    (dlen,) = struct.unpack_from("<I", p, pos)
    if pos + 4 + dlen != payload_length:
        raise struct.error("the frame's length does not match its payload")
    return sec * 1_000_000_000 + nsec, pos + 4, dlen, fmt


FRAME_HEAD = 2
"""A located frame's first bytes kept with its place in the file (the JPEG start marker)."""


def _segment_frame_ends(seg: PayloadSegment, offsets: np.ndarray, lengths: np.ndarray) -> FrameEnds:
    """The first `FRAME_HEAD` and last `PAYLOAD_TAIL` bytes of the frames located in ``seg``
    (their file ``offsets`` and ``lengths``), where the segment holds them: the head from the
    payload's kept prefix, the tail from the payload's kept tail when the frame ends the
    payload (as the data of a CompressedImage does)."""
    m = len(offsets)
    heads = np.zeros((m, FRAME_HEAD), dtype=np.uint8)
    tails = np.zeros((m, PAYLOAD_TAIL), dtype=np.uint8)
    if seg.file_starts is None or m == 0:
        return FrameEnds(heads, tails, np.zeros(m, dtype=bool))
    pos = offsets - seg.file_starts  # the frame's start inside its payload
    kept = seg.lengths if seg.kept is None else seg.kept
    known = (
        (lengths >= FRAME_HEAD + PAYLOAD_TAIL)
        & (pos + FRAME_HEAD <= kept)
        & (pos + lengths == seg.lengths)
    )
    cut_tails = seg.tails
    if seg.kept is not None and cut_tails is None:
        known[:] = False
    rows = np.flatnonzero(known)
    if len(rows):
        heads[rows] = windows(seg.buffer, FRAME_HEAD)[seg.starts[rows] + pos[rows]]
        if seg.kept is None:  # whole payloads: the tail is in the buffer
            ends = seg.starts[rows] + seg.lengths[rows] - PAYLOAD_TAIL
            tails[rows] = windows(seg.buffer, PAYLOAD_TAIL)[ends]
        elif cut_tails is not None:
            tails[rows] = cut_tails[rows]
    return FrameEnds(heads, tails, known)


class FrameLocator:
    """One camera topic's frames, gathered over the batches of messages of one file.

    Each image message's header is parsed with ``header``. While every frame lies
    uncompressed in the file, only its byte range is kept (`FileFrames`: read when used);
    once a frame is not (a compressed chunk), the frames go to a `FrameSpool`, the ones
    located so far copied there first: never all in memory either way."""

    def __init__(self, name: str, topic: str, header: FrameHeader) -> None:
        self.name, self.topic, self._header = name, topic, header
        self._t: list[np.ndarray] = []
        self._received: list[np.ndarray] = []
        self._offsets: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._ends: list[FrameEnds] = []  # each located frame's first and last bytes
        self._path: Path | None = None  # the file every frame so far lies in
        self._spool: FrameSpool | None = None
        self._fmt = ""
        self._n = 0

    def _to_spool(self) -> FrameSpool:
        """The spool, made on first need, with the frames located in the file copied in."""
        if self._spool is None:
            self._spool = FrameSpool(self.topic)
            if self._path is not None and self._offsets:
                with self._path.open("rb") as f:
                    for off, n in zip(
                        np.concatenate(self._offsets).tolist(),
                        np.concatenate(self._lengths).tolist(),
                        strict=True,
                    ):
                        f.seek(off)
                        self._spool.append(f.read(n))
            self._offsets, self._lengths, self._ends, self._path = [], [], [], None
        return self._spool

    def add(self, raw: RawMessages) -> None:
        """Locate (or spool) the frames of ``raw``, the topic's next messages."""
        n = raw.n_messages
        t_ns = np.zeros(n, dtype=np.int64)
        offsets = np.zeros(n, dtype=np.int64)
        lengths = np.zeros(n, dtype=np.int64)
        in_file = self._spool is None and all(s.file_starts is not None for s in raw.segments)
        if in_file and self._path is not None and raw.path != self._path:
            in_file = False  # frames of two files: spool them
        spool = None if in_file else self._to_spool()
        i = 0
        with contextlib.ExitStack() as stack:
            source: BinaryIO | None = None
            ends: list[FrameEnds] = []
            for seg in raw.segments:
                first = i
                view = memoryview(seg.buffer.data)
                kept = seg.lengths if seg.kept is None else seg.kept
                file_starts = seg.file_starts
                for j, (start, length) in enumerate(
                    zip(seg.starts.tolist(), seg.lengths.tolist(), strict=True)
                ):
                    p = view[start : start + int(kept[j])]
                    try:
                        t_ns[i], pos, dlen, self._fmt = self._header(p, length)
                    except struct.error as err:
                        raise struct.error(f"frame {self._n + i}: {err}") from None
                    if pos + dlen > length:
                        raise struct.error(f"frame {self._n + i} is longer than its payload")
                    if spool is None:
                        if file_starts is None:  # in_file said every segment has them
                            raise struct.error(f"frame {self._n + i} has no place in the file")
                        offsets[i] = int(file_starts[j]) + pos
                        lengths[i] = dlen
                    elif seg.kept is not None and file_starts is not None and raw.path:
                        # a file mixing compressed and plain chunks: this frame was left there
                        if source is None:
                            source = stack.enter_context(raw.path.open("rb"))
                        source.seek(int(file_starts[j]) + pos)
                        spool.append(source.read(dlen))
                    else:
                        spool.append(p[pos : pos + dlen])
                    i += 1
                if spool is None:
                    ends.append(_segment_frame_ends(seg, offsets[first:i], lengths[first:i]))
        self._t.append(t_ns)
        self._received.append(raw.t_record_ns.astype(np.int64))
        if spool is None:
            self._path = raw.path
            self._offsets.append(offsets)
            self._lengths.append(lengths)
            self._ends += ends
        self._n += n

    def stream(self) -> CameraStream:
        """The camera stream of every message added."""
        frames: Sequence[bytes]
        if self._spool is not None:
            frames = self._spool.frames()
        elif self._path is not None:
            frames = FileFrames(
                self._path,
                np.concatenate(self._offsets),
                np.concatenate(self._lengths),
                ends=FrameEnds(
                    np.concatenate([e.heads for e in self._ends]),
                    np.concatenate([e.tails for e in self._ends]),
                    np.concatenate([e.known for e in self._ends]),
                )
                if self._ends
                else None,  # a declared camera without a single message
            )
        else:
            frames = FrameSpool(self.topic).frames()  # no message at all
        encoding = "png" if "png" in self._fmt.lower() else "jpeg"
        t = np.concatenate(self._t) if self._t else np.zeros(0, dtype=np.int64)
        received = np.concatenate(self._received) if self._received else t.copy()
        return CameraStream(self.name, "robot", t, frames, encoding, received, self.topic)


def decode_events(raw: RawMessages) -> tuple[list[Event], list[str]]:
    events: list[Event] = []
    unknown: list[str] = []
    for t, p in zip(raw.t_record_ns.tolist(), raw.payloads(), strict=True):
        (n,) = struct.unpack_from("<I", p, 0)
        value = bytes(p[4 : 4 + n]).decode("utf-8", "replace").strip()
        if value in EVENT_KINDS:
            events.append(Event(t_ns=int(t), clock="robot", kind=value))
        else:
            unknown.append(value)
    return events, unknown
