"""A night asked to stop (SIGTERM, Ctrl-C) stops between recordings, not after its batches.

The orchestrator's worker threads cannot be interrupted; they check `stop_requested` before
each recording and give up the rest of their batch. What a batch gives up gets no outcome
and no segment, so the next night finds those recordings unfinished and processes them.
"""

from __future__ import annotations

import threading

_STOP = threading.Event()


def request_stop() -> None:
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def clear_stop() -> None:
    _STOP.clear()
