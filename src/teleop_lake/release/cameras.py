"""Camera frames in a release: the JPEG bytes the rig recorded, passed through, one table per
camera per segment (``segments/<id>/cameras/<camera>.parquet``).

One row per delivered frame of a published episode's span, at the camera's own rate:
``episode_id``, ``frame_index`` (the frame's number in the camera stream as delivered: what the
frames table's ``camera.<name>.frame_index`` points at), ``t_ns`` (its capture instant on the
robot clock, from the camera's fitted tick), ``stamp_ns`` (its stamp as delivered, on the
camera's own clock), ``width``/``height`` (from the JPEG header), ``encoding`` and ``data`` (the
bytes, never re-encoded). Row groups of `ROW_GROUP_FRAMES` frames let a loader fetch one
episode's frames without reading the rest; the bytes are stored uncompressed (JPEG is already).

Why Parquet and not a Zarr array of decoded pixels or of JPEG-coded chunks: polars, pyarrow,
DuckDB and pandas read it as they are, the bytes are the rig's own (a release is exactly as
large as the frames delivered), and the frame index and stamps sit beside each frame. A Zarr
JPEG-chunk array would need an image codec plugin installed to read at all; decoded pixels are
20-40x the bytes. docs/CAMERAS.md has the measured read speeds.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl
from PIL import Image

from teleop_lake.canonical import CameraStream
from teleop_lake.cleaning import CameraCheck

CAMERAS_DIR = "cameras"
# ~1 MB of 640x480 frames: a loader's random frame costs one such group read (bench cameras)
ROW_GROUP_FRAMES = 16
CAMERA_TABLE_SCHEMA: dict[str, pl.DataType] = {
    "episode_id": pl.String(),
    "frame_index": pl.Int32(),
    "t_ns": pl.Int64(),
    "stamp_ns": pl.Int64(),
    "width": pl.Int32(),
    "height": pl.Int32(),
    "encoding": pl.String(),
    "data": pl.Binary(),
}


def camera_table_path(camera: str) -> str:
    """A camera's table, relative to its segment folder."""
    return f"{CAMERAS_DIR}/{camera}.parquet"


def camera_rows(
    episode_id: str, stream: CameraStream, check: CameraCheck, start_ns: int, end_ns: int
) -> pl.DataFrame:
    """The rows of one episode's span ``start_ns..end_ns`` (robot clock, grid ends widened by
    half a frame period, so the frames its edge rows point at are in)."""
    half = check.period_ns / 2.0 if np.isfinite(check.period_ns) else 0.0
    inside = (check.t_capture_ns >= start_ns - half) & (check.t_capture_ns <= end_ns + half)
    index = check.frame_index[inside]
    n = len(index)
    return pl.DataFrame(
        {
            "episode_id": [episode_id] * n,
            "frame_index": index.astype(np.int32),
            "t_ns": check.t_capture_ns[inside].astype(np.int64),
            "stamp_ns": stream.t_ns[index].astype(np.int64),
            "width": np.full(n, check.width, dtype=np.int32),
            "height": np.full(n, check.height, dtype=np.int32),
            "encoding": [stream.encoding] * n,
            "data": [stream.frames[i] for i in index.tolist()],
        },
        schema=CAMERA_TABLE_SCHEMA,
    )


def decode_frame(data: bytes) -> np.ndarray:
    """A frame's pixels, (height, width, 3) uint8 RGB."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))
