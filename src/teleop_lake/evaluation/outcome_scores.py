"""What became of each recording against what the truth says it deserved: wrongly quarantined
recordings, and the outcomes per rig variant. Pure: no IO.

A recording is **wrongly quarantined** when its latest outcome is ``quarantined`` and none of
its reason codes is justified by the truth (`justified_codes`):

- file-level codes (`FILE_FAULT_CODES`) when the truth's ``file_fault`` is not ``none``;
- ``clock_unresolved`` only when the truth's missing stream is ``arm_target`` (the stream the
  operator clock is estimated from);
- ``long_dropout`` when the truth has a joint_state dropout longer than ``max_dropout_s``;
- ``long_frozen`` when it has a frozen fault longer than ``max_frozen_s`` on a required
  channel (`JustificationRules.required_channels`) or on a whole message;
- ``low_quality`` when it has such a long fault, or when its faults (every stream, union of
  their intervals) cover more than ``low_quality_fault_share`` of the recording;
- `NEUTRAL_CODES` always (they say nothing about the data).

Durations are compared with ``slack_s`` of tolerance: the pipeline measures a fault from
sample stamps, the truth from half a period outside them.

**Variants** (`VARIANTS`) are read from the truth's recordings table; a variant whose truth
column is absent (an older network) is not available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from teleop_lake.cleaning.params import CleaningParams
from teleop_lake.config.robots import DEFAULT_REQUIRED_CHANNELS
from teleop_lake.evaluation.matching import RECORDING_KEYS
from teleop_lake.evaluation.variation import LISTED, UNPOPULATED_FIELDS

KEYS = list(RECORDING_KEYS)
_DEFAULT_CLEANING = CleaningParams()

FILE_FAULT_CODES = frozenset(
    {
        "checksum_mismatch",
        "size_mismatch",
        "file_missing",
        "truncated_file",
        "corrupt_file",
        "missing_stream",
        "unmapped_stream",
        "bad_timestamps",
        "too_short",
    }
)
"""Reason codes a damaged delivery can cause (`teleop_lake.rejection.REASON_CODES`): a wrong
checksum or size, a cut or corrupt file (which may leave too little or badly stamped data), a
stream or a split part that was not delivered."""
NEUTRAL_CODES = frozenset({"superseded"})
"""Reason codes that say nothing about the data (a newer delivery replaced it)."""


@dataclass(frozen=True)
class JustificationRules:
    """When the truth justifies a gate reason (defaults: the pipeline's default parameters)."""

    max_dropout_s: float = _DEFAULT_CLEANING.max_dropout_s
    """A joint_state dropout longer than this justifies ``long_dropout``."""
    max_frozen_s: float = _DEFAULT_CLEANING.max_frozen_s
    """A frozen fault longer than this on a required channel justifies ``long_frozen``."""
    low_quality_fault_share: float = 0.25
    """Faults covering more than this share of a recording justify ``low_quality``."""
    slack_s: float = 0.02
    """Tolerance on fault durations (ten 500 Hz periods; stamps jitter by well under 1 ms)."""
    required_channels: tuple[str, ...] = DEFAULT_REQUIRED_CHANNELS
    """``<stream>.<quantity>`` whose faults gate publishing (the robot models' default)."""


def _covered_ns(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def _required(
    stream: str, channels: list[str] | None, scope: str | None, rules: JustificationRules
) -> bool:
    if scope == "message" or not channels:
        return True
    return any(f"{stream}.{c.partition('.')[0]}" in rules.required_channels for c in channels)


def justified_codes(
    recordings: pl.DataFrame, faults: pl.DataFrame, rules: JustificationRules | None = None
) -> dict[tuple[str, str], set[str]]:
    """Per recording (center, recording_id), the reason codes its truth justifies (see the
    module docstring). ``recordings``, ``faults``: the truth's tables."""
    rules = rules or JustificationRules()
    faults_of: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in faults.iter_rows(named=True):
        faults_of.setdefault((f["center"], f["recording_id"]), []).append(f)
    out: dict[tuple[str, str], set[str]] = {}
    for rec in recordings.iter_rows(named=True):
        key = (rec["center"], rec["recording_id"])
        codes = set(NEUTRAL_CODES)
        if (rec.get("file_fault") or "none") != "none":
            codes |= FILE_FAULT_CODES
        if rec.get("missing_stream") == "arm_target":
            codes.add("clock_unresolved")
        mine = faults_of.get(key, [])
        for f in mine:
            seconds = (f["end_ns"] - f["start_ns"]) / 1e9
            if (
                f["kind"] == "dropout"
                and f["stream"] == "joint_state"
                and seconds > rules.max_dropout_s - rules.slack_s
            ):
                codes |= {"long_dropout", "low_quality"}
            if (
                f["kind"] == "frozen"
                and seconds > rules.max_frozen_s - rules.slack_s
                and _required(f["stream"], f.get("channels"), f.get("scope"), rules)
            ):
                codes |= {"long_frozen", "low_quality"}
        duration_ns = (rec.get("duration_s") or 0.0) * 1e9
        covered = _covered_ns([(f["start_ns"], f["end_ns"]) for f in mine])
        if duration_ns > 0 and covered > rules.low_quality_fault_share * duration_ns:
            codes.add("low_quality")
        out[key] = codes
    return out


def wrongly_quarantined(
    outcomes: pl.DataFrame,
    recordings: pl.DataFrame,
    faults: pl.DataFrame,
    rules: JustificationRules | None = None,
) -> pl.DataFrame:
    """Recordings whose latest outcome (``outcomes``: center, recording_id, status,
    reason_codes) is quarantined with no reason justified by the truth: center,
    recording_id, reason_codes. Recordings the truth does not know are left out."""
    schema = pl.Schema(
        {"center": pl.String(), "recording_id": pl.String(), "reason_codes": pl.List(pl.String())}
    )
    if outcomes.is_empty() or "reason_codes" not in outcomes.columns:
        return pl.DataFrame(schema=schema)
    justified = justified_codes(recordings, faults, rules)
    rows = []
    for o in outcomes.filter(pl.col("status") == "quarantined").iter_rows(named=True):
        key = (o["center"], o["recording_id"])
        if key not in justified:
            continue
        codes = list(o["reason_codes"] or [])
        if not set(codes) & justified[key]:
            rows.append({"center": key[0], "recording_id": key[1], "reason_codes": codes})
    return pl.DataFrame(rows, schema=schema).sort(KEYS)


def wrongly_quarantined_block(wrong: pl.DataFrame) -> dict[str, Any]:
    """``wrongly_quarantined`` (count), the first recordings with their reasons, and the
    count per reason code."""
    by_code = (
        wrong.explode("reason_codes").group_by("reason_codes").len().sort("reason_codes")
        if wrong.height
        else pl.DataFrame()
    )
    return {
        "wrongly_quarantined": wrong.height,
        "wrongly_quarantined_list": [
            {"recording": f"{r['center']}/{r['recording_id']}", "reasons": r["reason_codes"]}
            for r in wrong.head(LISTED).iter_rows(named=True)
        ],
        "wrongly_quarantined_reasons": {str(k): int(v) for k, v in by_code.iter_rows()},
    }


def unpopulated_quarantined(recordings: pl.DataFrame, wrong: pl.DataFrame) -> int | None:
    """Recordings with an unpopulated truth field among the wrongly quarantined ones; None
    when the truth has neither field."""
    fields = [c for c in UNPOPULATED_FIELDS if c in recordings.columns]
    if not fields:
        return None
    unpopulated = recordings.filter(
        pl.any_horizontal(pl.col(c).not_().fill_null(False) for c in fields)
    )
    return wrong.join(unpopulated.select(KEYS), on=KEYS, how="semi").height


VARIANTS: dict[str, tuple[tuple[str, ...], pl.Expr]] = {
    "claw": (("end_effector",), pl.col("end_effector") == "claw"),
    "hand": (("end_effector",), pl.col("end_effector") == "hand"),
    "no_hand_state": (("hand_state_topic",), pl.col("hand_state_topic").is_null()),
    "hand_state_alternative_topic": (
        ("hand_state_topic", "primary_hand_state_topic"),
        pl.col("hand_state_topic").is_not_null()
        & (pl.col("hand_state_topic") != pl.col("primary_hand_state_topic")),
    ),
    "velocity_unpopulated": (("velocity_populated",), pl.col("velocity_populated").not_()),
    "effort_unpopulated": (("effort_populated",), pl.col("effort_populated").not_()),
    "joint_current": (("effort_field",), pl.col("effort_field") == "joint_current"),
    "clock_mismatch": (("clock_mismatch_stream",), pl.col("clock_mismatch_stream").is_not_null()),
    "eef_type_missing": (("eef_type",), pl.col("eef_type").is_null()),
}
"""Variant name -> (truth columns it needs, membership of a recording). The primary hand-state
topic is the profile's, for the recording's end effector (``primary_topics``)."""


def with_primary_topic(
    recordings: pl.DataFrame, primary_topics: pl.DataFrame | None
) -> pl.DataFrame:
    """``recordings`` with ``primary_hand_state_topic`` (``primary_topics``: center,
    end_effector, hand_state_topic: the profile's first topic for that end effector); the
    column is left out when either side lacks what it needs."""
    if (
        primary_topics is None
        or primary_topics.is_empty()
        or "end_effector" not in recordings.columns
    ):
        return recordings
    topics = primary_topics.select(
        "center", "end_effector", pl.col("hand_state_topic").alias("primary_hand_state_topic")
    )
    return recordings.join(topics, on=["center", "end_effector"], how="left")


def by_variant(
    recordings: pl.DataFrame,
    outcomes: pl.DataFrame,
    wrong: pl.DataFrame,
    primary_topics: pl.DataFrame | None = None,
) -> dict[str, dict[str, Any]]:
    """Per variant: ``recordings`` (of the scored runs), ``published``, ``quarantined``,
    ``wrongly_quarantined`` and ``pending`` (latest outcomes); a variant whose truth columns
    are absent is ``{"available": False, ...}``."""
    recs = with_primary_topic(recordings, primary_topics)
    status = (
        recs.select(KEYS)
        .join(outcomes.select(*KEYS, "status"), on=KEYS, how="left")
        .with_columns(pl.col("status").fill_null("none"))
    )
    wrong_keys = wrong.select(KEYS)
    out: dict[str, dict[str, Any]] = {}
    for name, (needs, member) in VARIANTS.items():
        lacking = [c for c in needs if c not in recs.columns]
        if lacking:
            out[name] = {"available": False, "why": f"truth lacks {', '.join(lacking)}"}
            continue
        mine = recs.filter(member.fill_null(False)).select(KEYS)
        st = status.join(mine, on=KEYS, how="semi")["status"]
        out[name] = {
            "recordings": mine.height,
            "published": int((st == "published").sum()),
            "quarantined": int((st == "quarantined").sum()),
            "wrongly_quarantined": wrong_keys.join(mine, on=KEYS, how="semi").height,
            "pending": int((st == "pending").sum()),
        }
    return out
