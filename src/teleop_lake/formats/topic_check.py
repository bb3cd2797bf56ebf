"""Checking a recording's topics against a center profile, whatever the container.

What belongs here: `check_topics`, which compares the topics a recording holds (name ->
message types) with the streams and cameras the profile maps, and rejects the
recording with one reason per required stream that is absent or has another type.
Container readers (ROS 1 bags, MCAP) list their topics and call it; nothing here
reads files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rosbags.typesys.msg import normalize_msgtype

from teleop_lake.config.centers import CenterProfile, StreamMapping
from teleop_lake.rejection import Reason, RecordingRejected

CAMERA_MESSAGE = "sensor_msgs/CompressedImage"


def check_topics(
    present: Mapping[str, set[str]],
    files: str,
    profile: CenterProfile,
    required: Sequence[str],
    optional: Sequence[str],
) -> tuple[dict[str, StreamMapping], dict[str, str], list[str]]:
    """(mapped signal streams present, cameras present, optional streams absent).

    ``present`` maps topic -> set of normalised message types. A stream whose mapping has
    alternatives (`StreamMapping.candidates`) is read from the first topic present. Raises
    `RecordingRejected` naming ``files`` and the stream when a required stream is not
    mapped by the profile, absent from the recording, or any mapped topic has another
    message type than the profile says.
    """
    reasons: list[Reason] = []
    for name in required:
        if name not in profile.streams:
            reasons.append(
                Reason(
                    "unmapped_stream",
                    f"profile {profile.name!r} maps no topic; add [streams.{name}] to it",
                    stream=name,
                )
            )
    wanted: list[tuple[str, tuple[tuple[str, str], ...]]] = [
        (n, tuple((c.topic, c.message) for c in m.candidates()))
        for n, m in profile.streams.items()
        if n in (*required, *optional)
    ]
    wanted += [(n, ((t, CAMERA_MESSAGE),)) for n, t in profile.cameras.items()]
    signals: dict[str, StreamMapping] = {}
    absent: list[str] = []
    for name, candidates in wanted:
        # The first topic the recording holds wins (newer firmware first, then older).
        chosen = next((k for k, (topic, _) in enumerate(candidates) if topic in present), None)
        if chosen is None:
            if name in required:
                topics = " or ".join(f"{t!r} ({m})" for t, m in candidates)
                reasons.append(
                    Reason(
                        "missing_stream",
                        f"required topic {topics} is not in the recording; "
                        f"it has {sorted(present)}",
                        file=files,
                        stream=name,
                    )
                )
            else:
                absent.append(name)
            continue
        topic, message = candidates[chosen]
        types = present[topic]
        if types != {normalize_msgtype(message)}:
            reasons.append(
                Reason(
                    "unmapped_stream",
                    f"topic {topic!r} has type {sorted(types)}, the profile expects {message}; "
                    "fix the profile's message type or the recorder's topic",
                    file=files,
                    stream=name,
                )
            )
        elif name in profile.streams:
            signals[name] = profile.streams[name].candidates()[chosen]
    if reasons:
        raise RecordingRejected(*reasons)
    cameras = {n: t for n, t in profile.cameras.items() if n not in absent}
    return signals, cameras, absent
