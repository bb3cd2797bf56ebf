"""The canonical in-memory recording every raw-format adapter produces.

Only data classes live here: no IO, no computing. A `Recording` holds the
streams of one recording on their *own* clocks (raw timestamps are kept), the
events, and the metadata. Standardization turns channel names and units into
the canonical ones of a robot model; cleaning and alignment never mutate a
`Recording`, they return new objects.

Stream and channel naming
-------------------------
Canonical stream names (``STREAM_*`` constants) and channel names of the form
``<quantity>.<name>`` where the quantity carries the unit, for example
``position_rad.l_knee``, ``velocity_rad_s.l_knee``, ``effort_n_m.l_knee``,
``target_rad.l_arm_pitch``, ``closure.l_index`` (0 = open .. 1 = closed),
``position_m.x``, ``orientation.qw``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

ClockName = Literal["robot", "operator"]

STREAM_JOINT_STATE = "joint_state"
STREAM_JOINT_COMMAND = "joint_command"
STREAM_ARM_TARGET = "arm_target"
STREAM_HAND_COMMAND = "hand_command"
STREAM_HAND_STATE = "hand_state"
STREAM_HEAD_POSE = "head_pose"
CAMERA_STREAMS = ("camera_head", "camera_left", "camera_right")

SIGNAL_STREAMS = (
    STREAM_JOINT_STATE,
    STREAM_JOINT_COMMAND,
    STREAM_ARM_TARGET,
    STREAM_HAND_COMMAND,
    STREAM_HAND_STATE,
    STREAM_HEAD_POSE,
)


@dataclass(frozen=True, eq=False)
class SignalStream:
    """A numeric stream: one row per sample, one column per channel.

    ``t_ns`` is the sender's stamp on the clock named by ``clock`` (int64 ns);
    ``t_received_ns`` is when the recorder logged it (robot computer clock),
    when the format has it, else ``None``. ``values`` is float64 (n, channels).
    """

    name: str
    clock: ClockName
    t_ns: np.ndarray
    channels: tuple[str, ...]
    values: np.ndarray
    t_received_ns: np.ndarray | None = None
    source: str = ""  # topic, key or file the stream came from, for error messages

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape != (len(self.t_ns), len(self.channels)):
            raise ValueError(
                f"stream {self.name!r}: values shape {self.values.shape} does not match "
                f"{len(self.t_ns)} timestamps x {len(self.channels)} channels"
            )

    @property
    def n_samples(self) -> int:
        return len(self.t_ns)

    def channel_index(self, channel: str) -> int:
        return self.channels.index(channel)


@dataclass(frozen=True, eq=False)
class CameraStream:
    """Encoded camera frames with their stamps (``frames[i]`` taken at ``t_ns[i]``).

    ``frames`` is a sequence of the encoded bytes: a tuple, or (for formats whose frames lie
    uncompressed in the file, ROS 1 bags) a `FrameSource` that reads a frame from the file
    only when it is indexed, so a recording's frames never all sit in memory at once."""

    name: str
    clock: ClockName
    t_ns: np.ndarray
    frames: Sequence[bytes]
    encoding: str = "jpeg"
    t_received_ns: np.ndarray | None = None
    source: str = ""

    @property
    def n_samples(self) -> int:
        return len(self.t_ns)


class FrameSource(Protocol):
    """Frames read on demand: a frame's bytes, its length, and every frame's first and last
    bytes without reading the rest (JPEG markers sit at both ends)."""

    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> bytes: ...
    def lengths(self) -> np.ndarray: ...
    def all_ends(self, head: int, tail: int) -> tuple[np.ndarray, np.ndarray]: ...


def frame_lengths(frames: Sequence[bytes]) -> np.ndarray:
    """Each frame's length in bytes, without reading a file-backed frame."""
    lengths = getattr(frames, "lengths", None)
    if lengths is not None:
        return np.asarray(lengths(), dtype=np.int64)
    return np.fromiter((len(f) for f in frames), dtype=np.int64, count=len(frames))


def all_frame_ends(frames: Sequence[bytes], head: int, tail: int) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's first ``head`` and last ``tail`` bytes: (frames, head) and (frames, tail)
    uint8 arrays. A frame shorter than that is padded with zeros, after its first bytes and
    before its last. A file-backed sequence answers without reading each frame where it can."""
    ends = getattr(frames, "all_ends", None)
    if ends is not None:
        heads, tails = ends(head, tail)
        return np.asarray(heads, dtype=np.uint8), np.asarray(tails, dtype=np.uint8)
    heads = np.zeros((len(frames), head), dtype=np.uint8)
    tails = np.zeros((len(frames), tail), dtype=np.uint8)
    for i in range(len(frames)):
        data = frames[i]
        put_frame_ends(heads, tails, i, data, data)
    return heads, tails


Alloc = Callable[[int], np.ndarray]
"""Where gathered frames go: ``alloc(n)`` returns a writable uint8 array of ``n`` bytes."""


def empty_bytes(n: int) -> np.ndarray:
    """``n`` bytes from numpy's allocator (the default `Alloc`)."""
    return np.empty(n, dtype=np.uint8)


def _first_bytes(buffer: np.ndarray, n: int) -> np.ndarray:
    return buffer[:n]


def gathered_offsets(lengths: np.ndarray) -> np.ndarray:
    """(n + 1) int64 offsets of frames of ``lengths`` laid back to back."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def gather_frames(
    frames: Sequence[bytes], rows: np.ndarray, alloc: Alloc = empty_bytes
) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``rows`` of ``frames`` back to back: (n + 1) int64 offsets (frame ``k`` is
    ``data[offsets[k] : offsets[k + 1]]``) and the uint8 bytes, the layout of an Arrow binary
    array, in one buffer from ``alloc``. A file-backed sequence reads each frame straight into
    place (no bytes object per frame, no second copy)."""
    rows = np.asarray(rows, dtype=np.int64)
    gather = getattr(frames, "gather", None)
    if gather is not None:
        offsets, data = gather(rows, alloc)
        return np.asarray(offsets, dtype=np.int64), np.asarray(data, dtype=np.uint8)
    parts = [frames[i] for i in rows.tolist()]
    offsets = gathered_offsets(np.array([len(p) for p in parts], dtype=np.int64))
    data = alloc(int(offsets[-1]))
    for part, begin, end in zip(parts, offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        data[begin:end] = np.frombuffer(part, dtype=np.uint8)
    return offsets, data


def put_frame_ends(
    heads: np.ndarray,
    tails: np.ndarray,
    i: int,
    first: bytes | memoryview,
    last: bytes | memoryview,
) -> None:
    """Row ``i`` of `all_frame_ends`' arrays from bytes ``first`` and ``last`` (the frame, or
    its first and last bytes), padded with zeros as there."""
    head, tail = heads.shape[1], tails.shape[1]
    h = np.frombuffer(first[:head], dtype=np.uint8)
    heads[i, : len(h)] = h
    if tail:
        t = np.frombuffer(last[-tail:], dtype=np.uint8)
        tails[i, tail - len(t) :] = t


class ChainedFrames(Sequence[bytes]):
    """Several frame sequences read as one (the parts of a split recording), lazily."""

    def __init__(self, parts: Sequence[Sequence[bytes]]) -> None:
        self._parts = list(parts)
        self._starts = np.cumsum([0] + [len(p) for p in self._parts])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, i: int) -> tuple[Sequence[bytes], int]:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self._parts[k], i - int(self._starts[k])

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]
        part, j = self._locate(int(i))
        return part[j]

    def lengths(self) -> np.ndarray:
        return np.concatenate([frame_lengths(p) for p in self._parts] or [np.zeros(0, np.int64)])

    def gather(self, rows: np.ndarray, alloc: Alloc = empty_bytes) -> tuple[np.ndarray, np.ndarray]:
        """`gather_frames` over the parts: each run of ``rows`` in one part from that part, in
        the order asked (rows may go back across parts: stamps out of order at a split)."""
        rows = np.asarray(rows, dtype=np.int64)
        rows = np.where(rows < 0, rows + len(self), rows)
        if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= len(self)):
            raise IndexError(f"frame rows outside 0..{len(self) - 1}")
        part = np.searchsorted(self._starts, rows, side="right") - 1
        runs = np.flatnonzero(np.diff(part)) + 1
        lengths = self.lengths()[rows]  # without reading a file-backed frame
        offsets = gathered_offsets(lengths)
        data = alloc(int(offsets[-1]))
        for run in np.split(np.arange(len(rows)), runs) if len(rows) else []:
            k = int(part[run[0]])
            begin, end = int(offsets[run[0]]), int(offsets[run[-1] + 1])
            # each run straight into its place in the one buffer
            into = functools.partial(_first_bytes, data[begin:end])
            gather_frames(self._parts[k], rows[run] - int(self._starts[k]), into)
        return offsets, data

    def all_ends(self, head: int, tail: int) -> tuple[np.ndarray, np.ndarray]:
        ends = [all_frame_ends(p, head, tail) for p in self._parts]
        return (
            np.concatenate([h for h, _ in ends] or [np.zeros((0, head), np.uint8)]),
            np.concatenate([t for _, t in ends] or [np.zeros((0, tail), np.uint8)]),
        )


@dataclass(frozen=True)
class Event:
    """A discrete happening: recording start/stop, an operator mark, an e-stop, a fault.

    ``kind`` is one of ``EVENT_KINDS``; ``value`` carries e.g. "success"/"failure"
    for an ``operator_mark``.
    """

    t_ns: int
    clock: ClockName
    kind: str
    value: str = ""


EVENT_KINDS = (
    "recording_start",
    "recording_stop",
    "operator_mark",
    "emergency_stop",
    "robot_fault",
    "abort",
    "skill_mark",
)


@dataclass(frozen=True)
class RecordingMeta:
    """Who, what, where: from the drop manifest and the recording's own label files."""

    center: str
    recording_id: str
    raw_format: str
    robot_model: str
    task_code: str | None
    station: str | None = None
    robot_serial: str | None = None
    operator_id: str | None = None
    scene: str | None = None
    recorded_at: str | None = None  # ISO 8601 with offset, as delivered
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Recording:
    """One recording of one attempt at one task, every stream on its own clock."""

    meta: RecordingMeta
    signals: dict[str, SignalStream]
    cameras: dict[str, CameraStream]
    events: tuple[Event, ...] = ()

    def signal(self, name: str) -> SignalStream | None:
        return self.signals.get(name)
