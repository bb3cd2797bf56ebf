"""The QA stage: what a reviewer reads and writes in the lake.

- the latest label of every processed episode (the evidence each night writes, published or
  gated), the review queue over it (minus episodes already overridden), and the night's label
  disagreements;
- recording a QA override: checked (`teleop_lake.labeling.overrides`), the previous label
  looked up, then appended to the log (`teleop_lake.lake.overrides`); refused with every
  problem listed and nothing written when anything is wrong;
- the data of the small signal plots in the validation report (segment frames + findings).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from typing import Any

import polars as pl

from teleop_lake.cleaning.findings import EVIDENCE_FIELDS, FINDINGS_SCHEMA
from teleop_lake.labeling.overrides import override_problems
from teleop_lake.labeling.review import rank_review_queue, review_kind
from teleop_lake.lake import layout
from teleop_lake.lake.overrides import (
    OverrideRecord,
    append_override,
    episode_history,
    is_valid_episode_id,
    latest_overrides,
)
from teleop_lake.lake.storage import Store
from teleop_lake.release.publish import latest_release_id
from teleop_lake.reports.plots import frame_column, signal_plot

PLOTTED_KINDS = ("spike", "dropout", "frozen", "limit_violation")


def _with_evidence(findings: pl.DataFrame) -> pl.DataFrame:
    """Findings with the structured evidence columns (null in segments written before them)."""
    missing = [c for c in EVIDENCE_FIELDS if c not in findings.columns]
    return findings.with_columns(
        *(pl.lit(None, dtype=FINDINGS_SCHEMA[c]).alias(c) for c in missing)
    )


class OverrideRefusedError(ValueError):
    """The override was refused; nothing was written. The message lists every problem."""


def read_evidence(lake: Store, run_id: str | None = None, table: str = "processed") -> pl.DataFrame:
    """``<table>.parquet`` (processed, findings, clocks, channels) of every batch (of one run,
    or of all runs), concatenated; empty when there is none."""
    runs = [run_id] if run_id else lake.ls_names(layout.EVIDENCE_DIR)
    tables = []
    for r in runs:
        for batch in lake.ls_names(f"{layout.EVIDENCE_DIR}/{r}"):
            path = f"{layout.evidence_dir(r, batch)}/{table}.parquet"
            if lake.exists(path):
                tables.append(lake.read_parquet(path))
    if not tables:
        return pl.DataFrame()
    return pl.concat(tables, how="diagonal_relaxed")


def latest_labels(lake: Store) -> pl.DataFrame:
    """The newest label of every episode: processing evidence, else the latest release."""
    ev = read_evidence(lake)
    if not ev.is_empty():
        ev = ev.sort("run_id").unique("episode_id", keep="last", maintain_order=True)
    rid = latest_release_id(lake)
    if rid is None:
        return ev
    rel = lake.read_parquet(f"{layout.release_dir(rid)}/episodes.parquet").with_columns(
        pl.lit(True).alias("publishable")
    )
    if not ev.is_empty():
        rel = rel.filter(~pl.col("episode_id").is_in(ev["episode_id"].implode()))
    return pl.concat([ev, rel], how="diagonal_relaxed") if not ev.is_empty() else rel


def review_queue(lake_url: str) -> list[dict[str, Any]]:
    """Episodes needing review, most important first (see `teleop_lake.labeling.review`)."""
    lake = Store(lake_url)
    labels = latest_labels(lake)
    if labels.is_empty():
        return []
    return rank_review_queue(labels.to_dicts(), latest_overrides(lake))


def night_disagreements(lake: Store, run_id: str) -> list[dict[str, Any]]:
    """Episodes processed in ``run_id`` whose operator mark and evidence disagree."""
    ev = read_evidence(lake, run_id)
    out = []
    for r in ev.to_dicts() if not ev.is_empty() else []:
        if r.get("needs_review") and review_kind(r) == "disagreement":
            out.append(
                {
                    k: r.get(k)
                    for k in (
                        "episode_id",
                        "center",
                        "recording_id",
                        "operator_mark",
                        "outcome",
                        "failure_reason",
                        "label_source",
                        "label_confidence",
                        "review_reason",
                        "label_evidence",
                        "publishable",
                    )
                }
            )
    return sorted(out, key=lambda d: (str(d["center"]), str(d["recording_id"])))


def _previous_label(lake: Store, episode_id: str) -> dict[str, Any] | None:
    history = episode_history(lake, episode_id)
    if history:
        last = history[-1]
        return {
            "from": f"override {last.override_id}",
            "outcome": last.outcome,
            "failure_reason": last.failure_reason,
            "label_source": "qa_override",
            "label_confidence": 1.0,
        }
    labels = latest_labels(lake)
    if labels.is_empty():
        return None
    row = labels.filter(pl.col("episode_id") == episode_id)
    if row.is_empty():
        return None
    r = row.row(0, named=True)
    where = f"evidence of run {r.get('run_id')}" if "label_evidence" in r else "latest release"
    return {
        "from": where,
        "outcome": r.get("outcome"),
        "failure_reason": r.get("failure_reason"),
        "label_source": r.get("label_source"),
        "label_confidence": r.get("label_confidence"),
    }


def record_override(
    lake_url: str,
    episode_id: str,
    *,
    outcome: str,
    failure_reason: str | None,
    reviewer: str,
    note: str | None,
    now: dt.datetime,
) -> OverrideRecord:
    """Append a QA override to the log; raises `OverrideRefusedError` (nothing written)."""
    lake = Store(lake_url)
    problems = override_problems(outcome, failure_reason, reviewer)
    previous = None
    if not is_valid_episode_id(episode_id):
        problems.insert(0, f"{episode_id!r} is not an episode id")
    else:
        previous = _previous_label(lake, episode_id)
        if previous is None:
            problems.insert(
                0,
                f"unknown episode id {episode_id!r}: it is in no release and no processing "
                f"evidence of {lake_url}; copy the id from `teleop-lake qa queue`",
            )
    if problems:
        raise OverrideRefusedError("; ".join(problems))
    assert previous is not None
    version = len(episode_history(lake, episode_id)) + 1
    record = OverrideRecord(
        episode_id=episode_id,
        version=version,
        outcome=outcome,
        failure_reason=failure_reason,
        reviewer=reviewer.strip(),
        note=note or None,
        created_at=now.astimezone(dt.UTC).isoformat(),
        previous=previous,
    )
    return append_override(lake, record)


def _read_columns(lake: Store, rel: str, columns: list[str]) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(lake.read_bytes(rel)), columns=columns)


def flagged_signal_plots(
    lake: Store, episodes: list[dict[str, Any]], max_episodes: int = 3, max_channels: int = 2
) -> list[dict[str, Any]]:
    """Plot data of the flagged signals of the worst published episodes among ``episodes``:
    the worst of every center that has flagged signals, then the next worst overall up to
    ``max_episodes`` (a night with more such centers plots one episode of each).

    Worst = most spikes, dropouts and frozen spans, then lowest quality score. Per episode,
    the channels with the most findings that have a frames column are plotted, with every
    finding of that channel (or of its whole stream) as a span on the time axis.
    """

    def badness(e: dict[str, Any]) -> tuple[int, float]:
        n = int(e.get("n_spikes") or 0) + int(e.get("n_dropouts") or 0)
        return (-(n + int(e.get("n_frozen") or 0)), float(e.get("quality_score") or 0.0))

    worst = sorted((e for e in episodes if e.get("segment_id") and badness(e)[0] < 0), key=badness)
    chosen_episodes: list[dict[str, Any]] = []
    centers_seen: set[str] = set()
    for e in worst:  # each center's worst first
        if str(e.get("center")) not in centers_seen:
            centers_seen.add(str(e.get("center")))
            chosen_episodes.append(e)
    for e in worst:  # then the next worst overall
        if len(chosen_episodes) >= max_episodes:
            break
        if e not in chosen_episodes:
            chosen_episodes.append(e)
    chosen_episodes.sort(key=badness)
    plots: list[dict[str, Any]] = []
    for e in chosen_episodes:
        seg = layout.segment_dir(e["segment_id"])
        findings = _with_evidence(
            pl.read_parquet(io.BytesIO(lake.read_bytes(f"{seg}/findings.parquet")))
        ).filter((pl.col("episode_id") == e["episode_id"]) & pl.col("kind").is_in(PLOTTED_KINDS))
        counts: Counter[tuple[str, str]] = Counter()
        kinds: dict[tuple[str, str], set[str]] = {}
        stream_wide: dict[str, set[str]] = {}
        for r in findings.iter_rows(named=True):
            if not r["channel"]:
                stream_wide.setdefault(r["stream"], set()).add(r["kind"])
            elif frame_column(r["stream"], r["channel"]):
                counts[(r["stream"], r["channel"])] += 1
                kinds.setdefault((r["stream"], r["channel"]), set()).add(r["kind"])
        # most kinds of trouble on one trace first (spikes + gaps + frozen), then most findings
        ranked = sorted(
            counts,
            key=lambda sc: (-len(kinds[sc] | stream_wide.get(sc[0], set())), -counts[sc], sc),
        )
        chosen = ranked[:max_channels]
        if not chosen:
            continue
        columns = [str(frame_column(s, c)) for s, c in chosen]
        frames = _read_columns(
            lake, f"{seg}/frames.parquet", ["episode_id", "t_ns", *columns]
        ).filter(pl.col("episode_id") == e["episode_id"])
        for (stream, channel), column in zip(chosen, columns, strict=True):
            spans = findings.filter(
                (pl.col("stream") == stream)
                & ((pl.col("channel") == channel) | (pl.col("channel") == ""))
            )
            plots.append(
                signal_plot(
                    episode_id=e["episode_id"],
                    center=str(e.get("center")),
                    recording_id=str(e.get("recording_id")),
                    stream=stream,
                    column=column,
                    t_ns=frames["t_ns"].to_numpy(),
                    values=frames[column].to_numpy(),
                    spans=spans.select("kind", "start_ns", "end_ns", "detail").rows(),
                    evidence=spans.select(EVIDENCE_FIELDS).to_dicts(),
                )
            )
    return plots
