"""The validation report: accounting, checks, the reviewer's sections (disagreements, review
queue, overrides, signal plots), escaping of recording text, and a simulated night's report."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from qa_lake import EVIL_TASK, qa_lake

from teleop_lake.pipeline.summary import summarize_night
from teleop_lake.reports.html import render_validation_html
from teleop_lake.reports.plots import decimate_min_max, frame_column, signal_plot
from teleop_lake.reports.svg import render_signal_svg
from teleop_lake.reports.validation import QaFacts, build_validation_report

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


# --- the reviewer's sections: disagreements, queue, overrides, signal plots -------------------


class _Tree(HTMLParser):
    """Collects, per section id, the text of every table cell, and counts tags."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.cells: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "h2":
            self.section = dict(attrs).get("id") or ""
        self._in_td = tag == "td"

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_td = False

    def handle_data(self, data: str) -> None:
        if self._in_td:
            self.cells.setdefault(self.section, []).append(data)


def _plot() -> dict[str, object]:
    t = 1_000_000_000 + np.arange(500, dtype=np.int64) * 20_000_000  # 10 s at 50 Hz
    v = np.sin(np.arange(500) / 50.0)
    v[250] = 5.0  # a spike the decimation must keep
    return signal_plot(
        episode_id="e-1",
        center="beijing",
        recording_id=EVIL,
        stream="joint_state",
        column="obs.position_rad.l_knee",
        t_ns=t,
        values=v,
        spans=[
            ("spike", int(t[250]), int(t[250]), EVIL),
            ("dropout", int(t[100]), int(t[120]), "gap"),
            ("frozen", int(t[300]), int(t[400]), "stuck"),
        ],
        max_points=100,
    )


def test_signal_plot_keeps_spikes_and_puts_spans_on_the_time_axis() -> None:
    p = _plot()
    assert len(p["t_s"]) <= 100 and max(p["values"]) == 5.0
    spans = {s["kind"]: (s["start_s"], s["end_s"]) for s in p["spans"]}
    assert spans == {"spike": (5.0, 5.0), "dropout": (2.0, 2.4), "frozen": (6.0, 8.0)}
    t, _ = decimate_min_max(np.arange(10.0), np.arange(10.0), 100)
    assert len(t) == 10  # short traces are left alone
    assert frame_column("joint_state", "position_rad.l_knee") == "obs.position_rad.l_knee"
    assert (
        frame_column("arm_target", "target_rad.l_arm_pitch") == "action.arm_target_rad.l_arm_pitch"
    )
    assert frame_column("camera_head", "") is None


def test_svg_draws_each_span_and_escapes_text() -> None:
    svg = render_signal_svg(_plot(), width=600, height=150)
    tree = _Tree()
    tree.feed(svg)
    assert tree.tags.count("svg") == 1 and "script" not in tree.tags
    assert svg.count('class="span-spike"') == 1
    assert svg.count('class="span-dropout"') == 1 and svg.count('class="span-frozen"') == 1
    # dropout 2.0-2.4 s of 9.98 s on a 532 px plot starting at x = 58
    assert 'x="164.6"' in svg and "&lt;script&gt;" in svg
    assert "xmlns" not in svg and "xmlns" in render_signal_svg(_plot(), standalone=True)


def test_qa_sections_render_both_sides_and_escape() -> None:
    qa = QaFacts(
        review_queue=[
            {
                "rank": 1,
                "kind": "disagreement",
                "episode_id": "e-1",
                "center": "beijing",
                "recording_id": "bj-st01-20261123-0007",
                "task_code": EVIL,
                "outcome": "failure",
                "failure_reason": "grasp_missed",
                "label_source": "rule",
                "operator_mark": "success",
                "label_confidence": 0.4,
                "review_reason": "operator marked success but rules say failure (grasp_missed)",
            }
        ],
        label_disagreements=[
            {
                "episode_id": "e-1",
                "center": "beijing",
                "recording_id": "1",
                "operator_mark": "success",
                "outcome": "failure",
                "failure_reason": "grasp_missed",
                "label_source": "rule",
                "review_reason": "operator marked success but rules say failure (grasp_missed)",
                "label_evidence": "right hand missed: max closure 0.97",
                "publishable": True,
            }
        ],
        overrides=[
            {
                "episode_id": "e-2",
                "override_id": "e-2/v000001",
                "version": 1,
                "outcome": "success",
                "failure_reason": None,
                "reviewer": EVIL,
                "note": EVIL,
                "created_at": "2026-11-24T09:00:00+00:00",
                "previous": {"outcome": "failure", "failure_reason": "timeout"},
            }
        ],
        signal_plots=[_plot()],
    )
    report = build_validation_report(_summary(), previous=None, qa=qa)
    assert report["review_queue_total"] == 1 and report["overrides_total"] == 1
    page = render_validation_html(report)
    tree = _Tree()
    tree.feed(page)
    assert "script" not in tree.tags and "img" not in tree.tags
    assert tree.tags.count("svg") == 1
    dis = tree.cells["disagreements"]
    assert "success" in dis and "failure (grasp_missed)" in dis
    assert "right hand missed: max closure 0.97" in dis
    assert (
        tree.cells["review-queue"][:2] == ["1", "disagreement"]
        and EVIL in tree.cells["review-queue"]
        and "bj-st01-20261123-0007" in tree.cells["review-queue"]
    )
    assert "failure (timeout) [None]" in tree.cells["overrides"] and EVIL in tree.cells["overrides"]
    assert "http://" not in page.replace("http://evil", "")


@pytest.mark.slow
def test_report_of_a_simulated_night(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    root = qa_lake(tmp_path_factory, tmp_path)
    (rdir,) = (root / "lake" / "reports").iterdir()
    report = json.loads((rdir / "validation.json").read_text())
    truth = {
        r["episode_id"]: r
        for r in pl.read_parquet(root / "net" / "_truth" / "recordings.parquet").to_dicts()
    }
    queue = report["review_queue"]
    kinds = [q["kind"] for q in queue]
    assert kinds == sorted(kinds, key=["disagreement", "unknown", "no_mark", "other"].index)
    unknown = [q for q in queue if q["kind"] == "unknown"]
    assert [q["task_code"] for q in unknown] == [EVIL_TASK]
    assert unknown[0]["failure_reason"] == "unknown_task"
    # every disagreement is an operator mark that the truth or the rules contradict, both shown
    for d in report["label_disagreements"]:
        assert d["operator_mark"] != d["outcome"]
        assert f"operator marked {d['operator_mark']}" in d["review_reason"]
        assert truth[d["episode_id"]]["operator_mark"] == d["operator_mark"]
    assert report["label_disagreements"]
    # the plots are of published episodes, with spans inside the episode
    assert report["signal_plots"]
    for p in report["signal_plots"]:
        assert p["spans"] and all(-0.1 <= s["start_s"] <= p["duration_s"] + 0.1 for s in p["spans"])
    page = (rdir / "validation.html").read_text()
    tree = _Tree()
    tree.feed(page)
    assert "script" not in tree.tags
    assert tree.tags.count("svg") == len(report["signal_plots"])
    assert EVIL_TASK in tree.cells["review-queue"]


def test_a_first_night_reads_right() -> None:
    """No "(parent )", no link to a change section that is not there, fail rates as
    percentages."""
    report = build_validation_report(_summary(), previous=None)
    assert report.get("change_vs_previous") is None
    page = render_validation_html(report)
    assert "(parent )" not in page and "parent None" not in page
    assert 'href="#change"' not in page
    tree = _Tree()
    tree.feed(page)
    rates = [c for c in tree.cells["checks"] if c.endswith("%")]
    assert rates and all(float(r[:-1]) <= 100.0 for r in rates)
    assert not [c for c in tree.cells["checks"] if c.startswith("0.") and len(c) > 4]
