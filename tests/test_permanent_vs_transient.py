"""Permanent vs transient: damage in a file is quarantined at once; only errors that can go
away wait for the next night, and not forever (``stuck_pending``)."""

from __future__ import annotations

import datetime as dt
import errno
from pathlib import Path

from teleop_lake.lake.ledger import Outcome, RecordingRef, read_outcomes, write_outcomes
from teleop_lake.lake.storage import Store
from teleop_lake.pipeline.process import is_transient
from teleop_lake.pipeline.pull import MAX_PENDING_NIGHTS, give_up_stuck
from teleop_lake.rejection import Reason

NOW = dt.datetime(2026, 11, 30, 2, tzinfo=dt.UTC)


def test_only_errors_that_can_go_away_are_transient() -> None:
    assert is_transient(ConnectionResetError(errno.ECONNRESET, "reset"))
    assert is_transient(OSError(errno.ENOSPC, "No space left on device"))
    assert is_transient(TimeoutError("read timed out"))
    # a library's complaint about the bytes: the bronze file never changes, nor will this
    assert not is_transient(OSError("image file is truncated (3 bytes not processed)"))
    assert not is_transient(OSError(errno.EINVAL, "Can't read data (wrong B-tree signature)"))


def _recording(key: str) -> dict[str, object]:
    return {
        "center": "beijing",
        "recording_id": f"rec-{key}",
        "episode_id": f"bei-{key}",
        "content_key": key * 8,
    }


def test_a_recording_pending_too_many_nights_is_quarantined(tmp_path: Path) -> None:
    lake = Store(str(tmp_path))
    stuck, waiting = _recording("a"), _recording("b")
    why = (Reason("processing_error", "transient ConnectionError: drop unreachable"),)
    for night in range(MAX_PENDING_NIGHTS):
        rows = [
            Outcome.of(
                RecordingRef.of(stuck), f"2026112{night}T020000Z-x", "decode", "pending", why
            )
        ]
        if night:  # "b" has been pending one night fewer
            rows.append(
                Outcome.of(
                    RecordingRef.of(waiting), f"2026112{night}T020000Z-x", "decode", "pending", why
                )
            )
        write_outcomes(lake, f"2026112{night}T020000Z-x", "b000", rows)
    keep, given_up = give_up_stuck(str(tmp_path), "20261130T020000Z-x", [stuck, waiting], NOW)
    assert keep == [waiting]
    assert [(o["recording_id"], o["status"], o["reason_codes"]) for o in given_up] == [
        ("rec-a", "quarantined", ["stuck_pending"])
    ]
    assert f"pending {MAX_PENDING_NIGHTS} nights" in given_up[0]["message"]
    last = read_outcomes(lake, "20261130T020000Z-x")
    assert last["status"].to_list() == ["quarantined"]  # on the books of tonight
    assert (tmp_path / "quarantine" / "beijing" / ("a" * 8) / "reasons.json").exists()
