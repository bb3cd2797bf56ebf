"""Building the validation report (a dict, written as JSON) from a night's summary.

Per center and per check (pull integrity, decode, processing gates, schema,
labels): pass / warn / fail counts and rates; every quarantined recording with
its reasons; schema failures mapped to episode, stream, column and time; label
disagreements (both sides) and the review queue; the QA overrides in force; the
data of small plots of the night's worst flagged signals; and the change against
the previous night. What the lake adds (queue, overrides, plots) comes in as `QaFacts`,
read by the report stage; this module does no IO.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from teleop_lake.labeling.review import rank_review_queue
from teleop_lake.reports.plots import stream_of_column

REPORT_FORMAT = "teleop-lake-validation/2"
MAX_LISTED = 500
"""Longest list a report section carries (review queue, overrides); the JSON says how many
there were in all."""


@dataclass(frozen=True)
class QaFacts:
    """What the lake knows beyond the night's summary, read by the report stage."""

    review_queue: list[dict[str, Any]] | None = None
    """The whole lake's review queue, ranked (None: derive it from the night's episodes)."""
    label_disagreements: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    """The override in force per overridden episode (`OverrideRecord.to_dict`)."""
    signal_plots: list[dict[str, Any]] = field(default_factory=list)
    rigs: list[dict[str, Any]] = field(default_factory=list)
    """What each rig of the night delivered (`teleop_lake.reports.rigs.rig_rows`)."""


STAGES = ("pull", "decode", "process", "validate")
CHECK_NAMES = {
    "pull": "delivery integrity (manifest, paths, sizes, sha256)",
    "decode": "decode + standardize (format, streams, joints)",
    "process": "cleaning + alignment quality gates",
    "validate": "data contract (Pandera frames schema)",
    "label": "labels (warn = needs review)",
}


def _rate(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0


def check_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Pass/warn/fail per center and check, from the accounting and the outcomes."""
    fails: dict[tuple[str, str], int] = Counter()
    for q in summary["quarantined"]:
        fails[(q["center"], q["stage"])] += 1
    review = Counter(e["center"] for e in summary["episodes"] if e["needs_review"])
    rows = []
    for acc in summary["accounting"]:
        c = acc["center"]
        entering = acc["pulled"]
        for stage in STAGES:
            if stage == "decode":
                entering += acc["retried"]
            f = fails[(c, stage)]
            rows.append(
                {
                    "center": c,
                    "check": stage,
                    "description": CHECK_NAMES[stage],
                    "pass": entering - f,
                    "warn": 0,
                    "fail": f,
                    "fail_rate": _rate(f, entering),
                }
            )
            entering -= f
        published = acc["published"]
        w = review[c]
        rows.append(
            {
                "center": c,
                "check": "label",
                "description": CHECK_NAMES["label"],
                "pass": published - w,
                "warn": w,
                "fail": 0,
                "fail_rate": 0.0,
            }
        )
    return rows


def label_summary(episodes: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = {}
    for e in episodes:
        c = out.setdefault(e["center"], Counter())
        c[e["outcome"]] += 1
        if e["needs_review"]:
            c["needs_review"] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def review_queue(episodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The night's episodes that need a reviewer, most important first (no overrides known)."""
    return rank_review_queue(episodes)


def mapped_validation_failures(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Data-contract failures (episode, column, check, frame, t_ns, value) with the stream
    the column comes from."""
    return [
        {**v, "stream": stream_of_column(v.get("column"))} for v in summary["validation_failures"]
    ]


def _failure_rates(episodes: list[dict[str, Any]]) -> dict[str, float]:
    n: Counter[str] = Counter(e["center"] for e in episodes)
    f: Counter[str] = Counter(e["center"] for e in episodes if e["outcome"] == "failure")
    return {c: _rate(f[c], n[c]) for c in n}


def compare_with_previous(
    summary: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any] | None:
    if previous is None:
        return None
    prev = {a["center"]: a for a in previous["accounting"]}
    fail_now = _failure_rates(summary["episodes"])
    fail_before = _failure_rates(previous.get("episodes", []))
    rows = []
    for a in summary["accounting"]:
        p = prev.get(a["center"], {})
        denom, pdenom = a["pulled"] + a["retried"], p.get("pulled", 0) + p.get("retried", 0)
        rows.append(
            {
                "center": a["center"],
                "published": a["published"],
                "published_before": p.get("published", 0),
                "quarantine_rate": _rate(a["quarantined"], denom),
                "quarantine_rate_before": _rate(p.get("quarantined", 0), pdenom),
                "failure_outcome_rate": fail_now.get(a["center"], 0.0),
                "failure_outcome_rate_before": fail_before.get(a["center"], 0.0),
            }
        )
    return {"previous_run_id": previous["run_id"], "centers": rows}


def build_validation_report(
    summary: dict[str, Any], previous: dict[str, Any] | None, qa: QaFacts | None = None
) -> dict[str, Any]:
    qa = qa or QaFacts()
    queue = review_queue(summary["episodes"]) if qa.review_queue is None else qa.review_queue
    return {
        "report_format": REPORT_FORMAT,
        "run_id": summary["run_id"],
        "date": summary["date"],
        "started_at": summary["started_at"],
        "finished_at": summary["finished_at"],
        "pipeline_version": summary["pipeline_version"],
        "release": summary["release"],
        "balanced": summary["balanced"],
        "totals": summary["totals"],
        "accounting": summary["accounting"],
        "checks": check_table(summary),
        "unreachable_centers": summary["unreachable_centers"],
        "silent_centers": summary.get("silent_centers", []),
        "stage_seconds": summary.get("stage_seconds", {}),
        "manifest_problems": summary["manifest_problems"],
        "quarantine_reason_counts": summary["quarantine_reason_counts"],
        "quarantined": summary["quarantined"],
        "validation_failures": mapped_validation_failures(summary),
        "labels": label_summary(summary["episodes"]),
        "label_disagreements": qa.label_disagreements,
        "review_queue_total": len(queue),
        "review_queue": queue[:MAX_LISTED],
        "overrides_total": len(qa.overrides),
        "overrides": sorted(qa.overrides, key=lambda o: str(o["created_at"]), reverse=True)[
            :MAX_LISTED
        ],
        "signal_plots": qa.signal_plots,
        "rigs": qa.rigs,
        "failed_batches": summary["failed_batches"],
        "change_vs_previous": compare_with_previous(summary, previous),
    }
