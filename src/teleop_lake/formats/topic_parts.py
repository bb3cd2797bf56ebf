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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from teleop_lake.canonical import CAMERA_STREAMS, CameraStream, ChainedFrames, Event, SignalStream
from teleop_lake.config.centers import StreamMapping
from teleop_lake.formats.kuavo_topics import (
    MESSAGE_FIELDS,
    FrameHeader,
    FrameLocator,
    SignalPiece,
    check_stamps,
    join_signal_pieces,
    reject,
)
from teleop_lake.formats.ros1_bag import BagReadError, RawMessages
from teleop_lake.formats.ros1_layout import numeric_rows
from teleop_lake.rejection import Reason, RecordingRejected


@dataclass(frozen=True)
class TopicDecoders:
    """How one serialization turns a topic's raw messages into canonical pieces."""

    signal: Callable[[RawMessages, StreamMapping, str], SignalPiece]
    frame_header: FrameHeader
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
    """Collects the decoded pieces of each part, then joins them into one recording's streams.

    A part (one file of a split recording) may come in several batches of messages
    (`add_part` once per batch, in order): a topic's batches are decoded as they come and
    joined per part at `finish`, so a long recording's raw payloads are never all held."""

    mappings: Mapping[str, StreamMapping]
    cameras: Mapping[str, str]
    events_topic: str
    decoders: TopicDecoders
    with_cameras: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    _signals: dict[str, dict[str, list[SignalPiece]]] = field(default_factory=dict)
    _cameras: dict[str, dict[str, FrameLocator]] = field(default_factory=dict)
    _events: list[Event] = field(default_factory=list)
    _unknown_events: list[str] = field(default_factory=list)
    _t_first: list[int] = field(default_factory=list)
    _t_last: list[int] = field(default_factory=list)

    @property
    def topics(self) -> list[str]:
        """The topics to read from each part."""
        topics = [m.topic for m in self.mappings.values()] + [self.events_topic]
        return topics + (list(self.cameras.values()) if self.with_cameras else [])

    def add_record_times(self, record_ns: np.ndarray) -> None:
        """Every record time of a part (the recording's first and last record count)."""
        if len(record_ns):
            self._t_first.append(int(record_ns.min()))
            self._t_last.append(int(record_ns.max()))

    def add_part(
        self, file: str, raw: dict[str, RawMessages], record_ns: np.ndarray | None = None
    ) -> None:
        """Decode one part's raw messages, or its next batch of them (``record_ns``: every
        record time of the part, given once).

        Each topic's raw messages are dropped from ``raw`` once decoded, so raw payloads and
        decoded streams are not all held at once."""
        if record_ns is not None:
            self.add_record_times(record_ns)
        # a topic is dropped after its last use (two streams may share one topic)
        uses = Counter([self.events_topic, *self.cameras.values()])
        uses.update(m.topic for m in self.mappings.values())
        for name, mapping in self.mappings.items():
            if mapping.topic not in raw:
                continue  # topic absent from this part (or batch) only
            uses[mapping.topic] -= 1
            messages = raw.pop(mapping.topic) if uses[mapping.topic] == 0 else raw[mapping.topic]
            piece = self.decoders.signal(messages, mapping, file)
            self._signals.setdefault(name, {}).setdefault(file, []).append(piece)
        for name, topic in self.cameras.items():
            if self.with_cameras and topic in raw and name in CAMERA_STREAMS:
                per_file = self._cameras.setdefault(name, {})
                if file not in per_file:
                    per_file[file] = FrameLocator(name, topic, self.decoders.frame_header)
                try:
                    per_file[file].add(raw[topic])
                except struct.error as err:
                    reject("corrupt_file", f"camera {topic!r}: {err}", file, name)
        if self.events_topic in raw:
            try:
                ev, unknown = self.decoders.events(raw[self.events_topic])
            except struct.error as err:
                reject("corrupt_file", f"{self.events_topic}: {err}", file, "events")
            self._events += ev
            self._unknown_events += unknown

    def add_batches(self, file: str, batches: Iterator[dict[str, RawMessages]]) -> None:
        """Decode a part batch by batch (each before the next is read); a batch that cannot
        be read rejects the recording with the reader's reason."""
        while True:
            try:
                raw = next(batches, None)
            except BagReadError as err:
                reject(err.code, str(err), file=file)
            if raw is None:
                return
            self.add_part(file, raw)

    def _joined_signals(self) -> dict[str, SignalStream]:
        """Each stream's batches joined per part (checked), then the parts in order."""
        malformed = self.info.setdefault("malformed_messages", {})
        signals: dict[str, SignalStream] = {}
        for name in list(self._signals):
            per_file = self._signals.pop(name)
            parts: list[SignalStream] = []
            for file, pieces in per_file.items():
                stream, bad = join_signal_pieces(self.mappings[name], pieces, file)
                check_stamps(stream, file)
                if bad:
                    malformed[name] = malformed.get(name, 0) + bad
                parts.append(stream)
            signals[name] = concat_signal_parts(name, parts)
        return signals

    def finish(
        self, required: Sequence[str], files: str
    ) -> tuple[dict[str, SignalStream], dict[str, CameraStream], list[Event], dict[str, Any]]:
        """The joined streams; a required topic present but empty rejects the recording."""
        if self._unknown_events:
            self.info["unknown_events"] = self._unknown_events
        self.info["t_first_record_ns"] = min(self._t_first) if self._t_first else 0
        self.info["t_last_record_ns"] = max(self._t_last) if self._t_last else 0
        signals = self._joined_signals()
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
        cams: dict[str, CameraStream] = {}
        for name, per_file in self._cameras.items():
            parts = []
            for file, locator in per_file.items():
                cam = locator.stream()
                check_stamps(cam, file)
                parts.append(cam)
            cams[name] = concat_camera_parts(parts)
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
