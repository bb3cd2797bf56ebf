"""QA overrides on a real (small, simulated) lake: the append-only log, refusals that write
nothing, and overrides that survive re-runs and reprocessing and show in the next release."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from qa_lake import qa_lake, run_night

from teleop_lake.lake import layout
from teleop_lake.lake.overrides import (
    OverrideConflictError,
    append_override,
    episode_history,
    latest_overrides,
    read_override_log,
)
from teleop_lake.lake.storage import Store
from teleop_lake.pipeline.process import process_batch
from teleop_lake.pipeline.qa import OverrideRefusedError, record_override, review_queue
from teleop_lake.processing import ProcessingParams
from teleop_lake.release.publish import latest_release_id, publish_release
from teleop_lake.release.reader import open_release

pytestmark = pytest.mark.slow
NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def lake_root(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return qa_lake(tmp_path_factory, tmp_path)


def _first_in_queue(lake: str, kind: str = "disagreement") -> dict[str, object]:
    return next(q for q in review_queue(lake) if q["kind"] == kind)


def test_log_is_append_only_and_versioned(lake_root: Path) -> None:
    lake = str(lake_root / "lake")
    q = _first_in_queue(lake)
    eid = str(q["episode_id"])
    first = record_override(
        lake, eid, outcome="failure", failure_reason="timeout", reviewer="ann", note=None, now=NOW
    )
    second = record_override(
        lake,
        eid,
        outcome="failure",
        failure_reason="task_incomplete",
        reviewer="bo",
        note="slow, then gave up",
        now=NOW + dt.timedelta(minutes=5),
    )
    store = Store(lake)
    assert store.walk_files(layout.OVERRIDES_DIR) == [
        f"overrides/{eid}/v000001.json",
        f"overrides/{eid}/v000002.json",
    ]
    assert (first.version, second.version) == (1, 2)
    # the first override's "previous" is the rule's label; the second's is the first override
    assert first.previous["outcome"] == q["outcome"] and first.previous["label_source"] == "rule"
    assert second.previous["from"] == f"override {eid}/v000001"
    assert second.previous["failure_reason"] == "timeout"
    on_disk = store.read_json(f"overrides/{eid}/v000002.json")
    assert (on_disk["reviewer"], on_disk["note"], on_disk["created_at"]) == (
        "bo",
        "slow, then gave up",
        "2026-11-24T09:35:00+00:00",
    )
    assert latest_overrides(store)[eid].failure_reason == "task_incomplete"
    # an entry is never rewritten: a second writer of the same version loses, nothing changes
    before = store.read_bytes(first.path)
    with pytest.raises(OverrideConflictError, match="already exists"):
        append_override(store, first.__class__(**{**first.__dict__, "reviewer": "mallory"}))
    assert store.read_bytes(first.path) == before
    assert [r.override_id for r in read_override_log(store)] == [
        f"{eid}/v000001",
        f"{eid}/v000002",
    ]
    # overridden episodes leave the queue
    assert eid not in {q["episode_id"] for q in review_queue(lake)}


@pytest.mark.parametrize(
    ("episode", "outcome", "reason", "reviewer", "fragment"),
    [
        ("nope-0000000000000000", "success", None, "ann", "unknown episode id"),
        ("../../etc", "success", None, "ann", "is not an episode id"),
        (None, "fine", None, "ann", "unknown outcome 'fine'"),
        (None, "failure", "bad_luck", "ann", "unknown reason 'bad_luck'"),
        (None, "success", None, "", "reviewer name is empty"),
    ],
)
def test_refusals_write_nothing(
    lake_root: Path,
    episode: str | None,
    outcome: str,
    reason: str | None,
    reviewer: str,
    fragment: str,
) -> None:
    lake = str(lake_root / "lake")
    eid = episode or str(_first_in_queue(lake)["episode_id"])
    with pytest.raises(OverrideRefusedError) as err:
        record_override(
            lake, eid, outcome=outcome, failure_reason=reason, reviewer=reviewer, note=None, now=NOW
        )
    assert fragment in str(err.value)
    assert Store(lake).walk_files(layout.OVERRIDES_DIR) == []


def test_override_survives_reruns_and_reprocessing(lake_root: Path) -> None:
    lake, net = str(lake_root / "lake"), lake_root / "net"
    store = Store(lake)
    r01 = latest_release_id(store)
    q = _first_in_queue(lake)
    eid = str(q["episode_id"])
    rule_label = (q["outcome"], q["failure_reason"])
    record_override(
        lake,
        eid,
        outcome="failure",
        failure_reason="timeout",
        reviewer="ann",
        note="<b>took too long</b>",
        now=NOW,
    )

    # night 2: nothing new delivered, but the override cuts a new release
    s2 = run_night(net, lake_root / "lake", "20261125T020000Z-night2", NOW + dt.timedelta(days=1))
    r02 = s2["release"]["release_id"]
    assert r02 and r02 != r01 and s2["release"]["parent_release_id"] == r01
    rel = open_release(lake)
    row = rel.episodes.filter(pl.col("episode_id") == eid).row(0, named=True)
    assert (row["outcome"], row["failure_reason"], row["label_source"]) == (
        "failure",
        "timeout",
        "qa_override",
    )
    assert row["label_confidence"] == 1.0 and not row["needs_review"]
    assert rule_label != ("failure", "timeout")
    assert rel.manifest["overrides"] == {"applied": 1, "override_ids": [f"{eid}/v000001"]}
    assert rel.manifest["changelog"]["relabeled_episode_ids"] == [eid]
    # the night's report shows it, and the queue no longer holds it
    report = json.loads(Path(s2["report_paths"]["validation_json"]).read_text())
    assert [o["override_id"] for o in report["overrides"]] == [f"{eid}/v000001"]
    assert eid not in {x["episode_id"] for x in report["review_queue"]}
    html = Path(s2["report_paths"]["validation_html"]).read_text()
    assert "&lt;b&gt;took too long&lt;/b&gt;" in html and "<b>took too long" not in html

    # night 3: nothing new at all -> no release
    s3 = run_night(net, lake_root / "lake", "20261126T020000Z-night3", NOW + dt.timedelta(days=2))
    assert s3["release"]["release_id"] is None

    # reprocessing the episode (a new run, a new segment, a fresh rule label) keeps the override
    bronze = next(
        json.loads(Path(p).read_text())
        for p in (lake_root / "lake" / "bronze").rglob(layout.BRONZE_RECORD_NAME)
        if json.loads(Path(p).read_text())["episode_id"] == eid
    )
    res = process_batch(lake, "20261127T020000Z-reproc", "b000", [bronze], ProcessingParams(), NOW)
    assert res.episodes and res.episodes[0]["label_source"] != "qa_override"
    pub = publish_release(lake, "20261127T020000Z-reproc", "2026-11-27", NOW)
    assert pub.release_id is not None and pub.updated == 1
    row = open_release(lake).episodes.filter(pl.col("episode_id") == eid).row(0, named=True)
    assert row["run_id"] == "20261127T020000Z-reproc"
    assert (row["outcome"], row["failure_reason"], row["label_source"]) == (
        "failure",
        "timeout",
        "qa_override",
    )
    # a later override with a new version wins
    record_override(
        lake, eid, outcome="success", failure_reason=None, reviewer="bo", note=None, now=NOW
    )
    publish_release(lake, "20261128T020000Z-x", "2026-11-28", NOW)
    row = open_release(lake).episodes.filter(pl.col("episode_id") == eid).row(0, named=True)
    assert (row["outcome"], row["failure_reason"]) == ("success", None)
    assert len(episode_history(store, eid)) == 2


def test_repeating_a_label_still_cuts_a_release(lake_root: Path) -> None:
    """A second override with the same label is a new fact in the log: a new release."""
    lake = str(lake_root / "lake")
    eid = str(_first_in_queue(lake)["episode_id"])
    for minute in (0, 1):
        record_override(
            lake,
            eid,
            outcome="failure",
            failure_reason="timeout",
            reviewer="ann",
            note=None,
            now=NOW + dt.timedelta(minutes=minute),
        )
        assert publish_release(lake, f"r{minute}", "2026-11-24", NOW).release_id is not None
    assert publish_release(lake, "r9", "2026-11-24", NOW).release_id is None
