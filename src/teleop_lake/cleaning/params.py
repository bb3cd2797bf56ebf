"""The cleaning parameters: every threshold the detectors use, with where each number comes from."""

from __future__ import annotations

from dataclasses import dataclass

# Smallest robust scale (per channel quantity) a spike threshold is built on. A channel that is
# noiseless (a simulated command) or quantised (hand closures in 1/100 steps) has a residual MAD
# of zero; without a floor every rounding step would be a "spike".
DEFAULT_SCALE_FLOORS: tuple[tuple[str, float], ...] = (
    ("position_rad", 5e-5),  # a quarter of the 2e-4 rad encoder noise of the Kuavo joints
    ("target_rad", 5e-5),  # commands share the joint unit
    ("velocity_rad_s", 1e-3),
    ("effort_n_m", 1e-3),
    ("closure", 1e-2),  # the Kuavo hand topics carry 0..100 integers: one step is 0.01
    ("position_m", 1e-5),
    ("orientation", 1e-5),
)


@dataclass(frozen=True)
class CleaningParams:
    """How the cleaning detectors decide, and what the repair policy allows.

    Spikes (see `teleop_lake.cleaning.spikes`): a step into a sample and a step of the
    opposite sign back out within ``max_spike_samples`` samples, each more than
    ``step_threshold`` robust sigmas off the local median of the first differences, and the
    samples between more than ``spike_threshold`` sample sigmas off the trend line through
    their neighbours.
    """

    step_threshold: float = 3.0
    """Robust sigmas of the first-difference residual for a step into or out of a spike: a
    screen (about 0.3% of noise differences pass), the value test below decides. 2.5 finds a
    few points more of the 6-8 sigma spikes on Gaussian noise, but on simulated nights it let
    through a hand velocity jumping with its target."""
    spike_threshold: float = 6.5
    """Sample sigmas off the trend line through three good samples on each side. The false-alarm
    budget is set by the sparsest spikes a delivery brings: an independent Kuavo-format writer
    puts one spike in a 20 s recording, i.e. one per ~0.8 M joint-state samples, so a precision
    of 0.98 allows ~2e-8 false spikes per sample. Measured on Gaussian noise over fast motion
    (`teleop-lake bench spikes`, 24 M samples): 6.0 gave 4e-8 (and 1-2 false spikes per
    default network of 30 recordings against 30-40 true ones), 6.5 none. Recall at 6.5: 10x the
    noise 99%, 12x and more all, 8x ~88%, 7x ~64% (6.0: 91%, 74%); real glitches are tens of
    sigmas (the simulated profiles inject 20-100x, the independent writer 10-60x). A detector
    that knew the true signal would do better on small spikes at the same budget: see
    docs/EVALUATION.md, Limits."""
    max_spike_samples: int = 3
    """Longest run of consecutive bad samples still repaired as one spike (half the window)."""
    derived_spikes_need_position: bool = True
    """A spike on a joint's velocity or effort counts only where the joint's position glitched
    too (`teleop_lake.cleaning.spikes`): those channels jump for a sample or two by physics
    (stops, contacts). On an independent writer's bags the velocity and torque transients at
    its stops were 3 of 15 spike findings, every one false."""
    scale_floors: tuple[tuple[str, float], ...] = DEFAULT_SCALE_FLOORS
    """Per channel-quantity floor of the robust scale (see DEFAULT_SCALE_FLOORS)."""
    scale_stride: int = 3
    """Every n-th residual enters the per-channel MAD: same estimate, a third of the cost."""

    limit_noise_sigmas: float = 6.0
    """A reading past a joint's nominal limit by at most this many of the channel's noise sigmas
    is noise on a joint resting at its stop (an ``at_stop`` span, never a fault); further past
    it is a ``limit_violation``. Six sigmas: the same bound as a spike's value test, which noise
    never reached in 12 M samples; a joint resting at a stop for a minute reads up to ~4.5
    sigmas past it (the issue's probe: 7.7 mrad past at 2 mrad noise = 3.9 sigmas)."""
    at_stop_min_s: float = 0.1
    """Shortest stretch near a stop reported as ``at_stop`` (shorter: a joint passing by)."""

    dropout_min_periods: float = 3.0
    """A timestamp gap of at least this many nominal periods is a dropout (task contract)."""
    dropout_jitter_sigmas: float = 5.0
    """... and a gap must also exceed one period plus this many sigmas of the difference of two
    stamps' jitter: a step that long happens by jitter once in ~3 million. It matters only where
    the jitter is a third of a period or more (a VR runtime at 100 Hz with 4 ms); a message
    missing there is still found, three missing always."""
    interpolated_min_periods: float = 1.5
    """A grid value bracketed by samples further apart than this is flagged interpolated."""
    max_repair_gap_s: float = 0.1
    """Dropouts up to this long are repaired by interpolation and marked repaired."""
    max_dropout_s: float = 1.0
    """A joint_state dropout longer than this makes the episode unpublishable (long_dropout)."""

    frozen_min_s: float = 0.3
    """Shortest run of exact repeats judged as frozen (see `frozen_chance` and the command
    evidence below)."""
    frozen_tolerance: float = 1e-12
    """Consecutive values closer than this count as repeats."""
    frozen_resolution_share: float = 0.25
    """A channel whose smallest step between samples is at least this share of its noise sigma
    is quantised: resting, it reads one value, so its repeats are no evidence of a frozen
    sensor (only its command can be). Continuous readings (float encoder values after
    gearing) have steps of ~1e-4 sigma; a 17-bit encoder step is ~0.24 of 2e-4 rad noise and
    repeats ~7% of the time at rest; the 0..100 hand topics step at 2.5 noise sigmas."""
    frozen_chance: float = 1e-6
    """A run of repeats is frozen on the channel's noise alone when a run that long would occur
    by chance less often than this per recording, given how often the channel repeats a value
    elsewhere (see `teleop_lake.cleaning.frozen`). A live float channel never repeats, so any
    run of ``frozen_min_s`` qualifies; a 0..100 hand topic with noise of half a step repeats
    ~55% of the time and needs ~0.4 s at 100 Hz."""
    frozen_command_motion_rad: float = 5e-3
    """Minimum joint command range inside the run that counts as 'commanded to move'
    (25x the 2e-4 rad joint noise)."""
    frozen_response_s: float = 0.2
    """Hands: the closure lags its command (~0.1 s hand motor response): command motion in the
    last 0.2 s of a repeat run is not counted as evidence."""
    frozen_joint_response_s: float = 0.1
    """Joints: the encoder follows the joint command through the servo lag (~40 ms first-order
    lag of the arm joints, the 20-25 ms control latency sits before the command): after 0.1 s
    at least ~85% of any command motion has reached the sensor, so only the last 0.1 s of a
    repeat run is discounted. 0.2 s here threw away two thirds of a 0.3 s run and missed 6 of
    126 frozen segments on two 40-recording networks."""
    frozen_hand_margin: float = 0.05
    """Hand closure: the command must ask to open this far below the stuck value (a grasped
    object can block closing, never opening), or to close this far above a stuck open hand."""
    frozen_hand_open_max: float = 0.05
    """A hand state stuck at or below this closure counts as open."""
    max_frozen_s: float = 2.0
    """A frozen segment longer than this makes the episode unpublishable (long_frozen)."""

    camera_drop_min_periods: float = 1.5
    """A camera stamp gap beyond this many nominal frame periods means frames were dropped."""
    pixel_check_hz: float = 0.25
    """Frames a second per camera whose headers are read and whose pixels are looked at (at an
    eighth of their scale: 0.6-0.9 ms for a 60 kB 640x480 frame, the entropy decoding being the
    whole frame's) for black frames and size changes; every frame's start and end markers are
    checked. The ends of a black stretch are then found to the frame by bisection. A covered
    lens lasts seconds: a black stretch of 4 s or more is always found, a shorter one with a
    chance of its length over 4 s. At 1 Hz the looks cost about 0.14 core-s per minute of a
    three-camera recording, a quarter of the night's signal-path budget."""
    black_frame_level: float = 8.0
    """A frame whose mean grey level (0..255) is under this is black."""
    tick_min_frames: int = 10
    """Fewer camera frames than this are too few to fit their capture tick."""
    tick_max_step_jitter: float = 0.25
    """A capture tick is fitted only when the stamp steps' robust spread is under this many
    periods (8 ms at 30 Hz, against 1.4 ms for 1 ms stamp jitter and 4.2 ms for 3 ms); beyond
    it the tick numbers cannot be told apart reliably."""
    tick_max_residual: float = 0.45
    """A fitted tick is used only when every stamp lies within this many periods of it (a stamp
    further off means a miscounted tick or a restarted camera)."""

    def scale_floor(self, channel: str) -> float:
        """The robust-scale floor for ``channel`` (``<quantity>.<name>``); 1e-9 if unknown."""
        quantity = channel.split(".", 1)[0]
        for prefix, floor in self.scale_floors:
            if quantity == prefix:
                return floor
        return 1e-9
