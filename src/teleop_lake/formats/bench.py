"""The decode benchmark behind `teleop-lake bench decode`: figures, never pass/fail.

What belongs here: for one delivered recording of a center, (1) the joint-state
stream decoded in bulk and per message with the format's own library (rosbags'
ROS 1 or CDR deserializer; for the exported formats the per-row baseline: a long
Parquet table pivoted row by row in Python, an HDF5 dataset read row by row with
h5py), with the ratio, and (2) the process (CPU) seconds of
decoding and standardizing the recording's signal streams (cameras excluded), scaled
to a 60 s episode. The caller simulates or points at the recordings.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from teleop_lake.canonical import Recording, RecordingMeta
from teleop_lake.config.centers import CenterProfile
from teleop_lake.config.robots import load_robot_model
from teleop_lake.formats import hdf5_episode, kuavo_ros1, parquet_dir, ros2_mcap
from teleop_lake.standardize import standardize_recording

REFERENCE_EPISODE_S = 60.0  # the per-episode budget is for a 60 s episode
REPEATS = 3  # best of: the machine is shared and noisy


@dataclasses.dataclass(frozen=True)
class DecodeFigures:
    center: str
    raw_format: str
    recording_id: str
    episode_s: float
    joint_messages: int
    bulk_s: float
    per_message_s: float
    speedup: float
    max_abs_diff: float
    decode_standardize_core_s: float

    @property
    def core_s_per_60s(self) -> float:
        return self.decode_standardize_core_s * REFERENCE_EPISODE_S / max(self.episode_s, 1e-9)


# Per format: the adapter module (``read_signals`` and ``decode_benchmark``) and the suffix
# of the data files it reads ("" = every file of the recording).
ADAPTERS: dict[str, tuple[Any, str]] = {
    "ros1-bag": (kuavo_ros1, ".bag"),
    "ros2-mcap": (ros2_mcap, ".mcap"),
    "parquet-dir": (parquet_dir, ""),
    "hdf5": (hdf5_episode, ".hdf5"),
}


def _signals_once(raw_format: str, data_files: list[Path], profile: CenterProfile) -> Recording:
    if raw_format not in ADAPTERS:
        raise ValueError(f"no decode benchmark for format {raw_format!r}")
    module = ADAPTERS[raw_format][0]
    signals, _, _, _ = module.read_signals(data_files, profile, with_cameras=False)
    meta = RecordingMeta(profile.name, "bench", raw_format, profile.robot_model, None)
    rec = Recording(meta=meta, signals=signals, cameras={})
    return standardize_recording(rec, profile, load_robot_model(profile.robot_model))


def measure_recording(
    drop_date_dir: Path, manifest_line: dict[str, Any], profile: CenterProfile
) -> DecodeFigures:
    """Figures for one manifest line's recording (its files under ``drop_date_dir``)."""
    raw_format = str(manifest_line["format"])
    module, suffix = ADAPTERS[raw_format]
    data = sorted(
        drop_date_dir / f["path"] for f in manifest_line["files"] if f["path"].endswith(suffix)
    )
    if raw_format == "parquet-dir":  # the joint-state table of the folder
        topic = profile.streams["joint_state"].topic
        bench_file = next(p for p in data if p.name == topic)
    else:
        bench_file = data[0]
    ratio = module.decode_benchmark(bench_file, profile)
    best = float("inf")
    rec: Recording | None = None
    for _ in range(REPEATS):
        t0 = time.process_time()
        rec = _signals_once(raw_format, data, profile)
        best = min(best, time.process_time() - t0)
    assert rec is not None
    js = rec.signals["joint_state"]
    episode_s = (int(js.t_ns.max()) - int(js.t_ns.min())) / 1e9 if js.n_samples else 0.0
    return DecodeFigures(
        center=profile.name,
        raw_format=raw_format,
        recording_id=str(manifest_line["recording_id"]),
        episode_s=episode_s,
        joint_messages=int(ratio["n_messages"]),
        bulk_s=ratio["bulk_s"],
        per_message_s=ratio["per_message_s"],
        speedup=ratio["speedup"],
        max_abs_diff=ratio["max_abs_diff"],
        decode_standardize_core_s=best,
    )


def first_recording(drop_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The first manifest line of the first date folder of a center's drop."""
    manifest = sorted(drop_dir.glob("*/_manifest.jsonl"))[0]
    line = json.loads(manifest.read_text(encoding="utf-8").splitlines()[0])
    return manifest.parent, line
