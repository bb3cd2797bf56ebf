"""Rendering the validation report as one self-contained HTML page (no external requests).

Every string that came from a recording or a drop is escaped: a task name or a
note containing markup shows as text, never as markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.fail{background:#fde2e2}
.warn{background:#fff4d6}.ok{background:#e5f5e5}code{font-size:12px}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] = ()
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(headers)}">none</td></tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_validation_html(report: dict[str, Any]) -> str:
    rel = report.get("release") or {}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Validation report {_e(report['run_id'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Night {_e(report['date'])} &mdash; run {_e(report['run_id'])}</h1>",
        f"<p>Release: <b>{_e(rel.get('release_id') or 'no new release')}</b> "
        f"(parent {_e(rel.get('parent_release_id'))}); accounting "
        f"<b>{'balanced' if report['balanced'] else 'NOT BALANCED'}</b>.</p>",
        "<h2>Accounting per center</h2>",
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
    if report["unreachable_centers"]:
        parts.append("<h2>Unreachable centers</h2>")
        parts.append(
            _table(
                ["center", "drop", "error"],
                [[u["center"], u["drop_url"], u["error"]] for u in report["unreachable_centers"]],
                ["fail"] * len(report["unreachable_centers"]),
            )
        )
    parts.append("<h2>Checks per center</h2>")
    checks = report["checks"]
    parts.append(
        _table(
            ["center", "check", "pass", "warn", "fail", "fail rate"],
            [
                [c["center"], c["description"], c["pass"], c["warn"], c["fail"], c["fail_rate"]]
                for c in checks
            ],
            ["fail" if c["fail"] else ("warn" if c["warn"] else "ok") for c in checks],
        )
    )
    parts.append("<h2>Quarantined recordings</h2>")
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
    parts.append("<h2>Data-contract failures</h2>")
    parts.append(
        _table(
            ["episode", "column", "check", "frame", "t_ns", "value"],
            [
                [
                    v.get("episode_id"),
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
    parts.append("<h2>Labels</h2>")
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
    parts.append("<h2>Review queue</h2>")
    parts.append(
        _table(
            [
                "episode",
                "center",
                "task",
                "outcome",
                "reason",
                "operator mark",
                "confidence",
                "why",
            ],
            [
                [
                    q["episode_id"],
                    q["center"],
                    q["task_code"],
                    q["outcome"],
                    q["failure_reason"],
                    q["operator_mark"],
                    q["label_confidence"],
                    q["review_reason"],
                ]
                for q in report["review_queue"]
            ],
        )
    )
    change = report.get("change_vs_previous")
    if change:
        parts.append(f"<h2>Change against run {_e(change['previous_run_id'])}</h2>")
        parts.append(
            _table(
                ["center", "published", "before", "quarantine rate", "before"],
                [
                    [
                        r["center"],
                        r["published"],
                        r["published_before"],
                        r["quarantine_rate"],
                        r["quarantine_rate_before"],
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
