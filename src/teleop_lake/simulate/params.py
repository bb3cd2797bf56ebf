"""Parameters of the simulated collection network: fault rates, clocks, jitter, motion, rigs.

Everything the simulator draws at random is bounded by a number in this module, each a
field of a frozen dataclass with its default and where the number comes from. Named
profiles (``default``, ``stress``, ``clean``) are built here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

FAILURE_REASONS = (
    "grasp_missed",
    "object_dropped",
    "timeout",
    "emergency_stop",
    "task_incomplete",
)
FILE_FAULTS = ("none", "truncated", "checksum_mismatch", "missing_stream", "missing_part")
PROFILE_NAMES = ("default", "stress", "clean")


@dataclass(frozen=True)
class FaultRates:
    """How often each fault happens.

    Signal faults are Poisson rates per minute of recording (a 15 s episode at the
    defaults gets ~3 spikes, ~1 dropout, ~0.5 frozen segment: the levels seen in the
    centers' QA logs). File faults are per-recording probabilities and exclusive of each
    other (a recording gets at most one); the defaults give ~11% of recordings a file
    fault, so a 5-center x 4-episode night has a broken file on most seeds. Operator
    mark rates are per recording and exclusive (wrong, missing, else correct).
    """

    spikes_per_min: float = 12.0
    dropouts_per_min: float = 4.0
    frozen_per_min: float = 2.0
    truncated_prob: float = 0.05
    checksum_mismatch_prob: float = 0.04
    missing_stream_prob: float = 0.02
    mark_wrong_prob: float = 0.05
    mark_missing_prob: float = 0.08
    # Per split recording (two or more parts) without another file fault: one part never
    # arrives. Uploads of multi-part sessions fail more often than single files.
    missing_part_prob: float = 0.15
    # Spike sizes, uniform between these multiples of the recording's position noise sigma.
    # The centers' QA logs show glitches of tens of sigmas; `simulate --spike-sigma 5:10`
    # exercises the small end the targets still cover.
    spike_sigma: tuple[float, float] = (20.0, 100.0)
    # Length of a frozen span, uniform in seconds (the driver logs show 0.3-2 s stalls).
    frozen_s: tuple[float, float] = (0.3, 2.0)
    # Share of frozen faults where the driver republishes its whole last joint-state message
    # (every channel repeats while the stamps advance) instead of one joint's channels.
    frozen_message_fraction: float = 0.2
    # Share of one-joint frozen faults placed on a still joint (its true position travels
    # less than `faults.STILL_MAX_TRAVEL_SIGMAS` noise sigmas over the span); the rest go to
    # moving joints. A stalled encoder does not care whether the joint moves.
    frozen_still_fraction: float = 0.5
    # Per recording: one stream is stamped on the other clock than its profile declares
    # (a misconfigured rig; see `story`/`rig` for which streams can be).
    clock_mismatch_prob: float = 0.05

    def __post_init__(self) -> None:
        low, high = self.spike_sigma
        if not 0.0 < low <= high:
            raise ValueError(f"spike_sigma must be 0 < low <= high, got {self.spike_sigma}")
        if not 0.0 < self.frozen_s[0] <= self.frozen_s[1]:
            raise ValueError(f"frozen_s must be 0 < low <= high, got {self.frozen_s}")
        for name in ("frozen_message_fraction", "frozen_still_fraction", "clock_mismatch_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        file_total = self.truncated_prob + self.checksum_mismatch_prob + self.missing_stream_prob
        if file_total > 1.0 or self.mark_wrong_prob + self.mark_missing_prob > 1.0:
            raise ValueError(f"fault probabilities must sum to <= 1: {self}")


NO_FAULTS = FaultRates(
    spikes_per_min=0.0,
    dropouts_per_min=0.0,
    frozen_per_min=0.0,
    truncated_prob=0.0,
    checksum_mismatch_prob=0.0,
    missing_stream_prob=0.0,
    mark_wrong_prob=0.0,
    mark_missing_prob=0.0,
    missing_part_prob=0.0,
    clock_mismatch_prob=0.0,
)


@dataclass(frozen=True)
class ClockRange:
    """Operator-clock error drawn per recording: |offset| ~ U(min, max) with a random sign,
    drift ~ U(-drift_max_ppm, +drift_max_ppm)."""

    offset_min_s: float
    offset_max_s: float
    drift_max_ppm: float


# NTP-synchronised operator stations stay within 20 ms and a few ppm (the centers' own
# checks); Zhengzhou's stations are not synchronised (0.5-1.5 s off, cheap oscillators).
SYNCHRONISED_CLOCK = ClockRange(offset_min_s=0.0, offset_max_s=0.020, drift_max_ppm=5.0)
UNSYNCHRONISED_CLOCK = ClockRange(offset_min_s=0.5, offset_max_s=1.5, drift_max_ppm=50.0)


@dataclass(frozen=True)
class JitterLevels:
    """Timestamp jitter (Gaussian sigma) on header stamps and the recorder's transport delay.

    Defaults: 30 us on the 500 Hz control loop (real-time kernel), 200 us on the 100 Hz
    streams, 1 ms on VR (90 Hz headset runtime) and camera (USB/driver) stamps; the recorder
    receives messages 1-15 ms after they were sent (local ROS transport).
    """

    joint_stamp_sigma_s: float = 30e-6
    stream_100hz_stamp_sigma_s: float = 200e-6
    vr_stamp_sigma_s: float = 1e-3
    camera_stamp_sigma_s: float = 1e-3
    transport_delay_min_s: float = 0.001
    transport_delay_max_s: float = 0.015

    def scaled(self, factor: float) -> JitterLevels:
        """Stamp jitter multiplied by ``factor`` (transport delays unchanged)."""
        return replace(
            self,
            joint_stamp_sigma_s=self.joint_stamp_sigma_s * factor,
            stream_100hz_stamp_sigma_s=self.stream_100hz_stamp_sigma_s * factor,
            vr_stamp_sigma_s=self.vr_stamp_sigma_s * factor,
            camera_stamp_sigma_s=self.camera_stamp_sigma_s * factor,
        )


@dataclass(frozen=True)
class MotionParams:
    """Physics of the simulated robot, hands and operator.

    Stream rates follow the Kuavo recorder (KUAVO.md). The arm's position loop is a
    first-order lag of ~40 ms (Kuavo arm servo step responses); encoder noise is
    ~2e-4 rad (17-bit absolute encoders after gearing). Hand closure on an object stops
    at 0.55-0.75 of full scale while the operator commands ~0.9 (dexhand grip tests).
    The rates other than the joint and camera rates, ``position_noise_rad`` and the other
    noise levels are the fixed values a profile without `ParameterSpread` uses; with a
    spread they are drawn around these (`rig`).
    """

    physics_rate_hz: float = 1000.0
    joint_rate_hz: float = 500.0
    arm_target_rate_hz: float = 100.0
    hand_rate_hz: float = 100.0
    head_pose_rate_hz: float = 90.0
    camera_rate_hz: float = 30.0
    arm_lag_tau_s: float = 0.040
    hand_lag_tau_s: float = 0.060
    position_noise_rad: tuple[float, float] = (1.5e-4, 2.5e-4)
    velocity_noise_rad_s: float = 3e-3
    acceleration_noise_rad_s2: float = 0.5
    effort_noise_nm: float = 0.05
    hand_state_noise: float = 0.004
    tremor_rad: float = 0.002
    grasp_command: tuple[float, float] = (0.86, 0.94)
    contact_closure: tuple[float, float] = (0.55, 0.75)
    # With no object in the way the fingers close until they touch: full closure.
    free_closure_gain: float = 1.1
    open_closure: float = 0.03
    # Segment speeds are kept below this fraction of each joint's velocity limit.
    velocity_limit_fraction: float = 0.5
    # Waypoints stay inside this central fraction of each joint's position range.
    waypoint_range_fraction: float = 0.6


@dataclass(frozen=True)
class RigVariation:
    """How the robots (rigs) of a center differ in build and firmware; drawn once per robot.

    A rig is one robot at one station (`rig.draw_rig`); its build holds for every recording
    of that robot under one network seed. The kinds of variation are KUAVO.md's "Variation
    between rigs": the Kuavo ships with Leju's two-finger claw or with dexterous hands, the
    hand-state topic moved between firmware versions (and some rigs publish none), some
    firmware leaves velocity or torque at zero, and jointData's fourth field is named
    ``joint_current`` on some robots. The shares are assumptions of the order the centers'
    fleet lists suggest (a third of the Kuavo rigs with claws, a few older firmwares),
    to be replaced by counts when the centers report them.
    """

    # Rigs of a center whose profile has a claw variant (the Kuavo-format centers) that
    # carry the Leju claw instead of dexterous hands.
    claw_share: float = 0.30
    # What a hand rig's label tooling writes as ``eef_type``, with its share of hand rigs
    # (claw rigs write ``CLAW_EEF_TYPE``).
    hand_eef_types: tuple[tuple[str, float], ...] = (("qiangnao", 0.8), ("dexhand", 0.2))
    # Per recording: the label file has no ``eef_type`` key at all (older label tooling).
    eef_type_missing_prob: float = 0.05
    # Hand rigs of a profile whose hand state has an alternative topic: the share publishing
    # on the profile's primary topic and on its first alternative; the rest publish none.
    hand_state_primary_share: float = 0.60
    hand_state_alternative_share: float = 0.25
    # Claw rigs, and hand rigs of profiles without an alternative topic: the share that
    # publishes the end-effector state at all.
    end_effector_state_share: float = 0.85
    # Rigs whose firmware leaves the joint-state velocity / torque (effort) at zero for the
    # whole recording (an unpopulated field, not a frozen sensor).
    velocity_unpopulated_share: float = 0.20
    effort_unpopulated_share: float = 0.15
    # Kuavo-format rigs (kuavo_msgs/sensorsData) whose jointData names its fourth field
    # ``joint_current`` instead of ``joint_torque`` (KUAVO.md).
    joint_current_share: float = 0.30
    # ROS 2 rigs whose recorder uses rosbag2's own zstd compression (`ros2 bag record
    # --compression-mode message|file`) instead of, or on top of, MCAP's chunk compression.
    rosbag2_message_compression_share: float = 0.15
    rosbag2_file_compression_share: float = 0.10
    # ROS 2 rigs whose MCAP storage is configured otherwise than rosbags' writer writes it
    # (uncompressed chunks of 1 MB): ``--storage-preset-profile fastwrite`` (no chunks, no
    # CRCs), or zstd-compressed chunks with CRCs (the MCAP writer's own default and the
    # zstd presets). Not drawn for rigs compressing whole files.
    mcap_fastwrite_share: float = 0.15
    mcap_zstd_chunks_share: float = 0.35

    def __post_init__(self) -> None:
        shares = (
            self.claw_share,
            self.eef_type_missing_prob,
            self.hand_state_primary_share + self.hand_state_alternative_share,
            self.end_effector_state_share,
            self.velocity_unpopulated_share,
            self.effort_unpopulated_share,
            self.joint_current_share,
            self.rosbag2_message_compression_share,
            self.rosbag2_file_compression_share,
            self.rosbag2_message_compression_share + self.rosbag2_file_compression_share,
            self.mcap_fastwrite_share,
            self.mcap_zstd_chunks_share,
            self.mcap_fastwrite_share + self.mcap_zstd_chunks_share,
        )
        if not all(0.0 <= x <= 1.0 for x in shares) or not self.hand_eef_types:
            raise ValueError(f"rig variation shares must be probabilities: {self}")


CLAW_EEF_TYPE = "leju_claw"
# Every rig a plain one: hands on the primary hand-state topic, every field populated,
# jointData's joint_torque. Only the hand type's name varies (harmless: both are hands).
NO_RIG_VARIATION = RigVariation(
    claw_share=0.0,
    eef_type_missing_prob=0.0,
    hand_state_primary_share=1.0,
    hand_state_alternative_share=0.0,
    end_effector_state_share=1.0,
    velocity_unpopulated_share=0.0,
    effort_unpopulated_share=0.0,
    joint_current_share=0.0,
    rosbag2_message_compression_share=0.0,
    rosbag2_file_compression_share=0.0,
    mcap_fastwrite_share=0.0,
    mcap_zstd_chunks_share=0.0,
)


@dataclass(frozen=True)
class ParameterSpread:
    """Ranges the simulator's own levels are drawn from, so that scores hold across a spread.

    Drawn per rig (`rig.draw_rig`: encoder noise, the teleop streams' rates), per center
    (`rig.draw_center_jitter`: stamp jitter scale, transport delays) and per recording
    (`rig.draw_conditions`: noise factor, control latency). The ranges bracket the rigs the
    centers run: absolute encoders from a high-resolution one after gearing (1e-4 rad) to a
    worn low-cost one (2e-3 rad); exoskeletons and gloves publishing at 80-120 Hz and VR
    runtimes at 60-120 Hz; recorders on a quiet local network (0.5 ms delay) to a loaded one
    (40 ms). The 500 Hz control loop and the 30 Hz cameras are fixed by the robot and the
    camera drivers (`MotionParams`).
    """

    # Encoder noise sigma of a rig, log-uniform between these (rad) ...
    position_noise_rad: tuple[float, float] = (1e-4, 2e-3)
    # ... times this factor per recording (temperature, wear), uniform.
    position_noise_recording_factor: tuple[float, float] = (0.8, 1.25)
    # Velocity, acceleration, effort and hand-state noise scale with the position noise:
    # sigma = MotionParams level x position sigma / this (the level MotionParams describes).
    reference_position_noise_rad: float = 2e-4
    # Stamp jitter of a center: the profile's JitterLevels sigmas times this factor, uniform.
    stamp_jitter_factor: tuple[float, float] = (0.5, 3.0)
    # The recorder's transport delay bounds of a center, each uniform in these (s).
    transport_delay_min_s: tuple[float, float] = (0.0005, 0.005)
    transport_delay_max_s: tuple[float, float] = (0.010, 0.040)
    # Rates of a rig's arm target, hand command and hand state streams (each drawn), and of
    # its VR head pose, uniform (Hz).
    teleop_rate_hz: tuple[float, float] = (80.0, 120.0)
    head_pose_rate_hz: tuple[float, float] = (60.0, 120.0)
    # Fraction of the robot model's ``control_latency_spread_ms`` a recording's latency
    # spans: latency ~ U(nominal - f * spread, nominal + f * spread).
    control_latency_spread_fraction: float = 1.0


@dataclass(frozen=True)
class StopRestParams:
    """Arm joints resting against a mechanical stop (the robot model's nominal limits).

    An idle arm hangs against its stop, an elbow is fully extended, a joint starts the
    recording at a stop (KUAVO.md, "Variation between rigs"). The operator's target, and
    with it the robot's command, goes past the stop by ``command_overdrive_rad``; the joint
    sits on the stop (velocity zero, its servo pushing against it) and reads the stop plus
    sensor noise. 0.05-0.3 rad is the overshoot of an exoskeleton whose range is wider than
    the robot's; the stretch lengths are seconds, as in the centers' replays.
    """

    # Joints resting per recording, uniform integers (inclusive); (0, 0) means none.
    joints_per_recording: tuple[int, int] = (1, 4)
    command_overdrive_rad: tuple[float, float] = (0.05, 0.3)
    # Relative weights of the rest kinds, in `REST_KINDS` order: the whole recording, from
    # the start until the joint leaves the stop, a stretch in the middle.
    kind_weights: tuple[float, float, float] = (0.35, 0.30, 0.35)
    # A start rest leaves the stop at this fraction of the recording, uniform.
    start_rest_end_fraction: tuple[float, float] = (0.15, 0.5)
    # A stretch lasts at least this long and at most this fraction of the recording.
    stretch_min_s: float = 1.0
    stretch_max_fraction: float = 0.5


@dataclass(frozen=True)
class CameraParams:
    """The rigs' cameras: JPEG frames of this size and quality, with this sensor noise.

    Kuavo rigs record their head and two wrist cameras at 640x480 (KUAVO.md), JPEG at
    quality 80-90 from the camera drivers; a frame of an indoor scene is 40-80 kB. The
    rate is the robot's (`MotionParams.camera_rate_hz`). Tests that do not look at pixels
    use a smaller size (``simulate --camera 64x48``) to stay quick; the profiles record at
    the real size.
    """

    size_px: tuple[int, int] = (640, 480)  # width, height
    jpeg_quality: int = 85
    # Per-pixel uniform sensor noise amplitude (grey levels): consecutive frames differ.
    sensor_noise_levels: int = 3
    # Amplitude of the scene's fixed fine texture (grey levels). A flat synthetic scene
    # compresses 3-4x better than a camera's; +-16 brings a 640x480 frame at quality 85 to
    # ~58 kB, inside the 40-80 kB of the rigs' frames.
    scene_texture_levels: int = 16


def parse_camera_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> (640, 480); a clear error for anything else."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"camera size {text!r} is not WIDTHxHEIGHT, e.g. 640x480") from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"camera size {text!r}: width and height must be 16-8192 pixels")
    return width, height


REST_KINDS = ("whole", "start", "stretch")
NO_STOP_RESTS = StopRestParams(joints_per_recording=(0, 0))


@dataclass(frozen=True)
class SimulationProfile:
    """One named way of running the network: fault rates, clocks, jitter, outcomes, rigs.

    ``spread`` None keeps the simulator's levels at `MotionParams` and ``jitter`` with the
    robot model's nominal control latency (the ``clean`` profile).
    """

    name: str
    faults: FaultRates = field(default_factory=FaultRates)
    success_rate: float = 0.75
    # Relative weights of the failure reasons, in FAILURE_REASONS order.
    failure_weights: tuple[float, ...] = (0.25, 0.25, 0.15, 0.15, 0.20)
    synchronised_clock: ClockRange = SYNCHRONISED_CLOCK
    unsynchronised_clock: ClockRange = UNSYNCHRONISED_CLOCK
    unsynchronised_centers: tuple[str, ...] = ("zhengzhou",)
    jitter: JitterLevels = field(default_factory=JitterLevels)
    motion: MotionParams = field(default_factory=MotionParams)
    rigs: RigVariation = field(default_factory=RigVariation)
    spread: ParameterSpread | None = field(default_factory=ParameterSpread)
    stop_rests: StopRestParams = field(default_factory=StopRestParams)
    cameras: CameraParams = field(default_factory=CameraParams)

    def clock_range_for(self, center: str) -> ClockRange:
        if center in self.unsynchronised_centers:
            return self.unsynchronised_clock
        return self.synchronised_clock


def simulation_profile(name: str) -> SimulationProfile:
    """The named profile: ``default`` (realistic night), ``stress`` or ``clean``."""
    if name == "default":
        return SimulationProfile(name="default")
    if name == "stress":
        # Everything worse: clocks up to 2 s / 200 ppm anywhere, ~3x the faults, 3x jitter
        # (spread x0.5-1.5 per center, so 1.5-4.5x the default levels), longer frozen spans
        # now and then, twice the clock mismatches.
        anywhere = ClockRange(offset_min_s=0.0, offset_max_s=2.0, drift_max_ppm=200.0)
        return SimulationProfile(
            name="stress",
            faults=FaultRates(
                spikes_per_min=36.0,
                dropouts_per_min=12.0,
                frozen_per_min=6.0,
                truncated_prob=0.12,
                checksum_mismatch_prob=0.10,
                missing_stream_prob=0.06,
                mark_wrong_prob=0.15,
                mark_missing_prob=0.15,
                missing_part_prob=0.4,
                frozen_s=(0.3, 2.5),
                clock_mismatch_prob=0.10,
            ),
            success_rate=0.6,
            synchronised_clock=anywhere,
            unsynchronised_clock=anywhere,
            jitter=JitterLevels().scaled(3.0),
            spread=ParameterSpread(stamp_jitter_factor=(0.5, 1.5)),
        )
    if name == "clean":
        # No faults, exact clocks, plain rigs at the fixed levels, no joint at a stop.
        exact = ClockRange(offset_min_s=0.0, offset_max_s=0.001, drift_max_ppm=0.0)
        return SimulationProfile(
            name="clean",
            faults=NO_FAULTS,
            synchronised_clock=exact,
            unsynchronised_clock=exact,
            rigs=NO_RIG_VARIATION,
            spread=None,
            stop_rests=NO_STOP_RESTS,
        )
    raise ValueError(f"unknown simulation profile {name!r}; choose one of {PROFILE_NAMES}")
