"""The process stage: bronze recordings -> decoded, standardized, cleaned, aligned, labeled,
validated episodes in one new data segment per batch; everything refused goes to the quarantine.

One call handles one batch: frames of the whole batch are validated with one
Pandera call and failures are mapped back to their episodes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandera.errors
import polars as pl

from datalake_schemas import EPISODE_FIELDS, episodes_schema, frames_schema
from teleop_lake import __version__
from teleop_lake.alignment.clock_model import CANDIDATE_METHODS
from teleop_lake.canonical import Recording, RecordingMeta
from teleop_lake.cleaning.findings import Finding, findings_frame
from teleop_lake.config.centers import load_profile
from teleop_lake.config.robots import load_robot_model
from teleop_lake.config.tasks import load_task_catalog
from teleop_lake.formats import read_recording
from teleop_lake.formats.kuavo_labels import task_texts
from teleop_lake.labeling import Label
from teleop_lake.lake import layout
from teleop_lake.lake.ledger import Outcome, write_outcomes
from teleop_lake.lake.pseudonym import pseudonym_key, pseudonymize
from teleop_lake.lake.quarantine import quarantine
from teleop_lake.lake.storage import Store
from teleop_lake.network.pull import BronzeRecording
from teleop_lake.pipeline.batch_result import BatchResult
from teleop_lake.pipeline.heap import fix_heap, release_arrow_pool, release_heap
from teleop_lake.pipeline.pull import MAX_PENDING_NIGHTS
from teleop_lake.pipeline.stage_clock import CenterSeconds, timed
from teleop_lake.pipeline.stop import stop_requested
from teleop_lake.processing import ProcessedEpisode, ProcessingParams, process_recording
from teleop_lake.rejection import Reason, RecordingRejected
from teleop_lake.release.cameras import CameraRows
from teleop_lake.release.segment import write_segment
from teleop_lake.standardize import standardize_recording
from teleop_lake.transient import is_transient

FILE_ERRORS = (OSError, TimeoutError, ConnectionError)


@contextlib.contextmanager
def local_files(lake: Store, rec: BronzeRecording) -> Iterator[list[Path]]:
    """The recording's bronze files as local paths (downloaded when the lake is remote)."""
    if lake.is_local:
        yield [Path(lake.full(f"{rec.bronze_dir}/{f}")) for f in rec.files]
        return
    with tempfile.TemporaryDirectory(prefix="teleop-") as tmp:
        paths = []
        for f in rec.files:
            p = Path(tmp) / f
            p.parent.mkdir(parents=True, exist_ok=True)
            with p.open("wb") as out:
                for chunk in lake.iter_chunks(f"{rec.bronze_dir}/{f}"):
                    out.write(chunk)
            paths.append(p)
        yield paths


def recording_meta(rec: BronzeRecording, robot_model: str) -> RecordingMeta:
    m = rec.manifest
    return RecordingMeta(
        center=rec.center,
        recording_id=rec.recording_id,
        raw_format=rec.raw_format,
        robot_model=robot_model,
        task_code=m.get("task_code"),
        station=m.get("station"),
        robot_serial=m.get("robot_serial"),
        operator_id=m.get("operator_id"),
        recorded_at=m.get("recorded_at"),
        extra=dict(m.get("extra") or {}),
    )


def episode_row(
    rec: BronzeRecording,
    meta: RecordingMeta,
    ep: ProcessedEpisode,
    *,
    lake: Store,
    key: bytes,
    run_id: str,
    segment_id: str,
    row_start: int,
    params: ProcessingParams,
) -> dict[str, Any]:
    s, lab = ep.summary, ep.label
    return {
        "episode_id": ep.episode_id,
        "split_from": s.get("split_from"),
        "piece_index": s.get("piece_index"),
        "center": rec.center,
        "recording_id": rec.recording_id,
        "station": meta.station,
        "scene": meta.scene,
        "task_code": meta.task_code,
        **task_texts(meta.extra),
        "robot_model": meta.robot_model,
        "robot_serial": meta.robot_serial,
        "operator_pseudonym": pseudonymize(key, meta.operator_id),
        "start_time_utc": dt.datetime.fromtimestamp(int(s["start_ns"]) / 1e9, tz=dt.UTC),
        "duration_s": float(s["duration_s"]),
        "n_frames": int(ep.frames.height),
        "raw_format": rec.raw_format,
        "source_uri": lake.uri(rec.bronze_dir),
        "content_key": rec.content_key,
        "pipeline_version": __version__,
        "param_hash": params.param_hash(load_robot_model(meta.robot_model)),
        "run_id": run_id,
        "segment_id": segment_id,
        "segment_row_start": row_start,
        "quality_score": float(s["quality_score"]),
        "n_spikes": int(s["n_spikes"]),
        "n_dropouts": int(s["n_dropouts"]),
        "n_frozen": int(s["n_frozen"]),
        "n_limit_violations": int(s["n_limit_violations"]),
        "n_at_stop": int(s["n_at_stop"]),
        "end_effector": s["end_effector"],
        "eef_type": s["eef_type"],
        "absent_streams": s["absent_streams"],
        **channel_counts(ep.channels),
        "operator_clock_offset_ms": _opt_float(s.get("operator_clock_offset_ms")),
        "operator_clock_drift_ppm": _opt_float(s.get("operator_clock_drift_ppm")),
        "clock_uncertainty_ms": _opt_float(s.get("clock_uncertainty_ms")),
        "clock_status": s["clock_status"],
        "clock_method": s["clock_method"],
        "clock_reference_ns": int(s["clock_reference_ns"]),
        "n_clock_domain_mismatches": int(s["n_clock_domain_mismatches"]),
        **candidate_fields(s),
        **label_fields(lab),
    }


def candidate_fields(summary: dict[str, Any]) -> dict[str, Any]:
    """The clock candidate columns of an episode row (null where a candidate was not made)."""
    out: dict[str, Any] = {}
    for method in CANDIDATE_METHODS:
        for what in ("offset_ms", "drift_ppm", "uncertainty_ms"):
            out[f"clock_{method}_{what}"] = _opt_float(summary.get(f"clock_{method}_{what}"))
        out[f"clock_{method}_streams"] = summary.get(f"clock_{method}_streams")
    return out


def channel_counts(channels: pl.DataFrame) -> dict[str, int]:
    """How many channels of an episode are unpopulated and faulty."""
    status = channels["status"] if channels.height else pl.Series([], dtype=pl.String)
    return {
        "n_unpopulated_channels": int((status == "unpopulated").sum()),
        "n_faulty_channels": int((status == "faulty").sum()),
    }


def label_fields(lab: Label) -> dict[str, Any]:
    """The label columns of an episode row."""
    return {
        "outcome": lab.outcome,
        "failure_reason": lab.failure_reason,
        "label_source": lab.source,
        "label_confidence": float(lab.confidence),
        "needs_review": bool(lab.needs_review),
        "review_reason": lab.review_reason,
        "operator_mark": lab.operator_mark,
        "labeler_version": lab.labeler_version,
    }


def _opt_float(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if np.isnan(f) else f


def camera_tables(recording: Recording, ep: ProcessedEpisode) -> dict[str, CameraRows]:
    """The frames of each camera over the episode's span, as recorded (no decode), to be read
    from the recording a batch at a time when the segment is written."""
    t = ep.frames["t_ns"]
    start, end = int(t[0]), int(t[-1])
    return {
        name: CameraRows(ep.episode_id, recording.cameras[name], check, start, end)
        for name, check in ep.cameras.items()
        if name in recording.cameras
    }


def _map_schema_failures(
    err: pandera.errors.SchemaErrors, frames: pl.DataFrame
) -> dict[str, list[dict[str, Any]]]:
    """Pandera failure cases -> {episode_id: [{column, check, frame_index, t_ns, value}]}."""
    fc = err.failure_cases
    by_episode: dict[str, list[dict[str, Any]]] = {}
    ids = frames["episode_id"]
    fidx = frames["frame_index"]
    tns = frames["t_ns"]
    for row in fc.iter_rows(named=True):
        i = row.get("index")
        if i is None:
            # a schema-level failure (missing column, wrong type) concerns every episode
            for e in ids.unique().to_list():
                by_episode.setdefault(e, []).append(
                    {"column": row["column"], "check": row["check"], "value": row["failure_case"]}
                )
            continue
        e = ids[int(i)]
        by_episode.setdefault(e, []).append(
            {
                "column": row["column"],
                "check": row["check"],
                "frame_index": int(fidx[int(i)]),
                "t_ns": int(tns[int(i)]),
                "value": row["failure_case"],
            }
        )
    return by_episode


def process_batch(
    lake_url: str,
    run_id: str,
    batch_id: str,
    recordings: list[dict[str, Any]],
    params: ProcessingParams,
    now: dt.datetime,
    progress: Callable[[str, dict[str, Any] | None], None] | None = None,
) -> BatchResult:
    """Process one batch of bronze recordings into one segment; never raises for bad data.

    ``progress(step, recording)`` is called before each recording (``"recording"``, its
    record) and before the batch's own steps (``"validate"``, ``"write"``; None), so a
    watchdog (`teleop_lake.pipeline.isolation`) knows what a stuck batch is stuck on.
    """
    fix_heap()  # the heap's free pages go back at each boundary (`release_heap`)
    try:
        return _process_batch(lake_url, run_id, batch_id, recordings, params, now, progress)
    finally:
        release_heap()  # and what the batch freed, before the process waits or publishes


def _process_batch(
    lake_url: str,
    run_id: str,
    batch_id: str,
    recordings: list[dict[str, Any]],
    params: ProcessingParams,
    now: dt.datetime,
    progress: Callable[[str, dict[str, Any] | None], None] | None,
) -> BatchResult:
    report = progress or (lambda step, recording: None)
    lake = Store(lake_url)
    key = pseudonym_key(lake)
    catalog = load_task_catalog()
    result = BatchResult(batch_id=batch_id)
    outcomes: list[Outcome] = []
    # Per published episode: its metadata and where its frames are (not the decoded recording,
    # whose signals would stay in memory until the segment is written).
    kept: list[tuple[BronzeRecording, RecordingMeta, ProcessedEpisode, dict[str, CameraRows]]] = []
    evidence: list[tuple[BronzeRecording, ProcessedEpisode]] = []
    spent: CenterSeconds = {}  # wall seconds per center and stage, for the night's summary

    def refuse(rec: BronzeRecording, stage: str, reasons: tuple[Reason, ...]) -> None:
        outcomes.append(quarantine(lake, rec, run_id=run_id, stage=stage, reasons=reasons, now=now))

    for raw in recordings:
        if stop_requested():  # the night is stopping: leave the rest for the next night
            return BatchResult(batch_id=batch_id)
        rec = BronzeRecording.from_dict(raw)
        report("recording", raw)
        # The last recording's signals go before this one is read: a batch holds one
        # recording's decoded signals at a time, never two.
        recording = ep = None
        release_heap()  # what the last recording freed, before this one is read
        stage = "decode"
        try:
            profile = load_profile(rec.center)
            robot = load_robot_model(profile.robot_model)
            with timed("decode", spent, rec.center), local_files(lake, rec) as paths:
                recording = read_recording(
                    rec.raw_format, paths, recording_meta(rec, robot.name), profile
                )
                recording = standardize_recording(recording, profile, robot, release_raw=True)
            stage = "process"
            task = catalog.get(recording.meta.task_code)
            with timed("clean, align, label", spent, rec.center):
                ep = process_recording(recording, robot, task, rec.episode_id, params)
            evidence.append((rec, ep))
            if not ep.to_publish():
                refuse(rec, stage, ep.refusal())
                continue
            with timed("camera tables", spent, rec.center):
                kept += [
                    (rec, recording.meta, piece, camera_tables(recording, piece))
                    for piece in ep.to_publish()
                ]
        except RecordingRejected as exc:
            refuse(rec, stage, exc.reasons)
        except Exception as exc:
            if is_transient(exc):
                transient = Reason(
                    "processing_error",
                    f"transient {type(exc).__name__}: {exc}; retried next night (at most "
                    f"{MAX_PENDING_NIGHTS} nights)",
                )
                outcomes.append(Outcome.of(rec, run_id, stage, "pending", (transient,)))
            elif isinstance(exc, FILE_ERRORS):  # the file itself is damaged: retrying won't help
                refuse(
                    rec,
                    stage,
                    (
                        Reason(
                            "corrupt_file",
                            f"reading {', '.join(rec.files)} failed at the {stage} stage: "
                            f"{type(exc).__name__}: {exc}; ask the center to re-deliver it",
                        ),
                    ),
                )
            else:  # a bug must not stop the night: quarantine, with the cause
                refuse(
                    rec,
                    stage,
                    (
                        Reason(
                            "processing_error",
                            f"{type(exc).__name__}: {exc}; report this "
                            "recording to the pipeline maintainers",
                        ),
                    ),
                )

    if stop_requested():
        return BatchResult(batch_id=batch_id)
    frames_all = pl.DataFrame()
    report("validate", None)
    release_heap()
    shares: Counter[str] = Counter()  # the batch's own steps, shared by rows per center
    for k in kept:
        shares[k[0].center] += k[2].frames.height
    if kept:
        frames_all = pl.concat([k[2].frames for k in kept], how="diagonal_relaxed")
        try:
            with timed("validate", spent, shares):
                frames_schema().validate(frames_all, lazy=True)
        except pandera.errors.SchemaErrors as err:
            bad = _map_schema_failures(err, frames_all)
            refused: set[str] = set()  # a recording with a failing piece is refused whole
            for k in kept:
                fails = bad.get(k[2].episode_id)
                if fails and k[0].content_key not in refused:
                    refused.add(k[0].content_key)
                    first = fails[0]
                    refuse(
                        k[0],
                        "validate",
                        (
                            Reason(
                                "schema_violation",
                                f"{len(fails)} frame check failure(s) in {k[2].episode_id}, "
                                f"first: column {first['column']} check {first['check']} "
                                f"value {first['value']} at frame {first.get('frame_index')}",
                            ),
                        ),
                    )
                for f in (fails or [])[:50]:
                    result.validation_failures.append({"episode_id": k[2].episode_id, **f})
            kept = [k for k in kept if k[0].content_key not in refused]

    report("write", None)
    release_heap()
    if kept:
        segment_id = f"{run_id}-{batch_id}"
        rows, row_start = [], 0
        for rec, meta, ep, _ in kept:
            rows.append(
                episode_row(
                    rec,
                    meta,
                    ep,
                    lake=lake,
                    key=key,
                    run_id=run_id,
                    segment_id=segment_id,
                    row_start=row_start,
                    params=params,
                )
            )
            row_start += ep.frames.height
        episodes = pl.DataFrame(rows, schema={k: v[0] for k, v in EPISODE_FIELDS.items()})
        episodes_schema().validate(episodes)
        kept_ids = [k[2].episode_id for k in kept]
        if frames_all["episode_id"].n_unique() != len(kept_ids):  # a recording was refused
            frames_all = frames_all.filter(pl.col("episode_id").is_in(kept_ids))
        findings = pl.concat(
            [k[2].findings.with_columns(pl.lit(k[2].episode_id).alias("episode_id")) for k in kept],
            how="diagonal_relaxed",
        )
        channels = pl.concat(
            [k[2].channels.with_columns(pl.lit(k[2].episode_id).alias("episode_id")) for k in kept],
            how="diagonal_relaxed",
        )
        cameras = _stack_cameras([k[3] for k in kept])
        damaged: list[tuple[str, Finding]] = []
        with timed("write segment", spent, shares):
            write_segment(
                lake, segment_id, frames_all, episodes, findings, cameras, channels, damaged
            )
        release_arrow_pool()
        if damaged:  # frames found damaged on their way into the release: evidence too
            evidence = _with_findings(evidence, kept, damaged)
        result.segment_id = segment_id
        result.episodes = rows
        published = {k[0].content_key: k[0] for k in kept}
        for rec in published.values():
            outcomes.append(Outcome.of(rec, run_id, "process", "published"))
    with timed("write evidence", spent, Counter(r["center"] for r in recordings)):
        if evidence:
            write_evidence(lake, run_id, batch_id, evidence)
        write_outcomes(lake, run_id, batch_id, outcomes)
    result.outcomes = [o.row() for o in outcomes]
    result.seconds_by_center = spent
    return result


def write_evidence(
    lake: Store,
    run_id: str,
    batch_id: str,
    evidence: list[tuple[BronzeRecording, ProcessedEpisode]],
) -> None:
    """What processing found for every processed episode, published or gated: the summary and
    label (``processed``), the findings with robot-clock spans, and the clock estimates."""
    rows = []
    for rec, ep in evidence:
        lab = ep.label
        rows.append(
            {
                "episode_id": rec.episode_id,
                "center": rec.center,
                "recording_id": rec.recording_id,
                "task_code": (rec.manifest or {}).get("task_code"),
                "station": (rec.manifest or {}).get("station"),
                "robot_serial": (rec.manifest or {}).get("robot_serial"),
                "content_key": rec.content_key,
                "run_id": run_id,
                "publishable": bool(ep.to_publish()),
                "gate_codes": [r.code for r in ep.gate_reasons],
                "pieces": [p.episode_id for p in ep.to_publish() if p is not ep],
                **{k: _opt_float(v) if isinstance(v, float) else v for k, v in ep.summary.items()},
                **label_fields(lab),
                "label_evidence": lab.evidence,
                "rule_outcome": lab.rule_outcome,
                "rule_failure_reason": lab.rule_failure_reason,
            }
        )
    base = layout.evidence_dir(run_id, batch_id)
    lake.write_parquet(f"{base}/processed.parquet", pl.DataFrame(rows))

    def tagged(df: pl.DataFrame, rec: BronzeRecording) -> pl.DataFrame:
        return df.with_columns(
            pl.lit(rec.episode_id).alias("episode_id"),
            pl.lit(rec.center).alias("center"),
            pl.lit(rec.recording_id).alias("recording_id"),
        )

    lake.write_parquet(
        f"{base}/findings.parquet",
        pl.concat([tagged(ep.findings, rec) for rec, ep in evidence], how="diagonal_relaxed"),
    )
    lake.write_parquet(
        f"{base}/clocks.parquet",
        pl.concat([tagged(ep.clocks, rec) for rec, ep in evidence], how="diagonal_relaxed"),
    )
    lake.write_parquet(
        f"{base}/channels.parquet",
        pl.concat([tagged(ep.channels, rec) for rec, ep in evidence], how="diagonal_relaxed"),
    )


def _with_findings(
    evidence: list[tuple[BronzeRecording, ProcessedEpisode]],
    kept: list[tuple[BronzeRecording, RecordingMeta, ProcessedEpisode, dict[str, CameraRows]]],
    found: list[tuple[str, Finding]],
) -> list[tuple[BronzeRecording, ProcessedEpisode]]:
    """``evidence`` with findings of published episodes (or pieces) added to their recording's."""
    key_of = {piece.episode_id: rec.content_key for rec, _, piece, _ in kept}
    more: dict[str, list[Finding]] = {}
    for episode_id, finding in found:
        more.setdefault(key_of[episode_id], []).append(finding)
    return [
        (
            rec,
            dataclasses.replace(
                ep,
                findings=pl.concat(
                    [ep.findings, findings_frame(more[rec.content_key])], how="diagonal_relaxed"
                ),
            ),
        )
        if rec.content_key in more
        else (rec, ep)
        for rec, ep in evidence
    ]


def _stack_cameras(per_episode: list[dict[str, CameraRows]]) -> dict[str, list[CameraRows]]:
    """Each camera's rows over the batch's episodes, in episode order."""
    names = sorted({name for d in per_episode for name in d})
    return {name: [d[name] for d in per_episode if name in d] for name in names}
