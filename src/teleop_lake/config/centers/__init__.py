"""Center profiles (``<center>.toml`` beside this module): format, robot, drop URL, names.

A profile says how one center delivers and how its raw topic/key/column names
map onto canonical streams and joints. The pipeline has no center-specific
code; adding a center is adding ``config/centers/<name>.toml``. Profiles are configuration:
the pull, the format adapters and the CLI's checks all read them from here, and nothing here
imports the rest of the project.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

CENTER_NAMES = ("beijing", "suzhou", "jinan", "hefei", "zhengzhou")


@dataclass(frozen=True)
class StreamMapping:
    """Where one canonical stream comes from in a center's raw recordings."""

    name: str
    topic: str
    message: str
    clock: str
    joint_order: tuple[str, ...] = ()
    position_unit: str = "rad"
    closure_full_scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)
    alternatives: tuple[StreamMapping, ...] = ()
    """Other topics the same stream arrives on (older or newer firmware), in order of
    preference after this one; each inherits every field it does not set."""

    def candidates(self) -> tuple[StreamMapping, ...]:
        """This mapping, then its alternatives: the first whose topic a recording holds wins."""
        return (self, *self.alternatives)


END_EFFECTOR_KINDS = ("hand", "claw")


def normalize_eef_type(eef_type: str) -> str:
    """``eef_type`` as profiles list it: lower case, letters and digits only (``Leju-Claw``,
    ``leju_claw`` and ``lejuclaw`` are one type)."""
    return "".join(ch for ch in eef_type.lower() if ch.isalnum())


class UnknownEndEffectorError(LookupError):
    """A recording names an end-effector type its center's profile does not know."""


RECORDING_SECONDS_FLOOR = 60.0  # no recording is stopped sooner: start-up costs are fixed


@dataclass(frozen=True)
class CenterProfile:
    name: str
    display_name: str
    timezone: str
    raw_format: str
    robot_model: str
    drop_url: str
    streams: dict[str, StreamMapping]
    cameras: dict[str, str]
    # How the center's recorder writes files (e.g. ``split_duration_s``: a bag is split
    # into parts ``_0``, ``_1``, ... every that many seconds). Readers need none of it.
    recorder: dict[str, Any] = field(default_factory=dict)
    # End effectors (``[end_effectors]``): which kind (`END_EFFECTOR_KINDS`) each ``eef_type``
    # of the label files means, the kind the top-level streams describe, and per other kind the
    # streams that replace them (a claw's command and state topics instead of the hands').
    eef_types: dict[str, str] = field(default_factory=dict)
    default_end_effector: str = "hand"
    end_effector_streams: dict[str, dict[str, StreamMapping]] = field(default_factory=dict)
    # ``[limits] max_file_gib``: a delivered file larger than this is refused unread (a
    # 10-minute bag with three 1280x720 cameras is ~9 GiB).
    max_file_gib: float = 64.0
    # ``[limits]``: decoding and processing one recording may take 60 s plus
    # ``recording_seconds_per_gib`` per GiB of its files, at most ``recording_seconds``, and
    # its worker process may grow to ``recording_memory_gib``; past either the worker is
    # killed and the recording quarantined (``resource_limit``). The defaults leave a margin
    # of about 10x over what recordings with three cameras need (docs/CAMERAS.md).
    max_recording_seconds: float = 900.0
    recording_seconds_per_gib: float = 300.0
    max_recording_memory_gib: float = 8.0
    # ``[alerts] silent_nights``: a night exits 1 naming this center when it was unreachable
    # or delivered nothing new this many nights (dates) in a row; 0 turns the alert off.
    silent_nights_alert: int = 3

    def max_file_bytes(self) -> int:
        """The largest file the center may deliver, or a packed file may inflate to
        (``[limits] max_file_gib``)."""
        return int(self.max_file_gib * 2**30)

    def recording_seconds(self, size_bytes: int) -> float:
        """The wall-time limit of a recording of ``size_bytes``."""
        scaled = RECORDING_SECONDS_FLOOR + self.recording_seconds_per_gib * size_bytes / 2**30
        return min(self.max_recording_seconds, scaled)

    def end_effector_kind(self, eef_type: str) -> str:
        """The kind of end effector ``eef_type`` names; `UnknownEndEffectorError` if none."""
        kind = self.eef_types.get(normalize_eef_type(eef_type))
        if kind is None:
            known = ", ".join(sorted(self.eef_types)) or "none"
            raise UnknownEndEffectorError(
                f"eef_type {eef_type!r} is not an end effector profile {self.name!r} knows "
                f"(known: {known}); add it to [end_effectors.eef_types] in "
                f"config/centers/{self.name}.toml with its kind ({', '.join(END_EFFECTOR_KINDS)})"
            )
        return kind

    def for_end_effector(self, kind: str) -> CenterProfile:
        """The profile with the streams of end-effector ``kind`` in place of the default ones."""
        if kind == self.default_end_effector or kind not in self.end_effector_streams:
            return self
        return replace(self, streams={**self.streams, **self.end_effector_streams[kind]})

    def resolve_drop_url(self, network_url: str) -> str:
        """The center's drop: its own URL if the profile names one, else under the network root."""
        if self.drop_url:
            return self.drop_url
        return f"{network_url.rstrip('/')}/{self.name}"

    def stream_for_topic(self, topic: str) -> StreamMapping | None:
        for s in self.streams.values():
            for candidate in s.candidates():
                if candidate.topic == topic:
                    return candidate
        return None


class UnknownCenterError(LookupError):
    pass


_MAPPING_KEYS = (
    "topic",
    "message",
    "clock",
    "joint_order",
    "position_unit",
    "closure_full_scale",
    "alternatives",
)


def _parse_mapping(
    name: str, s: dict[str, Any], base: StreamMapping | None = None
) -> StreamMapping:
    """One ``[streams.<name>]`` table; an alternative inherits what it leaves out from ``base``."""

    def get(key: str, default: Any) -> Any:
        if key in s:
            return s[key]
        return getattr(base, key) if base is not None else default

    mapping = StreamMapping(
        name=name,
        topic=s["topic"],
        message=s["message"] if base is None else s.get("message", base.message),
        clock=s["clock"] if base is None else s.get("clock", base.clock),
        joint_order=tuple(get("joint_order", ())),
        position_unit=get("position_unit", "rad"),
        closure_full_scale=float(get("closure_full_scale", 1.0)),
        extra={
            **(base.extra if base is not None else {}),
            **{k: v for k, v in s.items() if k not in _MAPPING_KEYS},
        },
    )
    alternatives = tuple(_parse_mapping(name, a, mapping) for a in s.get("alternatives", ()))
    return replace(mapping, alternatives=alternatives)


def _parse_streams(tables: dict[str, Any]) -> dict[str, StreamMapping]:
    return {name: _parse_mapping(name, s) for name, s in tables.items()}


def _parse_end_effectors(doc: dict[str, Any]) -> dict[str, Any]:
    eef = doc.get("end_effectors", {})
    default = eef.get("default", "hand")
    types = {normalize_eef_type(k): v for k, v in eef.get("eef_types", {}).items()}
    kinds = {default, *types.values()}
    unknown = sorted(kinds - set(END_EFFECTOR_KINDS))
    if unknown:
        raise ValueError(
            f"profile {doc.get('name')!r}: end-effector kinds {unknown} are not among "
            f"{', '.join(END_EFFECTOR_KINDS)}"
        )
    streams = {
        kind: _parse_streams(eef[kind].get("streams", {}))
        for kind in END_EFFECTOR_KINDS
        if isinstance(eef.get(kind), dict)
    }
    return {"eef_types": types, "default_end_effector": default, "end_effector_streams": streams}


def _parse_profile(doc: dict[str, Any]) -> CenterProfile:
    streams = _parse_streams(doc.get("streams", {}))
    limits = doc.get("limits", {})
    return CenterProfile(
        name=doc["name"],
        display_name=doc.get("display_name", doc["name"]),
        timezone=doc["timezone"],
        raw_format=doc["raw_format"],
        robot_model=doc["robot_model"],
        drop_url=doc.get("drop_url", ""),
        streams=streams,
        cameras=dict(doc.get("cameras", {})),
        recorder=dict(doc.get("recorder", {})),
        max_file_gib=float(limits.get("max_file_gib", 64.0)),
        max_recording_seconds=float(limits.get("recording_seconds", 900.0)),
        recording_seconds_per_gib=float(limits.get("recording_seconds_per_gib", 300.0)),
        max_recording_memory_gib=float(limits.get("recording_memory_gib", 8.0)),
        silent_nights_alert=_silent_nights(doc),
        **_parse_end_effectors(doc),
    )


def _silent_nights(doc: dict[str, Any]) -> int:
    value = doc.get("alerts", {}).get("silent_nights", 3)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"profile {doc.get('name')!r}: [alerts] silent_nights must be a whole number of "
            f"nights >= 0 (0: no alert), not {value!r}"
        )
    return value


def profile_from_toml(text: str) -> CenterProfile:
    return _parse_profile(tomllib.loads(text))


@cache
def load_profile(center: str) -> CenterProfile:
    path = resources.files(__package__) / f"{center}.toml"
    if not path.is_file():
        raise UnknownCenterError(
            f"no profile for center {center!r}; known centers: {', '.join(CENTER_NAMES)}. "
            f"Add src/teleop_lake/config/centers/{center}.toml to onboard it."
        )
    return _parse_profile(tomllib.loads(path.read_text(encoding="utf-8")))


def load_all_profiles() -> tuple[CenterProfile, ...]:
    return tuple(load_profile(c) for c in CENTER_NAMES)
