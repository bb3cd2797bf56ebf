"""Center profiles (data files in ``profiles/``): format, robot, drop URL, name mapping.

A profile says how one center delivers and how its raw topic/key/column names
map onto canonical streams and joints. The pipeline has no center-specific
code; adding a center is adding ``profiles/<name>.toml``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
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

    def resolve_drop_url(self, network_url: str) -> str:
        """The center's drop: its own URL if the profile names one, else under the network root."""
        if self.drop_url:
            return self.drop_url
        return f"{network_url.rstrip('/')}/{self.name}"

    def stream_for_topic(self, topic: str) -> StreamMapping | None:
        for s in self.streams.values():
            if s.topic == topic:
                return s
        return None


class UnknownCenterError(LookupError):
    pass


def _parse_profile(doc: dict[str, Any]) -> CenterProfile:
    streams: dict[str, StreamMapping] = {}
    known = {"topic", "message", "clock", "joint_order", "position_unit", "closure_full_scale"}
    for name, s in doc.get("streams", {}).items():
        streams[name] = StreamMapping(
            name=name,
            topic=s["topic"],
            message=s["message"],
            clock=s["clock"],
            joint_order=tuple(s.get("joint_order", ())),
            position_unit=s.get("position_unit", "rad"),
            closure_full_scale=float(s.get("closure_full_scale", 1.0)),
            extra={k: v for k, v in s.items() if k not in known},
        )
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
    )


def profile_from_toml(text: str) -> CenterProfile:
    return _parse_profile(tomllib.loads(text))


@cache
def load_profile(center: str) -> CenterProfile:
    path = resources.files(__package__) / "profiles" / f"{center}.toml"
    if not path.is_file():
        raise UnknownCenterError(
            f"no profile for center {center!r}; known centers: {', '.join(CENTER_NAMES)}. "
            f"Add src/teleop_lake/network/profiles/{center}.toml to onboard it."
        )
    return _parse_profile(tomllib.loads(path.read_text(encoding="utf-8")))


def load_all_profiles() -> tuple[CenterProfile, ...]:
    return tuple(load_profile(c) for c in CENTER_NAMES)
