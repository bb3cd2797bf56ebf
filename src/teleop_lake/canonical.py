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

from collections.abc import Sequence
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
    """Frames read on demand: a frame's bytes, its length and its first and last bytes
    without reading the rest (JPEG markers sit at both ends)."""

    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> bytes: ...
    def lengths(self) -> np.ndarray: ...
    def ends(self, i: int, head: int, tail: int) -> tuple[bytes, bytes]: ...


def frame_lengths(frames: Sequence[bytes]) -> np.ndarray:
    """Each frame's length in bytes, without reading a file-backed frame."""
    lengths = getattr(frames, "lengths", None)
    if lengths is not None:
        return np.asarray(lengths(), dtype=np.int64)
    return np.fromiter((len(f) for f in frames), dtype=np.int64, count=len(frames))


def frame_ends(frames: Sequence[bytes], i: int, head: int, tail: int) -> tuple[bytes, bytes]:
    """The first ``head`` and last ``tail`` bytes of frame ``i``."""
    ends = getattr(frames, "ends", None)
    if ends is not None:
        first, last = ends(i, head, tail)
        return bytes(first), bytes(last)
    data = frames[i]
    return bytes(data[:head]), bytes(data[-tail:])


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

    def ends(self, i: int, head: int, tail: int) -> tuple[bytes, bytes]:
        part, j = self._locate(int(i))
        return frame_ends(part, j, head, tail)


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
