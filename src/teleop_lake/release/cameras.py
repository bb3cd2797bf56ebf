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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
from PIL import Image

from teleop_lake.canonical import CameraStream, gather_frames
from teleop_lake.cleaning import CameraCheck
from teleop_lake.cleaning.cameras import corrupt_frame
from teleop_lake.cleaning.findings import Finding
from teleop_lake.cleaning.jpeg import scan_damage

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
CAMERA_ARROW_SCHEMA = pl.DataFrame(schema=CAMERA_TABLE_SCHEMA).to_arrow().schema


def camera_table_path(camera: str) -> str:
    """A camera's table, relative to its segment folder."""
    return f"{CAMERAS_DIR}/{camera}.parquet"


# Frames per batch read from the recording and written: 4 row groups, ~4 MB at 640x480.
BATCH_FRAMES = 4 * ROW_GROUP_FRAMES


@dataclass(frozen=True)
class CameraRows:
    """One episode's rows of one camera, produced in batches: the frames are read from the
    recording (`teleop_lake.canonical.CameraStream.frames`) a batch at a time as the table is
    written, so a segment never holds an episode's frames in memory."""

    episode_id: str
    stream: CameraStream
    check: CameraCheck
    start_ns: int
    end_ns: int

    def _inside(self) -> np.ndarray:
        """Kept frames in the span ``start_ns..end_ns`` (robot clock, grid ends widened by
        half a frame period, so the frames its edge rows point at are in)."""
        check = self.check
        half = check.period_ns / 2.0 if np.isfinite(check.period_ns) else 0.0
        t = check.t_capture_ns
        return np.asarray((t >= self.start_ns - half) & (t <= self.end_ns + half))

    def batches(
        self, size: int = BATCH_FRAMES, damaged: list[tuple[str, Finding]] | None = None
    ) -> Iterator[pa.Table]:
        """The rows, ``size`` frames at a time. With ``damaged``, the JPEG frames' bytes are
        checked on their way through (`teleop_lake.cleaning.jpeg.scan_damage`): each damaged
        frame adds (episode id, finding) to it and is kept as delivered."""
        inside = self._inside()
        index = self.check.frame_index[inside]
        t_capture = self.check.t_capture_ns[inside]
        frames = self.stream.frames
        into = damaged if self.stream.encoding == "jpeg" else None
        size_wh = (self.check.width, self.check.height) if self.check.width else None
        for a in range(0, len(index), size):
            rows = index[a : a + size]
            n = len(rows)
            offsets, data = gather_frames(frames, rows)
            if into is not None:
                for k, why in scan_damage(offsets, data, size_wh).items():
                    kept = f"{why}; kept in the camera table as delivered"
                    finding = corrupt_frame(
                        self.stream.name, int(rows[k]), int(t_capture[a + k]), kept, "scan"
                    )
                    into.append((self.episode_id, finding))
            yield pa.table(
                {
                    "episode_id": pa.array([self.episode_id] * n, pa.large_string()),
                    "frame_index": pa.array(rows.astype(np.int32)),
                    "t_ns": pa.array(t_capture[a : a + size].astype(np.int64)),
                    "stamp_ns": pa.array(self.stream.t_ns[rows].astype(np.int64)),
                    "width": pa.array(np.full(n, self.check.width, dtype=np.int32)),
                    "height": pa.array(np.full(n, self.check.height, dtype=np.int32)),
                    "encoding": pa.array([self.stream.encoding] * n, pa.large_string()),
                    "data": _binary_array(offsets, data),
                },
                schema=CAMERA_ARROW_SCHEMA,
            )


def _binary_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    """Frames gathered back to back (`gather_frames`) as an Arrow binary array, not copied."""
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


CameraTable = pl.DataFrame | Sequence[CameraRows]
"""A camera's rows for a segment: a table, or the episodes' `CameraRows` to stream."""


def camera_table_batches(
    table: CameraTable, damaged: list[tuple[str, Finding]] | None = None
) -> Iterator[pa.Table]:
    """The rows of ``table`` as Arrow tables of the release's schema, a batch at a time
    (``damaged``: see `CameraRows.batches`)."""
    if isinstance(table, pl.DataFrame):
        yield table.select(list(CAMERA_TABLE_SCHEMA)).to_arrow().cast(CAMERA_ARROW_SCHEMA)
        return
    for rows in table:
        yield from rows.batches(damaged=damaged)


UNDECODABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
"""What Pillow raises for a JPEG it cannot decode ("broken data stream", a truncated file, a
header it cannot parse, a size in a damaged header past its limit): a frame the release flags
as damaged (``frame_corrupt``, rule ``camera.jpeg_scan``) may be one."""


def decode_frame(data: bytes) -> np.ndarray:
    """A frame's pixels, (height, width, 3) uint8 RGB."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))
