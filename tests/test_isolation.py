"""Limits per recording: a batch runs in a worker the night can kill. A recording past its wall
time or memory is quarantined (``resource_limit``) and the rest of the batch is published; a
worker dying on a recording is the same; a stopping night leaves its recordings unfinished."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.lake import layout
from teleop_lake.lake.ledger import read_outcomes, unfinished_recordings
from teleop_lake.lake.storage import Store
from teleop_lake.pipeline import isolation
from teleop_lake.pipeline.isolation import Limits, process_batch_isolated
from teleop_lake.pipeline.pull import pull_stage
from teleop_lake.pipeline.stop import clear_stop, request_stop
from teleop_lake.processing import ProcessingParams
from teleop_lake.simulate.network import simulate_network

NOW = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
RUN = "20261124T020000Z-limits"


@pytest.fixture(scope="module")
def bronze(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A lake with three pulled recordings (not processed)."""
    root = tmp_path_factory.mktemp("isolation")
    simulate_network(
        root / "net",
        episodes_per_center=3,
        seed=11,
        date="2026-11-23",
        centers=["beijing"],
        duration_scale=0.25,
        camera_size=SMALL_CAMERA,
    )
    pulled = pull_stage(str(root / "net"), str(root / "lake"), "beijing", RUN, None, NOW)
    assert len(pulled["new"]) == 3
    return root / "lake", sorted(pulled["new"], key=lambda r: r["recording_id"])


def _copy_lake(src: Path, dst: Path) -> str:
    import shutil

    shutil.copytree(src, dst)
    return str(dst)


def test_a_batch_in_its_worker_publishes_what_it_would_in_process(
    bronze: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    lake = _copy_lake(bronze[0], tmp_path / "lake")
    res = process_batch_isolated(lake, RUN, "b000", bronze[1], ProcessingParams(), NOW)
    assert [o["status"] for o in res.outcomes] == ["published"] * 3
    assert res.segment_id == f"{RUN}-b000" and len(res.episodes) == 3
    assert (Path(lake) / layout.segment_dir(res.segment_id)).is_dir()


def test_a_recording_past_its_wall_time_is_quarantined_and_the_batch_goes_on(
    bronze: tuple[Path, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second recording is made to hang (its worker stopped, as a C library stuck in a
    damaged chunk would be): it is quarantined within its limit, the others are published."""
    lake = _copy_lake(bronze[0], tmp_path / "lake")
    recs = bronze[1]
    stuck_key = recs[1]["content_key"]
    real_run = isolation._run_in_worker

    def freeze_on_stuck(job: dict[str, Any], limits: Limits | None) -> Any:
        # SIGSTOP the worker when it starts the stuck recording: it can neither run nor
        # answer, exactly like a process blocked in native code.
        real_next = isolation.Worker.next_message

        def watch(self: isolation.Worker, timeout_s: float) -> Any:
            msg = real_next(self, timeout_s)
            if msg and msg[0] == "step" and msg[2] and msg[2]["content_key"] == stuck_key:
                os.kill(self.proc.pid, signal.SIGSTOP)
            return msg

        monkeypatch.setattr(isolation.Worker, "next_message", watch)
        try:
            return real_run(job, limits)
        finally:
            monkeypatch.setattr(isolation.Worker, "next_message", real_next)

    monkeypatch.setattr(isolation, "_run_in_worker", freeze_on_stuck)
    t0 = time.monotonic()
    res = process_batch_isolated(
        lake, RUN, "b000", recs, ProcessingParams(), NOW, limits=Limits(seconds=3, memory_gib=8)
    )
    assert time.monotonic() - t0 < 60
    by_key = {o["content_key"]: o for o in res.outcomes}
    assert by_key[stuck_key]["status"] == "quarantined"
    assert by_key[stuck_key]["reason_codes"] == ["resource_limit"]
    assert "past the limit of 3 s" in by_key[stuck_key]["message"]
    assert sorted(o["status"] for o in res.outcomes) == ["published", "published", "quarantined"]
    assert res.segment_id == f"{RUN}-b000-r1"  # the rest ran again in a fresh worker
    # the books: one outcome per recording, the quarantine record names the limit and file
    books = read_outcomes(Store(lake), RUN)
    assert sorted(books["content_key"].to_list()) == sorted(r["content_key"] for r in recs)
    reasons = json.loads(next((Path(lake) / "quarantine").rglob("reasons.json")).read_text())
    assert reasons["reasons"][0]["code"] == "resource_limit"
    assert recs[1]["files"][0] in reasons["reasons"][0]["file"]


def test_a_recording_past_its_memory_limit_is_quarantined(
    bronze: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """A limit below what decoding needs: every recording is refused, none hangs the batch."""
    lake = _copy_lake(bronze[0], tmp_path / "lake")
    res = process_batch_isolated(
        lake,
        RUN,
        "b000",
        bronze[1],
        ProcessingParams(),
        NOW,
        limits=Limits(seconds=600, memory_gib=0.05),
    )
    assert [o["reason_codes"] for o in res.outcomes] == [["resource_limit"]] * 3, res.outcomes
    assert "past the limit of 0.05 GiB" in res.outcomes[0]["message"]
    assert res.segment_id is None


def test_a_worker_that_dies_on_a_recording_quarantines_only_that_recording(
    bronze: tuple[Path, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _copy_lake(bronze[0], tmp_path / "lake")
    recs = bronze[1]
    real_next = isolation.Worker.next_message

    def crash_on_first(self: isolation.Worker, timeout_s: float) -> Any:
        msg = real_next(self, timeout_s)
        if msg and msg[0] == "step" and msg[2] and msg[2]["content_key"] == recs[0]["content_key"]:
            os.kill(self.proc.pid, signal.SIGSEGV)  # as a crash in a decoder would
        return msg

    monkeypatch.setattr(isolation.Worker, "next_message", crash_on_first)
    res = process_batch_isolated(lake, RUN, "b000", recs, ProcessingParams(), NOW)
    first = next(o for o in res.outcomes if o["content_key"] == recs[0]["content_key"])
    assert first["reason_codes"] == ["resource_limit"]
    assert "killed by signal 11" in first["message"]
    assert sorted(o["status"] for o in res.outcomes) == ["published", "published", "quarantined"]


def test_a_stopping_night_kills_its_worker_and_leaves_the_batch_unfinished(
    bronze: tuple[Path, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM arrives while the worker is on the second recording: the worker is killed at
    once, nothing of the batch is written, and the next night finds all three unfinished."""
    lake = _copy_lake(bronze[0], tmp_path / "lake")
    second = bronze[1][1]["content_key"]
    real_next = isolation.Worker.next_message
    stopped_at: list[float] = []

    def stop_on_second(self: isolation.Worker, timeout_s: float) -> Any:
        msg = real_next(self, timeout_s)
        if msg and msg[0] == "step" and msg[2] and msg[2]["content_key"] == second:
            os.kill(self.proc.pid, signal.SIGSTOP)  # it must not finish before the stop lands
            stopped_at.append(time.monotonic())
            request_stop()
        return msg

    monkeypatch.setattr(isolation.Worker, "next_message", stop_on_second)
    clear_stop()
    try:
        res = process_batch_isolated(lake, RUN, "b000", bronze[1], ProcessingParams(), NOW)
        returned = time.monotonic()
    finally:
        clear_stop()
    assert returned - stopped_at[0] < 2
    assert res.outcomes == [] and res.segment_id is None
    assert not (Path(lake) / layout.OUTCOME_LEDGER_DIR).exists()
    left = unfinished_recordings(Store(lake), ["beijing"])
    assert sorted(r.content_key for r in left) == sorted(r["content_key"] for r in bronze[1])


def test_a_batch_stuck_writing_is_run_again_one_recording_at_a_time(
    bronze: tuple[Path, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stuck writing the segment of a batch holding one recording: the others are found
    innocent one at a time and published; that one waits for the next night."""
    lake = _copy_lake(bronze[0], tmp_path / "lake")
    recs = bronze[1]
    stuck_key = recs[2]["content_key"]
    real_next = isolation.Worker.next_message
    seen: set[str] = set()

    def stall_writing(self: isolation.Worker, timeout_s: float) -> Any:
        msg = real_next(self, timeout_s)
        if msg and msg[0] == "step":
            if msg[2]:
                seen.add(msg[2]["content_key"])
            elif msg[1] == "write" and stuck_key in seen:
                os.kill(self.proc.pid, signal.SIGSTOP)
            if msg[1] == "write":
                seen.clear()
        return msg

    monkeypatch.setattr(isolation.Worker, "next_message", stall_writing)
    res = process_batch_isolated(
        lake, RUN, "b000", recs, ProcessingParams(), NOW, limits=Limits(seconds=3, memory_gib=8)
    )
    by_key = {o["content_key"]: o for o in res.outcomes}
    assert len(by_key) == 3 and len(res.outcomes) == 3
    assert by_key[stuck_key]["status"] == "pending"
    assert "write step" in by_key[stuck_key]["message"]
    assert sorted(o["status"] for o in res.outcomes) == ["pending", "published", "published"]
    assert len(res.episodes) == 2
    left = unfinished_recordings(Store(lake), ["beijing"])
    assert [r.content_key for r in left] == [stuck_key]
