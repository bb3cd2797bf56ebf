"""Matching injected faults with findings: true positives, misses, false findings, boundaries.

Both sides are intervals on the robot clock, per recording, stream and channel:

- a truth item is one injected fault on one channel (`spike_truth`, `frozen_truth`) or on the
  whole stream (`dropout_truth`; a frozen whole message), ``[start_ns, end_ns)`` as in
  docs/TRUTH.md, with ``eligible`` saying whether the targets cover it (see
  `EligibilityRules`) and ``stream_wide`` whether it concerns the whole stream (channel
  ``""``): a stream-wide item matches a finding of its stream on any channel;
- a finding is ``[start_ns, end_ns]`` with both ends inclusive (the first and last affected
  sample stamps, or for a gap the stamps of the samples either side of it).

A truth item and a finding *match* when they share the keys (recording, stream, and the
channel unless the item is stream-wide) and their intervals overlap (``finding.start <
truth.end`` and ``finding.end >= truth.start``). Recall counts eligible
truth items with at least one match; precision counts findings that match any truth item,
over findings that match one (eligible or not) plus findings that match none. A finding that
matches only ineligible truth items is left out of precision (the targets make no claim
about it). The definitions are written out in docs/EVALUATION.md. Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

# Nominal periods of the simulated streams (docs/TRUTH.md: 500 Hz joint streams, 100 Hz
# operator and hand streams, 90 Hz VR, 30 Hz cameras), as the simulator rounds them.
NOMINAL_RATE_HZ: dict[str, float] = {
    "joint_state": 500.0,
    "joint_command": 500.0,
    "arm_target": 100.0,
    "hand_command": 100.0,
    "hand_state": 100.0,
    "head_pose": 90.0,
    "camera_head": 30.0,
    "camera_left": 30.0,
    "camera_right": 30.0,
}
NOMINAL_PERIOD_NS: dict[str, int] = {s: round(1e9 / r) for s, r in NOMINAL_RATE_HZ.items()}
RECORDING_KEYS = ("center", "recording_id")
CHANNEL_KEYS = (*RECORDING_KEYS, "stream", "channel")
STREAM_KEYS = (*RECORDING_KEYS, "stream")
TRUTH_COLUMNS = (*CHANNEL_KEYS, "truth_id", "start_ns", "end_ns", "period_ns", "eligible")
FOUND_COLUMNS = (*CHANNEL_KEYS, "finding_id", "start_ns", "end_ns")


@dataclass(frozen=True)
class EligibilityRules:
    """Which injected faults the targets of issue 4 speak about."""

    spike_min_noise_multiple: float = 5.0
    """Spikes at least this many times the recording's position noise sigma."""
    dropout_min_periods: float = 3.0
    """Dropouts of at least this many nominal periods without a message."""
    frozen_min_s: float = 0.3
    """Frozen segments lasting at least this long."""


def period_of(stream: str) -> int:
    """Nominal period (ns) of a canonical stream; a stream not listed is an error."""
    try:
        return NOMINAL_PERIOD_NS[stream]
    except KeyError:
        raise ValueError(
            f"no nominal period for stream {stream!r}; add it to NOMINAL_PERIOD_NS "
            "(docs/TRUTH.md lists the simulated rates)"
        ) from None


def _with_periods(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.col("stream")
        .replace_strict(NOMINAL_PERIOD_NS, default=None, return_dtype=pl.Int64)
        .alias("period_ns")
    )


def _per_channel(faults: pl.DataFrame, kind: str) -> pl.DataFrame:
    """One row per fault of ``kind`` and channel; a fault without channels (the whole stream)
    keeps one row with channel ``""``."""
    return (
        faults.filter(pl.col("kind") == kind)
        .rename({"fault_id": "truth_id"})
        .explode("channels", empty_as_null=True)
        .rename({"channels": "channel"})
        .with_columns(pl.col("channel").fill_null(""))
    )


def spike_truth(
    faults: pl.DataFrame, noise: pl.DataFrame, rules: EligibilityRules = EligibilityRules()
) -> pl.DataFrame:
    """Truth items of the spikes: eligible when ``magnitude >= k x position_sigma_rad``."""
    items = _with_periods(_per_channel(faults, "spike")).join(
        noise.select(*RECORDING_KEYS, "position_sigma_rad"), on=list(RECORDING_KEYS), how="left"
    )
    eligible = pl.col("magnitude") >= rules.spike_min_noise_multiple * pl.col("position_sigma_rad")
    return items.with_columns(eligible.fill_null(False).alias("eligible")).select(
        *TRUTH_COLUMNS, "magnitude", "position_sigma_rad"
    )


def dropout_truth(
    faults: pl.DataFrame, rules: EligibilityRules = EligibilityRules()
) -> pl.DataFrame:
    """Truth items of the dropouts (whole stream, channel ""): eligible when the interval holds
    at least ``dropout_min_periods`` nominal periods (half a period of rounding slack)."""
    items = _with_periods(
        faults.filter(pl.col("kind") == "dropout").rename({"fault_id": "truth_id"})
    )
    length = pl.col("end_ns") - pl.col("start_ns")
    eligible = length >= (rules.dropout_min_periods - 0.5) * pl.col("period_ns")
    return items.with_columns(
        pl.lit("").alias("channel"),
        eligible.fill_null(False).alias("eligible"),
        pl.lit(True).alias("stream_wide"),
    ).select(*TRUTH_COLUMNS, "stream_wide")


FROZEN_SCOPES = ("channel", "message")
"""Scopes of a frozen fault (truth ``scope``): listed channels, or every channel of the stream
(a whole message repeated; ``channels`` empty)."""


def frozen_truth(
    faults: pl.DataFrame, rules: EligibilityRules = EligibilityRules()
) -> pl.DataFrame:
    """Truth items of the frozen segments: one per frozen channel, or one stream-wide item
    (channel ``""``) for a whole message; eligible when the segment lasts at least
    ``frozen_min_s`` (half a period of rounding slack). Beside `TRUTH_COLUMNS`: ``scope``
    (`FROZEN_SCOPES`; from the truth's ``scope``, or ``message`` for a fault without channels
    when the column is absent), ``moving`` (the truth's ``moving``; null when absent) and
    ``stream_wide``."""
    items = _with_periods(_per_channel(faults, "frozen"))
    derived = pl.when(pl.col("channel") == "").then(pl.lit("message")).otherwise(pl.lit("channel"))
    scope = pl.col("scope").fill_null(derived) if "scope" in items.columns else derived
    moving = (
        pl.col("moving").cast(pl.Boolean)
        if "moving" in items.columns
        else pl.lit(None, dtype=pl.Boolean)
    )
    length = pl.col("end_ns") - pl.col("start_ns")
    eligible = length >= rules.frozen_min_s * 1e9 - 0.5 * pl.col("period_ns")
    return (
        items.with_columns(
            eligible.fill_null(False).alias("eligible"),
            scope.alias("scope"),
            moving.alias("moving"),
        )
        .with_columns((pl.col("scope") == "message").alias("stream_wide"))
        .select(*TRUTH_COLUMNS, "scope", "moving", "stream_wide")
    )


@dataclass(frozen=True, eq=False)
class DetectionScore:
    """The outcome of matching one kind of fault.

    ``pairs``: every matching (truth item, finding) with the boundary errors of the pair;
    ``missed``: eligible truth items without a match; ``false``: findings matching nothing.
    """

    n_truth: int
    n_truth_found: int
    n_findings: int
    n_findings_true: int
    n_findings_ignored: int
    pairs: pl.DataFrame
    missed: pl.DataFrame
    false: pl.DataFrame

    @property
    def recall(self) -> float | None:
        return self.n_truth_found / self.n_truth if self.n_truth else None

    @property
    def precision(self) -> float | None:
        judged = self.n_findings - self.n_findings_ignored
        return self.n_findings_true / judged if judged else None

    def boundary_errors_ms(self) -> np.ndarray:
        """Per found eligible truth item, the worse of its two boundary errors (ms), taken
        from its best-overlapping finding (see `match_detections`)."""
        if self.pairs.is_empty():
            return np.zeros(0)
        best = (
            self.pairs.filter(pl.col("eligible"))
            .sort("overlap_ns", descending=True)
            .unique("truth_id", keep="first")
        )
        return best["boundary_error_ns"].to_numpy().astype(np.float64) / 1e6


def match_detections(
    truth: pl.DataFrame, found: pl.DataFrame, keys: Sequence[str] = CHANNEL_KEYS
) -> DetectionScore:
    """Match truth items (`TRUTH_COLUMNS`) with findings (`FOUND_COLUMNS`) sharing ``keys``;
    a stream-wide item (``stream_wide`` True, column optional) ignores the finding's channel.

    Boundary error of a pair: the finding's interval of affected samples is
    ``[start + P/2, end - P/2]`` for a gap finding (its ends are the samples *around* the gap)
    and ``[start - P/2, end + P/2]`` otherwise (its ends are the first and last affected
    samples), with ``P`` the stream's nominal period; the error is the larger of the two
    distances between those ends and the truth's ``start_ns`` / ``end_ns``. A finding is a gap
    finding when it has ``is_gap`` True (column optional, default False).
    """
    keys = list(keys)
    wide = pl.col("stream_wide") if "stream_wide" in truth.columns else pl.lit(False)
    t = truth.with_columns(wide.fill_null(False).alias("stream_wide")).select(
        *TRUTH_COLUMNS, "stream_wide"
    )
    f = found.select(*FOUND_COLUMNS, *(["is_gap"] if "is_gap" in found.columns else []))
    if "is_gap" not in f.columns:
        f = f.with_columns(pl.lit(False).alias("is_gap"))
    f = f.rename({"start_ns": "found_start_ns", "end_ns": "found_end_ns"})

    def joined(items: pl.DataFrame, on: list[str]) -> pl.DataFrame:
        drop = [c for c in CHANNEL_KEYS if c not in on]
        return items.join(f.drop(drop), on=on, how="inner")

    stream_keys = [k for k in keys if k != "channel"]
    pairs = pl.concat(
        [
            joined(t.filter(~pl.col("stream_wide")), keys),
            joined(t.filter(pl.col("stream_wide")), stream_keys),
        ],
        how="diagonal_relaxed",
    ).filter(
        (pl.col("found_start_ns") < pl.col("end_ns"))
        & (pl.col("found_end_ns") >= pl.col("start_ns"))
    )
    half = pl.col("period_ns") / 2
    sign = pl.when(pl.col("is_gap")).then(1.0).otherwise(-1.0)
    est_start = pl.col("found_start_ns") + sign * half
    est_end = pl.col("found_end_ns") - sign * half
    pairs = pairs.with_columns(
        pl.max_horizontal(
            (est_start - pl.col("start_ns")).abs(), (est_end - pl.col("end_ns")).abs()
        ).alias("boundary_error_ns"),
        (
            pl.min_horizontal(pl.col("found_end_ns"), pl.col("end_ns"))
            - pl.max_horizontal(pl.col("found_start_ns"), pl.col("start_ns"))
        ).alias("overlap_ns"),
    )
    eligible = t.filter(pl.col("eligible"))
    found_ids = pairs.filter(pl.col("eligible"))["truth_id"].unique()
    missed = eligible.filter(~pl.col("truth_id").is_in(found_ids.implode()))
    matched_any = pairs["finding_id"].unique()
    matched_eligible = pairs.filter(pl.col("eligible"))["finding_id"].unique()
    false = f.filter(~pl.col("finding_id").is_in(matched_any.implode()))
    n_ignored = len(set(matched_any.to_list()) - set(matched_eligible.to_list()))
    return DetectionScore(
        n_truth=eligible.height,
        n_truth_found=eligible.height - missed.height,
        n_findings=f.height,
        n_findings_true=len(matched_eligible),
        n_findings_ignored=n_ignored,
        pairs=pairs,
        missed=missed,
        false=false.rename({"found_start_ns": "start_ns", "found_end_ns": "end_ns"}),
    )


def subset_recall(items: pl.DataFrame, score: DetectionScore, where: pl.Expr) -> dict[str, Any]:
    """Recall of the eligible items of ``items`` selected by ``where`` (``n``, ``n_found``,
    ``recall``; recall null without items), given the `DetectionScore` of all of them."""
    chosen = items.filter(pl.col("eligible") & where.fill_null(False))
    n = chosen.height
    missed = chosen.filter(pl.col("truth_id").is_in(score.missed["truth_id"].implode())).height
    return {"recall": (n - missed) / n if n else None, "n": n, "n_found": n - missed}


def overlaps_truth(
    findings: pl.DataFrame,
    truth: pl.DataFrame,
    channels: str = "channels",
) -> pl.Series:
    """Per finding (center, recording_id, stream, channel, start_ns, end_ns), whether it
    overlaps a truth interval of its stream (start_ns, end_ns; end exclusive) on its channel.

    ``channels`` names the truth's column holding its channels: a list column (the faults
    table: an empty list is the whole stream) or a string column (one channel per row, ``""``
    the whole stream). A stream-wide finding (channel ``""``) overlaps any truth interval of
    its stream."""
    if findings.is_empty():
        return pl.Series("overlaps", [], dtype=pl.Boolean)
    f = findings.select(
        *STREAM_KEYS, pl.col("channel").fill_null(""), "start_ns", "end_ns"
    ).with_row_index("finding_row")
    if truth.is_empty():
        return pl.Series("overlaps", [False] * f.height, dtype=pl.Boolean)
    t = truth.select(
        *STREAM_KEYS,
        pl.col(channels).alias("truth_channels"),
        pl.col("start_ns").alias("truth_start_ns"),
        pl.col("end_ns").alias("truth_end_ns"),
    )
    if t.schema["truth_channels"] == pl.String:
        same_channel = (pl.col("truth_channels") == "") | (
            pl.col("truth_channels") == pl.col("channel")
        )
    else:
        same_channel = (pl.col("truth_channels").list.len() == 0) | pl.col(
            "truth_channels"
        ).list.contains(pl.col("channel"))
    hit = f.join(t, on=list(STREAM_KEYS), how="inner").filter(
        (pl.col("start_ns") < pl.col("truth_end_ns"))
        & (pl.col("end_ns") >= pl.col("truth_start_ns"))
        & ((pl.col("channel") == "") | same_channel)
    )
    return f.select(pl.col("finding_row").is_in(hit["finding_row"].implode()).alias("overlaps"))[
        "overlaps"
    ]
