"""Assembling the training grid: every cleaned stream (already on the robot clock) resampled
onto the grid ticks, with the per-row quality flags following the values.

Column names are those of ``datalake_schemas.frames``; this module only computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from teleop_lake.alignment.resample import (
    Resampled,
    columns_of,
    nearest_index,
    resample_linear,
    resample_previous,
    slerp_quaternions,
)


@dataclass(frozen=True, eq=False)
class GridStream:
    """A cleaned stream on the robot clock, with per-sample masks (samples x channels)."""

    name: str
    t_ns: np.ndarray
    channels: tuple[str, ...]
    values: np.ndarray
    period_ns: float
    repaired: np.ndarray
    limit: np.ndarray
    frozen: np.ndarray | None = None
    dropouts: tuple[tuple[int, int], ...] = ()  # (start_ns, end_ns) on the robot clock
    unpopulated: np.ndarray | None = None
    """Per channel: never measured, so null on the grid (not zeros)."""


@dataclass
class FrameColumns:
    """Accumulates grid columns and row flags (mutable while one grid is being built)."""

    t_grid: np.ndarray
    interpolated_min_periods: float
    edge_hold_periods: float
    floats: dict[str, np.ndarray] = field(default_factory=dict)
    ints: dict[str, np.ndarray] = field(default_factory=dict)
    interpolated: np.ndarray = field(init=False)
    repaired: np.ndarray = field(init=False)
    frozen: np.ndarray = field(init=False)
    limit: np.ndarray = field(init=False)
    dropout: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        m = len(self.t_grid)
        self.interpolated = np.zeros(m, dtype=bool)
        self.repaired = np.zeros(m, dtype=bool)
        self.frozen = np.zeros(m, dtype=bool)
        self.limit = np.zeros(m, dtype=bool)
        self.dropout = np.zeros(m, dtype=bool)

    def add_stream(
        self,
        stream: GridStream | None,
        columns: Sequence[tuple[str, str]],
        method: str = "linear",
    ) -> None:
        """Resample ``stream`` and store ``(source channel, output column)`` pairs; a missing
        stream or channel gives an all-NaN column."""
        m = len(self.t_grid)
        if stream is None or len(stream.t_ns) == 0:
            for _, out in columns:
                self.floats[out] = np.full(m, np.nan, dtype=np.float32)
            return
        cols = [stream.channels.index(c) if c in stream.channels else -1 for c, _ in columns]
        present = [c for c in cols if c >= 0]
        if not present:
            for _, out in columns:
                self.floats[out] = np.full(m, np.nan, dtype=np.float32)
            return
        tolerance = self.edge_hold_periods * stream.period_ns
        values = columns_of(stream.values, present)
        res: Resampled
        if method == "previous":
            res = resample_previous(stream.t_ns, values, self.t_grid, tolerance)
        elif method == "slerp":
            res = slerp_quaternions(stream.t_ns, values, self.t_grid, tolerance)
        else:
            res = resample_linear(stream.t_ns, values, self.t_grid, tolerance)
        position = {c: i for i, c in enumerate(present)}
        never = stream.unpopulated
        if never is not None and method == "slerp" and never[present].any():
            never = np.ones_like(never)  # a quaternion missing a component is no rotation
        for c, (_, out) in zip(cols, columns, strict=True):
            if c < 0 or (never is not None and never[c]):
                column = np.full(m, np.nan)
            else:
                column = res.values[:, position[c]]
            self.floats[out] = column.astype(np.float32)
        self._follow_flags(stream, res, present)

    def _follow_flags(self, stream: GridStream, res: Resampled, cols: list[int]) -> None:
        n = len(stream.t_ns)
        left = np.clip(res.left, 0, n - 1)
        right = np.clip(res.left + 1, 0, n - 1)
        valid = res.valid
        self.interpolated |= valid & (res.gap_ns > self.interpolated_min_periods * stream.period_ns)
        for mask, target in (
            (stream.repaired, self.repaired),
            (stream.limit, self.limit),
            (stream.frozen, self.frozen),
        ):
            if mask is None:
                continue
            per_sample: np.ndarray = np.any(columns_of(mask, cols), axis=1)
            if per_sample.any():
                target |= valid & (per_sample[left] | per_sample[right])
        for start_ns, end_ns in stream.dropouts:
            self.dropout |= (self.t_grid > start_ns) & (self.t_grid < end_ns)

    def add_camera(
        self,
        name: str,
        t_ns: np.ndarray,
        frame_index: np.ndarray,
        period_ns: float,
        max_distance_periods: float,
    ) -> None:
        nearest = nearest_index(t_ns, self.t_grid, max_distance_periods * period_ns)
        found = nearest >= 0
        at = np.clip(nearest, 0, None)
        self.ints[f"camera.{name}.frame_index"] = np.where(found, frame_index[at], -1).astype(
            np.int32
        )
        # how far the frame's capture instant is from the row: a loader that wants the frame
        # exactly at the row can interpolate or pick the neighbour
        offset_ms = (t_ns[at] - self.t_grid).astype(np.float64) / 1e6
        self.floats[f"camera.{name}.offset_ms"] = np.where(found, offset_ms, np.nan).astype(
            np.float32
        )


def frames_frame(
    episode_id: str, t_grid: np.ndarray, cols: FrameColumns, residual: np.ndarray
) -> pl.DataFrame:
    """The frames table of one episode (column order: ids, obs, actions, cameras, flags)."""
    m = len(t_grid)
    data: dict[str, Any] = {
        "episode_id": pl.Series("episode_id", [episode_id] * m, dtype=pl.String),
        "frame_index": np.arange(m, dtype=np.int32),
        "t_ns": t_grid.astype(np.int64),
        "t_rel_s": (t_grid - t_grid[0]) / 1e9,
    }
    data.update(cols.floats)
    data.update(cols.ints)
    data.update(
        {
            "flag.interpolated": cols.interpolated,
            "flag.repaired": cols.repaired,
            "flag.dropout": cols.dropout,
            "flag.frozen": cols.frozen,
            "flag.limit_violation": cols.limit,
            "alignment_residual_ms": residual,
        }
    )
    frame = pl.DataFrame(data)
    return frame.with_columns(pl.col(pl.Float32).fill_nan(None))
