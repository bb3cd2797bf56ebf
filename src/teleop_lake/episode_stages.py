"""The stages of processing one recording, each a pure transform: check, clean, estimate the
operator clock, put every stream on the robot clock, find frozen sensors, judge each channel.

`teleop_lake.processing.process_recording` calls them in order (then `episode_frames` builds the
grid and `episode_gates` scores and gates). No IO.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from teleop_lake.alignment import (
    ClockEstimate,
    estimate_operator_clock,
    operator_to_robot_ns,
    stream_to_robot_clock,
)
from teleop_lake.alignment.operator_clock import Latency
from teleop_lake.canonical import (
    STREAM_ARM_TARGET,
    STREAM_HAND_COMMAND,
    STREAM_HAND_STATE,
    STREAM_HEAD_POSE,
    STREAM_JOINT_COMMAND,
    STREAM_JOINT_STATE,
    ClockName,
    Recording,
    SignalStream,
)
from teleop_lake.cleaning import (
    CleanedStream,
    CleaningParams,
    Finding,
    clean_signal_stream,
    detect_frozen,
)
from teleop_lake.cleaning.channels import channel_statuses, channels_frame
from teleop_lake.cleaning.findings import Evidence
from teleop_lake.cleaning.limits import channel_limits, rate_limits
from teleop_lake.config.robots import RobotModel
from teleop_lake.rejection import Reason, RecordingRejected

if TYPE_CHECKING:
    from teleop_lake.processing import ProcessingParams

COMMAND_STREAMS = (STREAM_JOINT_COMMAND, STREAM_ARM_TARGET, STREAM_HAND_COMMAND)
"""Streams of commands (what the robot was told), not of measurements."""
HEAD_POSITION = ("position_m.x", "position_m.y", "position_m.z")
HEAD_ORIENTATION = ("orientation.qx", "orientation.qy", "orientation.qz", "orientation.qw")


def check_recording(recording: Recording, robot: RobotModel, params: ProcessingParams) -> None:
    """Refuse a recording no frames can be built on (the first stage)."""
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
        for q in ("position_rad", "velocity_rad_s", "effort_n_m")
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


def clean_streams(
    recording: Recording, robot: RobotModel, cp: CleaningParams
) -> dict[str, CleanedStream]:
    """Every signal stream cleaned on its own clock (order, duplicates, spikes, limits, gaps).

    A command channel that holds one value for the whole recording (the idle hand's fingers
    told to stay open) is a command, not a field left unfilled: only sensor streams can have
    unpopulated channels."""
    cleaned: dict[str, CleanedStream] = {}
    for name, stream in recording.signals.items():
        lower, upper = (
            channel_limits(robot, stream.channels)
            if name in (STREAM_JOINT_STATE, STREAM_HAND_STATE, STREAM_HAND_COMMAND)
            else (None, None)
        )
        # a joint sensor's position cannot step faster than the joint moves
        rate = rate_limits(robot, stream.channels) if name == STREAM_JOINT_STATE else None
        c = clean_signal_stream(stream, cp, lower, upper, rate)
        if name in COMMAND_STREAMS:
            c = replace(c, unpopulated=np.zeros_like(c.unpopulated))
        cleaned[name] = c
    return cleaned


def estimate_clock(
    recording: Recording,
    cleaned: dict[str, CleanedStream],
    robot: RobotModel,
    params: ProcessingParams,
) -> ClockEstimate:
    """The operator clock from every candidate (`teleop_lake.alignment.operator_clock`), or the
    identity when no stream is stamped on it."""
    t_ref = int(cleaned[STREAM_JOINT_STATE].stream.t_ns[0])
    streams = [c.stream for c in cleaned.values()]
    operator = [s for s in streams if s.clock == "operator"]
    if not operator and not any(c.clock == "operator" for c in recording.cameras.values()):
        return ClockEstimate.identity(t_ref)
    arm = cleaned.get(STREAM_ARM_TARGET)
    cmd = cleaned.get(STREAM_JOINT_COMMAND)
    return estimate_operator_clock(
        arm.stream if arm else None,
        cmd.stream if cmd else None,
        operator,
        Latency(robot.control_latency_ms, robot.control_latency_spread_ms),
        t_ref,
        params.alignment,
        robot_streams=[s for s in streams if s.clock == "robot"],
    )


@dataclass(frozen=True, eq=False)
class OnRobotClock:
    """The cleaned streams that could be put on the robot clock, and every finding so far (on
    the robot clock where the clock is known, else on the stream's own)."""

    streams: dict[str, CleanedStream]
    findings: list[Finding]


def _domain_findings(clock: ClockEstimate, streams: dict[str, CleanedStream]) -> list[Finding]:
    out = []
    for d in clock.domains:
        if not d.mismatch or d.stream not in streams:
            continue
        t = streams[d.stream].stream.t_ns
        out.append(
            Finding(
                d.stream,
                "",
                "clock_domain_mismatch",
                int(t[0]),
                int(t[-1]),
                True,
                f"stamps are on the {d.observed} clock, the profile declares {d.declared}: as "
                f"declared its fastest message would take {d.transit_as_declared_ms:.1f} ms "
                f"against {d.reference_declared_ms:.1f} ms for its siblings, on the "
                f"{d.observed} clock {d.transit_as_other_ms:.1f} ms against "
                f"{d.reference_other_ms:.1f} ms; kept out of the clock estimate and aligned on "
                f"the {d.observed} clock. Check the rig's clock configuration",
                Evidence(
                    rule="clock_domain.receipt_transit",
                    value=d.transit_as_declared_ms,
                    expected=d.reference_declared_ms,
                    n_samples=len(t),
                ),
            )
        )
    return out


def to_robot_clock(cleaned: dict[str, CleanedStream], clock: ClockEstimate) -> OnRobotClock:
    """Each stream on the clock its stamps are really on, then mapped onto the robot clock;
    streams on an operator clock that could not be estimated are left out."""
    findings: list[Finding] = []
    on_robot: dict[str, CleanedStream] = {}
    for name, c in cleaned.items():
        observed = clock.observed_clock(name, c.stream.clock)
        if observed != c.stream.clock:
            on: ClockName = "robot" if observed == "robot" else "operator"
            c = replace(c, stream=replace(c.stream, clock=on))
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
    findings.extend(_domain_findings(clock, on_robot))
    return OnRobotClock(on_robot, findings)


def _on_robot_clock(finding: Finding, clock: ClockEstimate) -> Finding:
    start, end = operator_to_robot_ns(np.array([finding.start_ns, finding.end_ns]), clock)
    return finding.shifted(int(start), int(end))


def _frozen_for(
    state: CleanedStream, command: SignalStream | None, params: CleaningParams, mode: str
) -> tuple[np.ndarray, tuple[Finding, ...]]:
    s = state.stream
    target = "target_rad." if mode == "joint" else "closure."
    column = np.array(
        [
            command.channels.index(target + c.partition(".")[2])
            if command is not None and target + c.partition(".")[2] in command.channels
            else -1
            for c in s.channels
        ],
        dtype=np.int64,
    )
    judged = ~state.unpopulated & np.array([not c.startswith("state_code.") for c in s.channels])
    result = detect_frozen(
        s.name,
        s.t_ns,
        s.values,
        s.channels,
        command.t_ns if command is not None else np.zeros(0, dtype=np.int64),
        command.values if command is not None else np.zeros((0, 0)),
        column,
        params,
        "joint" if mode == "joint" else "hand",
        measured=judged,
        noise=state.noise,
    )
    return result.mask, result.findings


def detect_frozen_streams(aligned: OnRobotClock, cp: CleaningParams) -> dict[str, np.ndarray]:
    """Frozen masks of joint_state and hand_state (judged against their commands on the robot
    clock); their findings are added to ``aligned.findings``."""
    masks: dict[str, np.ndarray] = {}
    streams = aligned.streams
    for state, command, mode in (
        (STREAM_JOINT_STATE, STREAM_JOINT_COMMAND, "joint"),
        (STREAM_HAND_STATE, STREAM_HAND_COMMAND, "hand"),
    ):
        if state not in streams:
            continue
        cmd = streams.get(command)
        masks[state], found = _frozen_for(streams[state], cmd.stream if cmd else None, cp, mode)
        aligned.findings.extend(found)
    return masks


def expected_channels(recording: Recording, robot: RobotModel) -> dict[str, list[str]]:
    """Channels an episode of ``robot`` with this recording's end effector should have."""
    eef = robot.end_effector_joints(str(recording.meta.extra.get("end_effector", "hand")))
    return {
        STREAM_JOINT_STATE: [
            f"{q}.{j}"
            for q in ("position_rad", "velocity_rad_s", "effort_n_m")
            for j in robot.joint_names
        ],
        STREAM_JOINT_COMMAND: [f"target_rad.{j}" for j in robot.joint_names],
        STREAM_ARM_TARGET: [f"target_rad.{j}" for j in robot.arm_joint_names],
        STREAM_HAND_COMMAND: [f"closure.{j}" for j in eef],
        STREAM_HAND_STATE: [f"closure.{j}" for j in eef],
        STREAM_HEAD_POSE: [*HEAD_POSITION, *HEAD_ORIENTATION],
    }


def judge_channels(
    recording: Recording, aligned: OnRobotClock, robot: RobotModel, cp: CleaningParams
) -> pl.DataFrame:
    """The status of every channel (`teleop_lake.cleaning.channels`)."""
    streams = {
        name: (
            c.stream.channels,
            c.noise,
            c.unpopulated,
            ~np.isfinite(c.stream.values).any(axis=0) if c.stream.n_samples else c.unpopulated,
        )
        for name, c in recording_streams(recording, aligned).items()
    }
    rows = channel_statuses(
        streams, expected_channels(recording, robot), aligned.findings, robot.is_required, cp
    )
    return channels_frame(rows)


def recording_streams(recording: Recording, aligned: OnRobotClock) -> dict[str, CleanedStream]:
    """The cleaned streams of the recording that made it onto the robot clock."""
    return {n: aligned.streams[n] for n in recording.signals if n in aligned.streams}
