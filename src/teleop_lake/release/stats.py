"""Channel statistics that merge exactly: per episode and channel, count, sum, sum of squares,
min, max and a fixed-bin histogram.

Each segment stores them for its episodes (``stats.parquet``, written with the frames), so a
release's or an export's statistics are sums over the episodes it selects, never a second
pass over frames. Means and standard deviations follow exactly; quantiles follow from the
histograms to within a bin (`HISTOGRAM_BINS` bins over each family's fixed range, with an
underflow and an overflow bin, and clamped to the exact min and max).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from datalake_schemas import upgrade_column
from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store

STATS_FILE = "stats.parquet"
HISTOGRAM_BINS = 256
"""Bins across a family's range: 1/256 of a 2*pi joint range is 0.025 rad, finer than the
spread of any one joint over an episode, so quantiles are good to a fraction of that spread."""

# Fixed histogram ranges by column family (unit in the name). Wider than any robot model's
# envelope so that only implausible values land in the underflow or overflow bins.
_FAMILY_RANGES: tuple[tuple[str, float, float], ...] = (
    ("obs.position_rad.", -np.pi, np.pi),
    ("action.target_rad.", -np.pi, np.pi),
    ("action.arm_target_rad.", -np.pi, np.pi),
    ("obs.velocity_rad_s.", -20.0, 20.0),
    ("obs.effort_n_m.", -400.0, 400.0),
    ("obs.hand_closure.", -0.05, 1.05),
    ("obs.gripper_closure.", -0.05, 1.05),
    ("action.hand_closure.", -0.05, 1.05),
    ("action.gripper_closure.", -0.05, 1.05),
    ("obs.gripper_state_code.", -1.5, 3.5),
    ("obs.head_position_m.", -3.0, 3.0),
    ("obs.head_orientation.", -1.0, 1.0),
)

STATS_SCHEMA: dict[str, pl.DataType] = {
    "episode_id": pl.String(),
    "channel": pl.String(),
    "count": pl.Int64(),
    "sum": pl.Float64(),
    "sum_sq": pl.Float64(),
    "min": pl.Float64(),
    "max": pl.Float64(),
    "hist_lo": pl.Float64(),
    "hist_hi": pl.Float64(),
    "hist": pl.List(pl.Int64()),
}
"""``hist`` has ``HISTOGRAM_BINS + 2`` counts: below ``hist_lo``, the bins, above ``hist_hi``."""


def histogram_range(channel: str) -> tuple[float, float] | None:
    """The fixed histogram range of a frames column, or None if it carries no statistics."""
    for prefix, lo, hi in _FAMILY_RANGES:
        if channel.startswith(prefix):
            return lo, hi
    return None


def stats_channels(columns: list[str]) -> list[str]:
    return [c for c in columns if histogram_range(c) is not None]


def episode_channel_stats(frames: pl.DataFrame) -> pl.DataFrame:
    """Per (episode, channel) statistics of a frames table; nulls and non-finite values are
    not counted (a channel never measured has count 0)."""
    channels = stats_channels(frames.columns)
    if frames.is_empty() or not channels:
        return pl.DataFrame(schema=STATS_SCHEMA)
    # dense ranks of the sorted ids: code i is the i-th id of unique().sort()
    episode_codes = (frames["episode_id"].rank("dense") - 1).cast(pl.Int64).to_numpy()
    names = frames["episode_id"].unique().sort().to_list()
    n_eps = len(names)
    n_slots = HISTOGRAM_BINS + 2
    parts = []
    for channel in channels:
        lo, hi = histogram_range(channel)  # type: ignore[misc]
        values = frames[channel].cast(pl.Float64).fill_null(np.nan).to_numpy()
        ok = np.isfinite(values)
        v = values[ok]
        ep = episode_codes[ok]
        count = np.bincount(ep, minlength=n_eps)
        total = np.bincount(ep, weights=v, minlength=n_eps)
        total_sq = np.bincount(ep, weights=v * v, minlength=n_eps)
        vmin = np.full(n_eps, np.inf)
        vmax = np.full(n_eps, -np.inf)
        np.minimum.at(vmin, ep, v)
        np.maximum.at(vmax, ep, v)
        bins = np.floor((v - lo) / (hi - lo) * HISTOGRAM_BINS).astype(np.int64) + 1
        np.clip(bins, 0, n_slots - 1, out=bins)
        hist = np.bincount(ep * n_slots + bins, minlength=n_eps * n_slots).reshape(n_eps, n_slots)
        parts.append(
            pl.DataFrame(
                {
                    "episode_id": names,
                    "channel": [channel] * n_eps,
                    "count": count.astype(np.int64),
                    "sum": total,
                    "sum_sq": total_sq,
                    "min": np.where(count > 0, vmin, np.nan),
                    "max": np.where(count > 0, vmax, np.nan),
                    "hist_lo": np.full(n_eps, lo),
                    "hist_hi": np.full(n_eps, hi),
                    "hist": list(hist),
                },
                schema=STATS_SCHEMA,
            )
        )
    return pl.concat(parts, how="vertical")


def merge_stats(stats: pl.DataFrame, by: list[str] | None = None) -> pl.DataFrame:
    """Sum per-episode statistics over episodes, per channel (and ``by`` columns)."""
    keys = [*(by or []), "channel"]
    if stats.is_empty():
        return stats.select(keys, *[c for c in STATS_SCHEMA if c not in ("episode_id", "channel")])
    merged = stats.group_by(keys, maintain_order=True).agg(
        pl.col("count").sum(),
        pl.col("sum").sum(),
        pl.col("sum_sq").sum(),
        pl.col("min").min(),
        pl.col("max").max(),
        pl.col("hist_lo").first(),
        pl.col("hist_hi").first(),
        pl.col("hist"),
    )
    hists = [
        np.sum(np.stack([np.asarray(h, dtype=np.int64) for h in group]), axis=0).tolist()
        for group in merged["hist"].to_list()
    ]
    return merged.with_columns(pl.Series("hist", hists, dtype=pl.List(pl.Int64())))


@dataclass(frozen=True)
class ChannelSummary:
    count: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[str, float]


QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}


def summarize(row: dict[str, object]) -> ChannelSummary:
    """Mean, population std, min, max and histogram quantiles of one merged stats row."""
    count = int(row["count"])  # type: ignore[call-overload]
    if count == 0:
        nan = float("nan")
        return ChannelSummary(0, nan, nan, nan, nan, {k: nan for k in QUANTILES})
    total, total_sq = float(row["sum"]), float(row["sum_sq"])  # type: ignore[arg-type]
    mean = total / count
    var = max(total_sq / count - mean * mean, 0.0)
    lo, hi = float(row["hist_lo"]), float(row["hist_hi"])  # type: ignore[arg-type]
    vmin, vmax = float(row["min"]), float(row["max"])  # type: ignore[arg-type]
    hist = np.asarray(row["hist"], dtype=np.float64)
    cum = np.cumsum(hist)
    width = (hi - lo) / HISTOGRAM_BINS
    quantiles = {}
    for name, q in QUANTILES.items():
        target = q * count
        slot = int(np.searchsorted(cum, target, side="left"))
        before = cum[slot - 1] if slot > 0 else 0.0
        inside = (target - before) / hist[slot] if hist[slot] > 0 else 0.5
        # slot 0 and the last slot are the under/overflow bins: there, only min/max are known
        left = lo + (slot - 1) * width if slot > 0 else vmin
        right = lo + slot * width if slot < HISTOGRAM_BINS + 1 else vmax
        quantiles[name] = float(np.clip(left + inside * (right - left), vmin, vmax))
    return ChannelSummary(count, mean, float(np.sqrt(var)), vmin, vmax, quantiles)


def segment_episode_stats(lake: Store, segment_id: str, keys: pl.DataFrame) -> pl.DataFrame:
    """Per-episode statistics of the episodes ``keys`` (``episode_id``, ``robot_model``) of one
    segment, from its ``stats.parquet``; a segment written before those existed has them
    computed from its frames here."""
    seg = layout.segment_dir(segment_id)
    if lake.exists(f"{seg}/{STATS_FILE}"):
        stats = lake.read_parquet(f"{seg}/{STATS_FILE}").with_columns(
            pl.col("channel").map_elements(upgrade_column, return_dtype=pl.String)
        )
    else:
        frames = (
            pl.scan_parquet(lake.uri(f"{seg}/frames.parquet"))
            .join(keys.select("episode_id").lazy(), on="episode_id", how="semi")
            .collect()
        )
        stats = episode_channel_stats(frames.rename(upgrade_column))
    return stats.join(keys, on="episode_id", how="inner")


def merged_stats(lake: Store, episodes: pl.DataFrame, by: list[str] | None = None) -> pl.DataFrame:
    """Statistics over exactly ``episodes`` (rows of a release's episodes table:
    ``episode_id``, ``segment_id``, ``robot_model``), per channel and ``by`` columns (of
    ``robot_model``), merged from their segments without a pass over frames. Merged a segment
    at a time, so memory holds one segment's per-episode rows, whatever the release's size."""
    partials = []
    for (segment_id,), eps in episodes.group_by(["segment_id"], maintain_order=True):
        keys = eps.select("episode_id", "robot_model")
        stats = segment_episode_stats(lake, str(segment_id), keys)
        partials.append(merge_stats(stats, by=by).with_columns(pl.lit("").alias("episode_id")))
    if not partials:
        empty = pl.DataFrame(schema={**STATS_SCHEMA, "robot_model": pl.String()})
        return merge_stats(empty, by=by)
    return merge_stats(pl.concat(partials, how="diagonal"), by=by)


def release_stats(lake: Store, episodes: pl.DataFrame) -> pl.DataFrame:
    """Per robot model and channel, statistics over exactly ``episodes`` (`merged_stats`)."""
    return merged_stats(lake, episodes, by=["robot_model"]).sort("robot_model", maintain_order=True)
