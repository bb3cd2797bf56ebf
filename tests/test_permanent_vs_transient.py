"""Permanent vs transient: damage in a file is quarantined at once; only errors that can go
away wait for the next night, and not forever (``stuck_pending``)."""

from __future__ import annotations

import datetime as dt
import errno
from pathlib import Path

import pytest

from teleop_lake.lake.ledger import Outcome, RecordingRef, read_outcomes, write_outcomes
from teleop_lake.lake.storage import Store
from teleop_lake.pipeline.pull import MAX_PENDING_NIGHTS, give_up_stuck
from teleop_lake.rejection import Reason
from teleop_lake.transient import is_transient

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


def test_a_crash_at_any_point_of_the_pull_leaves_no_refused_recording_without_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 right after the pull recorded a refused recording used to leave it without an
    outcome forever. The outcome is now written before the ledger; a crash before the ledger
    makes the next night pull (and refuse) it again."""
    from conftest import write_drop_recording

    from teleop_lake.pipeline.pull import pull_stage

    drop = tmp_path / "net" / "beijing"
    write_drop_recording(
        drop,
        "2026-11-23",
        "bad",
        {"st01/bad.bag": b"xxxx"},
        file_overrides={"st01/bad.bag": {"sha256": "0" * 64}},
    )
    lake = tmp_path / "lake"
    real_write = Store.write_parquet

    def crash_on_ledger(self: Store, rel: str, *a: object, **k: object) -> object:
        if rel.startswith("ledger/pulls/"):
            raise SystemExit("killed")  # the process dies here
        return real_write(self, rel, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "write_parquet", crash_on_ledger)
    with pytest.raises(SystemExit):
        pull_stage(str(tmp_path / "net"), str(lake), "beijing", "20261124T020000Z-a", None, NOW)
    monkeypatch.setattr(Store, "write_parquet", real_write)
    first = read_outcomes(Store(str(lake)))
    assert first["recording_id"].to_list() == ["bad"]  # on the books before the crash
    again = pull_stage(str(tmp_path / "net"), str(lake), "beijing", "20261125T020000Z-b", None, NOW)
    assert [q["recording_id"] for q in again["quarantined"]] == ["bad"]
    # and once the ledger has it, it is not pulled a third time
    third = pull_stage(str(tmp_path / "net"), str(lake), "beijing", "20261126T020000Z-c", None, NOW)
    assert third["quarantined"] == [] and third["already_pulled"] == 1
