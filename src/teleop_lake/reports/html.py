"""Rendering the validation report as one self-contained HTML page (no external requests).

Every string that came from a recording or a drop is escaped: a task name or a
note containing markup shows as text, never as markup.
"""

from __future__ import annotations

from typing import Any

from teleop_lake.reports.html_parts import CSS, esc, section
from teleop_lake.reports.html_parts import table as _table
from teleop_lake.reports.html_qa import (
    disagreements_html,
    overrides_html,
    plots_html,
    review_queue_html,
    rigs_html,
)

_e = esc
_NAV = (
    ("accounting", "accounting"),
    ("checks", "checks"),
    ("quarantine", "quarantine"),
    ("contract", "data contract"),
    ("labels", "labels"),
    ("disagreements", "disagreements"),
    ("review-queue", "review queue"),
    ("overrides", "overrides"),
    ("signals", "signals"),
    ("rigs", "rigs"),
    ("change", "change"),
)


def render_validation_html(report: dict[str, Any]) -> str:
    rel = report.get("release") or {}
    parent = rel.get("parent_release_id")
    if parent:
        lineage = f"parent {_e(parent)}"
    elif rel.get("release_id"):
        lineage = "the lake's first release"
    else:
        lineage = "no release before it"
    change = report.get("change_vs_previous")
    nav = [(a, t) for a, t in _NAV if a != "change" or change]  # no link to a missing section
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Validation report {_e(report['run_id'])}</title><style>{CSS}</style></head><body>",
        f"<h1>Night {_e(report['date'])} &mdash; run {_e(report['run_id'])}</h1>",
        f"<p>Release: <b>{_e(rel.get('release_id') or 'no new release')}</b> "
        f"({lineage}); accounting "
        f"<b>{'balanced' if report['balanced'] else 'NOT BALANCED'}</b>.</p>",
        "<nav>" + "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in nav) + "</nav>",
        section("accounting", "Accounting per center"),
    ]
    acc = report["accounting"]
    parts.append(
        _table(
            [
                "center",
                "pulled",
                "retried",
                "published",
                "quarantined",
                "pending",
                "duplicates",
                "balanced",
            ],
            [
                [
                    a["center"],
                    a["pulled"],
                    a["retried"],
                    a["published"],
                    a["quarantined"],
                    a["pending"],
                    a["duplicates"],
                    a["balanced"],
                ]
                for a in acc
            ],
            ["" if a["balanced"] else "fail" for a in acc],
        )
    )
    stage_seconds = report.get("stage_seconds") or {}
    if stage_seconds.get("by_center"):
        stages, by_center = stage_seconds["stages"], stage_seconds["by_center"]
        parts.append("<h2>Wall seconds per center and stage</h2>")
        parts.append(
            _table(
                ["center", *stages, "total"],
                [
                    [c, *(f"{row.get(s, 0.0):.1f}" for s in stages), f"{sum(row.values()):.1f}"]
                    for c, row in by_center.items()
                ],
            )
        )
    if report.get("silent_centers"):
        parts.append("<h2>Silent centers</h2>")
        parts.append(
            _table(
                ["center", "nights in a row", "last delivery", "what to do"],
                [
                    [a["center"], a["nights"], a["last_delivery"] or "-", a["message"]]
                    for a in report["silent_centers"]
                ],
                ["fail"] * len(report["silent_centers"]),
            )
        )
    if report["unreachable_centers"]:
        parts.append("<h2>Unreachable centers</h2>")
        parts.append(
            _table(
                ["center", "drop", "error"],
                [[u["center"], u["drop_url"], u["error"]] for u in report["unreachable_centers"]],
                ["fail"] * len(report["unreachable_centers"]),
            )
        )
    parts.append(section("checks", "Checks per center"))
    checks = report["checks"]
    parts.append(
        _table(
            ["center", "check", "pass", "warn", "fail", "fail rate"],
            [
                [
                    c["center"],
                    c["description"],
                    c["pass"],
                    c["warn"],
                    c["fail"],
                    f"{100 * float(c['fail_rate']):.1f}%",
                ]
                for c in checks
            ],
            ["fail" if c["fail"] else ("warn" if c["warn"] else "ok") for c in checks],
        )
    )
    parts.append(section("quarantine", "Quarantined recordings"))
    parts.append(
        _table(
            ["center", "recording", "episode", "stage", "reasons", "message"],
            [
                [
                    q["center"],
                    q["recording_id"],
                    q["episode_id"],
                    q["stage"],
                    ", ".join(q["reason_codes"]),
                    q["message"],
                ]
                for q in report["quarantined"]
            ],
        )
    )
    parts.append(section("contract", "Data-contract failures (Pandera, mapped back)"))
    parts.append(
        _table(
            ["episode", "stream", "column", "check", "frame", "t_ns", "value"],
            [
                [
                    v.get("episode_id"),
                    v.get("stream"),
                    v.get("column"),
                    v.get("check"),
                    v.get("frame_index"),
                    v.get("t_ns"),
                    v.get("value"),
                ]
                for v in report["validation_failures"][:200]
            ],
        )
    )
    parts.append(section("labels", "Labels"))
    labels = report["labels"]
    parts.append(
        _table(
            ["center", "success", "failure", "unknown", "needs review"],
            [
                [
                    c,
                    v.get("success", 0),
                    v.get("failure", 0),
                    v.get("unknown", 0),
                    v.get("needs_review", 0),
                ]
                for c, v in labels.items()
            ],
        )
    )
    parts.append(disagreements_html(report))
    parts.append(review_queue_html(report))
    parts.append(overrides_html(report))
    parts.append(plots_html(report))
    parts.append(rigs_html(report))
    if change:
        parts.append(section("change", f"Change against run {change['previous_run_id']}"))
        parts.append(
            _table(
                [
                    "center",
                    "published",
                    "before",
                    "quarantine rate",
                    "before",
                    "failure outcome rate",
                    "before",
                ],
                [
                    [
                        r["center"],
                        r["published"],
                        r["published_before"],
                        r["quarantine_rate"],
                        r["quarantine_rate_before"],
                        r.get("failure_outcome_rate"),
                        r.get("failure_outcome_rate_before"),
                    ]
                    for r in change["centers"]
                ],
            )
        )
    if report["manifest_problems"]:
        parts.append("<h2>Manifest lines that could not be read</h2>")
        parts.append(
            _table(
                ["center", "date folder", "line", "problem"],
                [
                    [m["center"], m["date_folder"], m["line_no"], m["message"]]
                    for m in report["manifest_problems"]
                ],
            )
        )
    parts.append("</body></html>")
    return "\n".join(parts)
