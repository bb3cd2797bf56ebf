"""Everything one simulated episode contains, before it is written: story, streams, frames.

`simulate_episode` ties the pieces together for one recording of one rig: draws the story
and the recording's conditions around the rig, runs the physics, samples the streams, drops
a missing stream (and the end-effector state of a rig that publishes none), injects signal
faults, renders the camera frames, lists the /teleop/event messages and reads off where
joints sat on a stop. Pure: no IO (bytes of JPEG frames are returned, not written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from teleop_lake.canonical import CAMERA_STREAMS, STREAM_HAND_STATE, STREAM_JOINT_STATE
from teleop_lake.config.centers import load_profile
from teleop_lake.config.robots import RobotModel
from teleop_lake.config.tasks import TaskSpec
from teleop_lake.simulate.camera import render_frames
from teleop_lake.simulate.faults import FaultRecord, inject_faults
from teleop_lake.simulate.kuavo_bag import BagEvent
from teleop_lake.simulate.motion import Physics, simulate_physics
from teleop_lake.simulate.params import JitterLevels, SimulationProfile
from teleop_lake.simulate.rig import (
    RecordingConditions,
    Rig,
    draw_conditions,
    nominal_rig,
)
from teleop_lake.simulate.stops import StopRest, stop_spans
from teleop_lake.simulate.story import Story, draw_story
from teleop_lake.simulate.streams import SimStream, other_clock, sample_streams


@dataclass(frozen=True)
class AtStopSpan:
    """Where a joint's noise-free position sat on its stop: ``[start_ns, end_ns)``, robot clock."""

    rest: StopRest
    start_ns: int
    end_ns: int


@dataclass(frozen=True, eq=False)
class EpisodeData:
    story: Story
    start_ns: int
    position_noise_rad: float
    streams: dict[str, SimStream]
    frames: dict[str, Sequence[bytes]]
    events: tuple[BagEvent, ...]
    faults: tuple[FaultRecord, ...]
    rig: Rig
    conditions: RecordingConditions
    jitter: JitterLevels
    at_stop: tuple[AtStopSpan, ...] = ()

    @property
    def duration_ns(self) -> int:
        return round(self.story.timeline.duration_s * 1e9)


def _events(story: Story, start_ns: int) -> tuple[BagEvent, ...]:
    tl = story.timeline

    def at(t_s: float) -> int:
        return start_ns + round(t_s * 1e9)

    events = [BagEvent(start_ns, "recording_start")]
    for t_s, text in (
        (tl.robot_fault_s, "robot_fault"),
        (tl.estop_s, "emergency_stop"),
        (tl.abort_s, "abort"),
    ):
        if t_s is not None:
            events.append(BagEvent(at(t_s), text))
    events.append(BagEvent(at(tl.duration_s), "recording_stop"))
    return tuple(sorted(events, key=lambda e: e.t_ns))


def _at_stop(
    physics: Physics,
    robot: RobotModel,
    conditions: RecordingConditions,
    story: Story,
    start_ns: int,
) -> tuple[AtStopSpan, ...]:
    end_ns = start_ns + round(story.timeline.duration_s * 1e9)
    spans = []
    for rest, a_s, b_s in stop_spans(
        physics.t_s, physics.position_rad, robot, conditions.stop_rests
    ):
        a_ns, b_ns = start_ns + round(a_s * 1e9), min(start_ns + round(b_s * 1e9), end_ns)
        if b_ns > a_ns:
            spans.append(AtStopSpan(rest, a_ns, b_ns))
    return tuple(sorted(spans, key=lambda s: (s.rest.joint, s.start_ns)))


def _true_positions(
    physics: Physics, js: SimStream, robot: RobotModel, start_ns: int
) -> np.ndarray:
    t_s = (js.t_true_ns - start_ns) / 1e9
    return np.stack(
        [np.interp(t_s, physics.t_s, physics.position_rad[:, j]) for j in range(len(robot.joints))],
        axis=1,
    )


def simulate_episode(
    center: str,
    task: TaskSpec,
    robot: RobotModel,
    sim: SimulationProfile,
    start_ns: int,
    duration_scale: float,
    seed_seq: np.random.SeedSequence,
    *,
    rig: Rig | None = None,
    jitter: JitterLevels | None = None,
) -> EpisodeData:
    """One episode of ``task`` at ``center`` starting at robot-clock ``start_ns``.

    ``rig`` is the robot's build (`rig.draw_rig`; default a plain rig, `rig.nominal_rig`),
    ``jitter`` the center's stamp jitter and transport delays (default ``sim.jitter``).
    ``seed_seq`` is the episode's own seed sequence; it is split into independent
    generators for the story, the motion, the sampling, the faults, the cameras and the
    recording's conditions, so changing one part's draws leaves the others alone.
    """
    story_rng, motion_rng, sample_rng, fault_rng, camera_rng, conditions_rng = (
        np.random.default_rng(s) for s in seed_seq.spawn(6)
    )
    if rig is None:
        rig = nominal_rig(load_profile(center), sim.motion)
    if jitter is None:
        jitter = sim.jitter
    story = draw_story(task, center, sim, duration_scale, story_rng)
    conditions = draw_conditions(rig, robot, story, sim, conditions_rng)
    physics = simulate_physics(
        robot,
        story,
        sim.motion,
        motion_rng,
        control_latency_ms=conditions.control_latency_ms,
        end_effector=rig.end_effector,
        stop_rests=conditions.stop_rests,
    )
    clocks = {}
    if conditions.clock_mismatch_stream is not None:
        clocks[conditions.clock_mismatch_stream] = other_clock(conditions.clock_mismatch_stream)
    streams = sample_streams(
        physics,
        robot,
        story,
        start_ns,
        conditions.noise,
        rig.rates,
        jitter,
        sample_rng,
        clocks=clocks,
        velocity_populated=rig.velocity_populated,
        effort_populated=rig.effort_populated,
        claw=rig.end_effector == "claw",
    )
    if rig.end_effector_state_source is None:
        streams.pop(STREAM_HAND_STATE)
    if story.missing_stream is not None:
        streams.pop(story.missing_stream)
    js = streams.get(STREAM_JOINT_STATE)
    true_position = None if js is None else _true_positions(physics, js, robot, start_ns)
    streams, faults = inject_faults(
        streams,
        sim.faults,
        conditions.noise.position_rad,
        fault_rng,
        true_position_rad=true_position,
        arm_joints=robot.arm_joint_names,
    )
    frames: dict[str, Sequence[bytes]] = {
        cam: render_frames(cam, streams[cam].values, camera_rng, sim.cameras)
        for cam in CAMERA_STREAMS
        if cam in streams
    }
    return EpisodeData(
        story=story,
        start_ns=start_ns,
        position_noise_rad=conditions.noise.position_rad,
        streams=streams,
        frames=frames,
        events=_events(story, start_ns),
        faults=tuple(faults),
        rig=rig,
        conditions=conditions,
        jitter=jitter,
        at_stop=_at_stop(physics, robot, conditions, story, start_ns),
    )
