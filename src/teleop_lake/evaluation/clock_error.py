"""Clock alignment error: the estimated operator-clock mapping against the truth's.

Both sides map a robot-clock instant ``t`` to an operator-clock stamp,

    truth:     t_op = t + offset_ns + drift_ppm * 1e-6 * (t - reference_ns)
    estimate:  t_op = t + offset_ns + drift_ppm * 1e-6 * (t - t_ref_ns)

(the estimate's reference is the episode's first joint_state stamp, which the evidence
records as the grid start). The error is ``estimate - truth`` at the episode midpoint, in ms;
since both are lines, the worst error over the episode is at one of its ends, reported too.

The estimate claims ``uncertainty_ms``, a 95% bound: *coverage* is the share of estimates
whose absolute error is within it (`error_summary`). Estimates are summarised per group too
(`errors_by`: per clock status, per method), and the candidate estimates the evidence keeps
beside the chosen one (`candidate_estimates`) are scored the same way. `true_offset_ms_at`
evaluates the truth's operator clock at given instants (the size of a clock-domain mismatch).
Pure: no IO.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl

ESTIMATE_COLUMNS = (
    "center",
    "recording_id",
    "offset_ns",
    "drift_ppm",
    "t_ref_ns",
    "start_ns",
    "end_ns",
    "uncertainty_ms",
    "method",
)
TRUTH_CLOCK_COLUMNS = ("center", "recording_id", "offset_ns", "drift_ppm", "reference_ns")


def _mapping_ns(at: pl.Expr, offset: str, drift: str, reference: str) -> pl.Expr:
    rel = (at - pl.col(reference)).cast(pl.Float64)
    return pl.col(offset).cast(pl.Float64) + pl.col(drift) * 1e-6 * rel


def clock_errors(estimates: pl.DataFrame, truth_clocks: pl.DataFrame) -> pl.DataFrame:
    """One row per recording with an estimate and a truth operator clock: ``error_mid_ms``
    (signed, at the midpoint), ``error_max_ms`` (largest absolute error at either end or the
    midpoint), the estimate's own ``uncertainty_ms`` and ``method``.

    ``estimates`` has `ESTIMATE_COLUMNS` (one row per recording, resolved estimates only);
    ``truth_clocks`` has `TRUTH_CLOCK_COLUMNS` for operator-clock streams (one clock per
    recording: duplicates per stream are dropped).
    """
    truth = (
        truth_clocks.select(*TRUTH_CLOCK_COLUMNS)
        .unique(["center", "recording_id"], keep="first")
        .rename({"offset_ns": "true_offset_ns", "drift_ppm": "true_drift_ppm"})
    )
    joined = estimates.select(*ESTIMATE_COLUMNS).join(
        truth, on=["center", "recording_id"], how="inner"
    )

    def error_at(at: pl.Expr) -> pl.Expr:
        est = _mapping_ns(at, "offset_ns", "drift_ppm", "t_ref_ns")
        true = _mapping_ns(at, "true_offset_ns", "true_drift_ppm", "reference_ns")
        return (est - true) / 1e6

    mid = (pl.col("start_ns") + (pl.col("end_ns") - pl.col("start_ns")) // 2).alias("mid_ns")
    return joined.with_columns(mid).select(
        "center",
        "recording_id",
        error_at(pl.col("mid_ns")).alias("error_mid_ms"),
        pl.max_horizontal(
            error_at(pl.col("start_ns")).abs(),
            error_at(pl.col("mid_ns")).abs(),
            error_at(pl.col("end_ns")).abs(),
        ).alias("error_max_ms"),
        "uncertainty_ms",
        "method",
        (pl.col("true_offset_ns") / 1e6).alias("true_offset_ms"),
        "true_drift_ppm",
    )


def _quantile(values: np.ndarray, q: float) -> float | None:
    return float(np.quantile(values, q)) if len(values) else None


def error_summary(errors: pl.DataFrame) -> dict[str, Any]:
    """``n``, ``median``, ``p95`` and ``max`` of the absolute midpoint error (ms), and
    ``coverage`` / ``coverage_worst``: the share of rows whose absolute midpoint error /
    worst error over the episode is within the claimed ``uncertainty_ms`` (a null or NaN claim
    covers nothing). Every value is null without rows. ``errors``: `clock_errors` rows."""
    if errors.is_empty():
        return {
            "n": 0,
            "median": None,
            "p95": None,
            "max": None,
            "coverage": None,
            "coverage_worst": None,
        }
    mid = errors["error_mid_ms"].abs().to_numpy()
    claim = pl.col("uncertainty_ms").fill_nan(None)

    def covered(error: pl.Expr) -> float:
        inside = (error.abs() <= claim).fill_null(False)
        return float(errors.select(inside.cast(pl.Float64).mean()).item())

    return {
        "n": errors.height,
        "median": _quantile(mid, 0.5),
        "p95": _quantile(mid, 0.95),
        "max": _quantile(mid, 1.0),
        "coverage": covered(pl.col("error_mid_ms")),
        "coverage_worst": covered(pl.col("error_max_ms")),
    }


def errors_by(errors: pl.DataFrame, column: str) -> dict[str, dict[str, Any]] | None:
    """`error_summary` per value of ``column`` (null values under ``"null"``); None when the
    column is absent (evidence written before it existed)."""
    if column not in errors.columns:
        return None
    groups = errors.with_columns(pl.col(column).cast(pl.String).fill_null("null").alias("_group"))
    return {
        str(key[0]): error_summary(group)
        for key, group in sorted(
            groups.partition_by("_group", as_dict=True).items(), key=lambda kv: str(kv[0])
        )
    }


CANDIDATE_OFFSET = re.compile(r"^clock_(\w+)_offset_ms$")
"""Candidate estimate columns of the processed evidence: ``clock_<name>_offset_ms`` with
``clock_<name>_drift_ppm`` and ``clock_<name>_uncertainty_ms`` beside it."""


def candidate_estimates(processed: pl.DataFrame) -> pl.DataFrame:
    """The candidate clock estimates of the processed evidence, one row per episode and
    candidate with a non-null offset, as `ESTIMATE_COLUMNS` (``method`` = the candidate's
    name). Their reference is ``clock_reference_ns`` when the evidence has it (non-null),
    else the episode's first grid stamp ``start_ns``. Empty without candidate columns."""
    names = [m.group(1) for c in processed.columns if (m := CANDIDATE_OFFSET.match(c))]
    frames = []
    ref = (
        pl.coalesce(pl.col("clock_reference_ns"), pl.col("start_ns"))
        if "clock_reference_ns" in processed.columns
        else pl.col("start_ns")
    )
    for name in names:
        drift, unc = f"clock_{name}_drift_ppm", f"clock_{name}_uncertainty_ms"
        frames.append(
            processed.filter(pl.col(f"clock_{name}_offset_ms").is_not_null()).select(
                "center",
                "recording_id",
                (pl.col(f"clock_{name}_offset_ms") * 1e6).alias("offset_ns"),
                (pl.col(drift) if drift in processed.columns else pl.lit(0.0))
                .cast(pl.Float64)
                .fill_null(0.0)
                .alias("drift_ppm"),
                ref.cast(pl.Int64).alias("t_ref_ns"),
                "start_ns",
                "end_ns",
                (pl.col(unc) if unc in processed.columns else pl.lit(None))
                .cast(pl.Float64)
                .alias("uncertainty_ms"),
                pl.lit(name).alias("method"),
            )
        )
    if not frames:
        return pl.DataFrame(
            schema={
                "center": pl.String,
                "recording_id": pl.String,
                "offset_ns": pl.Float64,
                "drift_ppm": pl.Float64,
                "t_ref_ns": pl.Int64,
                "start_ns": pl.Int64,
                "end_ns": pl.Int64,
                "uncertainty_ms": pl.Float64,
                "method": pl.String,
            }
        )
    return pl.concat(frames, how="diagonal_relaxed")


def true_offset_ms_at(truth_clocks: pl.DataFrame, at: pl.DataFrame) -> pl.DataFrame:
    """The truth's operator-clock offset (ms) at robot-clock instants: ``at`` has center,
    recording_id, ``at_ns``; returns them with ``true_offset_ms`` (null for a recording
    without an operator clock in ``truth_clocks``, `TRUTH_CLOCK_COLUMNS`)."""
    truth = truth_clocks.select(*TRUTH_CLOCK_COLUMNS).unique(
        ["center", "recording_id"], keep="first"
    )
    joined = at.join(truth, on=["center", "recording_id"], how="left")
    offset = _mapping_ns(pl.col("at_ns"), "offset_ns", "drift_ppm", "reference_ns") / 1e6
    return joined.with_columns(offset.alias("true_offset_ms")).drop(
        "offset_ns", "drift_ppm", "reference_ns"
    )
