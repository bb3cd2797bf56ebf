"""The run summary: accounting that must add up, per center, for every night.

For each center: ``pulled`` (new recordings that entered the lake tonight) +
``retried`` (pending from earlier nights) = ``published`` + ``quarantined`` +
``pending``. `summarize_night` computes it from the stages' small results and
says whether it balances; a night whose books do not balance is a bug.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from teleop_lake import __version__

SUMMARY_STAGES = ("pull", "decode", "process", "validate", "write")
STAGE_OF = {  # a batch's stage clock names -> the summary's stages
    "decode": "decode",
    "clean, align, label": "process",
    "camera tables": "process",
    "validate": "validate",
    "write segment": "write",
    "write evidence": "write",
}


def summarize_night(
    *,
    run_id: str,
    date: str | None,
    network_url: str,
    lake_url: str,
    centers: list[str],
    pulls: list[dict[str, Any]],
    retried: list[dict[str, Any]],
    superseded: list[dict[str, Any]],
    batches: list[dict[str, Any]],
    failed_batches: list[dict[str, Any]],
    publish: dict[str, Any] | None,
    started_at: dt.datetime,
    finished_at: dt.datetime,
) -> dict[str, Any]:
    per_center: dict[str, Counter[str]] = {c: Counter() for c in centers}
    quarantined: list[dict[str, Any]] = []
    for p in pulls:
        c = per_center[p["center"]]
        c["pulled"] += len(p["new"]) + len(p["quarantined"])
        c["quarantined"] += len(p["quarantined"])
        c["duplicates"] += p["duplicates"]
        c["already_pulled"] += p["already_pulled"]
        quarantined.extend(p["quarantined"])
    for r in retried:
        per_center[r["center"]]["retried"] += 1
    for o in superseded:
        per_center[o["center"]]["quarantined"] += 1
        quarantined.append(o)
    episodes: list[dict[str, Any]] = []
    validation_failures: list[dict[str, Any]] = []
    for b in batches:
        episodes.extend(b["episodes"])
        validation_failures.extend(b["validation_failures"])
        for o in b["outcomes"]:
            per_center[o["center"]][o["status"]] += 1
            if o["status"] == "quarantined":
                quarantined.append(o)
    for fb in failed_batches:  # a batch whose task failed after its retries: all pending
        for r in fb["recordings"]:
            per_center[r["center"]]["pending"] += 1

    stage_seconds = {c: dict.fromkeys(SUMMARY_STAGES, 0.0) for c in centers}
    for p in pulls:
        stage_seconds[p["center"]]["pull"] += float(p.get("seconds", 0.0))
    for b in batches:
        for center, stages in (b.get("seconds_by_center") or {}).items():
            for stage, seconds in stages.items():
                spent = stage_seconds.setdefault(center, dict.fromkeys(SUMMARY_STAGES, 0.0))
                spent[STAGE_OF.get(stage, "process")] += seconds

    accounting: list[dict[str, Any]] = []
    for center in centers:
        c = per_center[center]
        row: dict[str, Any] = {
            "center": center,
            "pulled": c["pulled"],
            "retried": c["retried"],
            "published": c["published"],
            "quarantined": c["quarantined"],
            "pending": c["pending"],
            "duplicates": c["duplicates"],
        }
        row["balanced"] = row["pulled"] + row["retried"] == (
            row["published"] + row["quarantined"] + row["pending"]
        )
        accounting.append(row)
    totals = {
        k: sum(r[k] for r in accounting)
        for k in ("pulled", "retried", "published", "quarantined", "pending", "duplicates")
    }
    reason_counts = Counter(code for q in quarantined for code in q["reason_codes"])
    return {
        "run_id": run_id,
        "date": date,
        "pipeline_version": __version__,
        "network_url": network_url,
        "lake_url": lake_url,
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "duration_s": round((finished_at - started_at).total_seconds(), 3),
        "accounting": accounting,
        "totals": totals,
        "balanced": all(r["balanced"] for r in accounting),
        "unreachable_centers": [
            {"center": p["center"], "drop_url": p["drop_url"], "error": p["error"]}
            for p in pulls
            if not p["reachable"]
        ],
        "manifest_problems": [m for p in pulls for m in p["manifest_problems"]],
        # bytes taken into bronze per center: copied, or cloned (copy-on-write: none written)
        "pull_bytes": {
            p["center"]: {"copied": p.get("bytes_copied", 0), "cloned": p.get("bytes_cloned", 0)}
            for p in pulls
        },
        "quarantined": quarantined,
        "quarantine_reason_counts": dict(reason_counts.most_common()),
        "validation_failures": validation_failures,
        "episodes": episodes,
        "failed_batches": [
            {
                "batch_id": fb["batch_id"],
                "error": fb["error"],
                "n_recordings": len(fb["recordings"]),
            }
            for fb in failed_batches
        ],
        "release": publish,
        # wall seconds per center and stage: where each center's share of the night went
        "stage_seconds": {
            "stages": list(SUMMARY_STAGES),
            "by_center": {
                c: {k: round(v, 3) for k, v in stages.items()}
                for c, stages in stage_seconds.items()
            },
        },
    }
