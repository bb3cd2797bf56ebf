"""Timestamp checks: sample order, duplicates, the nominal rate, and dropouts (gaps).

Everything here works on one stream's stamps (int64 ns on the stream's own clock) and returns
new arrays plus `Finding`s; nothing is dropped without a finding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teleop_lake.cleaning.findings import Finding
from teleop_lake.cleaning.params import CleaningParams


@dataclass(frozen=True, eq=False)
class OrderedSamples:
    """Samples sorted by stamp with duplicate stamps removed; ``kept`` indexes the input."""

    t_ns: np.ndarray
    kept: np.ndarray
    findings: tuple[Finding, ...]


INVERSION_JITTER_SIGMAS = 6.0
"""In arrival order, a stamp going back by up to this many sigmas of the difference of two
stamps' jitter (sqrt 2 sigma) is jitter: over a few thousand messages the largest reaches ~4."""


def _arrival_order(t: np.ndarray, received_ns: np.ndarray | None) -> np.ndarray | None:
    """The samples' arrival order (by receive stamp) when it explains every stamp inversion as
    jitter: in arrival order no stamp goes back by more than a nominal period or
    ``INVERSION_JITTER_SIGMAS`` of the stamps' own jitter, whichever is more (one sender over an
    ordered link delivers in sending order; a VR runtime stamping at 120 Hz with 4 ms of jitter
    inverts stamps by up to ~20 ms). None when there are no receive stamps, nothing to explain,
    or an inversion too large for jitter (a real reordering, a stamp glitch)."""
    if received_ns is None or len(t) < 3 or len(received_ns) != len(t):
        return None
    arrival = np.argsort(received_ns, kind="stable")
    t_arrival = t[arrival]
    back = np.maximum.accumulate(t_arrival)[:-1] - t_arrival[1:]
    if not np.any(back > 0) and not np.any(np.diff(t) < 0):
        return None
    in_stamp_order = np.sort(t)
    period = float(np.median(np.diff(in_stamp_order)))
    allowed = max(period, INVERSION_JITTER_SIGMAS * np.sqrt(2.0) * stamp_jitter_ns(in_stamp_order))
    if period <= 0 or float(np.max(back)) >= allowed:
        return None
    return arrival


def order_and_deduplicate(
    stream: str,
    t_ns: np.ndarray,
    values: np.ndarray | None = None,
    received_ns: np.ndarray | None = None,
) -> OrderedSamples:
    """Sort samples by stamp (stable) and drop repeated stamps, flagging both.

    A sample is out of order when its stamp is earlier than one already seen. Of samples sharing
    a stamp the first (in arrival order) is kept; the finding says whether the dropped copy had
    identical values (an exact re-send) or different ones.

    Exception: when the receive stamps (``received_ns``) put the samples in an order in which
    no stamp goes back by a nominal period or more, the inversions are stamp jitter: the
    samples take their arrival order and the sorted stamps (each moves by less than a period),
    so the values are not shuffled into false spikes. Nothing is dropped: no finding.
    """
    t = np.asarray(t_ns, dtype=np.int64)
    findings: list[Finding] = []
    arrival = _arrival_order(t, received_ns)
    if arrival is not None:
        order = arrival
        t_sorted = np.sort(t, kind="stable")
    elif len(t) > 1:
        running_max = np.maximum.accumulate(t)
        late = np.flatnonzero(t[1:] < running_max[:-1]) + 1
        if len(late):
            findings.append(
                Finding(
                    stream,
                    "",
                    "out_of_order",
                    int(t[late].min()),
                    int(running_max[late].max()),
                    True,
                    f"{len(late)} samples arrived after a later stamp; re-sorted by stamp",
                )
            )
    if arrival is None:
        order = (
            np.argsort(t, kind="stable") if len(t) and np.any(np.diff(t) < 0) else np.arange(len(t))
        )
        t_sorted = t[order]
    same = np.flatnonzero(np.diff(t_sorted) == 0) + 1
    keep = np.ones(len(t_sorted), dtype=bool)
    if len(same):
        keep[same] = False
        if values is not None:
            v = values[order]
            identical = np.all(v[same] == v[same - 1], axis=1)
        else:
            identical = np.ones(len(same), dtype=bool)
        for is_same, label in ((True, "identical values"), (False, "different values")):
            sel = same[identical == is_same]
            if len(sel):
                findings.append(
                    Finding(
                        stream,
                        "",
                        "duplicate",
                        int(t_sorted[sel].min()),
                        int(t_sorted[sel].max()),
                        True,
                        f"{len(sel)} repeated stamps with {label}; first copy kept",
                    )
                )
    kept = order[keep]
    return OrderedSamples(t_ns=t_sorted[keep], kept=kept, findings=tuple(findings))


def nominal_period_ns(t_ns: np.ndarray) -> float:
    """The stream's nominal sampling period: the median stamp step (robust to jitter and gaps)."""
    if len(t_ns) < 2:
        return float("nan")
    return float(np.median(np.diff(t_ns)))


@dataclass(frozen=True, eq=False)
class Gaps:
    """Stamp gaps of at least ``dropout_min_periods`` nominal periods.

    ``before``/``after`` index the last sample before and the first sample after each gap.
    """

    before: np.ndarray
    after: np.ndarray
    start_ns: np.ndarray
    end_ns: np.ndarray
    period_ns: float

    @property
    def duration_s(self) -> np.ndarray:
        return (self.end_ns - self.start_ns) / 1e9


def stamp_jitter_ns(t_ns: np.ndarray) -> float:
    """Robust sigma of a steady stream's stamp jitter (ns): white jitter of sigma gives second
    differences of sigma * sqrt(6); the MAD ignores gaps."""
    if len(t_ns) < 8:
        return 0.0
    second = np.diff(np.asarray(t_ns, dtype=np.int64), n=2).astype(np.float64)
    return 1.4826 * float(np.median(np.abs(second - np.median(second)))) / np.sqrt(6.0)


def detect_dropouts(t_ns: np.ndarray, params: CleaningParams) -> Gaps:
    """Gaps in sorted stamps against the nominal rate: ``gap >= dropout_min_periods`` periods,
    and beyond what the stream's own stamp jitter stretches a step to
    (``dropout_jitter_sigmas``): a VR runtime stamping at 100 Hz with 4 ms of jitter has steps
    of 30 ms between consecutive messages now and then, and nothing is missing."""
    period = nominal_period_ns(t_ns)
    if not np.isfinite(period) or period <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return Gaps(empty, empty, empty, empty, period)
    jitter_step = params.dropout_jitter_sigmas * np.sqrt(2.0) * stamp_jitter_ns(t_ns)
    threshold = max(params.dropout_min_periods * period, period + jitter_step)
    before = np.flatnonzero(np.diff(t_ns) >= threshold)
    return Gaps(
        before=before,
        after=before + 1,
        start_ns=t_ns[before],
        end_ns=t_ns[before + 1],
        period_ns=period,
    )


def dropout_findings(stream: str, gaps: Gaps, params: CleaningParams) -> list[Finding]:
    """One finding per gap; gaps up to ``max_repair_gap_s`` count as repaired (interpolated)."""
    out = []
    for start, end, dur in zip(gaps.start_ns, gaps.end_ns, gaps.duration_s, strict=True):
        repaired = bool(dur <= params.max_repair_gap_s)
        missing = round((end - start) / gaps.period_ns) - 1
        out.append(
            Finding(
                stream,
                "",
                "dropout",
                int(start),
                int(end),
                repaired,
                f"{dur * 1e3:.1f} ms without samples (~{missing} missing at "
                f"{1e9 / gaps.period_ns:.0f} Hz); "
                + ("interpolated" if repaired else "interpolated but flagged as dropout"),
            )
        )
    return out
