"""The evaluation report: every score of a night in one JSON-ready dict, and its table.

`score_night` takes what `teleop_lake.evaluation.night` loaded (`NightEvidence`, frames only)
and returns the nested report whose keys docs/EVALUATION.md defines; `TARGETS` are the
targets of issue 4 and `table_rows` puts each score next to its target. Pure: no IO.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from teleop_lake.evaluation.clock_error import clock_errors
from teleop_lake.evaluation.label_scores import label_scores
from teleop_lake.evaluation.matching import (
    DetectionScore,
    EligibilityRules,
    dropout_truth,
    frozen_truth,
    match_detections,
    spike_truth,
)
from teleop_lake.evaluation.sample_scores import GAP_KINDS, false_alarm_cells

# (dotted key, comparison, target): the targets of issue 4 on the default and stress profiles
# (the false alarm rate on the clean profile).
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("outliers.precision", ">=", 0.98),
    ("outliers.recall", ">=", 0.98),
    ("dropouts.precision", ">=", 0.99),
    ("dropouts.recall", ">=", 1.0),
    ("dropouts.boundary_error_periods_p95", "<=", 1.0),
    ("frozen.precision", ">=", 0.95),
    ("frozen.recall", ">=", 0.95),
    ("clock_offset_error_ms.median", "<=", 2.0),
    ("clock_offset_error_ms.p95", "<=", 5.0),
    ("camera_frame_match_rate", ">=", 0.99),
    ("false_alarm_rate", "<=", 0.001),
    ("repair_error.median_over_noise", "<=", 2.0),
)
SHOWN_WITHOUT_TARGET = (
    "dropouts.boundary_error_ms_p95",
    "clock_offset_error_ms.max",
    "camera.match_rate_with_near_ties",
    "labels.accuracy",
    "labels.unknown_rate",
    "labels.mismark_caught_rate",
    "episodes.total",
    "episodes.published",
    "episodes.quarantined",
    "episodes.pending",
)


@dataclass(frozen=True, eq=False)
class NightEvidence:
    """What the scores are computed from (every frame keyed by center and recording_id).

    ``processed``: one evidence row per processed recording (latest run); ``findings``: their
    findings with a robot-clock flag ``on_robot_clock``; ``clock_estimates``: resolved
    operator-clock estimates (`teleop_lake.evaluation.clock_error.ESTIMATE_COLUMNS`);
    ``n_clock_unresolved``: processed recordings that needed one and got none; ``outcomes``:
    the latest outcome per recording; ``camera_counts``: center, recording_id, camera,
    rows_judged, rows_matched, rows_near_tie; ``repairs``: `sample_scores.repair_errors`
    rows; ``sizes``: center, recording_id, stream, n_samples, n_channels; truth tables as in
    docs/TRUTH.md,
    limited to the processed recordings (``recordings`` to every recording of the runs).
    """

    recordings: pl.DataFrame
    faults: pl.DataFrame
    noise: pl.DataFrame
    truth_clocks: pl.DataFrame
    processed: pl.DataFrame
    findings: pl.DataFrame
    clock_estimates: pl.DataFrame
    n_clock_unresolved: int
    outcomes: pl.DataFrame
    camera_counts: pl.DataFrame
    repairs: pl.DataFrame
    sizes: pl.DataFrame
    unreadable: tuple[str, ...] = ()


def _quantile(values: np.ndarray, q: float) -> float | None:
    return float(np.quantile(values, q)) if len(values) else None


def _found(findings: pl.DataFrame, kinds: Sequence[str]) -> pl.DataFrame:
    return findings.filter(pl.col("kind").is_in(list(kinds)) & pl.col("on_robot_clock"))


def _detection_block(score: DetectionScore) -> dict[str, Any]:
    false_by_stream = (
        dict(score.false.group_by("stream").len().sort("stream").iter_rows())
        if score.false.height
        else {}
    )
    return {
        "precision": score.precision,
        "recall": score.recall,
        "n_truth": score.n_truth,
        "n_truth_found": score.n_truth_found,
        "n_findings": score.n_findings,
        "n_findings_true": score.n_findings_true,
        "n_findings_false": score.false.height,
        "false_by_stream": false_by_stream,
        "missed": score.missed.select("recording_id", "stream", "channel", "truth_id")
        .head(20)
        .to_dicts(),
    }


SPIKE_SIZE_BANDS = (5.0, 8.0, 12.0, 20.0)
"""Lower edges of the spike-size bands of ``outliers.recall_by_size``, in noise sigmas."""


def spike_recall_by_size(items: pl.DataFrame, score: DetectionScore) -> list[dict[str, Any]]:
    """Recall of the eligible spikes per size band (noise sigmas): where the misses are. Bands
    without spikes are left out; the last band is open."""
    eligible = items.filter(pl.col("eligible"))
    if eligible.is_empty():
        return []
    size = (eligible["magnitude"] / eligible["position_sigma_rad"]).to_numpy()
    missed = eligible["truth_id"].is_in(score.missed["truth_id"].implode()).to_numpy()
    edges = [*SPIKE_SIZE_BANDS, np.inf]
    rows = []
    for low, high in itertools.pairwise(edges):
        inside = (size >= low) & (size < high)
        n = int(inside.sum())
        if n:
            found = n - int(missed[inside].sum())
            label = f"{low:g}-{high:g}" if np.isfinite(high) else f">={low:g}"
            rows.append({"size_sigma": label, "n": n, "found": found, "recall": found / n})
    return rows


def score_night(ev: NightEvidence, rules: EligibilityRules | None = None) -> dict[str, Any]:
    """Every score of the night (see docs/EVALUATION.md for each definition)."""
    rules = rules or EligibilityRules()
    findings = ev.findings.with_row_index("row").with_columns(
        pl.col("row").cast(pl.String).alias("finding_id"),
        pl.col("kind").is_in(list(GAP_KINDS)).alias("is_gap"),
    )
    spike_items = spike_truth(ev.faults, ev.noise, rules)
    spikes = match_detections(spike_items, _found(findings, ["spike"]))
    dropouts = match_detections(dropout_truth(ev.faults, rules), _found(findings, GAP_KINDS))
    frozen = match_detections(frozen_truth(ev.faults, rules), _found(findings, ["frozen"]))

    drop_block = _detection_block(dropouts)
    errors_ms = dropouts.boundary_errors_ms()
    best = (
        dropouts.pairs.filter(pl.col("eligible"))
        .sort("overlap_ns", descending=True)
        .unique("truth_id", keep="first")
    )
    periods = (
        (best["boundary_error_ns"] / best["period_ns"]).to_numpy() if best.height else np.zeros(0)
    )
    drop_block.update(
        {
            "boundary_error_ms_p95": _quantile(errors_ms, 0.95),
            "boundary_error_ms_max": _quantile(errors_ms, 1.0),
            "boundary_error_periods_p95": _quantile(periods, 0.95),
        }
    )

    clocks = clock_errors(ev.clock_estimates, ev.truth_clocks)
    mid = np.abs(clocks["error_mid_ms"].to_numpy()) if clocks.height else np.zeros(0)
    worst = clocks["error_max_ms"].to_numpy() if clocks.height else np.zeros(0)

    judged = int(ev.camera_counts["rows_judged"].sum()) if ev.camera_counts.height else 0
    matched = int(ev.camera_counts["rows_matched"].sum()) if ev.camera_counts.height else 0
    ties = int(ev.camera_counts["rows_near_tie"].sum()) if ev.camera_counts.height else 0

    total_cells = (
        int(ev.sizes.select((pl.col("n_samples") * pl.col("n_channels")).sum()).item())
        if ev.sizes.height
        else 0
    )
    robot_findings = findings.filter(pl.col("on_robot_clock"))
    flagged = false_alarm_cells(robot_findings, ev.faults, ev.sizes)

    repaired = ev.repairs.filter(pl.col("was_repaired"))
    ratio = repaired["error_over_noise"].to_numpy() if repaired.height else np.zeros(0)

    outcome_counts = dict(ev.outcomes.group_by("status").len().iter_rows())
    reasons = (
        ev.outcomes.filter(pl.col("status") == "quarantined")
        .explode("reason_codes")
        .unique(["center", "recording_id", "reason_codes"])
        .group_by("reason_codes")
        .len()
        .sort("reason_codes")
    )
    return {
        "episodes": {
            "total": ev.outcomes.height,
            "published": int(outcome_counts.get("published", 0)),
            "quarantined": int(outcome_counts.get("quarantined", 0)),
            "pending": int(outcome_counts.get("pending", 0)),
            "processed": ev.processed.height,
            "not_rereadable": list(ev.unreadable),
            "quarantine_reasons": {str(k): int(v) for k, v in reasons.iter_rows()},
        },
        "outliers": {
            **_detection_block(spikes),
            "recall_by_size": spike_recall_by_size(spike_items, spikes),
        },
        "dropouts": drop_block,
        "frozen": _detection_block(frozen),
        "clock_offset_error_ms": {
            "median": _quantile(mid, 0.5),
            "p95": _quantile(mid, 0.95),
            "max": _quantile(mid, 1.0),
            "worst_over_episode_p95": _quantile(worst, 0.95),
            "n_episodes": clocks.height,
            "n_unresolved": ev.n_clock_unresolved,
            "by_episode": clocks.sort("error_mid_ms").to_dicts(),
        },
        "camera_frame_match_rate": matched / judged if judged else None,
        "camera": {
            "rows_judged": judged,
            "rows_matched": matched,
            "rows_near_tie": ties,
            "match_rate_with_near_ties": (matched + ties) / judged if judged else None,
        },
        "false_alarm_rate": flagged / total_cells if total_cells else None,
        "false_alarm": {"cells_flagged": flagged, "cells_total": total_cells},
        "repair_error": {
            "median_over_noise": _quantile(ratio, 0.5),
            "p95_over_noise": _quantile(ratio, 0.95),
            "n_samples_repaired": len(ratio),
            "n_samples_in_spikes": ev.repairs.height,
        },
        "labels": label_scores(ev.processed, ev.recordings),
    }


def lookup(report: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted key (``"outliers.recall"``), None when absent."""
    node: Any = report
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(metric, value, target, verdict)`` rows: verdict ``ok``, ``MISS`` or ``-``."""
    rows = []
    for key, op, target in TARGETS:
        value = lookup(report, key)
        if value is None:
            rows.append((key, "n/a", f"{op} {target:g}", "-"))
            continue
        ok = value >= target if op == ">=" else value <= target
        rows.append((key, f"{value:.4g}", f"{op} {target:g}", "ok" if ok else "MISS"))
    for key in SHOWN_WITHOUT_TARGET:
        value = lookup(report, key)
        shown = (
            "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
        )
        rows.append((key, shown, "", "-"))
    return rows
