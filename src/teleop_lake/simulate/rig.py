"""What differs between rigs and between recordings: each robot's build, the levels around it.

A `Rig` is one robot at one station: its end effector (hands or the Leju claw), the
``eef_type`` its label tooling writes, which end-effector state topic its firmware
publishes (or none), which joint-state fields it leaves unpopulated, how its jointData
names the torque field, its encoder noise and its teleop streams' rates. `draw_rig` draws
it once per (network seed, center, station), `draw_center_jitter` a center's stamp jitter
and transport delays, `draw_conditions` what varies per recording around the rig (noise,
control latency, the label's eef_type, a stream stamped on the wrong clock, joints resting
at a stop). `recording_profile` is the center profile as the rig's recordings lay out.
The shares and ranges are `params.RigVariation` and `params.ParameterSpread`. Pure: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from teleop_lake.canonical import STREAM_HAND_COMMAND, STREAM_HAND_STATE, STREAM_HEAD_POSE
from teleop_lake.config.centers import CenterProfile
from teleop_lake.config.robots import RobotModel
from teleop_lake.simulate.kuavo_types import JOINT_DATA_EFFORT_FIELDS
from teleop_lake.simulate.labels import EEF_TYPE
from teleop_lake.simulate.params import (
    CLAW_EEF_TYPE,
    JitterLevels,
    MotionParams,
    SimulationProfile,
)
from teleop_lake.simulate.stops import StopRest, plan_stop_rests
from teleop_lake.simulate.story import Story

# The joint-state message whose jointData names its fourth field joint_torque or
# joint_current (KUAVO.md); other formats have no such name.
KUAVO_JOINT_STATE_MESSAGE = "kuavo_msgs/sensorsData"
# Streams a misconfigured rig may stamp on the other clock: operator-declared streams other
# than the arm target (whose clock defines the operator clock), and the robot's hand state.
CLOCK_MISMATCH_CANDIDATES = (STREAM_HAND_COMMAND, STREAM_HEAD_POSE, STREAM_HAND_STATE)


@dataclass(frozen=True)
class StreamRates:
    """Nominal rates (Hz) of one rig's streams."""

    joint_rate_hz: float
    arm_target_rate_hz: float
    hand_command_rate_hz: float
    hand_state_rate_hz: float
    head_pose_rate_hz: float
    camera_rate_hz: float


@dataclass(frozen=True)
class NoiseLevels:
    """Gaussian noise sigmas of one recording's measured channels."""

    position_rad: float
    velocity_rad_s: float
    acceleration_rad_s2: float
    effort_n_m: float
    hand_state: float  # closure 0..1


@dataclass(frozen=True)
class Rig:
    """One robot at one station: its build and firmware, the same in all its recordings.

    ``end_effector_state_source`` indexes the candidates (`StreamMapping.candidates`) of the
    end effector's state stream in the center profile: 0 the primary topic, 1 its first
    alternative; None when the rig publishes no end-effector state. ``effort_field`` is
    jointData's fourth field on Kuavo-format rigs, None for other formats.
    ``position_noise_rad`` None: the recording draws it from `MotionParams`.
    ``rosbag2_compression``: "" (none), "message" or "file", rosbag2's own zstd compression
    on ROS 2 rigs. ``mcap_storage``: how a ROS 2 rig's MCAP storage is configured: ""
    (uncompressed chunks, as rosbags writes them), "fastwrite" (no chunks, no CRCs) or
    "zstd_chunks" (zstd-compressed chunks with CRCs).
    """

    end_effector: str  # "hand" | "claw"
    eef_type: str
    end_effector_state_source: int | None
    velocity_populated: bool
    effort_populated: bool
    effort_field: str | None
    position_noise_rad: float | None
    rates: StreamRates
    rosbag2_compression: str = ""
    mcap_storage: str = ""


@dataclass(frozen=True)
class RecordingConditions:
    """What varies per recording around its rig."""

    noise: NoiseLevels
    control_latency_ms: float
    eef_type: str | None  # what metadata.json names; None: the key is absent
    clock_mismatch_stream: str | None
    stop_rests: tuple[StopRest, ...]


def nominal_rates(params: MotionParams) -> StreamRates:
    return StreamRates(
        joint_rate_hz=params.joint_rate_hz,
        arm_target_rate_hz=params.arm_target_rate_hz,
        hand_command_rate_hz=params.hand_rate_hz,
        hand_state_rate_hz=params.hand_rate_hz,
        head_pose_rate_hz=params.head_pose_rate_hz,
        camera_rate_hz=params.camera_rate_hz,
    )


def _is_kuavo(profile: CenterProfile) -> bool:
    js = profile.streams.get("joint_state")
    return js is not None and js.message == KUAVO_JOINT_STATE_MESSAGE


def nominal_rig(profile: CenterProfile, params: MotionParams) -> Rig:
    """A plain rig: hands on the primary hand-state topic, every field populated, fixed rates."""
    return Rig(
        end_effector="hand",
        eef_type=EEF_TYPE,
        end_effector_state_source=0,
        velocity_populated=True,
        effort_populated=True,
        effort_field=JOINT_DATA_EFFORT_FIELDS[0] if _is_kuavo(profile) else None,
        position_noise_rad=None,
        rates=nominal_rates(params),
    )


def draw_rig(profile: CenterProfile, sim: SimulationProfile, rng: np.random.Generator) -> Rig:
    """The build of one robot of ``profile``'s center (draws a fixed number of values)."""
    v, spread, params = sim.rigs, sim.spread, sim.motion
    u_claw, u_eef, u_state, u_vel, u_eff, u_field = rng.random(6)
    claw = "claw" in profile.end_effector_streams and u_claw < v.claw_share
    kind = "claw" if claw else "hand"
    names = [name for name, _ in v.hand_eef_types]
    cumulative = np.cumsum([w for _, w in v.hand_eef_types])
    pick = int(np.searchsorted(cumulative, u_eef * cumulative[-1], side="right"))
    hand_eef = names[min(pick, len(names) - 1)]
    state = profile.for_end_effector(kind).streams.get(STREAM_HAND_STATE)
    source: int | None
    if state is None:
        source = None
    elif kind == "hand" and state.alternatives:
        primary = v.hand_state_primary_share
        if u_state < primary:
            source = 0
        elif u_state < primary + v.hand_state_alternative_share:
            source = 1
        else:
            source = None
    else:
        source = 0 if u_state < v.end_effector_state_share else None
    field = None
    if _is_kuavo(profile):
        field = (
            JOINT_DATA_EFFORT_FIELDS[1]
            if u_field < v.joint_current_share
            else JOINT_DATA_EFFORT_FIELDS[0]
        )
    noise_rad: float | None = None
    rates = nominal_rates(params)
    if spread is not None:
        lo, hi = np.log(spread.position_noise_rad[0]), np.log(spread.position_noise_rad[1])
        noise_rad = float(np.exp(rng.uniform(lo, hi)))
        arm, hand_cmd, hand_state = rng.uniform(*spread.teleop_rate_hz, size=3)
        rates = replace(
            rates,
            arm_target_rate_hz=float(arm),
            hand_command_rate_hz=float(hand_cmd),
            hand_state_rate_hz=float(hand_state),
            head_pose_rate_hz=float(rng.uniform(*spread.head_pose_rate_hz)),
        )
    # drawn last, so that adding it left every earlier draw of a seed as it was
    u_compression = float(rng.random())
    compression = ""
    if profile.raw_format == "ros2-mcap":
        if u_compression < v.rosbag2_message_compression_share:
            compression = "message"
        elif u_compression < v.rosbag2_message_compression_share + v.rosbag2_file_compression_share:
            compression = "file"
    # drawn after the compression, for the same reason
    u_storage = float(rng.random())
    storage = ""
    if profile.raw_format == "ros2-mcap" and compression != "file":
        if u_storage < v.mcap_fastwrite_share:
            storage = "fastwrite"
        elif u_storage < v.mcap_fastwrite_share + v.mcap_zstd_chunks_share:
            storage = "zstd_chunks"
    return Rig(
        end_effector=kind,
        eef_type=CLAW_EEF_TYPE if claw else hand_eef,
        end_effector_state_source=source,
        velocity_populated=bool(u_vel >= v.velocity_unpopulated_share),
        effort_populated=bool(u_eff >= v.effort_unpopulated_share),
        effort_field=field,
        position_noise_rad=noise_rad,
        rates=rates,
        rosbag2_compression=compression,
        mcap_storage=storage,
    )


def draw_center_jitter(sim: SimulationProfile, rng: np.random.Generator) -> JitterLevels:
    """A center's stamp jitter and recorder transport delays (the profile's when not spread)."""
    if sim.spread is None:
        return sim.jitter
    spread = sim.spread
    scaled = sim.jitter.scaled(float(rng.uniform(*spread.stamp_jitter_factor)))
    return replace(
        scaled,
        transport_delay_min_s=float(rng.uniform(*spread.transport_delay_min_s)),
        transport_delay_max_s=float(rng.uniform(*spread.transport_delay_max_s)),
    )


def draw_conditions(
    rig: Rig,
    robot: RobotModel,
    story: Story,
    sim: SimulationProfile,
    rng: np.random.Generator,
) -> RecordingConditions:
    """What one recording of ``rig`` draws around it (the ``clean`` profile: nominal values)."""
    params, spread = sim.motion, sim.spread
    if rig.position_noise_rad is None:
        position = float(rng.uniform(*params.position_noise_rad))
    else:
        position = rig.position_noise_rad
    scale = 1.0
    latency_ms = robot.control_latency_ms
    if spread is not None:
        position *= float(rng.uniform(*spread.position_noise_recording_factor))
        scale = position / spread.reference_position_noise_rad
        half_ms = spread.control_latency_spread_fraction * robot.control_latency_spread_ms
        latency_ms += float(rng.uniform(-half_ms, half_ms))
    noise = NoiseLevels(
        position_rad=position,
        velocity_rad_s=params.velocity_noise_rad_s * scale,
        acceleration_rad_s2=params.acceleration_noise_rad_s2 * scale,
        effort_n_m=params.effort_noise_nm * scale,
        hand_state=params.hand_state_noise * scale,
    )
    eef_type: str | None = rig.eef_type
    if rng.random() < sim.rigs.eef_type_missing_prob:
        eef_type = None
    mismatch: str | None = None
    if rng.random() < sim.faults.clock_mismatch_prob:
        candidates = [
            s
            for s in CLOCK_MISMATCH_CANDIDATES
            if s != STREAM_HAND_STATE or rig.end_effector_state_source is not None
        ]
        mismatch = candidates[int(rng.integers(len(candidates)))]
    return RecordingConditions(
        noise=noise,
        control_latency_ms=latency_ms,
        eef_type=eef_type,
        clock_mismatch_stream=mismatch,
        stop_rests=plan_stop_rests(robot, story, sim.stop_rests, rng),
    )


def recording_profile(profile: CenterProfile, rig: Rig) -> CenterProfile:
    """The center profile as ``rig``'s recordings lay out: its end effector's streams, and its
    end-effector state on the topic the rig publishes (left as is when it publishes none)."""
    laid_out = profile.for_end_effector(rig.end_effector)
    state = laid_out.streams.get(STREAM_HAND_STATE)
    if state is None or rig.end_effector_state_source is None:
        return laid_out
    chosen = state.candidates()[rig.end_effector_state_source]
    return replace(laid_out, streams={**laid_out.streams, STREAM_HAND_STATE: chosen})


def end_effector_state_topic(profile: CenterProfile, rig: Rig) -> str | None:
    """The topic (or HDF5/Parquet key) the rig writes its end-effector state on; None: none."""
    if rig.end_effector_state_source is None:
        return None
    state = recording_profile(profile, rig).streams.get(STREAM_HAND_STATE)
    return None if state is None else state.topic
