"""Normalization statistics of an export, merged from the segments' per-episode statistics.

Vector features take theirs from ``stats.parquet`` of each episode's segment
(`teleop_lake.release.stats.merged_stats`): sums over the selected episodes, no pass over
frames. Camera statistics (per colour channel, in 0..1) come from frames sampled evenly
through each episode and decoded at 1/8 scale.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from teleop_lake.release.cameras import UNDECODABLE
from teleop_lake.release.export.selection import ExportGroup
from teleop_lake.release.reader import Release
from teleop_lake.release.stats import (
    ChannelSummary,
    merged_stats,
    summarize,
)

IMAGE_SAMPLES_PER_EPISODE = 12
"""Frames per camera and episode decoded for the camera statistics (at 1/8 scale)."""


def channel_summaries(release: Release, group: ExportGroup) -> dict[str, ChannelSummary]:
    """Per frames column of the group's vectors: its statistics over the group's episodes."""
    merged = merged_stats(release.lake, group.episodes)
    return {row["channel"]: summarize(row) for row in merged.iter_rows(named=True)}


def vector_stats(
    summaries: dict[str, ChannelSummary], columns: list[str]
) -> dict[str, list[float] | list[int]]:
    """LeRobot's per-feature statistics of one vector (one entry per component)."""
    picked = [summaries[c] for c in columns]
    out: dict[str, list[float] | list[int]] = {
        "mean": [s.mean for s in picked],
        "std": [s.std for s in picked],
        "min": [s.min for s in picked],
        "max": [s.max for s in picked],
        "count": [min(s.count for s in picked)],
    }
    for q in picked[0].quantiles:
        out[q] = [s.quantiles[q] for s in picked]
    return out


class ImageStats:
    """Per colour channel sums over sampled frames decoded at 1/8 scale, values in 0..1."""

    def __init__(self) -> None:
        self.count = 0
        self.total = np.zeros(3)
        self.total_sq = np.zeros(3)
        self.low = np.full(3, np.inf)
        self.high = np.full(3, -np.inf)
        self.frames = 0
        self.undecodable = 0

    def add(self, jpeg: bytes) -> None:
        """Count a sampled frame; one that does not decode (damaged) is left out."""
        try:
            with Image.open(io.BytesIO(jpeg)) as img:
                img.draft("RGB", (max(img.width // 8, 1), max(img.height // 8, 1)))
                pixels = np.asarray(img.convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0
        except UNDECODABLE:
            self.undecodable += 1
            return
        self.count += len(pixels)
        self.total += pixels.sum(axis=0)
        self.total_sq += (pixels * pixels).sum(axis=0)
        self.low = np.minimum(self.low, pixels.min(axis=0))
        self.high = np.maximum(self.high, pixels.max(axis=0))
        self.frames += 1

    def lerobot(self) -> dict[str, list[list[list[float]]] | list[int]]:
        """In LeRobot's layout: (3, 1, 1) per statistic, channel first."""
        if self.count == 0:
            raise ValueError("no frame was sampled")
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.total_sq / self.count - mean * mean, 0.0))

        def shaped(v: np.ndarray) -> list[list[list[float]]]:
            return [[[float(x)]] for x in v]

        return {
            "mean": shaped(mean),
            "std": shaped(std),
            "min": shaped(self.low),
            "max": shaped(self.high),
            "count": [self.frames],
        }


def sample_positions(n_rows: int, samples: int = IMAGE_SAMPLES_PER_EPISODE) -> set[int]:
    """Rows of an episode whose frames feed the camera statistics: evenly through it."""
    if n_rows <= 0:
        return set()
    return {int(x) for x in np.linspace(0, n_rows - 1, min(samples, n_rows))}
