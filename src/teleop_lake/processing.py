"""From a standardized `Recording` to a `ProcessedEpisode`: clean, align, resample, label, score.

`process_recording` is the list of stages, one call each: check, clean, estimate the clock,
put streams on the robot clock, find frozen sensors, judge channels (`teleop_lake.episode_stages`),
build the grid (`teleop_lake.episode_frames`), then gate and label (`teleop_lake.episode_gates`,
`teleop_lake.labeling`). Every stage is a pure transform; this module does no IO. The pipeline
stage calls `process_recording` and writes what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from teleop_lake.alignment import ClockEstimate
from teleop_lake.alignment.clock_model import clocks_frame
from teleop_lake.canonical import STREAM_HAND_STATE, Recording
from teleop_lake.cleaning import (
    CameraCheck,
    CleanedStream,
    Finding,
    findings_frame,
)
from teleop_lake.cleaning.quality import LONG_FAULT_CODES, ClockState
from teleop_lake.config.robots import RobotModel
from teleop_lake.config.tasks import TaskSpec
from teleop_lake.episode_frames import build_frames, check_cameras
from teleop_lake.episode_gates import assess, gates_publishing, long_fault_spans, piece_rows
from teleop_lake.episode_stages import (
    check_recording,
    clean_streams,
    detect_frozen_streams,
    estimate_clock,
    judge_channels,
    to_robot_clock,
)
from teleop_lake.labeling import Label, label_episode
from teleop_lake.processing_params import ProcessingParams
from teleop_lake.rejection import Reason


@dataclass(frozen=True, eq=False)
class ProcessedEpisode:
    episode_id: str
    frames: pl.DataFrame
    findings: pl.DataFrame
    clocks: pl.DataFrame
    summary: dict[str, Any]
    label: Label
    publishable: bool
    gate_reasons: tuple[Reason, ...]
    pieces: tuple[ProcessedEpisode, ...] = ()
    """Under a ``split`` policy, the episodes cut from this one at its long faults (the whole
    stays unpublishable; its evidence is the recording's)."""
    channels: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Status of every channel (`teleop_lake.cleaning.channels.CHANNELS_SCHEMA`)."""
    clock: ClockEstimate | None = None
    cameras: dict[str, CameraCheck] = field(default_factory=dict)
    """Each camera's usable frames on the robot clock (numbers and capture instants, no bytes):
    what the release's camera tables hold for this episode's span."""

    def to_publish(self) -> tuple[ProcessedEpisode, ...]:
        """The episodes that go into a release: the whole, or its publishable pieces."""
        if self.pieces:
            return tuple(p for p in self.pieces if p.publishable)
        return (self,) if self.publishable else ()

    def refusal(self) -> tuple[Reason, ...]:
        """Why nothing of it is published (empty when something is)."""
        if self.to_publish():
            return ()
        reasons = list(self.gate_reasons)
        for p in self.pieces:
            reasons += [r for r in p.gate_reasons if r not in reasons]
        return tuple(reasons)


def process_recording(
    recording: Recording,
    robot: RobotModel,
    task: TaskSpec | None,
    episode_id: str,
    params: ProcessingParams,
) -> ProcessedEpisode:
    """Clean, align, resample, label and score one standardized recording: one call per stage.

    Raises `RecordingRejected` only when no frames can be built (no or too short joint_state,
    canonical joint channels missing); every other problem is a finding, a flag or a gate.
    """
    check_recording(recording, robot, params)
    cleaned = clean_streams(recording, robot, params.cleaning)
    clock = estimate_clock(recording, cleaned, robot, params)
    aligned = to_robot_clock(cleaned, clock)
    frozen = detect_frozen_streams(aligned, params.cleaning)
    channels = judge_channels(recording, aligned, robot, params.cleaning)
    cameras = check_cameras(recording, clock, params.cleaning)
    aligned.findings.extend(f for c in cameras.values() for f in c.findings)
    frames = build_frames(recording, aligned, frozen, cameras, clock, robot, params, episode_id)
    return _finish(
        recording,
        robot,
        task,
        episode_id,
        params,
        frames,
        aligned.findings,
        clock,
        cleaned,
        channels,
        cameras,
    )


def _finish(
    recording: Recording,
    robot: RobotModel,
    task: TaskSpec | None,
    episode_id: str,
    params: ProcessingParams,
    frames: pl.DataFrame,
    findings: list[Finding],
    clock: ClockEstimate,
    cleaned: dict[str, CleanedStream],
    channels: pl.DataFrame,
    cameras: dict[str, CameraCheck],
) -> ProcessedEpisode:
    """Gate and label (the last stages)."""
    t = frames["t_ns"]
    duration_s = (int(t[-1]) - int(t[0])) / 1e9
    hand_state = cleaned.get(STREAM_HAND_STATE)
    label = label_episode(
        recording.events,
        duration_s,
        hand_state.stream if hand_state else None,
        task,
        params.labeling,
    )
    needs_clock = clock.status != "reference"
    state = ClockState(
        needs_clock, clock.resolved, clock.uncertainty_ms, clock.method, clock.status
    )
    if state.status == "disagreement" and params.gates.clock_disagreement_policy == "review":
        label = replace(
            label,
            needs_review=True,
            review_reason=_joined(
                label.review_reason, f"operator clock candidates disagree: {clock.method}"
            ),
        )
    gating = [f for f in findings if gates_publishing(f, robot)]
    summary, reasons = assess(frames, gating, findings, clock, state, params, recording)
    whole = ProcessedEpisode(
        episode_id=episode_id,
        frames=frames,
        findings=findings_frame(findings),
        clocks=clocks_frame(recording, clock),
        summary=summary,
        label=label,
        publishable=not reasons,
        gate_reasons=tuple(reasons),
        channels=channels,
        clock=clock,
        cameras=cameras,
    )
    codes = {r.code for r in reasons}
    if params.gates.long_fault_policy != "split" or not codes or not codes <= LONG_FAULT_CODES:
        return whole
    return _split(whole, gating, findings, clock, state, params, recording)


def _joined(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


def _split(
    whole: ProcessedEpisode,
    gating: list[Finding],
    findings: list[Finding],
    clock: ClockEstimate,
    state: ClockState,
    params: ProcessingParams,
    recording: Recording,
) -> ProcessedEpisode:
    """``whole`` with ``pieces``: its frames cut at every long fault (see `QualityGates`)."""
    frames = whole.frames
    t_ns = frames["t_ns"].to_numpy()
    cuts = long_fault_spans(gating, params.cleaning)
    rows = piece_rows(t_ns, cuts, params.gates.min_piece_s)
    pieces = []
    for k, r in enumerate(rows, start=1):
        piece_id = f"{whole.episode_id}-p{k}"
        part = frames[r].with_columns(
            pl.lit(piece_id).alias("episode_id"),
            pl.int_range(pl.len(), dtype=pl.Int32).alias("frame_index"),
            ((pl.col("t_ns") - pl.col("t_ns").first()) / 1e9).alias("t_rel_s"),
        )
        t0, t1 = int(t_ns[r.start]), int(t_ns[r.stop - 1])
        inside = [f for f in findings if f.start_ns <= t1 and f.end_ns >= t0]
        gating_inside = [f for f in gating if f.start_ns <= t1 and f.end_ns >= t0]
        summary, reasons = assess(part, gating_inside, inside, clock, state, params, recording)
        summary.update({"split_from": whole.episode_id, "piece_index": k})
        pieces.append(
            replace(
                whole,
                episode_id=piece_id,
                frames=part,
                findings=findings_frame(inside),
                summary=summary,
                publishable=not reasons,
                gate_reasons=tuple(reasons),
            )
        )
    if not pieces:
        note = f"; split policy: no piece of at least {params.gates.min_piece_s:g} s around it"
        noted = tuple(replace(r, message=r.message + note) for r in whole.gate_reasons)
        return replace(whole, gate_reasons=noted)
    return replace(whole, pieces=tuple(pieces))
