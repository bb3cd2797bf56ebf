"""Which end effector a recording's robot carries, and so which streams to read for it.

What belongs here: `resolve_end_effector`, which reads ``eef_type`` from the label files
(KUAVO.md: "read it, do not assume"), maps it to a kind through the center profile and
returns the profile with that kind's streams in place (a claw's command and state topics
instead of the hands'). When the label files name none, the recording's own topics decide;
when a format has no topics to look at, the profile's default kind. An ``eef_type`` the
profile does not know is refused with a reason that names it. Nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from teleop_lake.config.centers import CenterProfile, UnknownEndEffectorError
from teleop_lake.rejection import Reason, RecordingRejected

EEF_TYPE_KEYS = ("eef_type", "eefType", "end_effector_type")
"""Keys of metadata.json naming the end-effector type, first found wins."""


def eef_type_of(metadata: Mapping[str, Any] | None) -> str | None:
    """The end-effector type a label file names, or None."""
    for key in EEF_TYPE_KEYS:
        value = (metadata or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _kind_from_topics(profile: CenterProfile, topics: Collection[str]) -> str | None:
    """The end-effector kind whose command topic the recording holds (None: none or both)."""
    found = []
    for kind in {profile.default_end_effector, *profile.end_effector_streams}:
        command = profile.for_end_effector(kind).streams.get("hand_command")
        if command is not None and any(c.topic in topics for c in command.candidates()):
            found.append(kind)
    return found[0] if len(found) == 1 else None


def resolve_end_effector(
    profile: CenterProfile,
    metadata: Mapping[str, Any] | None,
    topics: Collection[str] | None,
    file: str | None = None,
) -> tuple[CenterProfile, dict[str, Any]]:
    """(the profile for the recording's end effector, facts for ``meta.extra``).

    ``topics``: the topics (or keys) the recording holds, None when the format has none to
    look at. Raises `RecordingRejected` (``unknown_end_effector``) for an unknown type."""
    eef_type = eef_type_of(metadata)
    if eef_type is not None:
        try:
            kind = profile.end_effector_kind(eef_type)
        except UnknownEndEffectorError as err:
            raise RecordingRejected(Reason("unknown_end_effector", str(err), file=file)) from None
        source = "metadata.json"
    else:
        by_topics = _kind_from_topics(profile, topics) if topics is not None else None
        kind = by_topics or profile.default_end_effector
        source = "topics" if by_topics else "profile default"
    facts = {"end_effector": kind, "eef_type": eef_type, "end_effector_source": source}
    return profile.for_end_effector(kind), facts
