"""Everything one simulated episode contains, before it is written: story, streams, frames.

`simulate_episode` ties the pieces together for one recording: draws the story, runs the
physics, samples the streams, drops a missing stream, injects signal faults, renders the
camera frames and lists the /teleop/event messages. Pure: no IO (bytes of JPEG frames are
returned, not written).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teleop_lake.canonical import CAMERA_STREAMS
from teleop_lake.robots import RobotModel
from teleop_lake.simulate.camera import render_frames
from teleop_lake.simulate.faults import FaultRecord, inject_faults
from teleop_lake.simulate.kuavo_bag import BagEvent
from teleop_lake.simulate.motion import simulate_physics
from teleop_lake.simulate.params import SimulationProfile
from teleop_lake.simulate.story import Story, draw_story
from teleop_lake.simulate.streams import SimStream, sample_streams
from teleop_lake.tasks import TaskSpec


@dataclass(frozen=True, eq=False)
class EpisodeData:
    story: Story
    start_ns: int
    position_noise_rad: float
    streams: dict[str, SimStream]
    frames: dict[str, list[bytes]]
    events: tuple[BagEvent, ...]
    faults: tuple[FaultRecord, ...]

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


def simulate_episode(
    center: str,
    task: TaskSpec,
    robot: RobotModel,
    sim: SimulationProfile,
    start_ns: int,
    duration_scale: float,
    seed_seq: np.random.SeedSequence,
) -> EpisodeData:
    """One episode of ``task`` at ``center`` starting at robot-clock ``start_ns``.

    ``seed_seq`` is the episode's own seed sequence; it is split into independent
    generators for the story, the motion, the sampling, the faults and the cameras, so
    changing one part's draws leaves the others alone.
    """
    story_rng, motion_rng, sample_rng, fault_rng, camera_rng = (
        np.random.default_rng(s) for s in seed_seq.spawn(5)
    )
    story = draw_story(task, center, sim, duration_scale, story_rng)
    params = sim.motion
    noise_rad = float(motion_rng.uniform(*params.position_noise_rad))
    physics = simulate_physics(robot, story, params, motion_rng)
    streams = sample_streams(
        physics, robot, story, start_ns, noise_rad, params, sim.jitter, sample_rng
    )
    if story.missing_stream is not None:
        streams.pop(story.missing_stream)
    streams, faults = inject_faults(streams, sim.faults, noise_rad, fault_rng)
    frames = {
        cam: render_frames(cam, streams[cam].values, camera_rng)
        for cam in CAMERA_STREAMS
        if cam in streams
    }
    return EpisodeData(
        story=story,
        start_ns=start_ns,
        position_noise_rad=noise_rad,
        streams=streams,
        frames=frames,
        events=_events(story, start_ns),
        faults=tuple(faults),
    )
