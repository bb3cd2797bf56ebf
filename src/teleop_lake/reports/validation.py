"""Building the validation report (a dict, written as JSON) from a night's summary.

Per center and per check (pull integrity, decode, processing gates, schema,
labels): pass / warn / fail counts and rates; every quarantined recording with
its reasons; schema failures mapped to episode, column and time; the review
queue; and the change against the previous night.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

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
    """Episodes that need a reviewer, least confident first."""
    items = [
        {
            k: e.get(k)
            for k in (
                "episode_id",
                "center",
                "recording_id",
                "task_code",
                "outcome",
                "failure_reason",
                "operator_mark",
                "label_confidence",
                "review_reason",
            )
        }
        for e in episodes
        if e["needs_review"]
    ]
    return sorted(items, key=lambda e: (e["label_confidence"] or 0.0, e["episode_id"]))


def compare_with_previous(
    summary: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any] | None:
    if previous is None:
        return None
    prev = {a["center"]: a for a in previous["accounting"]}
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
            }
        )
    return {"previous_run_id": previous["run_id"], "centers": rows}


def build_validation_report(
    summary: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "report_format": "teleop-lake-validation/1",
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
        "manifest_problems": summary["manifest_problems"],
        "quarantine_reason_counts": summary["quarantine_reason_counts"],
        "quarantined": summary["quarantined"],
        "validation_failures": summary["validation_failures"],
        "labels": label_summary(summary["episodes"]),
        "review_queue": review_queue(summary["episodes"]),
        "failed_batches": summary["failed_batches"],
        "change_vs_previous": compare_with_previous(summary, previous),
    }
