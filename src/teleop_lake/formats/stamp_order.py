"""Stamp order checks for exported formats (Parquet folders, HDF5 episodes) and their events.

What belongs here: the rules the exporting formats promise and ROS recorders do not.
A rig's exporter writes each stream sorted by its stamp, one row per sample, so a
decreasing or repeated stamp means a broken export that no later stage can undo (which
value belongs to which time is lost): `check_increasing` rejects it, naming the file,
the stream, how many rows and the first one. ROS bags keep such stamps for cleaning to
flag; they do not use this. Also `parse_events`: event texts at stamps into `Event`s.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from teleop_lake.canonical import EVENT_KINDS, Event
from teleop_lake.rejection import Reason, RecordingRejected


def check_increasing(t_ns: np.ndarray, file: str, stream: str, column: str) -> None:
    """Reject unless ``t_ns`` strictly increases (no repeated, no decreasing stamp)."""
    if len(t_ns) < 2:
        return
    step = np.diff(t_ns)
    back = np.flatnonzero(step < 0)
    same = np.flatnonzero(step == 0)
    reasons: list[Reason] = []
    if len(back):
        i = int(back[0]) + 1
        reasons.append(
            Reason(
                "bad_timestamps",
                f"{column} is non-monotonic: {len(back)} of {len(t_ns)} rows go back in time "
                f"(first at row {i}: {int(t_ns[i])} ns after {int(t_ns[i - 1])} ns); the "
                "export must be sorted by stamp, ask the center to re-export",
                file=file,
                stream=stream,
            )
        )
    if len(same):
        i = int(same[0]) + 1
        reasons.append(
            Reason(
                "bad_timestamps",
                f"{column} has {len(same)} duplicated stamps (first at row {i}: "
                f"{int(t_ns[i])} ns); one sample per stamp is expected, ask the center "
                "to re-export",
                file=file,
                stream=stream,
            )
        )
    if reasons:
        raise RecordingRejected(*reasons)


def parse_events(items: Iterable[tuple[int, str]]) -> tuple[list[Event], list[str]]:
    """(events of a known kind on the robot clock, texts of unknown kinds)."""
    events: list[Event] = []
    unknown: list[str] = []
    for t_ns, text in items:
        kind = text.strip()
        if kind in EVENT_KINDS:
            events.append(Event(t_ns=int(t_ns), clock="robot", kind=kind))
        else:
            unknown.append(text)
    return events, unknown
