"""The evaluation report: every score of a night in one JSON-ready dict.

`score_night` takes what `teleop_lake.evaluation.night` loaded (`NightEvidence`, frames only)
and returns the nested report whose keys docs/EVALUATION.md defines; the blocks come from the
pure scoring modules (`matching`, `clock_error`, `sample_scores`, `label_scores`, `variation`,
`outcome_scores`). The targets and the printed table are `teleop_lake.evaluation.targets`
(re-exported here). Pure: no IO.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from teleop_lake.evaluation.clock_error import (
    candidate_estimates,
    clock_errors,
    error_summary,
    errors_by,
)
from teleop_lake.evaluation.label_scores import label_scores
from teleop_lake.evaluation.matching import (
    DetectionScore,
    EligibilityRules,
    dropout_truth,
    frozen_truth,
    match_detections,
    spike_truth,
    subset_recall,
)
from teleop_lake.evaluation.outcome_scores import (
    JustificationRules,
    by_variant,
    unpopulated_quarantined,
    wrongly_quarantined,
    wrongly_quarantined_block,
)
from teleop_lake.evaluation.sample_scores import GAP_KINDS, false_alarm_cells
from teleop_lake.evaluation.targets import (
    SHOWN_WITHOUT_TARGET,
    TARGETS,
    lookup,
    table_rows,
)
from teleop_lake.evaluation.variation import (
    clock_mismatch_score,
    limit_score,
    unpopulated_score,
)

__all__ = [
    "SHOWN_WITHOUT_TARGET",
    "TARGETS",
    "NightEvidence",
    "lookup",
    "score_night",
    "spike_recall_by_size",
    "table_rows",
]
KEYS = ["center", "recording_id"]


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
    Optional, None when the lake or the network has none (older ones): ``at_stop`` (truth),
    ``channels`` (evidence: the channel status of each processed episode) and
    ``primary_topics`` (center, end_effector, hand_state_topic: each profile's primary
    hand-state topic, for the per-variant breakdown).
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
    at_stop: pl.DataFrame | None = None
    channels: pl.DataFrame | None = None
    primary_topics: pl.DataFrame | None = None


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


def frozen_split(items: pl.DataFrame, score: DetectionScore) -> dict[str, Any]:
    """Frozen recall on moving joints, on still joints (channel-scope items by the truth's
    ``moving``) and on whole messages, each with its ``n`` and ``n_found``."""
    channel = pl.col("scope") == "channel"
    parts = {
        "moving": channel & pl.col("moving"),
        "still": channel & pl.col("moving").not_(),
        "message": pl.col("scope") == "message",
    }
    out: dict[str, Any] = {}
    for name, where in parts.items():
        r = subset_recall(items, score, where)
        out |= {f"recall_{name}": r["recall"], f"n_{name}": r["n"], f"n_{name}_found": r["n_found"]}
    return out


def clock_block(ev: NightEvidence, clocks: pl.DataFrame) -> dict[str, Any]:
    """``clock_offset_error_ms``: `clock_error.error_summary` of the chosen estimates, with the
    worst-over-episode p95, the same per clock status, per method and per candidate, and
    every episode's errors."""
    summary = error_summary(clocks)
    worst = clocks["error_max_ms"].to_numpy() if clocks.height else np.zeros(0)
    by_candidate = {
        name: error_summary(errors)
        for name, errors in sorted(
            (str(k[0]), v)
            for k, v in clock_errors(candidate_estimates(ev.processed), ev.truth_clocks)
            .partition_by("method", as_dict=True)
            .items()
        )
    }
    status_counts = (
        dict(ev.processed.group_by("clock_status").len().sort("clock_status").iter_rows())
        if "clock_status" in ev.processed.columns
        else None
    )
    covered = (pl.col("error_mid_ms").abs() <= pl.col("uncertainty_ms")).fill_null(False)
    return {
        "median": summary["median"],
        "p95": summary["p95"],
        "max": summary["max"],
        "worst_over_episode_p95": _quantile(worst, 0.95),
        "coverage": summary["coverage"],
        "coverage_worst": summary["coverage_worst"],
        "n_episodes": clocks.height,
        "n_unresolved": ev.n_clock_unresolved,
        "n_by_status": {str(k): int(v) for k, v in status_counts.items()}
        if status_counts is not None
        else None,
        "by_status": errors_by(clocks, "clock_status"),
        "by_method": errors_by(clocks, "method"),
        "by_candidate": by_candidate,
        "by_episode": clocks.with_columns(covered.alias("covered")).sort("error_mid_ms").to_dicts(),
    }


def score_night(
    ev: NightEvidence,
    rules: EligibilityRules | None = None,
    justify: JustificationRules | None = None,
) -> dict[str, Any]:
    """Every score of the night (see docs/EVALUATION.md for each definition)."""
    rules = rules or EligibilityRules()
    findings = ev.findings.with_row_index("row").with_columns(
        pl.col("row").cast(pl.String).alias("finding_id"),
        pl.col("kind").is_in(list(GAP_KINDS)).alias("is_gap"),
    )
    spike_items = spike_truth(ev.faults, ev.noise, rules)
    spikes = match_detections(spike_items, _found(findings, ["spike"]))
    dropouts = match_detections(dropout_truth(ev.faults, rules), _found(findings, GAP_KINDS))
    frozen_items = frozen_truth(ev.faults, rules)
    frozen = match_detections(frozen_items, _found(findings, ["frozen"]))

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
    if "clock_status" in ev.processed.columns:
        clocks = clocks.join(ev.processed.select(*KEYS, "clock_status"), on=KEYS, how="left")
    if "control_latency_ms" in ev.recordings.columns:  # the truth's, beside each episode
        clocks = clocks.join(
            ev.recordings.select(*KEYS, pl.col("control_latency_ms").alias("true_latency_ms")),
            on=KEYS,
            how="left",
        )

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
    wrong = wrongly_quarantined(ev.outcomes, ev.recordings, ev.faults, justify)
    processed_truth = ev.recordings.join(ev.processed.select(KEYS), on=KEYS, how="semi")
    return {
        "episodes": {
            "total": ev.outcomes.height,
            "published": int(outcome_counts.get("published", 0)),
            "quarantined": int(outcome_counts.get("quarantined", 0)),
            "pending": int(outcome_counts.get("pending", 0)),
            "processed": ev.processed.height,
            "not_rereadable": list(ev.unreadable),
            "quarantine_reasons": {str(k): int(v) for k, v in reasons.iter_rows()},
            **wrongly_quarantined_block(wrong),
        },
        "by_variant": by_variant(ev.recordings, ev.outcomes, wrong, ev.primary_topics),
        "outliers": {
            **_detection_block(spikes),
            "recall_by_size": spike_recall_by_size(spike_items, spikes),
        },
        "dropouts": drop_block,
        "frozen": {**_detection_block(frozen), **frozen_split(frozen_items, frozen)},
        "clock_offset_error_ms": clock_block(ev, clocks),
        "clock_domain_mismatch": clock_mismatch_score(
            processed_truth, ev.truth_clocks, ev.findings
        ),
        **limit_score(findings, ev.faults, ev.at_stop),
        "unpopulated": {
            **unpopulated_score(processed_truth, ev.channels),
            "quarantined": unpopulated_quarantined(ev.recordings, wrong),
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
