"""Standardization: raw-unit adapter output -> SI units and canonical names, order of a robot model.

What belongs here: the pure conversion of a `Recording` whose channels are
``<quantity>_raw.<recorder joint>`` (see `teleop_lake.formats`) into canonical
channels, using the center profile (units, optional name map) and the robot
model (canonical joint names and order). No IO, nothing from ``formats``.

Output per stream (each in the robot model's canonical order):
- joint_state: ``position_rad.<joint>``, ``velocity_rad_s.<joint>``,
  ``effort_n_m.<joint>`` for every body joint;
- joint_command: ``target_rad.<joint>`` for every body joint;
- arm_target: ``target_rad.<arm joint>`` (degrees -> radians when the profile says deg);
- hand_command, hand_state: ``closure.<joint>`` = raw / ``closure_full_scale``, over the
  joints of the recording's end effector (``meta.extra["end_effector"]``: the hands' fingers,
  or the claws); a claw state's codes pass through as ``state_code.<claw>``;
- head_pose: ``position_m.x|y|z`` and ``orientation.qx|qy|qz|qw`` (unit norm; a
  zero quaternion becomes NaN).
A recorder joint the model does not know rejects the recording (``unknown_joint``);
a model joint the recorder lacks becomes a NaN column, listed in
``meta.extra["missing_joints"]``. Timestamps, clocks and cameras pass through.
Values are not clipped or repaired: that is cleaning's job.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from teleop_lake.canonical import Recording, SignalStream
from teleop_lake.config.robots import RobotModel
from teleop_lake.rejection import Reason, RecordingRejected


class StreamMapping(Protocol):
    """What standardization reads of a profile's stream mapping (a `network.profiles` one fits).

    A Protocol rather than an import: transforms must not depend on ``network``.
    """

    @property
    def topic(self) -> str: ...
    @property
    def position_unit(self) -> str: ...
    @property
    def closure_full_scale(self) -> float: ...
    @property
    def extra(self) -> dict[str, Any]: ...
    def candidates(self) -> tuple[StreamMapping, ...]: ...


class CenterProfile(Protocol):
    """What standardization reads of a center profile: its stream mappings by canonical name,
    per end-effector kind."""

    @property
    def streams(self) -> Mapping[str, StreamMapping]: ...
    def for_end_effector(self, kind: str) -> CenterProfile: ...


def _mapping_for(profile: CenterProfile, stream: SignalStream) -> StreamMapping | None:
    """The mapping the stream was read with: the candidate whose topic it came from."""
    mapping = profile.streams.get(stream.name)
    if mapping is None:
        return None
    return next((c for c in mapping.candidates() if c.topic == stream.source), mapping)


# Factor from a profile's ``position_unit`` to radians (velocities use the same unit per s).
ANGLE_UNIT_TO_RAD: dict[str, float] = {"rad": 1.0, "deg": math.pi / 180.0}
# (raw quantity, canonical quantity, scale by the angle unit?) per canonical stream.
_JOINT_QUANTITIES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "joint_state": (
        ("position_raw", "position_rad", True),
        ("velocity_raw", "velocity_rad_s", True),
        ("effort_raw", "effort_n_m", False),
    ),
    "joint_command": (("position_raw", "target_rad", True),),
    "arm_target": (("position_raw", "target_rad", True),),
}
_HAND_STREAMS = ("hand_command", "hand_state")
_POSE_POSITION = ("x", "y", "z")
_POSE_ORIENTATION = ("qx", "qy", "qz", "qw")


def _reject(code: str, message: str, stream: SignalStream) -> RecordingRejected:
    return RecordingRejected(Reason(code, message, file=stream.source or None, stream=stream.name))


def _recorder_names(stream: SignalStream, quantity: str) -> list[str]:
    prefix = f"{quantity}."
    return [c[len(prefix) :] for c in stream.channels if c.startswith(prefix)]


def _name_map(mapping: StreamMapping | None) -> dict[str, str]:
    raw = mapping.extra.get("joint_name_map", {}) if mapping is not None else {}
    return {str(k): str(v) for k, v in raw.items()}


def _angle_factor(stream: SignalStream, mapping: StreamMapping | None) -> float:
    unit = mapping.position_unit if mapping is not None else "rad"
    if unit not in ANGLE_UNIT_TO_RAD:
        raise _reject(
            "unmapped_stream",
            f"profile position_unit {unit!r} is not one of {sorted(ANGLE_UNIT_TO_RAD)}",
            stream,
        )
    return ANGLE_UNIT_TO_RAD[unit]


def _reorder(
    stream: SignalStream,
    raw_quantity: str,
    targets: tuple[str, ...],
    known: frozenset[str],
    name_map: dict[str, str],
    missing: set[str],
    out: np.ndarray | None = None,
) -> np.ndarray | None:
    """Columns of ``raw_quantity`` in ``targets`` order (NaN where absent), written into
    ``out`` when given (no temporary of the stream's length); None if no column."""
    names = _recorder_names(stream, raw_quantity)
    if not names:
        return None
    canonical = [name_map.get(n, n) for n in names]
    unknown = [n for n, c in zip(names, canonical, strict=True) if c not in known]
    if unknown:
        raise _reject(
            "unknown_joint",
            f"joint names {unknown} are not joints of the robot model; fix the profile's "
            "joint_order or add a joint_name_map",
            stream,
        )
    index = {
        c: stream.channels.index(f"{raw_quantity}.{n}")
        for n, c in zip(names, canonical, strict=True)
    }
    cols = np.array([index.get(t, -1) for t in targets], dtype=np.int64)
    if out is None:
        out = np.empty((stream.n_samples, len(targets)), dtype=stream.values.dtype)
    if out.dtype == stream.values.dtype:
        np.take(stream.values, np.maximum(cols, 0), axis=1, out=out, mode="clip")
    else:
        out[:] = stream.values[:, np.maximum(cols, 0)]
    if (cols < 0).any():
        out[:, cols < 0] = np.nan
        missing.update(t for t, c in zip(targets, cols, strict=True) if c < 0)
    return out


def _joint_stream(
    stream: SignalStream, mapping: StreamMapping | None, robot: RobotModel, missing: set[str]
) -> SignalStream:
    targets = robot.arm_joint_names if stream.name == "arm_target" else robot.joint_names
    known = frozenset(robot.joint_names)
    factor = _angle_factor(stream, mapping)
    name_map = _name_map(mapping)
    quantities = _JOINT_QUANTITIES[stream.name]
    channels: list[str] = []
    # filled quantity by quantity: one copy of the stream, not one per step
    values = np.empty((stream.n_samples, len(targets) * len(quantities)))
    for k, (raw_q, canon_q, angular) in enumerate(quantities):
        out = values[:, k * len(targets) : (k + 1) * len(targets)]
        if _reorder(stream, raw_q, targets, known, name_map, missing, out=out) is None:
            if raw_q == "position_raw":
                raise _reject("missing_stream", "stream has no position channels", stream)
            out[:] = np.nan
        elif angular and factor != 1.0:
            out *= factor
        channels += [f"{canon_q}.{j}" for j in targets]
    return dataclasses.replace(stream, channels=tuple(channels), values=values)


def _hand_stream(
    stream: SignalStream,
    mapping: StreamMapping | None,
    robot: RobotModel,
    missing: set[str],
    end_effector: str,
) -> SignalStream:
    targets = robot.end_effector_joints(end_effector)
    known = frozenset(targets)
    name_map = _name_map(mapping)
    block = _reorder(stream, "position_raw", targets, known, name_map, missing)
    if block is None:
        raise _reject("missing_stream", "stream has no position channels", stream)
    scale = mapping.closure_full_scale if mapping is not None else 1.0
    channels = [f"closure.{j}" for j in targets]
    blocks = [block / scale]
    codes = _reorder(stream, "state_code_raw", targets, known, name_map, set())
    if codes is not None:  # a claw's own state codes, kept as delivered
        channels += [f"state_code.{j}" for j in targets]
        blocks.append(codes)
    return dataclasses.replace(stream, channels=tuple(channels), values=np.hstack(blocks))


def _pose_stream(stream: SignalStream) -> SignalStream:
    try:
        pos = [stream.channel_index(f"position_raw.{a}") for a in _POSE_POSITION]
        ori = [stream.channel_index(f"orientation_raw.{a}") for a in _POSE_ORIENTATION]
    except ValueError:
        raise _reject(
            "missing_stream", "pose stream lacks position or orientation", stream
        ) from None
    q = stream.values[:, ori]
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(norm > 0, q / norm, np.nan)
    values = np.hstack([stream.values[:, pos], q])
    channels = tuple(f"position_m.{a}" for a in _POSE_POSITION) + tuple(
        f"orientation.{a}" for a in _POSE_ORIENTATION
    )
    return dataclasses.replace(stream, channels=channels, values=values)


def standardize_recording(
    recording: Recording, profile: CenterProfile, robot: RobotModel, *, release_raw: bool = False
) -> Recording:
    """A new `Recording` in SI units with the robot model's canonical channel names and order.

    With ``release_raw``, each raw stream is taken out of ``recording`` as it is converted,
    so that a raw stream is freed once its standard copy exists: the raw and standard
    recordings are never both whole in memory. ``recording`` is left without signals."""
    missing: dict[str, list[str]] = {}
    signals: dict[str, SignalStream] = {}
    kind = str(recording.meta.extra.get("end_effector", "hand"))
    profile = profile.for_end_effector(kind)
    for name in list(recording.signals):
        stream = recording.signals.pop(name) if release_raw else recording.signals[name]
        mapping = _mapping_for(profile, stream)
        absent: set[str] = set()
        if name in _JOINT_QUANTITIES:
            signals[name] = _joint_stream(stream, mapping, robot, absent)
        elif name in _HAND_STREAMS:
            signals[name] = _hand_stream(stream, mapping, robot, absent, kind)
        elif name == "head_pose":
            signals[name] = _pose_stream(stream)
        else:
            signals[name] = stream
        if absent:
            missing[name] = sorted(absent)
    meta = recording.meta
    if missing:
        meta = dataclasses.replace(meta, extra={**meta.extra, "missing_joints": missing})
    return dataclasses.replace(recording, meta=meta, signals=signals)
