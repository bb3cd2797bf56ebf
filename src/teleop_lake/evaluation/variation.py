"""Scores of rig variation and of evidence beyond faults: clock-domain mismatches, unpopulated
channels, limit findings against the truth's joints at rest on a stop. Pure: no IO.

Every score here reads a truth column or an evidence table that older networks and lakes lack;
a missing one makes the score *not available* (`unavailable`: a block whose values are null,
with ``available`` false and the reason), never an error.

- **Clock-domain mismatch** (``clock_domain_mismatch``): a recording whose truth names a
  ``clock_mismatch_stream`` is one truth item; it is *eligible* when the true operator-clock
  offset at the recording midpoint is at least `MISMATCH_MIN_OFFSET_MS` in magnitude, and
  *found* when a ``clock_domain_mismatch`` finding names that recording and stream. A finding
  naming another recording or stream is false; one naming an ineligible item is left out.
- **Unpopulated channels** (``unpopulated``): a recording whose truth says
  ``velocity_populated`` (``effort_populated``) is false is one item per field, found when
  every joint_state ``velocity_rad_s.*`` (``effort_n_m.*``) channel of its episode has status
  ``unpopulated`` in the evidence's channels table. Precision is judged on joint_state
  channels (where the truth speaks): status ``unpopulated`` is right only on a field the truth
  says is unpopulated. Unpopulated channels of other streams are counted apart, not judged.
- **Limits** (``limits``, ``at_stop``): the simulator injects no limit violation, so a
  ``limit_violation`` finding is false unless a truth fault of its channel explains it (a
  spike or frozen stretch overlapping it); false ones overlapping a truth ``at_stop`` span on
  their channel are noise at a stop taken for a limit. A truth ``at_stop`` span is found when
  an ``at_stop`` finding on its channel overlaps it.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from teleop_lake.evaluation.clock_error import true_offset_ms_at
from teleop_lake.evaluation.matching import CHANNEL_KEYS, RECORDING_KEYS, overlaps_truth

KEYS = list(RECORDING_KEYS)
MISMATCH_MIN_OFFSET_MS = 30.0
"""A clock-domain mismatch counts only when the operator clock is this far from the robot's at
the recording midpoint. The only evidence of a stream's clock is its receive stamps, whose
fastest transit differs from stream to stream by up to ~20 ms (a few to tens of ms, KUAVO.md;
5-20 ms on the station streams of an independent writer, 2-6 ms on the robot's): clocks closer
than that cannot be told apart. ``n_ineligible`` counts the mismatches below it."""
UNPOPULATED_FIELDS: dict[str, str] = {
    "velocity_populated": "velocity_rad_s",
    "effort_populated": "effort_n_m",
}
"""Truth column -> joint_state channel quantity it speaks about."""
LISTED = 20
"""Longest list of missed or false items a block shows."""


def unavailable(why: str, *keys: str) -> dict[str, Any]:
    """A score block that cannot be computed: ``keys`` null, ``available`` false, ``why``."""
    return {**dict.fromkeys(keys), "available": False, "why": why}


def _missing(df: pl.DataFrame | None, columns: tuple[str, ...]) -> list[str]:
    if df is None:
        return list(columns)
    return [c for c in columns if c not in df.columns]


def clock_mismatch_score(
    recordings: pl.DataFrame,
    truth_clocks: pl.DataFrame,
    findings: pl.DataFrame,
    min_offset_ms: float = MISMATCH_MIN_OFFSET_MS,
) -> dict[str, Any]:
    """Recall and precision of ``clock_domain_mismatch`` findings (see the module docstring).

    ``recordings``: the truth's recordings of the processed recordings (start_ns, duration_s,
    clock_mismatch_stream); ``truth_clocks``: their operator-clock rows; ``findings``: their
    findings (center, recording_id, stream, kind; any clock)."""
    keys = ("recall", "precision", "n", "n_found", "n_findings", "n_findings_false")
    lacking = _missing(recordings, ("clock_mismatch_stream", "start_ns", "duration_s"))
    if lacking:
        return unavailable(f"truth recordings lack {', '.join(lacking)}", *keys)
    items = recordings.filter(pl.col("clock_mismatch_stream").is_not_null()).select(
        *KEYS,
        pl.col("clock_mismatch_stream").alias("stream"),
        (pl.col("start_ns") + (pl.col("duration_s") * 5e8).cast(pl.Int64)).alias("at_ns"),
    )
    items = true_offset_ms_at(truth_clocks, items).with_columns(
        (pl.col("true_offset_ms").abs() >= min_offset_ms).fill_null(False).alias("eligible")
    )
    found = (
        findings.filter(pl.col("kind") == "clock_domain_mismatch").select(*KEYS, "stream")
        if findings.height and "kind" in findings.columns
        else pl.DataFrame(
            schema={"center": pl.String, "recording_id": pl.String, "stream": pl.String}
        )
    )
    judged = found.join(items.select(*KEYS, "stream", "eligible"), on=[*KEYS, "stream"], how="left")
    true = judged.filter(pl.col("eligible").fill_null(False))
    false = judged.filter(pl.col("eligible").is_null())
    eligible = items.filter(pl.col("eligible"))
    hit = eligible.join(found.unique(), on=[*KEYS, "stream"], how="semi")
    missed = eligible.join(found.unique(), on=[*KEYS, "stream"], how="anti")
    n_judged = true.height + false.height
    return {
        "recall": hit.height / eligible.height if eligible.height else None,
        "precision": true.height / n_judged if n_judged else None,
        "n": eligible.height,
        "n_found": hit.height,
        "n_ineligible": items.height - eligible.height,
        "n_findings": found.height,
        "n_findings_false": false.height,
        "min_offset_ms": min_offset_ms,
        "missed": missed.select(*KEYS, "stream", "true_offset_ms").head(LISTED).to_dicts(),
        "false": false.select(*KEYS, "stream").head(LISTED).to_dicts(),
    }


def unpopulated_score(recordings: pl.DataFrame, channels: pl.DataFrame | None) -> dict[str, Any]:
    """Recall and precision of channel status ``unpopulated`` (see the module docstring).

    ``recordings``: the truth's recordings of the processed recordings; ``channels``: the
    evidence's channels table (center, recording_id, stream, channel, status), None when the
    lake has none."""
    keys = ("recall", "precision", "n", "n_found")
    fields = [c for c in UNPOPULATED_FIELDS if c in recordings.columns]
    if not fields:
        return unavailable(f"truth recordings lack {' and '.join(UNPOPULATED_FIELDS)}", *keys)
    lacking = _missing(channels, ("stream", "channel", "status"))
    if channels is None or lacking:
        return unavailable(
            "no channels table in the evidence"
            if channels is None
            else f"channels table lacks {', '.join(lacking)}",
            *keys,
        )
    ch = channels.select(*KEYS, "stream", "channel", "status").with_columns(
        pl.col("channel").str.split(".").list.first().alias("quantity")
    )
    truth = recordings.select(*KEYS, *fields).join(ch.select(KEYS).unique(), on=KEYS, how="semi")
    items = []
    for column in fields:
        quantity = UNPOPULATED_FIELDS[column]
        for rec in truth.filter(pl.col(column).not_()).select(KEYS).iter_rows(named=True):
            mine = ch.filter(
                (pl.col("center") == rec["center"])
                & (pl.col("recording_id") == rec["recording_id"])
                & (pl.col("stream") == "joint_state")
                & (pl.col("quantity") == quantity)
            )
            ok = mine.height > 0 and bool((mine["status"] == "unpopulated").all())
            items.append({**rec, "field": quantity, "found": ok})
    n_found = sum(i["found"] for i in items)
    said = ch.filter(pl.col("status") == "unpopulated")
    on_js = said.filter(pl.col("stream") == "joint_state")
    unpopulated_truth = pl.concat(
        [
            truth.filter(pl.col(c).not_()).select(
                *KEYS, pl.lit(UNPOPULATED_FIELDS[c]).alias("quantity")
            )
            for c in fields
        ]
    )
    right = on_js.join(unpopulated_truth, on=[*KEYS, "quantity"], how="semi")
    wrong = on_js.join(unpopulated_truth, on=[*KEYS, "quantity"], how="anti")
    elsewhere = said.filter(pl.col("stream") != "joint_state")
    return {
        "recall": n_found / len(items) if items else None,
        "precision": right.height / on_js.height if on_js.height else None,
        "n": len(items),
        "n_found": n_found,
        "n_channels_unpopulated": said.height,
        "n_channels_false": wrong.height,
        "missed": [{k: i[k] for k in (*KEYS, "field")} for i in items if not i["found"]][:LISTED],
        "false": wrong.select(*KEYS, "channel").head(LISTED).to_dicts(),
        "elsewhere_by_stream": dict(elsewhere.group_by("stream").len().sort("stream").iter_rows()),
    }


def _spans_found(spans: pl.DataFrame, found: pl.DataFrame) -> int:
    """Truth spans (CHANNEL_KEYS, start_ns, end_ns exclusive) overlapped by a finding of their
    channel (both ends inclusive)."""
    if spans.is_empty() or found.is_empty():
        return 0
    pairs = (
        spans.with_row_index("span")
        .join(
            found.select(
                *CHANNEL_KEYS, pl.col("start_ns").alias("f_start"), pl.col("end_ns").alias("f_end")
            ),
            on=list(CHANNEL_KEYS),
            how="inner",
        )
        .filter((pl.col("f_start") < pl.col("end_ns")) & (pl.col("f_end") >= pl.col("start_ns")))
    )
    return pairs["span"].n_unique()


def limit_score(
    findings: pl.DataFrame, faults: pl.DataFrame, at_stop: pl.DataFrame | None
) -> dict[str, Any]:
    """``limits`` (limit_violation findings against the truth) and ``at_stop`` (recall of the
    truth's at-stop spans) blocks, see the module docstring.

    ``findings``: findings of the processed recordings (CHANNEL_KEYS, kind, start_ns,
    end_ns, optional ``on_robot_clock``, default true); ``faults``: the truth's faults;
    ``at_stop``: the truth's at_stop table, None when the network has none. A limit finding
    off the robot clock (an episode whose clock was not resolved) cannot be compared with
    the truth's intervals: it counts as false, and not at a stop."""
    if findings.is_empty():
        findings = pl.DataFrame(
            schema={
                **dict.fromkeys(CHANNEL_KEYS, pl.String),
                "kind": pl.String,
                "start_ns": pl.Int64,
                "end_ns": pl.Int64,
            }
        )
    robot = pl.col("on_robot_clock") if "on_robot_clock" in findings.columns else pl.lit(True)
    findings = findings.with_columns(robot.fill_null(True).alias("on_robot_clock"))
    limits = findings.filter(pl.col("kind") == "limit_violation")
    explained = overlaps_truth(limits, faults) & limits["on_robot_clock"]
    false = limits.filter(~explained) if limits.height else limits
    spans = None
    if at_stop is not None and not _missing(at_stop, (*CHANNEL_KEYS, "start_ns", "end_ns")):
        spans = at_stop.select(*CHANNEL_KEYS, "start_ns", "end_ns")
    at_noise = None
    if spans is not None:
        on_robot = false.filter(pl.col("on_robot_clock"))
        at_noise = int(overlaps_truth(on_robot, spans, "channel").sum()) if on_robot.height else 0
    limits_block = {
        "n_findings": limits.height,
        "n_false": false.height,
        "n_false_at_stop": at_noise,
        "false_by_stream": dict(false.group_by("stream").len().sort("stream").iter_rows())
        if false.height
        else {},
    }
    if spans is None:
        why = "the truth has no at_stop table" if at_stop is None else "at_stop table incomplete"
        return {"limits": limits_block, "at_stop": unavailable(why, "recall", "n", "n_found")}
    stops = findings.filter((pl.col("kind") == "at_stop") & pl.col("on_robot_clock"))
    n_found = _spans_found(spans, stops)
    unexplained = (
        int((~overlaps_truth(stops, spans, channels="channel")).sum()) if stops.height else 0
    )
    return {
        "limits": limits_block,
        "at_stop": {
            "recall": n_found / spans.height if spans.height else None,
            "n": spans.height,
            "n_found": n_found,
            "n_findings": stops.height,
            "n_findings_outside_truth": unexplained,
        },
    }
