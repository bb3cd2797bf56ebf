"""`teleop-lake bench export`: what exporting a release costs, per format.

Figures, never pass/fail. Simulates a network at the rigs' real camera size (three 640x480
JPEG cameras at 30 Hz per robot), runs one night without Prefect, then exports the release
three ways, each in a fresh interpreter so that its CPU time and peak memory are its own:
LeRobot with H.264 videos, LeRobot with the JPEG bytes as images, and the Zarr 2 replay
buffer. For each: rows exported, bytes written against the release's camera bytes of the
same episodes, core-seconds (all threads, the video encoder's included) per exported row and
per minute of data, wall time and peak RSS.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from teleop_lake.lake import layout
from teleop_lake.release.cameras import camera_table_path

VARIANTS = (
    ("lerobot-video", "lerobot", True),
    ("lerobot-image", "lerobot", False),
    ("replay-buffer", "replay-buffer", False),
)


_CHILD = """
import json, sys, time
from teleop_lake.release.export import export_release
lake, out, fmt, videos = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
wall = time.perf_counter()
res = export_release(lake, out, fmt, videos=videos)
wall = time.perf_counter() - wall
# VmHWM: this image's own peak (wait4's maxrss also counts the parent forked before exec)
status = open("/proc/self/status").read().split("\\n")
hwm_kb = int(next(x for x in status if x.startswith("VmHWM")).split()[1])
print(json.dumps({"result": res.to_dict(), "wall_s": wall, "peak_rss_mb": hwm_kb / 1024}))
"""


def _export_in_child(lake: str, out: str, fmt: str, videos: bool) -> dict[str, Any]:
    """Export in a fresh interpreter: its CPU time from ``wait4``, its peak RSS (VmHWM) and
    wall time from itself."""
    with tempfile.TemporaryFile() as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, lake, out, fmt, "1" if videos else "0"],
            stdout=stdout,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"export {fmt} failed (exit {proc.returncode})")
        stdout.seek(0)
        child = json.loads(stdout.read().decode().strip().splitlines()[-1])
    return {**child, "core_s": usage.ru_utime + usage.ru_stime}


def _camera_bytes(lake: Path, episodes: pl.DataFrame) -> int:
    total = 0
    for (segment_id,), eps in episodes.group_by(["segment_id"]):
        seg = lake / layout.segment_dir(str(segment_id)) / "cameras"
        for table in seg.glob("*.parquet"):
            rel = camera_table_path(table.stem)
            total += int(
                pl.scan_parquet(lake / layout.segment_dir(str(segment_id)) / rel)
                .filter(pl.col("episode_id").is_in(eps["episode_id"].implode()))
                .select(pl.col("data").bin.size().sum())
                .collect()
                .item()
            )
    return total


def measure_exports(
    episodes_per_center: int = 1, duration_scale: float = 1.0, seed: int = 3
) -> dict[str, Any]:
    from teleop_lake.pipeline.plain_night import run_plain_night
    from teleop_lake.release.reader import open_release
    from teleop_lake.simulate import simulate_network

    work = Path(tempfile.mkdtemp(prefix="teleop-bench-export-"))
    try:
        date = "2026-11-23"
        simulate_network(
            work / "net",
            episodes_per_center=episodes_per_center,
            seed=seed,
            date=date,
            duration_scale=duration_scale,
        )
        centers = ["beijing", "suzhou", "jinan", "hefei", "zhengzhou"]
        now = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
        run_plain_night(str(work / "net"), str(work / "lake"), centers, date, "bench-n1", now)
        release = open_release(str(work / "lake"))
        rows = []
        for name, fmt, videos in VARIANTS:
            out = work / "out" / name
            child = _export_in_child(str(work / "lake"), str(out), fmt, videos)
            exported = [d for d in child["result"]["datasets"] if d["episodes"]]
            n_rows = sum(int(d["frames"]) for d in exported)
            written = sum(int(d["bytes_written"]) for d in exported)
            kept = release.episodes.filter(
                ~pl.col("episode_id").is_in(
                    [e for d in child["result"]["datasets"] for e in d["skipped"]]
                )
            )
            camera = _camera_bytes(work / "lake", kept)
            minutes = n_rows / 50 / 60
            rows.append(
                {
                    "variant": name,
                    "episodes": sum(int(d["episodes"]) for d in exported),
                    "rows": n_rows,
                    "bytes": written,
                    "bytes_vs_camera": written / camera if camera else None,
                    "core_s": child["core_s"],
                    "core_ms_per_row": child["core_s"] / n_rows * 1e3 if n_rows else None,
                    "core_s_per_minute": child["core_s"] / minutes if minutes else None,
                    "wall_s": child["wall_s"],
                    "peak_rss_mb": child["peak_rss_mb"],
                }
            )
            shutil.rmtree(out, ignore_errors=True)
        return {
            "release_id": release.release_id,
            "episodes": release.episodes.height,
            "cameras": "3 x 640x480 JPEG at 30 Hz per robot",
            "variants": rows,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
