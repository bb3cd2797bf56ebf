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
    latency_uncertainty_ms: float = 1.0
    """The robot model's control latency is a nominal figure; its spread enters the reported
    uncertainty in quadrature."""
    max_drift_ppm: float = 1000.0
    """Fitted drifts beyond this are implausible (contract: +-200 ppm); the estimate is then
    taken as offset-only with drift 0 and a larger uncertainty."""
    envelope_bin_s: float = 1.0
    """Bins of the receive-time envelope: ~100-300 operator messages per bin at 100 Hz."""
    envelope_min_transit_ms: float = 1.0
    """Smallest operator -> recorder transit (the recorder contract says 1-15 ms)."""
    envelope_bias_ms: float = 1.0
    """Systematic uncertainty of the envelope: the true minimum transit is known only roughly."""
    causality_tolerance_ms: float = 2.0
    """A cross-correlation estimate that puts messages' receipt this long before their
    sending contradicts the receive stamps and loses to the envelope."""
    causality_jitter_sigmas: float = 4.0
    """The causality tolerance grows to this many sigmas of the receive streams' stamp jitter
    (over thousands of messages the jitter reaches ~3.5 sigmas)."""
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
