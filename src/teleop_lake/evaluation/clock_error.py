"""Clock alignment error: the estimated operator-clock mapping against the truth's.

Both sides map a robot-clock instant ``t`` to an operator-clock stamp,

    truth:     t_op = t + offset_ns + drift_ppm * 1e-6 * (t - reference_ns)
    estimate:  t_op = t + offset_ns + drift_ppm * 1e-6 * (t - t_ref_ns)

(the estimate's reference is the episode's first joint_state stamp, which the evidence
records as the grid start). The error is ``estimate - truth`` at the episode midpoint, in ms;
since both are lines, the worst error over the episode is at one of its ends, reported too.
Pure: no IO.
"""

from __future__ import annotations

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
