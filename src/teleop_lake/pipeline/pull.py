"""The pull stage of a night: one center's drop -> bronze + quarantine + outcome ledger."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import asdict
from typing import Any

import polars as pl

from teleop_lake.config.centers import load_profile
from teleop_lake.lake.ledger import (
    RecordingRef,
    read_outcomes,
    unfinished_recordings,
    write_outcomes,
)
from teleop_lake.lake.quarantine import quarantine
from teleop_lake.lake.storage import Store
from teleop_lake.network.pull import PullRejection, pull_center
from teleop_lake.rejection import Reason


def pull_stage(
    network_url: str,
    lake_url: str,
    center: str,
    run_id: str,
    until_date: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Pull one center; returns small facts and the bronze records to process."""
    started = time.perf_counter()
    lake = Store(lake_url)
    profile = load_profile(center)
    quarantined: list[dict[str, Any]] = []

    def record(rejected: list[PullRejection]) -> None:
        outcomes = [
            quarantine(lake, rej, run_id=run_id, stage="pull", reasons=rej.reasons, now=now)
            for rej in rejected
        ]
        write_outcomes(lake, run_id, f"pull-{center}", outcomes)
        quarantined.extend(o.row() for o in outcomes)

    res = pull_center(profile, network_url, lake, run_id, until_date, now, record)
    return {
        "center": center,
        "drop_url": res.drop_url,
        "reachable": res.reachable,
        "error": res.error,
        "new": [r.to_dict() for r in res.new],
        "quarantined": quarantined,
        "already_pulled": res.already_pulled,
        "duplicates": res.duplicates,
        "bytes_copied": res.bytes_copied,
        "bytes_cloned": res.bytes_cloned,
        "manifest_problems": [asdict(p) for p in res.manifest_problems],
        "seconds": round(time.perf_counter() - started, 3),
    }


def retry_stage(lake_url: str, centers: list[str], exclude_keys: set[str]) -> list[dict[str, Any]]:
    """Bronze recordings left pending (or unfinished by a crash) on earlier nights."""
    lake = Store(lake_url)
    return [
        r.to_dict()
        for r in unfinished_recordings(lake, centers)
        if r.content_key not in exclude_keys
    ]


def drop_superseded(
    lake_url: str, run_id: str, recordings: list[dict[str, Any]], now: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep the newest delivery of each recording; quarantine older ones of the same night.

    Two deliveries of one recording id with different content (a corrected re-upload) would
    become two versions of one episode in the same night; the later date folder (then the
    later manifest line) wins. Returns (to process, outcome rows of the superseded).
    """

    def order(r: dict[str, Any]) -> tuple[str, int]:
        return (r["date_folder"], int((r.get("manifest") or {}).get("line_no", 0)))

    newest: dict[str, dict[str, Any]] = {}
    for r in sorted(recordings, key=order):
        newest[r["episode_id"]] = r
    keep = [r for r in recordings if newest[r["episode_id"]] is r]
    old = [r for r in recordings if newest[r["episode_id"]] is not r]
    if not old:
        return keep, []
    lake = Store(lake_url)
    outcomes = []
    for r in old:
        winner = newest[r["episode_id"]]
        reason = Reason(
            "superseded",
            f"{r['center']}/{r['date_folder']}: a newer delivery of {r['recording_id']} "
            f"(in {winner['date_folder']}) is processed instead; this one stays in bronze",
        )
        rec = RecordingRef.of(r)
        outcomes.append(
            quarantine(lake, rec, run_id=run_id, stage="pull", reasons=(reason,), now=now)
        )
    write_outcomes(lake, run_id, "superseded", outcomes)
    return keep, [o.row() for o in outcomes]


MAX_PENDING_NIGHTS = 3
"""A recording left pending this many nights is quarantined (``stuck_pending``): what kept it
pending is not going away by itself."""


def give_up_stuck(
    lake_url: str,
    run_id: str,
    retried: list[dict[str, Any]],
    now: dt.datetime,
    max_nights: int = MAX_PENDING_NIGHTS,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split the recordings to retry into (retry tonight, outcome rows of those quarantined
    because they were pending ``max_nights`` nights already)."""
    if not retried:
        return [], []
    lake = Store(lake_url)
    outcomes = read_outcomes(lake)
    pending = (
        outcomes.filter(pl.col("status") == "pending")
        .group_by("content_key")
        .agg(pl.col("run_id").n_unique().alias("nights"))
    )
    nights = dict(zip(pending["content_key"], pending["nights"], strict=True))
    keep = [r for r in retried if nights.get(r["content_key"], 0) < max_nights]
    stuck = [r for r in retried if nights.get(r["content_key"], 0) >= max_nights]
    if not stuck:
        return keep, []
    rows = []
    for r in stuck:
        reason = Reason(
            "stuck_pending",
            f"{r['center']}/{r['recording_id']}: pending {nights[r['content_key']]} nights "
            f"(the limit is {max_nights}); its last error did not go away. It stays in bronze: "
            "fix the cause, then re-deliver it or clear it from the quarantine",
        )
        rows.append(
            quarantine(
                lake, RecordingRef.of(r), run_id=run_id, stage="retry", reasons=(reason,), now=now
            )
        )
    write_outcomes(lake, run_id, "stuck", rows)
    return keep, [o.row() for o in rows]


def plan_batches(
    recordings: list[dict[str, Any]], batch_size: int, workers: int = 1
) -> list[list[dict[str, Any]]]:
    """Split recordings into batches of at most ``batch_size``.

    A batch becomes one data segment whose replay-buffer arrays have one shape, so a batch
    never mixes robot models; within a model, a center's recordings stay together. A night
    smaller than ``workers`` full batches is cut into smaller ones, so that every worker
    (core) gets one: 6 recordings on 2 workers are 2 batches of 3, not 1 of 6.
    """
    batch_size = max(1, min(batch_size, math.ceil(len(recordings) / max(1, workers))))
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in recordings:
        by_model.setdefault(load_profile(r["center"]).robot_model, []).append(r)
    batches = []
    for model in sorted(by_model):
        ordered = sorted(by_model[model], key=lambda r: (r["center"], r["recording_id"]))
        batches += [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    return batches
