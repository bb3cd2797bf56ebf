"""Assembling a recording from the per-part, per-topic raw messages of a topic-based container.

ROS 1 bags and ROS 2 (MCAP) bags differ in container and serialization but not in what a
recording is made of: each part (a split bag's ``_0``, ``_1``, ...) holds raw messages per
topic; mapped topics become signal streams, camera topics camera streams, the events topic
events. `PartAssembler` does that once for both; an adapter opens its parts, reads the raw
messages of each, and hands them over with its own decoders (`TopicDecoders`).
"""

from __future__ import annotations

import dataclasses
import struct
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from teleop_lake.canonical import CAMERA_STREAMS, CameraStream, ChainedFrames, Event, SignalStream
from teleop_lake.formats.kuavo_topics import MESSAGE_FIELDS, check_stamps, reject
from teleop_lake.formats.ros1_bag import RawMessages
from teleop_lake.formats.ros1_layout import numeric_rows
from teleop_lake.network.profiles import StreamMapping
from teleop_lake.rejection import Reason, RecordingRejected


@dataclass(frozen=True)
class TopicDecoders:
    """How one serialization turns a topic's raw messages into canonical pieces."""

    signal: Callable[[RawMessages, StreamMapping, str], tuple[SignalStream, int]]
    camera: Callable[[RawMessages, str], CameraStream]
    events: Callable[[RawMessages], tuple[list[Event], list[str]]]


def concat_signal_parts(name: str, parts: list[SignalStream]) -> SignalStream:
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    for p in parts[1:]:
        if p.channels != first.channels:
            reject("corrupt_file", "bag parts disagree on the stream's channels", stream=name)
    recv = [p.t_received_ns for p in parts if p.t_received_ns is not None]
    return dataclasses.replace(
        first,
        t_ns=np.concatenate([p.t_ns for p in parts]),
        values=np.vstack([p.values for p in parts]),
        t_received_ns=np.concatenate(recv) if len(recv) == len(parts) else None,
    )


def concat_camera_parts(parts: list[CameraStream]) -> CameraStream:
    if len(parts) == 1:
        return parts[0]
    recv = [p.t_received_ns for p in parts if p.t_received_ns is not None]
    return dataclasses.replace(
        parts[0],
        t_ns=np.concatenate([p.t_ns for p in parts]),
        frames=ChainedFrames([p.frames for p in parts]),
        t_received_ns=np.concatenate(recv) if len(recv) == len(parts) else None,
    )


@dataclass
class PartAssembler:
    """Collects the decoded pieces of each part, then joins them into one recording's streams."""

    mappings: Mapping[str, StreamMapping]
    cameras: Mapping[str, str]
    events_topic: str
    decoders: TopicDecoders
    with_cameras: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    _signals: dict[str, list[SignalStream]] = field(default_factory=dict)
    _cameras: dict[str, list[CameraStream]] = field(default_factory=dict)
    _events: list[Event] = field(default_factory=list)
    _unknown_events: list[str] = field(default_factory=list)
    _t_first: list[int] = field(default_factory=list)
    _t_last: list[int] = field(default_factory=list)

    @property
    def topics(self) -> list[str]:
        """The topics to read from each part."""
        topics = [m.topic for m in self.mappings.values()] + [self.events_topic]
        return topics + (list(self.cameras.values()) if self.with_cameras else [])

    def add_part(self, file: str, raw: dict[str, RawMessages], record_ns: np.ndarray) -> None:
        """Decode one part's raw messages (``record_ns``: every record time of the part).

        Each topic's raw messages are dropped from ``raw`` once decoded, so a part's raw
        payloads and its decoded streams are not all held at once."""
        if len(record_ns):
            self._t_first.append(int(record_ns.min()))
            self._t_last.append(int(record_ns.max()))
        malformed = self.info.setdefault("malformed_messages", {})
        # a topic is dropped after its last use (two streams may share one topic)
        uses = Counter([self.events_topic, *self.cameras.values()])
        uses.update(m.topic for m in self.mappings.values())
        for name, mapping in self.mappings.items():
            if mapping.topic not in raw:
                continue  # topic absent from this part only
            uses[mapping.topic] -= 1
            messages = raw.pop(mapping.topic) if uses[mapping.topic] == 0 else raw[mapping.topic]
            stream, bad = self.decoders.signal(messages, mapping, file)
            check_stamps(stream, file)
            if bad:
                malformed[name] = malformed.get(name, 0) + bad
            self._signals.setdefault(name, []).append(stream)
        for name, topic in self.cameras.items():
            if self.with_cameras and topic in raw and name in CAMERA_STREAMS:
                try:
                    cam = self.decoders.camera(raw[topic], name)
                except struct.error as err:
                    reject("corrupt_file", f"camera {topic!r}: {err}", file, name)
                check_stamps(cam, file)
                self._cameras.setdefault(name, []).append(cam)
        if self.events_topic in raw:
            try:
                ev, unknown = self.decoders.events(raw[self.events_topic])
            except struct.error as err:
                reject("corrupt_file", f"{self.events_topic}: {err}", file, "events")
            self._events += ev
            self._unknown_events += unknown

    def finish(
        self, required: Sequence[str], files: str
    ) -> tuple[dict[str, SignalStream], dict[str, CameraStream], list[Event], dict[str, Any]]:
        """The joined streams; a required topic present but empty rejects the recording."""
        if self._unknown_events:
            self.info["unknown_events"] = self._unknown_events
        self.info["t_first_record_ns"] = min(self._t_first) if self._t_first else 0
        self.info["t_last_record_ns"] = max(self._t_last) if self._t_last else 0
        signals = {n: concat_signal_parts(n, p) for n, p in self._signals.items()}
        empty = [n for n in required if n in signals and signals[n].n_samples == 0]
        if empty:
            raise RecordingRejected(
                *(
                    Reason(
                        "missing_stream",
                        f"topic {self.mappings[n].topic!r} is in the recording but holds no "
                        "messages",
                        file=files,
                        stream=n,
                    )
                    for n in empty
                )
            )
        cams = {n: concat_camera_parts(p) for n, p in self._cameras.items()}
        return signals, cams, self._events, self.info


def time_bulk_decoding(
    raw: RawMessages,
    mapping: StreamMapping,
    store: Any,
    msgtype: str,
    decode: Callable[..., Any],
) -> dict[str, float]:
    """Decode a joint-state topic's positions and stamps in bulk and per message with the same
    ``decode`` (ROS 1 or CDR); process seconds of the decoding only, the speed-up, and the
    largest difference between the two results."""
    paths = [p for g in MESSAGE_FIELDS[msgtype]["position"] for p in g] + ["header.stamp"]
    t0 = time.process_time()
    bulk = decode(raw, store, msgtype, paths)
    t1 = time.process_time()
    slow = decode(raw, store, msgtype, paths, allow_bulk=False)
    t2 = time.process_time()
    width = len(mapping.joint_order) or None
    a, _ = numeric_rows(bulk, tuple(paths[:-1]), width)
    b, _ = numeric_rows(slow, tuple(paths[:-1]), width)
    return {
        "n_messages": float(raw.n_messages),
        "bulk_s": t1 - t0,
        "per_message_s": t2 - t1,
        "speedup": (t2 - t1) / max(t1 - t0, 1e-9),
        "max_abs_diff": float(np.nanmax(np.abs(a - b))) if a.size else 0.0,
        "bulk_used": float(bulk.bulk),
    }
