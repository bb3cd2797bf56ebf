"""From a standardized `Recording` to a `ProcessedEpisode`: clean, align, resample, label, score.

This module wires the pure transforms of `teleop_lake.cleaning`, `teleop_lake.alignment` and
`teleop_lake.labeling` together for one recording; it does no IO. The pipeline stage calls
`process_recording` and writes what it returns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from teleop_lake.alignment import (
    AlignmentParams,
    ClockEstimate,
    estimate_operator_clock,
    grid_times,
    operator_to_robot_ns,
    stream_to_robot_clock,
)
from teleop_lake.alignment.clock_model import clocks_frame
from teleop_lake.alignment.frames import FrameColumns, GridStream, frames_frame
from teleop_lake.canonical import (
    STREAM_ARM_TARGET,
    STREAM_HAND_COMMAND,
    STREAM_HAND_STATE,
    STREAM_HEAD_POSE,
    STREAM_JOINT_COMMAND,
    STREAM_JOINT_STATE,
    Recording,
    SignalStream,
)
from teleop_lake.cleaning import (
    CleanedStream,
    CleaningParams,
    Finding,
    QualityGates,
    check_camera_stream,
    clean_signal_stream,
    detect_frozen,
    findings_frame,
    quality_score,
)
from teleop_lake.cleaning.findings import covered_s
from teleop_lake.cleaning.limits import channel_limits
from teleop_lake.cleaning.quality import LONG_FAULT_CODES, ClockState, QualityInputs, gate_reasons
from teleop_lake.labeling import Label, LabelingParams, label_episode
from teleop_lake.rejection import Reason, RecordingRejected
from teleop_lake.robots import RobotModel
from teleop_lake.tasks import TaskSpec

REQUIRED_FOR_DROPOUT_FLAG = (
    STREAM_JOINT_STATE,
    STREAM_JOINT_COMMAND,
    STREAM_ARM_TARGET,
    STREAM_HAND_COMMAND,
    STREAM_HAND_STATE,
)
HEAD_POSITION = ("position_m.x", "position_m.y", "position_m.z")
HEAD_ORIENTATION = ("orientation.qx", "orientation.qy", "orientation.qz", "orientation.qw")


@dataclass(frozen=True)
class ProcessingParams:
    """Every parameter of the processing; `param_hash` goes into what a release records."""

    grid_rate_hz: float = 50.0
    """Training grid rate: the rate the partner policies train at (a 20 ms period)."""
    min_duration_s: float = 2.0
    """Shorter joint_state spans are rejected (too_short): too little to align and label."""
    cleaning: CleaningParams = field(default_factory=CleaningParams)
    alignment: AlignmentParams = field(default_factory=AlignmentParams)
    labeling: LabelingParams = field(default_factory=LabelingParams)
    gates: QualityGates = field(default_factory=QualityGates)

    def param_hash(self) -> str:
        """sha256 of the parameters as canonical JSON (stable across runs and machines)."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


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


def _reject_early(recording: Recording, robot: RobotModel, params: ProcessingParams) -> None:
    js = recording.signal(STREAM_JOINT_STATE)
    file = recording.meta.recording_id
    if js is None or js.n_samples < 2:
        raise RecordingRejected(
            Reason(
                "missing_stream",
                "no joint_state samples: nothing to build frames on",
                file,
                STREAM_JOINT_STATE,
            )
        )
    wanted = [
        f"{q}.{j}"
        for q in ("position_rad", "velocity_rad_s", "effort_nm")
        for j in robot.joint_names
    ]
    missing = [c for c in wanted if c not in js.channels]
    if missing:
        raise RecordingRejected(
            Reason(
                "missing_stream",
                f"joint_state lacks {len(missing)} canonical channels "
                f"(first: {', '.join(missing[:3])}); check the center profile's joint_order",
                file,
                STREAM_JOINT_STATE,
            )
        )
    span_s = (int(np.max(js.t_ns)) - int(np.min(js.t_ns))) / 1e9
    if span_s < params.min_duration_s:
        raise RecordingRejected(
            Reason(
                "too_short",
                f"joint_state spans {span_s:.2f} s, under the "
                f"{params.min_duration_s:.1f} s minimum",
                file,
                STREAM_JOINT_STATE,
            )
        )


def _on_robot_clock(finding: Finding, clock: ClockEstimate) -> Finding:
    start, end = operator_to_robot_ns(np.array([finding.start_ns, finding.end_ns]), clock)
    return finding.shifted(int(start), int(end))


def _frozen_for(
    state: CleanedStream, command: SignalStream | None, params: CleaningParams, mode: str
) -> tuple[np.ndarray | None, tuple[Finding, ...]]:
    if command is None:
        return None, ()
    s = state.stream
    target = "target_rad." if mode == "joint" else "closure."
    column = np.array(
        [
            command.channels.index(target + c.partition(".")[2])
            if target + c.partition(".")[2] in command.channels
            else -1
            for c in s.channels
        ]
    )
    result = detect_frozen(
        s.name,
        s.t_ns,
        s.values,
        s.channels,
        command.t_ns,
        command.values,
        column,
        params,
        "joint" if mode == "joint" else "hand",
    )
    return result.mask, result.findings


def process_recording(
    recording: Recording,
    robot: RobotModel,
    task: TaskSpec | None,
    episode_id: str,
    params: ProcessingParams,
) -> ProcessedEpisode:
    """Clean, align, resample, label and score one standardized recording.

    Raises `RecordingRejected` only when no frames can be built (no or too short joint_state,
    canonical joint channels missing); every other problem is a finding, a flag or a gate.
    """
    _reject_early(recording, robot, params)
    cp = params.cleaning
    cleaned: dict[str, CleanedStream] = {}
    for name, stream in recording.signals.items():
        lower, upper = (
            channel_limits(robot, stream.channels)
            if name in (STREAM_JOINT_STATE, STREAM_HAND_STATE, STREAM_HAND_COMMAND)
            else (None, None)
        )
        cleaned[name] = clean_signal_stream(stream, cp, lower, upper)
    js = cleaned[STREAM_JOINT_STATE].stream
    t_ref = int(js.t_ns[0])

    operator = [c.stream for c in cleaned.values() if c.stream.clock == "operator"]
    needs_clock = bool(operator) or any(c.clock == "operator" for c in recording.cameras.values())
    if needs_clock:
        arm = cleaned.get(STREAM_ARM_TARGET)
        cmd = cleaned.get(STREAM_JOINT_COMMAND)
        clock = estimate_operator_clock(
            arm.stream if arm else None,
            cmd.stream if cmd else None,
            operator,
            robot.control_latency_ms,
            t_ref,
            params.alignment,
        )
    else:
        clock = ClockEstimate.identity(t_ref)

    findings: list[Finding] = []
    on_robot: dict[str, CleanedStream] = {}
    for name, c in cleaned.items():
        if c.stream.clock == "robot":
            on_robot[name] = c
            findings.extend(c.findings)
        elif clock.resolved:
            gaps = replace(
                c.gaps,
                start_ns=operator_to_robot_ns(c.gaps.start_ns, clock),
                end_ns=operator_to_robot_ns(c.gaps.end_ns, clock),
            )
            on_robot[name] = replace(c, stream=stream_to_robot_clock(c.stream, clock), gaps=gaps)
            findings.extend(_on_robot_clock(f, clock) for f in c.findings)
        else:
            findings.extend(c.findings)  # left on the operator clock: the clock is unknown

    js_clean = on_robot[STREAM_JOINT_STATE]
    cmd_stream = on_robot[STREAM_JOINT_COMMAND].stream if STREAM_JOINT_COMMAND in on_robot else None
    js_frozen, js_frozen_findings = _frozen_for(js_clean, cmd_stream, cp, "joint")
    hand_frozen: np.ndarray | None = None
    hand_frozen_findings: tuple[Finding, ...] = ()
    if STREAM_HAND_STATE in on_robot:
        hand_cmd = on_robot.get(STREAM_HAND_COMMAND)
        hand_frozen, hand_frozen_findings = _frozen_for(
            on_robot[STREAM_HAND_STATE], hand_cmd.stream if hand_cmd else None, cp, "hand"
        )
    findings.extend(js_frozen_findings)
    findings.extend(hand_frozen_findings)
    frozen_masks = {STREAM_JOINT_STATE: js_frozen, STREAM_HAND_STATE: hand_frozen}

    t_grid = grid_times(int(js.t_ns[0]), int(js.t_ns[-1]), params.grid_rate_hz)
    if len(t_grid) < 2:
        raise RecordingRejected(
            Reason(
                "too_short",
                "fewer than two grid frames",
                recording.meta.recording_id,
                STREAM_JOINT_STATE,
            )
        )
    cols = FrameColumns(t_grid, cp.interpolated_min_periods, params.alignment.edge_hold_periods)

    def grid_stream(name: str) -> GridStream | None:
        c = on_robot.get(name)
        if c is None:
            return None
        dropouts = (
            tuple(zip(c.gaps.start_ns.tolist(), c.gaps.end_ns.tolist(), strict=True))
            if name in REQUIRED_FOR_DROPOUT_FLAG
            else ()
        )
        return GridStream(
            name,
            c.stream.t_ns,
            c.stream.channels,
            c.stream.values,
            c.period_ns,
            c.spike,
            c.limit,
            frozen_masks.get(name),
            dropouts,
        )

    joints, arms, hands = robot.joint_names, robot.arm_joint_names, robot.hand_joints
    state = grid_stream(STREAM_JOINT_STATE)
    cols.add_stream(
        state,
        [
            (f"{q}.{j}", f"obs.{q}.{j}")
            for q in ("position_rad", "velocity_rad_s", "effort_nm")
            for j in joints
        ],
    )
    cols.add_stream(
        grid_stream(STREAM_HAND_STATE), [(f"closure.{h}", f"obs.hand_closure.{h}") for h in hands]
    )
    head = grid_stream(STREAM_HEAD_POSE)
    cols.add_stream(head, [(c, f"obs.head_position_m.{c[-1]}") for c in HEAD_POSITION])
    cols.add_stream(
        head,
        [(c, f"obs.head_orientation.{c.partition('.')[2]}") for c in HEAD_ORIENTATION],
        method="slerp",
    )
    cols.add_stream(
        grid_stream(STREAM_JOINT_COMMAND),
        [(f"target_rad.{j}", f"action.target_rad.{j}") for j in joints],
    )
    cols.add_stream(
        grid_stream(STREAM_ARM_TARGET),
        [(f"target_rad.{j}", f"action.arm_target_rad.{j}") for j in arms],
    )
    cols.add_stream(
        grid_stream(STREAM_HAND_COMMAND),
        [(f"closure.{h}", f"action.hand_closure.{h}") for h in hands],
        method="previous",
    )

    for name, camera in sorted(recording.cameras.items()):
        if camera.clock == "operator":
            if not clock.resolved:
                continue
            camera = stream_to_robot_clock(camera, clock)
        check = check_camera_stream(camera, cp)
        findings.extend(check.findings)
        if np.isfinite(check.period_ns):
            cols.add_camera(
                name,
                check.t_capture_ns,
                check.frame_index,
                check.period_ns,
                params.alignment.max_camera_distance_periods,
            )

    residual = np.full(len(t_grid), np.nan, dtype=np.float32)
    if clock.resolved and len(clock.residual_t_ns):
        residual[:] = np.interp(t_grid, clock.residual_t_ns, np.abs(clock.residual_ms))

    frames = frames_frame(episode_id, t_grid, cols, residual)
    return _finish(
        recording, task, episode_id, params, frames, findings, clock, needs_clock, cleaned
    )


def _finish(
    recording: Recording,
    task: TaskSpec | None,
    episode_id: str,
    params: ProcessingParams,
    frames: pl.DataFrame,
    findings: list[Finding],
    clock: ClockEstimate,
    needs_clock: bool,
    cleaned: dict[str, CleanedStream],
) -> ProcessedEpisode:
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
    state = ClockState(needs_clock, clock.resolved, clock.uncertainty_ms, clock.method)
    summary, reasons = _assess(frames, findings, clock, state, params, recording)
    whole = ProcessedEpisode(
        episode_id=episode_id,
        frames=frames,
        findings=findings_frame(findings),
        clocks=clocks_frame(recording, clock),
        summary=summary,
        label=label,
        publishable=not reasons,
        gate_reasons=tuple(reasons),
    )
    codes = {r.code for r in reasons}
    if params.gates.long_fault_policy != "split" or not codes or not codes <= LONG_FAULT_CODES:
        return whole
    return _split(whole, findings, clock, state, params, recording)


def _assess(
    frames: pl.DataFrame,
    findings: list[Finding],
    clock: ClockEstimate,
    state: ClockState,
    params: ProcessingParams,
    recording: Recording,
) -> tuple[dict[str, Any], list[Reason]]:
    """The summary (quality score, counts, clock) and the gate reasons of an episode's frames,
    given the findings inside its span."""
    t = frames["t_ns"]
    duration_s = (int(t[-1]) - int(t[0])) / 1e9
    spikes = [f for f in findings if f.kind == "spike"]
    dropouts = [f for f in findings if f.kind == "dropout"]
    frozen = [f for f in findings if f.kind == "frozen"]
    gates = params.gates
    inputs = QualityInputs(
        dropout_fraction=_share(frames, "flag.dropout"),
        frozen_fraction=_share(frames, "flag.frozen"),
        limit_fraction=_share(frames, "flag.limit_violation"),
        interpolated_fraction=_share(frames, "flag.interpolated"),
        spikes_per_min=len(spikes) / max(duration_s / 60.0, 1e-9),
        clock_uncertainty_ms=clock.uncertainty_ms if state.needed and clock.resolved else None,
        clock_resolved=clock.resolved or not state.needed,
    )
    score = quality_score(inputs, gates.weights)
    reasons = gate_reasons(
        findings, score, state, params.cleaning, gates, recording.meta.recording_id
    )
    operator_known = state.needed and clock.resolved
    summary: dict[str, Any] = {
        "duration_s": duration_s,
        "n_frames": frames.height,
        "start_ns": int(t[0]),
        "end_ns": int(t[-1]),
        "quality_score": score,
        "n_spikes": len(spikes),
        "n_dropouts": len(dropouts),
        "dropout_total_s": covered_s([(f.start_ns, f.end_ns) for f in dropouts]),
        "n_frozen": len(frozen),
        "frozen_total_s": covered_s([(f.start_ns, f.end_ns) for f in frozen]),
        "operator_clock_offset_ms": clock.offset_ns / 1e6 if operator_known else None,
        "operator_clock_drift_ppm": clock.drift_ppm if operator_known else None,
        "clock_uncertainty_ms": clock.uncertainty_ms if operator_known else None,
    }
    return summary, reasons


def _share(frames: pl.DataFrame, flag: str) -> float:
    """Share of the rows carrying ``flag``."""
    return float(frames[flag].cast(pl.Float64).to_numpy().mean()) if frames.height else 0.0


def long_fault_spans(findings: list[Finding], cp: CleaningParams) -> list[tuple[int, int]]:
    """Robot-clock spans of the faults a ``split`` policy cuts at: joint_state dropouts over
    ``max_dropout_s`` and frozen segments over ``max_frozen_s`` (the same tests as the gates)."""
    return sorted(
        (f.start_ns, f.end_ns)
        for f in findings
        if (
            f.kind == "dropout"
            and f.stream == STREAM_JOINT_STATE
            and f.duration_s > cp.max_dropout_s
        )
        or (f.kind == "frozen" and f.duration_s > cp.max_frozen_s)
    )


def piece_rows(t_ns: np.ndarray, cuts: list[tuple[int, int]], min_piece_s: float) -> list[slice]:
    """Row ranges of the grid left between the cuts (a row inside ``[start, end]`` of a cut is
    left out), keeping those covering at least ``min_piece_s``."""
    keep = np.ones(len(t_ns), dtype=bool)
    for start, end in cuts:
        keep &= ~((t_ns >= start) & (t_ns <= end))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if (int(t_ns[b - 1]) - int(t_ns[a])) / 1e9 >= min_piece_s:
            out.append(slice(int(a), int(b)))
    return out


def _split(
    whole: ProcessedEpisode,
    findings: list[Finding],
    clock: ClockEstimate,
    state: ClockState,
    params: ProcessingParams,
    recording: Recording,
) -> ProcessedEpisode:
    """``whole`` with ``pieces``: its frames cut at every long fault (see `QualityGates`)."""
    frames = whole.frames
    t_ns = frames["t_ns"].to_numpy()
    cuts = long_fault_spans(findings, params.cleaning)
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
        summary, reasons = _assess(part, inside, clock, state, params, recording)
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
