"""Loading a processed night and the network's ground truth for scoring (the IO of evaluation).

Reads, through fsspec URLs: the lake's evidence (``evidence/<run>/<batch>/``), outcome ledger,
release segments' frames and bronze recordings; and the network's ``_truth/`` tables. For every
processed recording it re-reads the bronze recording (decode + standardize, as the night did)
to measure what the evidence does not keep: the raw and repaired joint samples inside each
spike, the stream sizes, and the camera stamps behind each grid row's frame. Scoring itself
is `teleop_lake.evaluation.scorecard` (pure). Tables newer than the oldest lakes and networks
(the truth's ``at_stop``, the evidence's ``channels``) are optional: when absent, the scores
that need them are not available. `evaluate_many` scores several networks and keeps the worst
of each score (`teleop_lake.evaluation.targets.merge_reports`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from teleop_lake.canonical import STREAM_JOINT_STATE, Recording
from teleop_lake.cleaning import clean_signal_stream, order_and_deduplicate
from teleop_lake.cleaning.limits import channel_limits
from teleop_lake.config.centers import END_EFFECTOR_KINDS, UnknownCenterError, load_profile
from teleop_lake.config.robots import load_robot_model
from teleop_lake.evaluation.camera_truth import (
    frame_match_counts,
    near_tie_count,
    nearest_within,
    true_capture_ns,
)
from teleop_lake.evaluation.matching import (
    NOMINAL_PERIOD_NS,
    NOMINAL_RATE_HZ,
    EligibilityRules,
    spike_truth,
)
from teleop_lake.evaluation.sample_scores import repair_errors
from teleop_lake.evaluation.scorecard import NightEvidence, score_night
from teleop_lake.evaluation.targets import merge_reports
from teleop_lake.formats import read_recording
from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store
from teleop_lake.network.pull import BronzeRecording
from teleop_lake.pipeline.process import local_files, recording_meta
from teleop_lake.processing import ProcessingParams
from teleop_lake.rejection import RecordingRejected
from teleop_lake.standardize import standardize_recording

TRUTH_TABLES = ("recordings", "faults", "clocks", "noise")
OPTIONAL_TRUTH_TABLES = ("at_stop",)
"""Truth tables older networks lack: the scores that need them are then not available."""
EVIDENCE_TABLES = ("processed", "findings", "clocks", "channels")
FINDING_SCHEMA = {
    "center": pl.String,
    "recording_id": pl.String,
    "stream": pl.String,
    "channel": pl.String,
    "kind": pl.String,
    "start_ns": pl.Int64,
    "end_ns": pl.Int64,
}
"""The findings columns scoring reads (an empty findings table gets them)."""
KEYS = ["center", "recording_id"]
# Mismatched camera rows whose chosen frame is at most this much further than the truly nearest
# are counted apart (``camera.rows_near_tie``): 50 Hz against 30 Hz puts every fifth row near a
# midpoint when the phases line up, where sub-millisecond capture-time errors decide.
CAMERA_TIE_MS = 1.0


class EvaluationInputError(ValueError):
    """The lake or the network cannot be evaluated (nothing processed, no truth)."""


def list_runs(lake: Store) -> list[str]:
    """Run ids with evidence, oldest first (run ids start with their UTC start time)."""
    return lake.ls_names(layout.EVIDENCE_DIR)


def _read_truth(network_url: str) -> dict[str, pl.DataFrame]:
    net = Store(network_url)
    missing = [t for t in TRUTH_TABLES if not net.exists(f"_truth/{t}.parquet")]
    if missing:
        raise EvaluationInputError(
            f"{net.uri('_truth')} lacks {', '.join(missing)}.parquet: --network must be the "
            "folder `teleop-lake simulate --out` wrote (its ground truth is in _truth/)"
        )
    tables = {t: net.read_parquet(f"_truth/{t}.parquet") for t in TRUTH_TABLES}
    for t in OPTIONAL_TRUTH_TABLES:
        if net.exists(f"_truth/{t}.parquet"):
            tables[t] = net.read_parquet(f"_truth/{t}.parquet")
    return tables


@dataclass(frozen=True, eq=False)
class _Evidence:
    """The latest run's evidence per recording; ``channels`` is None when no run wrote it."""

    processed: pl.DataFrame
    findings: pl.DataFrame
    clocks: pl.DataFrame
    channels: pl.DataFrame | None


def _read_evidence(lake: Store, runs: list[str]) -> _Evidence:
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in EVIDENCE_TABLES}
    for run in runs:
        for batch in lake.ls_names(f"{layout.EVIDENCE_DIR}/{run}"):
            base = layout.evidence_dir(run, batch)
            for name, frames in parts.items():
                if lake.exists(f"{base}/{name}.parquet"):
                    df = lake.read_parquet(f"{base}/{name}.parquet")
                    frames.append(
                        df.with_columns(
                            pl.lit(run).alias("run_id"), pl.lit(batch).alias("batch_id")
                        )
                    )
    if not parts["processed"]:
        raise EvaluationInputError(
            f"no evidence under {lake.uri(layout.EVIDENCE_DIR)} for run(s) {runs or 'any'}: "
            "run a night on this lake first (teleop-lake nightly)"
        )
    processed = (
        pl.concat(parts["processed"], how="diagonal_relaxed")
        .sort("run_id")
        .unique(KEYS, keep="last")
        .sort(KEYS)
    )
    latest = processed.select(*KEYS, "run_id")

    def latest_only(frames: list[pl.DataFrame]) -> pl.DataFrame:
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames, how="diagonal_relaxed").join(latest, on=[*KEYS, "run_id"])

    findings = latest_only(parts["findings"])
    if findings.is_empty():
        findings = pl.DataFrame(schema=FINDING_SCHEMA)
    return _Evidence(
        processed=processed,
        findings=findings.with_columns(pl.col("channel").fill_null("")),
        clocks=latest_only(parts["clocks"]),
        channels=latest_only(parts["channels"]) if parts["channels"] else None,
    )


def _primary_topics(centers: Sequence[str]) -> pl.DataFrame:
    """Per center and end-effector kind, the profile's primary hand-state topic (the first
    one it reads; its alternatives come after it). Unknown centers are left out."""
    rows = []
    for center in sorted(set(centers)):
        try:
            profile = load_profile(center)
        except UnknownCenterError:
            continue
        for kind in END_EFFECTOR_KINDS:
            if kind != profile.default_end_effector and kind not in profile.end_effector_streams:
                continue
            mapping = profile.for_end_effector(kind).streams.get("hand_state")
            if mapping is not None:
                rows.append(
                    {"center": center, "end_effector": kind, "hand_state_topic": mapping.topic}
                )
    return pl.DataFrame(
        rows, schema={"center": pl.String, "end_effector": pl.String, "hand_state_topic": pl.String}
    )


def _operator_estimates(clocks: pl.DataFrame) -> pl.DataFrame:
    """Per recording, the operator-clock stream rows of the evidence (stamps on the operator
    clock, as declared or as observed when the evidence says so), the arm target's first:
    the estimate is made from it and shared by every operator stream."""
    if clocks.is_empty():
        return pl.DataFrame(
            schema={
                "center": pl.String,
                "recording_id": pl.String,
                "stream": pl.String,
                "offset_ns": pl.Int64,
                "drift_ppm": pl.Float64,
                "uncertainty_ms": pl.Float64,
                "method": pl.String,
            }
        )
    on_operator = pl.col("clock") == "operator"
    if "observed_clock" in clocks.columns:
        on_operator = pl.coalesce(pl.col("observed_clock"), pl.col("clock")) == "operator"
    return clocks.filter(on_operator).sort([*KEYS, pl.col("stream") != "arm_target", "stream"])


def _read_outcomes(lake: Store, runs: list[str]) -> pl.DataFrame:
    frames = []
    for run in runs:
        for f in lake.walk_files(f"{layout.OUTCOME_LEDGER_DIR}/{run}"):
            if f.endswith(".parquet"):
                frames.append(lake.read_parquet(f))
    if not frames:
        return pl.DataFrame(
            schema={"center": pl.String, "recording_id": pl.String, "status": pl.String}
        )
    return pl.concat(frames, how="diagonal_relaxed").sort("run_id").unique(KEYS, keep="last")


def _bronze_recording(lake: Store, row: dict[str, Any]) -> tuple[Recording, BronzeRecording]:
    bronze = layout.bronze_dir(row["center"], row["content_key"])
    rec = BronzeRecording.from_dict(lake.read_json(f"{bronze}/{layout.BRONZE_RECORD_NAME}"))
    profile = load_profile(rec.center)
    robot = load_robot_model(profile.robot_model)
    with local_files(lake, rec) as paths:
        recording = read_recording(rec.raw_format, paths, recording_meta(rec, robot.name), profile)
    return standardize_recording(recording, profile, robot), rec


def _sizes(recording: Recording, center: str, recording_id: str) -> list[dict[str, Any]]:
    rows = [
        {
            "center": center,
            "recording_id": recording_id,
            "stream": s.name,
            "n_samples": s.n_samples,
            "n_channels": len(s.channels),
        }
        for s in recording.signals.values()
    ]
    rows += [
        {
            "center": center,
            "recording_id": recording_id,
            "stream": c.name,
            "n_samples": c.n_samples,
            "n_channels": 1,
        }
        for c in recording.cameras.values()
    ]
    return [r for r in rows if r["stream"] in NOMINAL_PERIOD_NS]


def _repairs(
    recording: Recording, spikes: pl.DataFrame, params: ProcessingParams
) -> pl.DataFrame | None:
    js = recording.signal(STREAM_JOINT_STATE)
    if js is None or spikes.is_empty():
        return None
    robot = load_robot_model(recording.meta.robot_model)
    lower, upper = channel_limits(robot, js.channels)
    cleaned = clean_signal_stream(js, params.cleaning, lower, upper)
    kept = order_and_deduplicate(js.name, js.t_ns, js.values, js.t_received_ns).kept
    return repair_errors(
        cleaned.stream.t_ns,
        js.values[kept],
        cleaned.stream.values,
        cleaned.spike,
        js.channels,
        spikes,
    )


def _camera_counts(
    recording: Recording, frames: pl.DataFrame, start_ns: int, params: ProcessingParams
) -> list[dict[str, Any]]:
    rows = []
    t_grid = frames["t_ns"].to_numpy()
    for name, cam in sorted(recording.cameras.items()):
        col = f"camera.{name}.frame_index"
        if col not in frames.columns or cam.clock != "robot" or cam.n_samples == 0:
            continue
        period = 1e9 / NOMINAL_RATE_HZ[name]
        true_t = true_capture_ns(cam.t_ns, start_ns, period)
        truly = nearest_within(
            true_t, t_grid, params.alignment.max_camera_distance_periods * period
        )
        chosen = frames[col].fill_null(-1).to_numpy().astype(np.int64)
        judged, matched = frame_match_counts(chosen, truly)
        ties = near_tie_count(chosen, truly, true_t, t_grid, CAMERA_TIE_MS * 1e6)
        rows.append(
            {
                "center": recording.meta.center,
                "recording_id": recording.meta.recording_id,
                "camera": name,
                "rows_judged": judged,
                "rows_matched": matched,
                "rows_near_tie": ties,
            }
        )
    return rows


def load_night(
    network_url: str,
    lake_url: str,
    run_id: str | None = None,
    params: ProcessingParams | None = None,
    rules: EligibilityRules | None = None,
) -> NightEvidence:
    """Everything `score_night` needs, for one run or (default) every run of the lake."""
    params = params or ProcessingParams()
    rules = rules or EligibilityRules()
    lake = Store(lake_url)
    runs = list_runs(lake)
    if run_id is not None:
        if run_id not in runs:
            raise EvaluationInputError(
                f"run {run_id!r} has no evidence in {lake.uri(layout.EVIDENCE_DIR)}; "
                f"runs there: {', '.join(runs) or 'none'}"
            )
        runs = [run_id]
    truth = _read_truth(network_url)
    ev = _read_evidence(lake, runs)
    processed = ev.processed
    outcomes = _read_outcomes(lake, runs)
    keys = processed.select(KEYS)

    def only_processed(df: pl.DataFrame) -> pl.DataFrame:
        return df.join(keys, on=KEYS, how="semi")

    faults, noise = only_processed(truth["faults"]), only_processed(truth["noise"])
    truth_clocks = only_processed(truth["clocks"]).filter(pl.col("clock") == "operator")
    operator = _operator_estimates(ev.clocks)
    resolved = operator.filter(pl.col("offset_ns").is_not_null()).unique(
        KEYS, keep="first", maintain_order=True
    )
    # the estimate's reference: the evidence's own when it keeps one, else the grid start
    # (the clocks' ``t_ref_ns``, or the processed ``clock_reference_ns``)
    has_ref = "clock_reference_ns" in processed.columns
    refs = (["t_ref_ns"] if "t_ref_ns" in resolved.columns else []) + (
        ["clock_reference_ns"] if has_ref else []
    )
    t_ref = pl.coalesce(*refs, "start_ns") if refs else pl.col("start_ns")
    estimates = resolved.join(
        processed.select(
            *KEYS,
            "start_ns",
            "end_ns",
            *(["clock_reference_ns"] if has_ref else []),
        ),
        on=KEYS,
        how="inner",
    ).select(
        *KEYS,
        "offset_ns",
        "drift_ppm",
        t_ref.alias("t_ref_ns"),
        "start_ns",
        "end_ns",
        "uncertainty_ms",
        "method",
    )
    unresolved_streams = operator.filter(pl.col("offset_ns").is_null()).select(*KEYS, "stream")
    n_unresolved = (
        processed.filter(pl.col("clock_status") == "unresolved").height
        if "clock_status" in processed.columns
        else unresolved_streams.select(KEYS).unique().height
    )
    findings = ev.findings.join(
        unresolved_streams.with_columns(pl.lit(False).alias("on_robot_clock")),
        on=[*KEYS, "stream"],
        how="left",
    ).with_columns(pl.col("on_robot_clock").fill_null(True))

    spikes_all = spike_truth(faults, noise, rules).filter(pl.col("eligible"))
    truth_start = dict(
        truth["recordings"].select(pl.concat_str(KEYS, separator="/"), "start_ns").iter_rows()
    )
    frames_cache: dict[str, pl.DataFrame] = {}
    sizes: list[dict[str, Any]] = []
    cameras: list[dict[str, Any]] = []
    repairs: list[pl.DataFrame] = []
    unreadable: list[str] = []
    for row in processed.iter_rows(named=True):
        center, rid = row["center"], row["recording_id"]
        try:
            recording, _ = _bronze_recording(lake, row)
        except (RecordingRejected, OSError, ValueError) as exc:
            unreadable.append(f"{center}/{rid}: {exc}"[:300])
            continue
        sizes += _sizes(recording, center, rid)
        spikes = spikes_all.filter((pl.col("center") == center) & (pl.col("recording_id") == rid))
        rep = _repairs(recording, spikes, params)
        if rep is not None:
            repairs.append(
                rep.with_columns(pl.lit(center).alias("center"), pl.lit(rid).alias("recording_id"))
            )
        segment = f"{row['run_id']}-{row['batch_id']}"
        if row["publishable"] and f"{center}/{rid}" in truth_start:
            if segment not in frames_cache:
                path = f"{layout.segment_dir(segment)}/frames.parquet"
                frames_cache[segment] = (
                    lake.read_parquet(path) if lake.exists(path) else pl.DataFrame()
                )
            seg = frames_cache[segment]
            # the whole episode, or the pieces it was split into (`<episode_id>-p<k>`)
            ids = [row["episode_id"], *(row.get("pieces") or [])]
            for eid in ids if seg.height else []:
                mine = seg.filter(pl.col("episode_id") == eid).sort("frame_index")
                if mine.height:
                    cameras += _camera_counts(
                        recording, mine, int(truth_start[f"{center}/{rid}"]), params
                    )
    run_recordings = outcomes.select(KEYS) if outcomes.height else keys
    recordings = truth["recordings"].join(run_recordings, on=KEYS, how="semi")
    at_stop = truth.get("at_stop")
    return NightEvidence(
        recordings=recordings,
        faults=faults,
        noise=noise,
        truth_clocks=truth_clocks,
        processed=processed,
        findings=findings,
        clock_estimates=estimates,
        n_clock_unresolved=n_unresolved,
        unreadable=tuple(unreadable),
        outcomes=outcomes,
        camera_counts=pl.DataFrame(
            cameras,
            schema={
                "center": pl.String,
                "recording_id": pl.String,
                "camera": pl.String,
                "rows_judged": pl.Int64,
                "rows_matched": pl.Int64,
                "rows_near_tie": pl.Int64,
            },
        ),
        repairs=pl.concat(repairs)
        if repairs
        else pl.DataFrame(schema={"was_repaired": pl.Boolean, "error_over_noise": pl.Float64}),
        sizes=pl.DataFrame(
            sizes,
            schema={
                "center": pl.String,
                "recording_id": pl.String,
                "stream": pl.String,
                "n_samples": pl.Int64,
                "n_channels": pl.Int64,
            },
        ),
        at_stop=only_processed(at_stop) if at_stop is not None else None,
        channels=ev.channels,
        primary_topics=_primary_topics(recordings["center"].to_list()),
    )


def evaluate_night(network_url: str, lake_url: str, run_id: str | None = None) -> dict[str, Any]:
    """The evaluation report of a processed night (every run by default) against the truth."""
    ev = load_night(network_url, lake_url, run_id)
    report = score_night(ev)
    profiles = sorted(set(ev.recordings["sim_profile"].to_list())) if ev.recordings.height else []
    seeds = sorted(set(ev.recordings["seed"].to_list())) if ev.recordings.height else []
    runs = sorted(set(ev.processed["run_id"].to_list()))
    return {
        "scope": {
            "network": network_url,
            "lake": lake_url,
            "runs": runs,
            "sim_profiles": profiles,
            "seeds": seeds,
        },
        **report,
    }


def evaluate_many(pairs: Sequence[tuple[str, str]], run_id: str | None = None) -> dict[str, Any]:
    """Score several (network, lake) pairs and keep the worst of each score over them
    (`teleop_lake.evaluation.targets.merge_reports`); ``reports`` holds each network's own
    report, in the order given."""
    if not pairs:
        raise EvaluationInputError("no (network, lake) pair to evaluate")
    reports = [evaluate_night(network, lake, run_id) for network, lake in pairs]
    return {**merge_reports(reports), "reports": reports}
