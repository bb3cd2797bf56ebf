"""Export to a replay buffer in Zarr format 2, the layout diffusion-policy and UMI read.

```
.zgroup, .zattrs                 provenance, feature channel names, the episodes' labels
data/state      (steps, n)       float32: joint positions, then hand or claw closure
data/action     (steps, n)       float32: joint command, then end-effector command
data/velocity, data/effort, data/head_pose, data/arm_target  (when measured throughout)
data/flags      (steps, 5)       bool: interpolated, repaired, dropout, frozen, limit_violation
data/timestamp  (steps,)         float64: seconds since the episode's first step
data/<camera>   (steps, H, W, 3) uint8, one step per chunk, codec ``imagecodecs_jpeg``
meta/episode_ends (episodes,)    int64: one past each episode's last step
meta/episode_success, meta/quality_score (episodes,)
```

Zarr format 2 because the zarr 2.x line those projects pin cannot open format 3. A camera
chunk is the JPEG the rig recorded, unchanged: zarr decodes it with the ``imagecodecs_jpeg``
codec (``imagecodecs.numcodecs.register_codecs()``, or diffusion-policy's own
``register_codecs()``), so ``buffer['data/camera_head'][i]`` is an (H, W, 3) image and
nothing was re-encoded. Arrays are written chunk by chunk as episodes stream through, so an
export of any size holds one chunk per array in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numcodecs import Blosc

from teleop_lake.lake.storage import Store, json_bytes
from teleop_lake.release.export.frames import episode_windows, row_step
from teleop_lake.release.export.lerobot import task_text
from teleop_lake.release.export.selection import (
    FLAG_NAMES,
    ExportedDataset,
    ExportGroup,
    episode_frames,
    episode_labels,
    row_flags,
)
from teleop_lake.release.reader import Release

STEP_CHUNK = 16_384
"""Steps per chunk of the signal arrays (5.5 minutes at 50 Hz)."""
JPEG_CODEC = {"id": "imagecodecs_jpeg"}
_BLOSC = Blosc(cname="lz4", clevel=5, shuffle=Blosc.BITSHUFFLE)

# feature name in the export -> array name in data/
ARRAY_NAMES = {
    "observation.state": "state",
    "action": "action",
    "observation.velocity": "velocity",
    "observation.effort": "effort",
    "observation.head_pose": "head_pose",
    "action.arm_target": "arm_target",
}


class _ChunkedArray:
    """A Zarr v2 array written chunk by chunk along its first axis."""

    def __init__(
        self,
        store: Store,
        path: str,
        dtype: np.dtype,
        row_shape: tuple[int, ...],
        chunk_rows: int,
        fill_value: Any,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        self.store, self.path = store, path
        self.dtype, self.row_shape, self.chunk_rows = np.dtype(dtype), row_shape, chunk_rows
        self.fill_value, self.attrs = fill_value, attrs
        self.pending: list[np.ndarray] = []
        self.pending_rows = 0
        self.chunks_written = 0
        self.rows = 0
        self.bytes_written = 0

    def _put(self, key: str, data: bytes) -> None:
        self.store.write_bytes(f"{self.path}/{key}", data)
        self.bytes_written += len(data)

    def _chunk_key(self, index: int) -> str:
        return ".".join([str(index)] + ["0"] * len(self.row_shape))

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        self.pending.append(rows)
        self.pending_rows += len(rows)
        self.rows += len(rows)
        while self.pending_rows >= self.chunk_rows:
            block = np.concatenate(self.pending)
            self._flush(block[: self.chunk_rows])
            rest = block[self.chunk_rows :]
            self.pending, self.pending_rows = ([rest] if len(rest) else []), len(rest)

    def _flush(self, block: np.ndarray) -> None:
        if len(block) < self.chunk_rows:  # the last chunk is stored full size, padded
            pad = np.full((self.chunk_rows - len(block), *self.row_shape), self.fill_value)
            block = np.concatenate([block, pad.astype(self.dtype)])
        self._put(self._chunk_key(self.chunks_written), bytes(_BLOSC.encode(block)))
        self.chunks_written += 1

    def close(self) -> None:
        if self.pending_rows:
            self._flush(np.concatenate(self.pending))
        fill = self.fill_value
        if isinstance(fill, float) and np.isnan(fill):
            fill = "NaN"
        elif isinstance(fill, np.generic | bool):
            fill = fill.item() if isinstance(fill, np.generic) else fill
        meta = {
            "zarr_format": 2,
            "shape": [self.rows, *self.row_shape],
            "chunks": [self.chunk_rows, *self.row_shape],
            "dtype": self.dtype.str,
            "compressor": _BLOSC.get_config(),
            "fill_value": fill,
            "order": "C",
            "filters": None,
            "dimension_separator": ".",
        }
        self._put(".zarray", json_bytes(meta))
        if self.attrs:
            self._put(".zattrs", json_bytes(self.attrs))


class _JpegFrames:
    """A camera as a Zarr v2 uint8 array of shape (steps, H, W, 3), one JPEG per chunk."""

    def __init__(self, store: Store, path: str, height: int, width: int) -> None:
        self.store, self.path, self.height, self.width = store, path, height, width
        self.rows = 0
        self.bytes_written = 0

    def append(self, frames: list[bytes]) -> None:
        for data in frames:
            self.store.write_bytes(f"{self.path}/{self.rows}.0.0.0", data)
            self.rows += 1
            self.bytes_written += len(data)

    def close(self) -> None:
        meta = {
            "zarr_format": 2,
            "shape": [self.rows, self.height, self.width, 3],
            "chunks": [1, self.height, self.width, 3],
            "dtype": "|u1",
            "compressor": JPEG_CODEC,
            "fill_value": 0,
            "order": "C",
            "filters": None,
            "dimension_separator": ".",
        }
        data = json_bytes(meta)
        self.store.write_bytes(f"{self.path}/.zarray", data)
        self.bytes_written += len(data)


def write_replay_buffer_v2(
    release: Release,
    group: ExportGroup,
    store: Store,
    fps: int,
    provenance: dict[str, Any],
    on_episode: Callable[[str], None] | None = None,
) -> ExportedDataset:
    """Write ``group`` as a Zarr format 2 replay buffer at the root of ``store``."""
    step = row_step(fps)
    arrays = {
        feature: _ChunkedArray(
            store,
            f"data/{ARRAY_NAMES[feature]}",
            np.dtype(np.float32),
            (len(cols),),
            STEP_CHUNK,
            float("nan"),
            {"channels": cols},
        )
        for feature, cols in group.vectors.items()
    }
    flags = _ChunkedArray(
        store,
        "data/flags",
        np.dtype(bool),
        (len(FLAG_NAMES),),
        STEP_CHUNK,
        False,
        {"channels": FLAG_NAMES},
    )
    timestamp = _ChunkedArray(
        store,
        "data/timestamp",
        np.dtype(np.float64),
        (),
        STEP_CHUNK,
        0.0,
        {"unit": "s", "meaning": "seconds since the episode's first step"},
    )
    cameras: dict[str, _JpegFrames] = {}
    for camera in group.cameras:
        height, width = release.camera_size(str(group.episodes["episode_id"][0]), camera)
        cameras[camera] = _JpegFrames(store, f"data/{camera}", height, width)
    ends: list[int] = []
    labels: list[dict[str, Any]] = []
    total = 0
    for episode in group.episodes.iter_rows(named=True):
        rows = episode_frames(release, episode, group.frames_columns).gather_every(step)
        for window in episode_windows(release, episode, rows, group.cameras):
            part = window.rows
            for feature, cols in group.vectors.items():
                arrays[feature].append(part.select(cols).to_numpy())
            flags.append(row_flags(part))
            timestamp.append(np.arange(window.start, window.start + part.height) / fps)
            for camera, frames in window.images.items():
                cameras[camera].append(frames)
        total += rows.height
        ends.append(total)
        if on_episode is not None:
            on_episode(str(episode["episode_id"]))
        labels.append(
            {
                "episode_id": episode["episode_id"],
                **episode_labels(episode),
                "task": task_text(str(episode["task_code"])),
            }
        )
    written = 0
    streams: list[_ChunkedArray | _JpegFrames] = [*arrays.values(), flags, timestamp]
    streams += cameras.values()
    for array in streams:
        array.close()
        written += array.bytes_written
    n_eps = len(ends)
    for name, values, fill in (
        ("episode_ends", np.asarray(ends, dtype=np.int64), 0),
        ("episode_success", np.asarray([e["outcome"] == "success" for e in labels]), False),
        (
            "quality_score",
            np.asarray([e["quality_score"] for e in labels], dtype=np.float32),
            float("nan"),
        ),
    ):
        meta = _ChunkedArray(store, f"meta/{name}", values.dtype, (), max(n_eps, 1), fill)
        meta.append(values)
        meta.close()
        written += meta.bytes_written
    for group_path in ("", "data", "meta"):
        store.write_bytes(f"{group_path}/.zgroup".lstrip("/"), json_bytes({"zarr_format": 2}))
    store.write_bytes(
        ".zattrs",
        json_bytes(
            {
                **provenance,
                "dataset": group.name,
                "robot_model": group.robot_model,
                "fps": fps,
                "layout": "replay_buffer: data/<key>[step, ...], meta/episode_ends[episode]",
                "features": {ARRAY_NAMES[k]: v for k, v in group.vectors.items()},
                "cameras": {c: {"codec": JPEG_CODEC["id"]} for c in group.cameras},
                "episodes": labels,
                "skipped_episodes": group.skipped,
            }
        ),
    )
    return ExportedDataset(group.name, n_eps, total, written, group.skipped)
