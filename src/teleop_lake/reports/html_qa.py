"""The reviewer's sections of the HTML report: label disagreements (both sides), the review
queue, the QA overrides in force, the plots of the night's worst flagged signals with each
finding's evidence, and what each rig delivered."""

from __future__ import annotations

from typing import Any

from teleop_lake.labeling.review import hint_text
from teleop_lake.reports.html_parts import esc, note, section, table
from teleop_lake.reports.svg import render_signal_svg

_KIND_CLASS = {"disagreement": "fail", "unknown": "warn", "no_mark": "", "other": ""}


def _label(outcome: Any, reason: Any) -> str:
    return f"{outcome} ({reason})" if reason else str(outcome)


def disagreements_html(report: dict[str, Any]) -> str:
    rows = report.get("label_disagreements") or []
    return "\n".join(
        [
            section("disagreements", "Label disagreements (operator vs evidence)"),
            note(
                "Tonight's episodes whose operator mark and evidence disagree: the label kept, "
                "the operator's side, and what the rules measured."
            ),
            table(
                [
                    "episode",
                    "center",
                    "recording",
                    "operator mark",
                    "label",
                    "source",
                    "why",
                    "evidence",
                    "published",
                ],
                [
                    [
                        d["episode_id"],
                        d["center"],
                        d["recording_id"],
                        d["operator_mark"],
                        _label(d["outcome"], d["failure_reason"]),
                        d["label_source"],
                        d["review_reason"],
                        d.get("label_evidence"),
                        "yes" if d.get("publishable") else "no (gated)",
                    ]
                    for d in rows
                ],
                ["fail"] * len(rows),
            ),
        ]
    )


def review_queue_html(report: dict[str, Any]) -> str:
    queue = report.get("review_queue") or []
    total = report.get("review_queue_total", len(queue))
    return "\n".join(
        [
            section("review-queue", f"Review queue ({total})"),
            note(
                "Most important first: disagreements, then unknown labels, then unmarked "
                "episodes. The suggested override is the label the evidence offers instead "
                "(the operator's mark or the rules' verdict); apply it, or another, with "
                "`teleop-lake qa override EPISODE_ID --lake ... --outcome ... --reason ... "
                "--reviewer NAME` (`teleop-lake qa queue` prints each command)."
            ),
            table(
                [
                    "#",
                    "kind",
                    "episode",
                    "center",
                    "recording",
                    "task",
                    "label",
                    "source",
                    "operator mark",
                    "confidence",
                    "why",
                    "suggested override",
                ],
                [
                    [
                        q.get("rank"),
                        q.get("kind"),
                        q["episode_id"],
                        q["center"],
                        q.get("recording_id"),
                        q.get("task_code"),
                        _label(q["outcome"], q["failure_reason"]),
                        q.get("label_source"),
                        q["operator_mark"],
                        q["label_confidence"],
                        q["review_reason"],
                        hint_text(q.get("suggested_override")),
                    ]
                    for q in queue
                ],
                [_KIND_CLASS.get(str(q.get("kind")), "") for q in queue],
            ),
        ]
    )


def overrides_html(report: dict[str, Any]) -> str:
    rows = report.get("overrides") or []
    return "\n".join(
        [
            section("overrides", f"QA overrides in force ({report.get('overrides_total', 0)})"),
            note("The latest override of each episode; every later release applies it."),
            table(
                ["episode", "version", "label", "was", "reviewer", "when", "note"],
                [
                    [
                        o["episode_id"],
                        o["version"],
                        _label(o["outcome"], o["failure_reason"]),
                        _label(
                            (o.get("previous") or {}).get("outcome"),
                            (o.get("previous") or {}).get("failure_reason"),
                        )
                        + f" [{(o.get('previous') or {}).get('label_source')}]",
                        o["reviewer"],
                        o["created_at"],
                        o.get("note"),
                    ]
                    for o in rows
                ],
            ),
        ]
    )


def plots_html(report: dict[str, Any]) -> str:
    plots = report.get("signal_plots") or []
    parts = [
        section("signals", "Flagged signals of the night's worst episodes"),
        note(
            "Published frames (cleaned: spikes are repaired) with what cleaning flagged on the "
            "time axis: spikes as red ticks, dropouts grey, frozen spans blue."
        ),
    ]
    if not plots:
        parts.append("<p>none: no published episode of this night has flagged signals</p>")
    for p in plots:
        parts.append(
            f'<div class="plot"><div>{esc(p["episode_id"])} &middot; {esc(p["stream"])} '
            f"&middot; {len(p['spans'])} flagged span(s)</div>{render_signal_svg(p)}"
            f"{evidence_table(p['spans'])}</div>"
        )
    return "\n".join(parts)


def _num(v: Any, fmt: str = ".4g") -> str:
    return "" if v is None else format(v, fmt)


def evidence_table(spans: list[dict[str, Any]]) -> str:
    """The checkable evidence of a plot's findings: what rule fired on which value, against what
    expectation, how many noise sigmas apart, over how many samples."""
    return table(
        [
            "kind",
            "rule",
            "from s",
            "to s",
            "value",
            "expected",
            "residual (sigma)",
            "noise",
            "samples",
        ],
        [
            [
                s["kind"],
                s.get("rule"),
                s["start_s"],
                s["end_s"],
                _num(s.get("value")),
                _num(s.get("expected")),
                _num(s.get("residual_sigma"), ".1f"),
                _num(s.get("noise_floor"), ".2g"),
                s.get("n_samples"),
            ]
            for s in spans[:20]
        ],
    )


def rigs_html(report: dict[str, Any]) -> str:
    """What each rig of the night delivered: normal variation, listed so it is seen, not
    mistaken for faults (unpopulated fields, absent streams) or left unfixed (clocks)."""
    rigs = report.get("rigs") or []

    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} ({v})" for k, v in d.items()) or "-"

    return "\n".join(
        [
            section("rigs", "Rigs: end effectors, absent streams, unpopulated channels, clocks"),
            note(
                "Per center and robot. Unpopulated: channels constant for a whole recording (the "
                "firmware never filled them): null in the frames, never a fault; the count is "
                "of channels. Faulty: channels with a long frozen stretch or readings past "
                "their limits. A clock-domain mismatch is a stream stamped on another clock "
                "than its profile says: aligned on its real clock, but the rig needs fixing."
            ),
            table(
                [
                    "center",
                    "robot",
                    "episodes",
                    "end effector",
                    "absent streams",
                    "unpopulated",
                    "faulty",
                    "clock mismatches",
                ],
                [
                    [
                        r["center"],
                        r["robot_serial"],
                        r["episodes"],
                        ", ".join(r["end_effectors"]),
                        counts(r["absent_streams"]),
                        counts(r["unpopulated"]),
                        counts(r["faulty"]),
                        r["clock_domain_mismatches"],
                    ]
                    for r in rigs
                ],
                ["warn" if r["clock_domain_mismatches"] else "" for r in rigs],
            ),
        ]
    )
