"""Parameters of the simulated collection network: fault rates, clocks, jitter, motion.

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

    def __post_init__(self) -> None:
        low, high = self.spike_sigma
        if not 0.0 < low <= high:
            raise ValueError(f"spike_sigma must be 0 < low <= high, got {self.spike_sigma}")
        file_total = self.truncated_prob + self.checksum_mismatch_prob + self.missing_stream_prob
        if file_total > 1.0 or self.mark_wrong_prob + self.mark_missing_prob > 1.0:
            raise ValueError(f"fault probabilities must sum to <= 1: {self}")


NO_FAULTS = FaultRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


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
class SimulationProfile:
    """One named way of running the network: fault rates, clocks, jitter, outcomes."""

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

    def clock_range_for(self, center: str) -> ClockRange:
        if center in self.unsynchronised_centers:
            return self.unsynchronised_clock
        return self.synchronised_clock


def simulation_profile(name: str) -> SimulationProfile:
    """The named profile: ``default`` (realistic night), ``stress`` or ``clean``."""
    if name == "default":
        return SimulationProfile(name="default")
    if name == "stress":
        # Everything worse: clocks up to 2 s / 200 ppm anywhere, ~3x the faults, 3x jitter.
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
            ),
            success_rate=0.6,
            synchronised_clock=anywhere,
            unsynchronised_clock=anywhere,
            jitter=JitterLevels().scaled(3.0),
        )
    if name == "clean":
        exact = ClockRange(offset_min_s=0.0, offset_max_s=0.001, drift_max_ppm=0.0)
        return SimulationProfile(
            name="clean",
            faults=NO_FAULTS,
            synchronised_clock=exact,
            unsynchronised_clock=exact,
        )
    raise ValueError(f"unknown simulation profile {name!r}; choose one of {PROFILE_NAMES}")
