"""The validation report: accounting, checks, review queue, and escaping of recording text."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

from teleop_lake.pipeline.summary import summarize_night
from teleop_lake.reports.html import render_validation_html
from teleop_lake.reports.validation import build_validation_report

T = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
EVIL = '<script>alert("x")</script><img src=http://evil/x>'


def _outcome(
    center: str, rec: str, status: str, stage: str = "process", codes: list[str] | None = None
) -> dict[str, object]:
    return {
        "center": center,
        "recording_id": rec,
        "episode_id": f"e-{rec}",
        "content_key": rec,
        "run_id": "r1",
        "stage": stage,
        "status": status,
        "reason_codes": codes or [],
        "message": EVIL if codes else "",
    }


def _summary() -> dict[str, object]:
    pulls = [
        {
            "center": "beijing",
            "drop_url": "x",
            "reachable": True,
            "error": None,
            "new": [{"center": "beijing"}] * 3,
            "quarantined": [
                _outcome("beijing", "bad", "quarantined", "pull", ["checksum_mismatch"])
            ],
            "already_pulled": 0,
            "duplicates": 1,
            "bytes_copied": 1,
            "manifest_problems": [],
        },
        {
            "center": "hefei",
            "drop_url": "y",
            "reachable": False,
            "error": "gone",
            "new": [],
            "quarantined": [],
            "already_pulled": 0,
            "duplicates": 0,
            "bytes_copied": 0,
            "manifest_problems": [],
        },
    ]
    episode = {
        "episode_id": "e-1",
        "center": "beijing",
        "recording_id": "1",
        "task_code": EVIL,
        "outcome": "failure",
        "failure_reason": "grasp_missed",
        "operator_mark": "success",
        "label_confidence": 0.6,
        "needs_review": True,
        "review_reason": "mark disagrees",
    }
    batches = [
        {
            "episodes": [episode, {**episode, "episode_id": "e-2", "needs_review": False}],
            "validation_failures": [],
            "outcomes": [
                _outcome("beijing", "1", "published"),
                _outcome("beijing", "2", "published"),
                _outcome("beijing", "3", "quarantined", "decode", ["truncated_file"]),
            ],
        }
    ]
    return summarize_night(
        run_id="r1",
        date="2026-11-23",
        network_url="n",
        lake_url="l",
        centers=["beijing", "hefei"],
        pulls=pulls,
        retried=[],
        superseded=[],
        batches=batches,
        failed_batches=[],
        publish={"release_id": "2026-11-23-r01"},
        started_at=T,
        finished_at=T,
    )


def test_accounting_balances_and_checks_count() -> None:
    s = _summary()
    bj = next(a for a in s["accounting"] if a["center"] == "beijing")
    assert (bj["pulled"], bj["published"], bj["quarantined"], bj["pending"]) == (4, 2, 2, 0)
    assert s["balanced"]
    assert s["quarantine_reason_counts"] == {"checksum_mismatch": 1, "truncated_file": 1}
    report = build_validation_report(s, previous=None)
    checks = {(c["center"], c["check"]): c for c in report["checks"]}
    assert (checks[("beijing", "pull")]["pass"], checks[("beijing", "pull")]["fail"]) == (3, 1)
    assert checks[("beijing", "decode")]["fail"] == 1
    assert (checks[("beijing", "label")]["pass"], checks[("beijing", "label")]["warn"]) == (1, 1)
    assert [q["episode_id"] for q in report["review_queue"]] == ["e-1"]
    assert report["unreachable_centers"][0]["center"] == "hefei"


def test_unbalanced_books_are_detected() -> None:
    s = _summary()
    s2 = summarize_night(
        run_id="r1",
        date="2026-11-23",
        network_url="n",
        lake_url="l",
        centers=["beijing"],
        pulls=[
            {
                "center": "beijing",
                "drop_url": "x",
                "reachable": True,
                "error": None,
                "new": [{"center": "beijing"}],
                "quarantined": [],
                "already_pulled": 0,
                "duplicates": 0,
                "bytes_copied": 0,
                "manifest_problems": [],
            }
        ],
        retried=[],
        superseded=[],
        batches=[],
        failed_batches=[],
        publish=None,
        started_at=T,
        finished_at=T,
    )
    assert s["balanced"] and not s2["balanced"]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_recording_text_and_is_self_contained() -> None:
    report = build_validation_report(_summary(), previous=None)
    page = render_validation_html(report)
    parser = _Collector()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags
    assert EVIL in "".join(parser.text)  # shown as text
    assert "http://" not in page.replace("http://evil", "")  # no external resources
    assert "src=" not in page.replace("src=http://evil", "")
