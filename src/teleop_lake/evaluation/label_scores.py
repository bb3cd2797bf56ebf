"""Label scores: the labeler's outcome against the true outcome, and what became of wrong or
missing operator marks. Pure: no IO.

- ``accuracy``: over processed episodes labeled ``success`` or ``failure``, the share whose
  label equals the true outcome;
- ``unknown_rate``: the share of processed episodes labeled ``unknown``;
- ``mismark_caught_rate``: over processed episodes whose operator mark was wrong or missing,
  the share that was corrected (the label equals the true outcome) or flagged
  ``needs_review``.
"""

from __future__ import annotations

from typing import Any

import polars as pl


def _share(df: pl.DataFrame, expr: pl.Expr) -> float | None:
    return float(df.select(expr.cast(pl.Float64).mean()).item()) if df.height else None


def label_scores(processed: pl.DataFrame, recordings: pl.DataFrame) -> dict[str, Any]:
    """``processed``: center, recording_id, outcome, needs_review (one row per episode);
    ``recordings``: the truth's recordings table."""
    joined = processed.select("center", "recording_id", "outcome", "needs_review").join(
        recordings.select("center", "recording_id", "true_outcome", "operator_mark_status"),
        on=["center", "recording_id"],
        how="inner",
    )
    decided = joined.filter(pl.col("outcome").is_in(["success", "failure"]))
    mismarked = joined.filter(pl.col("operator_mark_status").is_in(["wrong", "missing"]))
    correct = pl.col("outcome") == pl.col("true_outcome")
    return {
        "accuracy": _share(decided, correct),
        "unknown_rate": _share(joined, pl.col("outcome") == "unknown"),
        "mismark_caught_rate": _share(mismarked, correct | pl.col("needs_review")),
        "n_episodes": joined.height,
        "n_decided": decided.height,
        "n_mismarked": mismarked.height,
    }
