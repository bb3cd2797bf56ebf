"""Reading an exported episode's rows and camera frames from a release, a window at a time.

Both exports step through an episode's grid rows (optionally every k-th, for a lower rate)
and need, per row, the JPEG bytes of each camera's nearest frame. The bytes are fetched from
the segment's camera table a window of rows at a time (row-group pruning on ``frame_index``),
so an episode of any length is exported in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from teleop_lake.lake import layout
from teleop_lake.release.cameras import camera_table_path
from teleop_lake.release.reader import Release

GRID_RATE_HZ = 50
"""The release's frames are a 50 Hz grid on the robot clock."""
WINDOW_ROWS = 200
"""Rows exported per step: at 50 Hz and three 640x480 cameras about 25 MB of JPEG bytes."""


class ExportRateError(ValueError):
    """An export rate that does not divide the release's grid rate."""


def row_step(fps: int) -> int:
    """Grid rows per exported row for ``fps``: it must divide the 50 Hz grid."""
    if fps <= 0 or GRID_RATE_HZ % fps:
        divisors = [d for d in range(1, GRID_RATE_HZ + 1) if GRID_RATE_HZ % d == 0]
        raise ExportRateError(
            f"--fps {fps}: exports take every k-th row of the {GRID_RATE_HZ} Hz grid, so the "
            f"rate must divide {GRID_RATE_HZ}; choose one of {divisors}"
        )
    return GRID_RATE_HZ // fps


def nearest_frames(index: np.ndarray) -> np.ndarray:
    """Camera frame numbers per row with the rows that have none (-1) given the nearest row's
    frame before them, or after them at the start."""
    out = index.astype(np.int64, copy=True)
    have = out >= 0
    if not have.any():
        return out
    pos = np.where(have, np.arange(len(out)), -1)
    np.maximum.accumulate(pos, out=pos)
    first = int(np.argmax(have))
    pos[:first] = first
    return out[pos]


@dataclass(frozen=True)
class EpisodeWindow:
    """Rows ``start..start+len`` of an exported episode: their frame rows and, per camera, the
    JPEG bytes of each row's frame."""

    start: int
    rows: pl.DataFrame
    images: dict[str, list[bytes]]


def camera_bytes(
    release: Release, episode: dict[str, object], camera: str, wanted: np.ndarray
) -> dict[int, bytes]:
    """The JPEG bytes of frames ``wanted`` of one episode's camera, by frame number."""
    seg = layout.segment_dir(str(episode["segment_id"]))
    lo, hi = int(wanted.min()), int(wanted.max())
    table = (
        pl.scan_parquet(release.lake.uri(f"{seg}/{camera_table_path(camera)}"))
        .filter(
            (pl.col("episode_id") == episode["episode_id"])
            & pl.col("frame_index").is_between(lo, hi)
        )
        .select("frame_index", "data")
        .collect()
    )
    found = dict(zip(table["frame_index"].to_list(), table["data"].to_list(), strict=True))
    missing = sorted(set(wanted.tolist()) - set(found))
    if missing:
        raise LookupError(
            f"episode {episode['episode_id']}: camera {camera} frame {missing[0]} is pointed at "
            f"by the frames table but not in {seg}/{camera_table_path(camera)}; run "
            "`teleop-lake release verify`"
        )
    return found


def episode_windows(
    release: Release,
    episode: dict[str, object],
    rows: pl.DataFrame,
    cameras: list[str],
    window: int = WINDOW_ROWS,
) -> Iterator[EpisodeWindow]:
    """An exported episode's rows (already stepped) in windows, with their cameras' bytes."""
    frame_numbers = {c: nearest_frames(rows[f"camera.{c}.frame_index"].to_numpy()) for c in cameras}
    for start in range(0, rows.height, window):
        part = rows.slice(start, window)
        images = {}
        for c in cameras:
            wanted = frame_numbers[c][start : start + part.height]
            data = camera_bytes(release, episode, c, wanted)
            images[c] = [data[i] for i in wanted.tolist()]
        yield EpisodeWindow(start, part, images)
