"""Export to a LeRobot v3.0 dataset, loadable offline by LeRobot's own ``LeRobotDataset``.

Layout (one dataset per `ExportGroup`):

```
meta/info.json                      codebase_version "v3.0", fps, features (dtype, shape, names)
meta/stats.json                     mean, std, min, max, count, q01..q99 per feature
meta/tasks.parquet                  task text (index) -> task_index
meta/episodes/chunk-000/file-000.parquet
                                    per episode: index ranges, data file, task, and the release's
                                    labels (outcome, failure_reason, label_source, quality_score,
                                    source_episode_id, center, recording_id)
meta/teleop_export.json             provenance: release, manifest sha256, filters, skipped
                                    episodes with reasons, each feature's source columns
data/chunk-000/file-000.parquet     frames: index, episode_index, frame_index, timestamp,
                                    task_index, observation.state, action, ..., cameras
```

Cameras are ``video`` features by default: H.264 MP4s under ``videos/<key>/`` encoded from the
release's JPEG frames (`teleop_lake.release.export.video`), what LeRobot users expect and about
a tenth of the bytes. With ``videos=False`` they are ``image`` features instead: each row
carries the JPEG bytes the rig recorded for the camera's nearest frame, passed through (no
re-encode, and no video decoder needed to load). The
quality flags ride along as ``quality.flags`` (one bool per flag) and
``quality.alignment_residual_ms``; ``next.done`` marks an episode's last frame and
``next.success`` its last frame when the release labels the episode a success.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from teleop_lake.config.tasks import load_task_catalog
from teleop_lake.lake.storage import Store, json_bytes
from teleop_lake.release.export.frames import EpisodeWindow, episode_windows, row_step
from teleop_lake.release.export.selection import (
    FLAG_NAMES,
    ExportedDataset,
    ExportGroup,
    episode_frames,
    episode_labels,
    row_flags,
)
from teleop_lake.release.export.statistics import (
    ImageStats,
    channel_summaries,
    sample_positions,
    vector_stats,
)
from teleop_lake.release.export.video import VIDEO_FILE_SIZE_MB, VIDEO_PATH, CameraVideo
from teleop_lake.release.reader import Release

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_FILE_SIZE_MB = 100
"""LeRobot's own default: a data file is closed after the episode that takes it past this."""
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"


def task_text(task_code: str) -> str:
    """The catalog's English task text, or the code itself for a task the catalog lacks."""
    spec = load_task_catalog().get(task_code)
    return spec.name if spec is not None else task_code


def _image_shape(release: Release, group: ExportGroup, camera: str) -> list[int]:
    first = group.episodes.row(0, named=True)
    height, width = release.camera_size(str(first["episode_id"]), camera)
    return [height, width, 3]


def _features(
    group: ExportGroup, shapes: dict[str, list[int]], videos: dict[str, CameraVideo]
) -> dict[str, dict[str, Any]]:
    features: dict[str, dict[str, Any]] = {}
    for name, cols in group.vectors.items():
        features[name] = {"dtype": "float32", "shape": [len(cols)], "names": cols}
    for camera in group.cameras:
        key = f"observation.images.{camera}"
        features[key] = {
            "dtype": "video" if videos else "image",
            "shape": shapes[camera],
            "names": ["height", "width", "channels"],
        }
        if videos:
            features[key]["info"] = videos[camera].info()
    features["quality.flags"] = {"dtype": "bool", "shape": [len(FLAG_NAMES)], "names": FLAG_NAMES}
    features["quality.alignment_residual_ms"] = {"dtype": "float32", "shape": [1], "names": None}
    features["next.done"] = {"dtype": "bool", "shape": [1], "names": None}
    features["next.success"] = {"dtype": "bool", "shape": [1], "names": None}
    for name in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        features[name] = {
            "dtype": "float32" if name == "timestamp" else "int64",
            "shape": [1],
            "names": None,
        }
    return features


def _fixed_list(values: np.ndarray, pa_type: pa.DataType) -> pa.Array:
    width = values.shape[1]
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), type=pa_type), width)


def _image_array(frames: list[bytes]) -> pa.Array:
    return pa.StructArray.from_arrays(
        [pa.array(frames, pa.binary()), pa.nulls(len(frames), pa.string())],
        names=["bytes", "path"],
    )


def _tasks_parquet(tasks: list[str]) -> bytes:
    """``meta/tasks.parquet`` as LeRobot reads it with pandas: the task text is the index."""
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": "task",
                "field_name": "task",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    table = pa.table(
        {"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks)}
    ).replace_schema_metadata({"pandas": json.dumps(pandas_meta)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


class _DataFiles:
    """Rolling data files: a new file once the current one passes `DATA_FILE_SIZE_MB`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.file_index = 0
        self.writer: pq.ParquetWriter | None = None
        self.sink: Any = None
        self.bytes_written = 0

    @property
    def location(self) -> tuple[int, int]:
        return self.file_index // CHUNKS_SIZE, self.file_index % CHUNKS_SIZE

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            chunk, file = self.location
            rel = DATA_PATH.format(chunk_index=chunk, file_index=file)
            self.store.fs.makedirs(self.store.full(rel).rsplit("/", 1)[0], exist_ok=True)
            self.sink = self.store.fs.open(self.store.full(rel), "wb")
            self.writer = pq.ParquetWriter(self.sink, table.schema, compression="zstd")
        self.writer.write_table(table, row_group_size=1000)

    def end_episode(self) -> None:
        if self.writer is not None and self.sink.tell() > DATA_FILE_SIZE_MB * 1_000_000:
            self.close()
            self.file_index += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.bytes_written += self.sink.tell()
            self.sink.close()
            self.writer = None


def _window_table(
    group: ExportGroup,
    window: EpisodeWindow,
    n_rows: int,
    first_index: int,
    ep_index: int,
    task: int,
    fps: int,
    success: bool,
    images: bool,
) -> pa.Table:
    """The data rows of one window of an episode."""
    part, m = window.rows, window.rows.height
    local = np.arange(window.start, window.start + m)
    columns: dict[str, pa.Array] = {
        "index": pa.array(first_index + local, pa.int64()),
        "episode_index": pa.array(np.full(m, ep_index), pa.int64()),
        "frame_index": pa.array(local, pa.int64()),
        "timestamp": pa.array((local / fps).astype(np.float32)),
        "task_index": pa.array(np.full(m, task), pa.int64()),
    }
    for name, cols in group.vectors.items():
        values = part.select(cols).to_numpy().astype(np.float32, copy=False)
        columns[name] = _fixed_list(values, pa.float32())
    if images:
        for camera, frames in window.images.items():
            columns[f"observation.images.{camera}"] = _image_array(frames)
    columns["quality.flags"] = _fixed_list(row_flags(part), pa.bool_())
    residual = (
        part["alignment_residual_ms"].cast(pl.Float32).fill_null(np.nan).to_numpy()
        if "alignment_residual_ms" in part.columns
        else np.full(m, np.nan, np.float32)
    )
    columns["quality.alignment_residual_ms"] = pa.array(residual, pa.float32())
    last = local == n_rows - 1
    columns["next.done"] = pa.array(last)
    columns["next.success"] = pa.array(last & success)
    return pa.table(columns)


def _episode_row(episode: dict[str, Any], ep_index: int, task: str) -> dict[str, Any]:
    """An episode's entry in ``meta/episodes``: LeRobot's fields (completed by the caller)
    and the release's labels."""
    return {
        "episode_index": ep_index,
        "tasks": [task],
        "meta/episodes/chunk_index": 0,
        "meta/episodes/file_index": 0,
        "source_episode_id": episode["episode_id"],
        **episode_labels(episode),
        "needs_review": episode["needs_review"],
    }


def write_lerobot(
    release: Release,
    group: ExportGroup,
    store: Store,
    fps: int,
    provenance: dict[str, Any],
    on_episode: Callable[[str], None] | None = None,
    videos: bool = True,
) -> ExportedDataset:
    """Write ``group`` as a LeRobot v3.0 dataset at the root of ``store``: cameras as H.264
    videos (``videos``) or as the JPEG bytes in the data files."""
    step = row_step(fps)
    shapes = {c: _image_shape(release, group, c) for c in group.cameras}
    cams = {
        c: CameraVideo(store, f"observation.images.{c}", fps, shapes[c][0], shapes[c][1])
        for c in group.cameras
        if videos
    }
    features = _features(group, shapes, cams)
    tasks = sorted({task_text(str(t)) for t in group.episodes["task_code"]})
    task_index = {t: i for i, t in enumerate(tasks)}
    image_stats = {c: ImageStats() for c in group.cameras}
    files = _DataFiles(store)
    episode_rows: list[dict[str, Any]] = []
    total = 0
    for ep_index, episode in enumerate(group.episodes.iter_rows(named=True)):
        rows = episode_frames(release, episode, group.frames_columns).gather_every(step)
        n = rows.height
        task = task_text(str(episode["task_code"]))
        chunk, file = files.location
        entry = _episode_row(episode, ep_index, task)
        entry.update(
            {
                "length": n,
                "dataset_from_index": total,
                "dataset_to_index": total + n,
                "data/chunk_index": chunk,
                "data/file_index": file,
            }
        )
        for camera, video in cams.items():
            key = f"videos/observation.images.{camera}"
            vchunk, vfile = video.location
            entry[f"{key}/chunk_index"] = vchunk
            entry[f"{key}/file_index"] = vfile
            entry[f"{key}/from_timestamp"] = video.from_timestamp
            entry[f"{key}/to_timestamp"] = video.from_timestamp + n / fps
        sampled = sample_positions(n)
        for window in episode_windows(release, episode, rows, group.cameras):
            table = _window_table(
                group,
                window,
                n,
                total,
                ep_index,
                task_index[task],
                fps,
                episode["outcome"] == "success",
                images=not videos,
            )
            files.write(table)
            for camera, frames in window.images.items():
                if camera in cams:
                    cams[camera].append(frames)
                for i in sampled:
                    if window.start <= i < window.start + len(frames):
                        image_stats[camera].add(frames[i - window.start])
        episode_rows.append(entry)
        total += n
        files.end_episode()
        for video in cams.values():
            video.end_episode()
        if on_episode is not None:
            on_episode(str(episode["episode_id"]))
    files.close()
    video_bytes = 0
    for video in cams.values():
        video.close()
        video_bytes += video.bytes_written

    summaries = channel_summaries(release, group)
    stats: dict[str, Any] = {
        name: vector_stats(summaries, cols) for name, cols in group.vectors.items()
    }
    for camera, acc in image_stats.items():
        stats[f"observation.images.{camera}"] = acc.lerobot()
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": group.robot_model,
        "total_episodes": len(episode_rows),
        "total_frames": total,
        "total_tasks": len(tasks),
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILE_SIZE_MB,
        "video_files_size_in_mb": VIDEO_FILE_SIZE_MB,
        "fps": fps,
        "splits": {"train": f"0:{len(episode_rows)}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if cams else None,
        "features": features,
    }
    store.write_bytes("meta/info.json", json_bytes(info))
    store.write_bytes("meta/stats.json", json.dumps(stats, indent=2, allow_nan=True).encode())
    store.write_bytes("meta/tasks.parquet", _tasks_parquet(tasks))
    store.write_parquet("meta/episodes/chunk-000/file-000.parquet", pl.DataFrame(episode_rows))
    store.write_bytes(
        "meta/teleop_export.json",
        json_bytes(
            {
                **provenance,
                "dataset": group.name,
                "fps": fps,
                "features": {name: cols for name, cols in group.vectors.items()},
                "cameras": group.cameras,
                "skipped_episodes": group.skipped,
            }
        ),
    )
    return ExportedDataset(
        group.name,
        len(episode_rows),
        total,
        files.bytes_written + video_bytes,
        group.skipped,
        undecodable_frames=sum(v.undecodable for v in cams.values()),
    )
