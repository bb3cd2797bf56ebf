"""Choosing and combining the operator clock estimates.

- cross-correlation (`xcorr`) and receive-stamp envelope (`envelope`) agree -> inverse-variance
  weighted combination, method ``"xcorr+envelope"``;
- they disagree and the cross-correlation would have messages received before they were sent
  (beyond ``causality_tolerance_ms``) -> the envelope wins (``"envelope"``);
- they disagree otherwise -> the cross-correlation is kept, with the disagreement as its
  uncertainty (``"xcorr"``; a slow link raises the envelope);
- the envelope and the causality test use only the operator streams whose stamps jitter least
  (`stamp_jitter_ms`): one jittery stream (a VR headset's runtime stamps) would drag the lower
  envelope down by its jitter tail and make a correct cross-correlation look acausal;
- only one available -> that one; neither -> unresolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from teleop_lake.alignment.clock_model import ClockEstimate
from teleop_lake.alignment.envelope import estimate_by_envelope, min_transit_ms
from teleop_lake.alignment.params import AlignmentParams
from teleop_lake.alignment.xcorr import estimate_by_xcorr
from teleop_lake.canonical import SignalStream


def estimate_operator_clock(
    arm_target: SignalStream | None,
    joint_command: SignalStream | None,
    operator_streams: Sequence[SignalStream],
    control_latency_ms: float,
    t_ref_ns: int,
    params: AlignmentParams,
) -> ClockEstimate:
    """The operator clock against the robot clock, from every evidence available.

    ``arm_target`` (operator clock) and ``joint_command`` (robot clock) are matched by channel
    suffix (``target_rad.<joint>``); ``operator_streams`` with ``t_received_ns`` feed the envelope.
    """
    xfit = None
    if arm_target is not None and joint_command is not None:
        common = [c for c in arm_target.channels if c in joint_command.channels]
        if common:
            arm_cols = [arm_target.channel_index(c) for c in common]
            cmd_cols = [joint_command.channel_index(c) for c in common]
            xfit = estimate_by_xcorr(
                arm_target.t_ns,
                arm_target.values[:, arm_cols],
                joint_command.t_ns,
                joint_command.values[:, cmd_cols],
                control_latency_ms * 1e6,
                t_ref_ns,
                params,
            )
    with_receipt = _least_jittery(
        [s for s in operator_streams if s.t_received_ns is not None and s.clock == "operator"],
        params,
    )
    jitter_ms = max((stamp_jitter_ms(s.t_ns) for s in with_receipt), default=0.0)
    efit = None
    t_op = np.zeros(0, dtype=np.int64)
    t_rx = np.zeros(0, dtype=np.int64)
    if with_receipt:
        t_op = np.concatenate([s.t_ns for s in with_receipt])
        t_rx = np.concatenate(
            [s.t_received_ns for s in with_receipt if s.t_received_ns is not None]
        )
        efit = estimate_by_envelope(t_op, t_rx, t_ref_ns, params)
        if efit is not None:
            # The envelope picks each bin's fastest message, i.e. also its most negative stamp
            # jitter: about two sigmas of it are not in the fit's own spread.
            efit = replace(
                efit, uncertainty_ms=float(np.hypot(efit.uncertainty_ms, 2.0 * jitter_ms))
            )

    if xfit is None and efit is None:
        return ClockEstimate.unresolved(
            t_ref_ns, "no arm motion to correlate and no receive stamps"
        )
    if efit is None:
        assert xfit is not None
        return ClockEstimate(
            xfit.offset_ns,
            xfit.drift_ppm,
            t_ref_ns,
            xfit.uncertainty_ms,
            "xcorr",
            correlation=xfit.correlation,
            residual_t_ns=xfit.window_t_ns,
            residual_ms=xfit.window_residual_ms,
        )
    if xfit is None:
        return ClockEstimate(
            efit.offset_ns, efit.drift_ppm, t_ref_ns, efit.uncertainty_ms, "envelope"
        )
    disagreement_ms = abs(xfit.offset_ns - efit.offset_ns) / 1e6
    agree_within = 3.0 * float(np.hypot(xfit.uncertainty_ms, efit.uncertainty_ms))
    if disagreement_ms <= agree_within:
        wx = 1.0 / xfit.uncertainty_ms**2
        we = 1.0 / efit.uncertainty_ms**2
        offset = (wx * xfit.offset_ns + we * efit.offset_ns) / (wx + we)
        drift = (wx * xfit.drift_ppm + we * efit.drift_ppm) / (wx + we)
        return ClockEstimate(
            round(offset),
            float(drift),
            t_ref_ns,
            float(1.0 / np.sqrt(wx + we)),
            "xcorr+envelope",
            correlation=xfit.correlation,
            residual_t_ns=xfit.window_t_ns,
            residual_ms=xfit.window_residual_ms,
        )
    transit = min_transit_ms(xfit.offset_ns, xfit.drift_ppm, t_op, t_rx, t_ref_ns)
    # Stamp jitter alone makes some messages look received before they were sent.
    tolerance_ms = max(params.causality_tolerance_ms, params.causality_jitter_sigmas * jitter_ms)
    if transit < -tolerance_ms:
        return ClockEstimate(
            efit.offset_ns,
            efit.drift_ppm,
            t_ref_ns,
            max(efit.uncertainty_ms, 0.0),
            f"envelope (xcorr rejected: receipt {-transit:.1f} ms before sending)",
            correlation=xfit.correlation,
        )
    return ClockEstimate(
        xfit.offset_ns,
        xfit.drift_ppm,
        t_ref_ns,
        max(xfit.uncertainty_ms, disagreement_ms),
        f"xcorr (envelope differs by {disagreement_ms:.1f} ms)",
        correlation=xfit.correlation,
        residual_t_ns=xfit.window_t_ns,
        residual_ms=xfit.window_residual_ms,
    )


def stamp_jitter_ms(t_ns: np.ndarray) -> float:
    """Robust sigma (ms) of the stamp jitter of a stream sampled on a steady tick: white jitter
    of sigma gives second differences of sigma * sqrt(6); the MAD ignores gaps."""
    if len(t_ns) < 8:
        return 0.0
    second = np.diff(np.asarray(t_ns, dtype=np.int64), n=2).astype(np.float64)
    mad = float(np.median(np.abs(second - np.median(second))))
    return 1.4826 * mad / np.sqrt(6.0) / 1e6


def _least_jittery(streams: list[SignalStream], params: AlignmentParams) -> list[SignalStream]:
    """The streams whose stamp jitter is within ``envelope_jitter_ratio`` of the smallest (or
    under ``envelope_jitter_floor_ms``)."""
    if len(streams) < 2:
        return streams
    jitter = [stamp_jitter_ms(s.t_ns) for s in streams]
    limit = max(params.envelope_jitter_ratio * min(jitter), params.envelope_jitter_floor_ms)
    return [s for s, j in zip(streams, jitter, strict=True) if j <= limit]
