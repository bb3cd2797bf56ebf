"""The report stage: write the run summary, validation.json and validation.html."""

from __future__ import annotations

from typing import Any

from teleop_lake.lake import layout
from teleop_lake.lake.overrides import latest_overrides
from teleop_lake.lake.storage import Store
from teleop_lake.pipeline.qa import (
    flagged_signal_plots,
    night_disagreements,
    read_evidence,
    review_queue,
)
from teleop_lake.reports.html import render_validation_html
from teleop_lake.reports.rigs import rig_rows
from teleop_lake.reports.validation import QaFacts, build_validation_report


def previous_summary(lake: Store, run_id: str) -> dict[str, Any] | None:
    runs = [r for r in lake.ls_names("runs") if r < run_id]
    for r in reversed(runs):
        if lake.exists(layout.run_summary_file(r)):
            summary: dict[str, Any] = lake.read_json(layout.run_summary_file(r))
            return summary
    return None


def qa_facts(lake: Store, summary: dict[str, Any]) -> QaFacts:
    """What the reviewer sections need from the lake: queue, disagreements, overrides, plots."""
    return QaFacts(
        review_queue=review_queue(lake.url),
        label_disagreements=night_disagreements(lake, summary["run_id"]),
        overrides=[o.to_dict() for o in latest_overrides(lake).values()],
        signal_plots=flagged_signal_plots(lake, summary["episodes"]),
        rigs=rig_rows(
            read_evidence(lake, summary["run_id"]),
            read_evidence(lake, summary["run_id"], "channels"),
        ),
    )


def report_stage(lake_url: str, summary: dict[str, Any]) -> dict[str, str]:
    lake = Store(lake_url)
    run_id = summary["run_id"]
    report = build_validation_report(
        summary, previous_summary(lake, run_id), qa_facts(lake, summary)
    )
    rdir = layout.report_dir(run_id)
    lake.write_json(layout.run_summary_file(run_id), summary)
    lake.write_json(f"{rdir}/validation.json", report)
    lake.write_text(f"{rdir}/validation.html", render_validation_html(report))
    return {
        "summary": lake.uri(layout.run_summary_file(run_id)),
        "validation_json": lake.uri(f"{rdir}/validation.json"),
        "validation_html": lake.uri(f"{rdir}/validation.html"),
    }
