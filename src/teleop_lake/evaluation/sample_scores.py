"""Sample-level scores: the error of repaired values, and the share of samples flagged where
nothing was wrong. Pure: no IO.

Repair error: a spike adds ``+-magnitude`` to the samples inside its interval, so the value the
sensor would have reported is ``raw - sign * magnitude``; the sign is the one that puts that
value nearer the repair (the two candidates are 2 x magnitude >= 40 noise sigmas apart). The
error of a repaired sample is its distance from that value, in units of the recording's
position noise sigma. The reference value carries the sample's own noise, so a perfect
interpolation from noisy neighbours scores about 0.8 sigma (median), not 0.

False alarm cells: a finding that overlaps no truth fault of its stream (on its channel, or
of the whole stream) flags ``span / P + 1`` samples of its channel (every channel of the
stream for a stream-wide finding); a gap finding flags the ``span / P - 1`` samples it says
are missing. The rate is the flagged cells over all cells (samples x channels) of the
streams scored. Findings of the `NOT_SAMPLE_FLAGS` kinds flag no cell.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from teleop_lake.evaluation.matching import NOMINAL_PERIOD_NS, overlaps_truth

GAP_KINDS = ("dropout", "frame_drop")
NOT_SAMPLE_FLAGS = ("at_stop", "clock_domain_mismatch")
"""Finding kinds that flag no sample: ``at_stop`` is informational (a joint resting at its
stop), ``clock_domain_mismatch`` says which clock a stream is on. They are scored apart
(``limits``, ``at_stop``, ``clock_domain_mismatch``), never as false alarms."""


def repair_errors(
    t_ns: np.ndarray,
    raw: np.ndarray,
    repaired: np.ndarray,
    repaired_mask: np.ndarray,
    channels: tuple[str, ...],
    spikes: pl.DataFrame,
) -> pl.DataFrame:
    """One row per sample inside a truth spike (``spikes``: truth_id, channel, start_ns,
    end_ns, magnitude, position_sigma_rad): ``was_repaired`` and ``error_over_noise`` (null
    when the sample was not repaired). Arrays are one stream, samples x channels."""
    rows: dict[str, list[object]] = {
        "truth_id": [],
        "channel": [],
        "t_ns": [],
        "was_repaired": [],
        "error_over_noise": [],
    }
    index = {c: i for i, c in enumerate(channels)}
    for s in spikes.iter_rows(named=True):
        col = index.get(s["channel"])
        if col is None:
            continue
        lo, hi = np.searchsorted(t_ns, [s["start_ns"], s["end_ns"]], side="left")
        for i in range(int(lo), int(hi)):
            done = bool(repaired_mask[i, col])
            error = None
            if done:
                candidates = raw[i, col] - np.array([1.0, -1.0]) * s["magnitude"]
                error = float(np.min(np.abs(repaired[i, col] - candidates)))
                error /= float(s["position_sigma_rad"])
            rows["truth_id"].append(s["truth_id"])
            rows["channel"].append(s["channel"])
            rows["t_ns"].append(int(t_ns[i]))
            rows["was_repaired"].append(done)
            rows["error_over_noise"].append(error)
    return pl.DataFrame(
        rows,
        schema={
            "truth_id": pl.String,
            "channel": pl.String,
            "t_ns": pl.Int64,
            "was_repaired": pl.Boolean,
            "error_over_noise": pl.Float64,
        },
    )


def false_alarm_cells(findings: pl.DataFrame, faults: pl.DataFrame, sizes: pl.DataFrame) -> int:
    """Cells flagged by findings that overlap no truth fault (see the module docstring).

    ``findings``: center, recording_id, stream, channel, kind, start_ns, end_ns;
    ``faults``: the truth's faults table; ``sizes``: center, recording_id, stream, n_samples,
    n_channels (only findings on these streams count).
    """
    if findings.is_empty():
        return 0
    f = findings.filter(~pl.col("kind").is_in(list(NOT_SAMPLE_FLAGS))).join(
        sizes, on=["center", "recording_id", "stream"], how="inner"
    )
    if f.is_empty():
        return 0
    f = f.with_columns(overlaps_truth(f, faults).alias("explained"))
    alone = f.filter(~pl.col("explained"))
    if alone.is_empty():
        return 0
    period = pl.col("stream").replace_strict(NOMINAL_PERIOD_NS, default=None, return_dtype=pl.Int64)
    steps = ((pl.col("end_ns") - pl.col("start_ns")) / period).round()
    samples = (
        pl.when(pl.col("kind").is_in(GAP_KINDS))
        .then(pl.max_horizontal(steps - 1, pl.lit(1.0)))
        .otherwise(steps + 1)
    )
    width = pl.when(pl.col("channel") == "").then(pl.col("n_channels")).otherwise(1)
    cells = alone.select((samples.fill_null(1.0) * width).sum()).item()
    return int(cells or 0)
