"""QA overrides as pure data: what a valid override is, and applying the latest override of each
episode to an episodes table. Recording and reading the override log is IO
(`teleop_lake.lake.overrides`); this module only checks and transforms.

An override replaces the label (outcome, failure reason) and sets ``label_source`` to
``qa_override`` with confidence 1 and no review needed; rules never overwrite it, because the
release applies the log after every reprocessing.
"""

from __future__ import annotations

import polars as pl

from teleop_lake.labeling.rules import FAILURE_REASONS

OUTCOMES = ("success", "failure", "unknown")
QA_OVERRIDE_SOURCE = "qa_override"
QA_OVERRIDE_CONFIDENCE = 1.0
"""A reviewer looked at the episode: the label is as certain as the pipeline can make it."""

OVERRIDE_COLUMNS = ("episode_id", "override_id", "outcome", "failure_reason")
"""The columns `apply_overrides` needs from the override log (one row per episode)."""


def override_problems(outcome: str, failure_reason: str | None, reviewer: str) -> list[str]:
    """Why an override would be refused (empty when it is valid)."""
    problems = []
    if outcome not in OUTCOMES:
        problems.append(f"unknown outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
    if failure_reason is not None and failure_reason not in FAILURE_REASONS:
        problems.append(
            f"unknown reason {failure_reason!r}: use one of {', '.join(FAILURE_REASONS)}"
        )
    if outcome == "success" and failure_reason is not None:
        problems.append("a success has no failure reason: leave --reason out")
    if outcome == "failure" and failure_reason is None:
        problems.append("a failure needs --reason (one of the failure reasons)")
    if not reviewer.strip():
        problems.append("the reviewer name is empty: say who decided (--reviewer NAME)")
    return problems


def apply_overrides(episodes: pl.DataFrame, overrides: pl.DataFrame) -> pl.DataFrame:
    """``episodes`` with the label of every overridden episode replaced (same rows and columns).

    ``overrides`` holds one row per episode (its latest override) with `OVERRIDE_COLUMNS`;
    overrides of episodes not in ``episodes`` are ignored (they apply once published).
    """
    if episodes.is_empty() or overrides.is_empty():
        return episodes
    o = overrides.select(
        pl.col("episode_id"),
        pl.col("outcome").alias("_o_outcome"),
        pl.col("failure_reason").cast(pl.String).alias("_o_reason"),
    )
    hit = pl.col("_o_outcome").is_not_null()
    return (
        episodes.join(o, on="episode_id", how="left", maintain_order="left")
        .with_columns(
            pl.when(hit).then(pl.col("_o_outcome")).otherwise(pl.col("outcome")).alias("outcome"),
            pl.when(hit)
            .then(pl.col("_o_reason"))
            .otherwise(pl.col("failure_reason"))
            .alias("failure_reason"),
            pl.when(hit)
            .then(pl.lit(QA_OVERRIDE_SOURCE))
            .otherwise(pl.col("label_source"))
            .alias("label_source"),
            pl.when(hit)
            .then(pl.lit(QA_OVERRIDE_CONFIDENCE))
            .otherwise(pl.col("label_confidence"))
            .alias("label_confidence"),
            pl.when(hit)
            .then(pl.lit(False))
            .otherwise(pl.col("needs_review"))
            .alias("needs_review"),
            pl.when(hit)
            .then(pl.lit(None, dtype=pl.String))
            .otherwise(pl.col("review_reason"))
            .alias("review_reason"),
        )
        .drop("_o_outcome", "_o_reason")
        .select(episodes.columns)
    )
