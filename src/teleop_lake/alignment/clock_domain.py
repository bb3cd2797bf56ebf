"""Which clock a stream's stamps are really on, from its receive stamps.

The recorder logs every message on the robot clock when it arrives, so for each stream the
earliest ``t_received - t_stamp`` over time (its lower envelope) is the stream's fastest
transit minus the clock offset of whatever clock stamped it: ``a = offset - T_min`` where
``a`` is the *apparent offset* (the offset that would make the fastest message arrive
instantly). A stream on the robot clock implies a transit ``T = -a``; on the operator clock,
whose offset ``x`` the cross-correlation measured without any receive stamp, ``T = x - a``.

A stream is judged on the clock its profile declares unless that makes its transit unlike its
siblings' (streams sent the same way travel alike: the station's streams over the same link,
the robot's own on the robot computer) or impossible (a message received before it was sent),
while the other clock makes it fit: then its stamps are on the other clock
(``clock_domain_mismatch``). With the two clocks less than a few ms apart nothing can tell them
apart, and nothing needs to: the stream is then within that much of right either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from teleop_lake.alignment.envelope import estimate_by_envelope, stamp_jitter_ms
from teleop_lake.alignment.params import AlignmentParams
from teleop_lake.canonical import SignalStream

ENVELOPE_MESSAGES = 10_000
"""At most this many messages of a stream enter its domain envelope (every n-th): at 500 Hz
over a minute that is still ~170 per one-second bin."""


@dataclass(frozen=True)
class DomainVerdict:
    """One stream's clock, as declared and as its receive stamps show it."""

    stream: str
    declared: str
    observed: str
    apparent_offset_ms: float
    transit_as_declared_ms: float
    transit_as_other_ms: float
    reference_declared_ms: float
    reference_other_ms: float

    @property
    def mismatch(self) -> bool:
        return self.declared != self.observed


def apparent_offset_ms(
    stream: SignalStream, t_ref_ns: int, params: AlignmentParams
) -> float | None:
    """``a`` of the module docstring at ``t_ref_ns`` (ms); None without enough receive stamps."""
    if stream.t_received_ns is None or stream.n_samples < 4:
        return None
    # ~100 messages per envelope bin are plenty to find its floor: a 500 Hz stream is thinned
    stride = max(1, stream.n_samples // ENVELOPE_MESSAGES)
    fit = estimate_by_envelope(
        stream.t_ns[::stride], stream.t_received_ns[::stride], t_ref_ns, params
    )
    if fit is None:
        return None
    return (fit.offset_ns / 1e6) - params.envelope_min_transit_ms


def _transit(declared: str, a_ms: float, x_ms: float) -> tuple[float, float]:
    """(transit if on the declared clock, transit if on the other one), ms."""
    as_robot, as_operator = -a_ms, x_ms - a_ms
    return (as_robot, as_operator) if declared == "robot" else (as_operator, as_robot)


def check_clock_domains(
    streams: Sequence[SignalStream],
    operator_offset_ns: float,
    anchor: str,
    t_ref_ns: int,
    params: AlignmentParams,
) -> list[DomainVerdict]:
    """A verdict for every signal stream with receive stamps (see the module docstring).

    ``operator_offset_ns``: the operator clock's offset at ``t_ref_ns`` from evidence that
    uses no receive stamp (the cross-correlation of ``anchor``, the arm targets, with the
    joint commands); ``anchor`` is taken to be on the operator clock."""
    x_ms = operator_offset_ns / 1e6
    apparent = {s.name: apparent_offset_ms(s, t_ref_ns, params) for s in streams}
    declared = {s.name: s.clock for s in streams}
    transit_robot = {n: -a for n, a in apparent.items() if a is not None}
    transit_operator = {n: x_ms - a for n, a in apparent.items() if a is not None}

    def reference(clock: str, exclude: str) -> float | None:
        """Typical fastest transit of the streams declared on ``clock`` (the anchor speaks for
        the operator side when it has receive stamps)."""
        if clock == "operator" and anchor in transit_operator and exclude != anchor:
            return transit_operator[anchor]
        table = transit_operator if clock == "operator" else transit_robot
        values = [
            t for n, t in table.items() if declared[n] == clock and n not in (exclude, anchor)
        ]
        return float(np.median(values)) if values else None

    verdicts = []
    jitter = {s.name: stamp_jitter_ms(s.t_ns) for s in streams}
    for name, a in apparent.items():
        if a is None:
            continue
        own: str = declared[name]
        other = "operator" if own == "robot" else "robot"
        t_own, t_other = _transit(own, a, x_ms)
        ref_own, ref_other = reference(own, name), reference(other, name)
        observed = own
        # The envelope touches the message with the most negative stamp jitter of thousands:
        # a stream's fastest transit reads that much early, and jittery stamps (a VR runtime's)
        # read several ms early.
        slack = params.domain_jitter_sigmas * jitter[name]
        tol = params.domain_causality_tolerance_ms + slack
        if name != anchor:
            impossible_own = t_own < -tol and t_other >= -tol
            if ref_own is not None and ref_other is not None:
                dev_own, dev_other = abs(t_own - ref_own), abs(t_other - ref_other)
                unlike = (
                    dev_own > params.domain_min_deviation_ms + slack
                    and dev_other + params.domain_margin_ms < dev_own
                    and t_other >= -tol
                )
            else:
                unlike = False
            if impossible_own or unlike:
                observed = other
        verdicts.append(
            DomainVerdict(
                stream=name,
                declared=own,
                observed=observed,
                apparent_offset_ms=a,
                transit_as_declared_ms=t_own,
                transit_as_other_ms=t_other,
                reference_declared_ms=np.nan if ref_own is None else ref_own,
                reference_other_ms=np.nan if ref_other is None else ref_other,
            )
        )
    return verdicts


def anchor_on_robot_clock(
    streams: Sequence[SignalStream],
    anchor: SignalStream,
    anchor_offset_ns: float,
    anchor_uncertainty_ms: float,
    t_ref_ns: int,
    params: AlignmentParams,
) -> DomainVerdict | None:
    """A verdict when the anchor itself (the arm targets) is stamped on the robot clock.

    Its cross-correlation then measures the robot clock: an offset of zero within its
    uncertainty. That alone is also what a well synchronised station gives, so it takes the
    other operator-declared streams to tell: when every one of them sits further from the robot
    clock than any transit explains, they agree with each other, and the anchor's own receive
    stamps fit the robot clock, the anchor is the stream on the wrong clock. None otherwise."""
    if abs(anchor_offset_ns) / 1e6 > anchor_uncertainty_ms:
        return None
    own = apparent_offset_ms(anchor, t_ref_ns, params)
    others = [s for s in streams if s.clock == "operator" and s.name != anchor.name]
    apparent = [(s, apparent_offset_ms(s, t_ref_ns, params)) for s in others]
    known = [(s, a) for s, a in apparent if a is not None]
    if own is None or not known:
        return None
    t_max = params.envelope_max_min_transit_ms

    def robot_like(s: SignalStream, a: float) -> bool:
        tol = params.domain_causality_tolerance_ms + params.domain_jitter_sigmas * stamp_jitter_ms(
            s.t_ns
        )
        return -tol <= -a <= t_max + tol

    if not robot_like(anchor, own) or any(robot_like(s, a) for s, a in known):
        return None
    values = [a for _, a in known]
    if max(values) - min(values) > t_max + params.domain_margin_ms:
        return None  # the other streams do not agree on one station clock either
    station = float(np.median(values))
    robot_transits = [
        -a
        for s in streams
        if s.clock == "robot" and (a := apparent_offset_ms(s, t_ref_ns, params)) is not None
    ]
    return DomainVerdict(
        stream=anchor.name,
        declared="operator",
        observed="robot",
        apparent_offset_ms=own,
        transit_as_declared_ms=station - own,
        transit_as_other_ms=-own,
        reference_declared_ms=0.0,
        reference_other_ms=float(np.median(robot_transits)) if robot_transits else np.nan,
    )
