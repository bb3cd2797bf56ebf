"""`teleop-lake bench cameras`: size and read speed of ways to store a release's camera frames.

Figures, never pass/fail. The same frames (rendered by the simulator at the rigs' size, JPEG
at the profile's quality) are stored three ways in a temporary folder:

- ``parquet-jpeg``: what a release does (`teleop_lake.release.cameras`): the JPEG bytes as
  recorded in a Parquet binary column, uncompressed, row groups of `ROW_GROUP_FRAMES` frames;
- ``zarr-pixels-zstd``: decoded RGB in a Zarr array (frames, H, W, 3), one frame a chunk,
  Zstd level 3 (what the replay buffer held before);
- ``zarr-pixels-raw``: the same without compression (what a loader memory-maps).

For each: bytes on disk, write time, the time to read every frame back as pixels, the time
to read 32 frames at random (a training loader's access), and for ``parquet-jpeg`` the time
to read every frame at 1/8 scale (libjpeg's reduced decode, for previews and checks). All
times are process CPU seconds per frame, best of ``repeats``.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import zarr
from PIL import Image
from zarr.codecs import ZstdCodec

from teleop_lake.release.cameras import ROW_GROUP_FRAMES, decode_frame
from teleop_lake.simulate.camera import CAMERA_CHANNELS, render_frames
from teleop_lake.simulate.params import CameraParams

RANDOM_READS = 32


def _frames(n: int, size: tuple[int, int], seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 2 * np.pi, n)
    state = np.zeros((n, len(CAMERA_CHANNELS)))
    state[:, :] = 0.3 * np.sin(t)[:, None]  # the hands move: frames differ as in a recording
    return list(render_frames("camera_head", state, rng, CameraParams(size_px=size)))


def _best(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _size(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if path.is_dir()
        else (path.stat().st_size)
    )


def _thumb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (img.width // 8, img.height // 8))
        return np.asarray(img.convert("RGB"))


def measure_layouts(
    n_frames: int = 240, size: tuple[int, int] = (640, 480), seed: int = 1, repeats: int = 3
) -> dict[str, Any]:
    frames = _frames(n_frames, size, seed)
    width, height = size
    jpeg_bytes = sum(len(f) for f in frames)
    picks = np.random.default_rng(seed).choice(n_frames, size=RANDOM_READS, replace=False)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="teleop-bench-cameras-") as tmp:
        root = Path(tmp)

        # the release's layout
        path = root / "camera.parquet"
        table = pl.DataFrame(
            {"frame_index": np.arange(n_frames, dtype=np.int32), "data": frames},
            schema={"frame_index": pl.Int32(), "data": pl.Binary()},
        ).to_arrow()

        def write_parquet() -> None:
            pq.write_table(table, path, compression="none", row_group_size=ROW_GROUP_FRAMES)

        def read_parquet_all(decode: Callable[[bytes], np.ndarray] = decode_frame) -> None:
            for data in pl.read_parquet(path, columns=["data"])["data"]:
                decode(data)

        def read_parquet_random() -> None:
            pf = pq.ParquetFile(path)
            for i in picks.tolist():
                group = pf.read_row_group(i // ROW_GROUP_FRAMES, columns=["data"])
                decode_frame(group.column("data")[i % ROW_GROUP_FRAMES].as_py())

        write_s = _best(write_parquet, repeats)
        rows.append(
            {
                "layout": "parquet-jpeg",
                "bytes": _size(path),
                "write_s_per_frame": write_s / n_frames,
                "read_all_s_per_frame": _best(read_parquet_all, repeats) / n_frames,
                "read_random_s_per_frame": _best(read_parquet_random, repeats) / RANDOM_READS,
                "read_all_eighth_scale_s_per_frame": _best(
                    lambda: read_parquet_all(_thumb), repeats
                )
                / n_frames,
            }
        )

        pixels = np.stack([decode_frame(f) for f in frames])
        for name, compressors in (
            ("zarr-pixels-zstd", ZstdCodec(level=3)),
            ("zarr-pixels-raw", None),
        ):
            zpath = root / f"{name}.zarr"

            def write_zarr(zpath: Path = zpath, compressors: Any = compressors) -> None:
                arr = zarr.create_array(
                    str(zpath),
                    shape=pixels.shape,
                    chunks=(1, height, width, 3),
                    dtype="uint8",
                    compressors=compressors,
                    overwrite=True,
                    config={"write_empty_chunks": True},
                )
                arr[:] = pixels

            def read_zarr_all(zpath: Path = zpath) -> None:
                arr = zarr.open_array(str(zpath), mode="r")
                for i in range(n_frames):
                    arr[i]

            def read_zarr_random(zpath: Path = zpath) -> None:
                arr = zarr.open_array(str(zpath), mode="r")
                for i in picks.tolist():
                    arr[i]

            write_s = _best(write_zarr, repeats)
            rows.append(
                {
                    "layout": name,
                    "bytes": _size(zpath),
                    "write_s_per_frame": write_s / n_frames,
                    "read_all_s_per_frame": _best(read_zarr_all, repeats) / n_frames,
                    "read_random_s_per_frame": _best(read_zarr_random, repeats) / RANDOM_READS,
                    "read_all_eighth_scale_s_per_frame": None,
                }
            )
    for row in rows:
        row["bytes_vs_jpeg"] = row["bytes"] / jpeg_bytes
    return {
        "frames": n_frames,
        "size": f"{width}x{height}",
        "jpeg_bytes": jpeg_bytes,
        "jpeg_kb_per_frame": jpeg_bytes / n_frames / 1e3,
        "layouts": rows,
    }
