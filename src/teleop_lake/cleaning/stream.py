"""One signal stream through the per-stream cleaning steps: order, duplicates, spikes, limits,
dropouts. Frozen detection needs the command stream on the same clock and runs separately
(`teleop_lake.cleaning.frozen`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from teleop_lake.canonical import SignalStream
from teleop_lake.cleaning.findings import Finding
from teleop_lake.cleaning.limits import non_physical, repair_non_physical
from teleop_lake.cleaning.noise import unpopulated_channels
from teleop_lake.cleaning.params import CleaningParams
from teleop_lake.cleaning.spikes import detect_spikes
from teleop_lake.cleaning.swaps import (
    SWAP_MIN_JITTER_SHARE,
    WINDOW,
    detect_scrambled_windows,
    detect_swapped_rows,
    reorder_windows,
    stamp_jitter_share,
    unswap_rows,
)
from teleop_lake.cleaning.timestamps import (
    Gaps,
    detect_dropouts,
    dropout_findings,
    order_and_deduplicate,
)


@dataclass(frozen=True, eq=False)
class CleanedStream:
    """A cleaned stream and the evidence of what was done to it.

    ``stream`` is sorted, de-duplicated and spike-repaired (same clock as the input);
    ``spike`` / ``limit`` are (samples x channels) masks on it; ``gaps`` its dropouts.
    ``noise`` is each channel's noise sigma; ``unpopulated`` marks channels constant for the
    whole recording (a field the firmware never filled: not measured, never a fault).
    Finding spans are on the stream's own clock.
    """

    stream: SignalStream
    spike: np.ndarray
    limit: np.ndarray
    gaps: Gaps
    findings: tuple[Finding, ...]
    noise: np.ndarray
    unpopulated: np.ndarray

    @property
    def period_ns(self) -> float:
        return self.gaps.period_ns


def clean_signal_stream(
    stream: SignalStream,
    params: CleaningParams,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    rate: np.ndarray | None = None,
) -> CleanedStream:
    """Clean one stream; ``lower``/``upper`` are per-channel limits (+-inf: none), ``rate``
    the largest plausible change per second (+inf: none)."""
    ordered = order_and_deduplicate(stream.name, stream.t_ns, stream.values, stream.t_received_ns)
    t = ordered.t_ns
    in_order = len(ordered.kept) == len(t) == len(stream.values) and bool(
        np.all(ordered.kept == np.arange(len(t)))
    )
    values = stream.values if in_order else stream.values[ordered.kept]  # no copy when in order
    floors = np.array([params.scale_floor(ch) for ch in stream.channels])
    jittery = len(stream.channels) > 1 and stamp_jitter_share(t) > SWAP_MIN_JITTER_SHARE
    swapped = detect_swapped_rows(values, floors) if jittery else np.zeros(0, dtype=np.int64)
    values = unswap_rows(values, swapped)
    scrambled = detect_scrambled_windows(values, floors) if jittery else []
    values = reorder_windows(values, scrambled)
    swap_findings = tuple(
        Finding(
            stream.name,
            "",
            "out_of_order",
            int(t[i]),
            int(t[i + 1]),
            True,
            "two messages in swapped order (every channel off the trend, back on it when "
            "exchanged); values put back in time order",
        )
        for i in swapped
    ) + tuple(
        Finding(
            stream.name,
            "",
            "out_of_order",
            int(t[start]),
            int(t[start + WINDOW - 1]),
            True,
            f"{WINDOW} messages in scrambled order (every channel off the trend, back on it in "
            f"order {'-'.join(str(int(k)) for k in order)}); values put back in time order",
        )
        for start, order in scrambled
    )
    lo = np.full(len(stream.channels), -np.inf) if lower is None else lower
    hi = np.full(len(stream.channels), np.inf) if upper is None else upper
    bad = non_physical(values, lo, hi)
    physical_findings: list[Finding] = []
    if bad.any():
        values, physical_findings = repair_non_physical(
            stream.name, stream.channels, t, values, bad
        )
    spikes = detect_spikes(stream.name, t, values, stream.channels, params, lower, upper, rate)
    gaps = detect_dropouts(t, params)
    received = stream.t_received_ns
    if received is not None and not in_order:
        received = received[ordered.kept]
    cleaned = replace(stream, t_ns=t, values=spikes.values, t_received_ns=received)
    findings = (
        *ordered.findings,
        *swap_findings,
        *physical_findings,
        *spikes.findings,
        *dropout_findings(stream.name, gaps, params),
    )
    return CleanedStream(
        stream=cleaned,
        spike=spikes.spike | bad,
        limit=spikes.limit,
        gaps=gaps,
        findings=findings,
        noise=spikes.noise,
        unpopulated=unpopulated_channels(values),
    )
