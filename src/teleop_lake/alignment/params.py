"""Alignment parameters: clock estimation and resampling, with where each number comes from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlignmentParams:
    correlation_rate_hz: float = 200.0
    """Common grid for the cross-correlation (5 ms). Parabolic peak interpolation refines below
    one step; 200 Hz keeps two arm-target samples (100 Hz) per correlation step."""
    max_offset_s: float = 3.0
    """Lag search range: the network contract allows operator offsets up to +-2 s; 1 s margin."""
    window_s: float = 8.0
    """Window of the per-window lag estimates whose linear fit gives the drift (shortened to
    duration / 2.5 on short episodes so that there are always at least three windows)."""
    fine_search_ms: float = 60.0
    """Per-window lag search around the global lag: 200 ppm over 60 s is 12 ms, with margin."""
    min_motion: float = 1e-2
    """An arm channel takes part only if its target moves at least this much (rad, std)."""
    min_correlation: float = 0.5
    """Normalised peak correlation below which the cross-correlation estimate is not trusted."""
    max_drift_ppm: float = 1000.0
    """Fitted drifts beyond this are implausible (contract: +-200 ppm); the estimate is then
    taken as offset-only with drift 0 and a larger uncertainty."""
    envelope_bin_s: float = 1.0
    """Bins of the receive-time envelope: ~100-300 operator messages per bin at 100 Hz."""
    envelope_min_transit_ms: float = 0.0
    """Least possible transit of the fastest operator message to the recorder: nothing arrives
    before it is sent. This end of the envelope's interval is hard."""
    envelope_max_min_transit_ms: float = 25.0
    """Most the *fastest* of a recording's thousands of operator messages may take to reach the
    recorder. Typical messages take a few to tens of ms (KUAVO.md); the fastest of a recording
    takes less, but a station on a slow link has its floor there too (an independent Kuavo-format
    writer draws station transits of 5-20 ms). This end of the envelope's interval is an
    assumption, the other (nothing arrives before it is sent) is hard. A cross-correlation beyond
    it is kept, with an uncertainty that covers both."""
    envelope_jitter_sigmas: float = 2.0
    """The envelope picks each bin's fastest message, i.e. also its most negative stamp jitter:
    this many sigmas of the stamp jitter widen its interval."""
    domain_causality_tolerance_ms: float = 2.0
    """A stream is on a clock only if no message arrives more than this before it was sent
    (stamp jitter; see `teleop_lake.alignment.clock_domain`)."""
    domain_jitter_sigmas: float = 4.5
    """The envelope of a stream reads early by up to this many sigmas of its stamp jitter (the
    most negative of thousands of draws is ~3.5-4 sigmas): both tolerances above grow by it."""
    domain_min_deviation_ms: float = 8.0
    """A stream's fastest transit must differ from its siblings' by more than this on its
    declared clock before its stamps are taken for the other clock: streams sent alike differ
    by a few ms (their own send paths), which must not read as a wrong clock."""
    domain_margin_ms: float = 5.0
    """... and it must fit the other clock's streams better by at least this much."""
    envelope_jitter_ratio: float = 2.0
    """Receive-stamp streams whose stamp jitter exceeds this multiple of the least jittery
    one's are left out of the envelope (default profile: 0.2 ms on the 100 Hz operator streams
    against 1 ms on VR; stress: 0.6 against 3 ms)."""
    envelope_jitter_floor_ms: float = 0.3
    """Streams jittering less than this always take part in the envelope."""
    edge_hold_periods: float = 1.5
    """Grid ticks up to this many source periods beyond a stream's first/last sample hold the
    edge value instead of becoming null."""
    max_camera_distance_periods: float = 0.5
    """A grid tick takes the nearest camera frame only within half a frame period."""
