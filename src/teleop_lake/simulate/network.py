"""Simulate the collection network: write each center's drop for one date, plus the truth.

This is the IO side of the simulator. For every center it draws the center's network
conditions and each station's robot (`rig`; from the network seed, center and station, so
a robot keeps its build on every date), lays out ``<out>/<center>/<date>/<station>/`` with
each recording's raw files in the center's format (`writers`) and its ``.metadata.json``
label file per DROP.md, applies file faults (truncation, wrong checksum), writes
``_manifest.jsonl`` last, and merges the ground truth into ``<out>/_truth/``.
Deterministic: the same arguments give byte-identical files; no wall clock is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date as date_cls
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from teleop_lake.config.centers import CENTER_NAMES, CenterProfile, load_profile
from teleop_lake.config.robots import load_robot_model
from teleop_lake.config.tasks import load_task_catalog
from teleop_lake.simulate.episode import EpisodeData, simulate_episode
from teleop_lake.simulate.labels import metadata_document
from teleop_lake.simulate.params import SimulationProfile, simulation_profile
from teleop_lake.simulate.rig import Rig, draw_center_jitter, draw_rig
from teleop_lake.simulate.truth import merge_truth, truth_rows
from teleop_lake.simulate.writers import write_recording

MANIFEST_NAME = "_manifest.jsonl"
RECORDING_ID_PREFIX = {
    "beijing": "bj",
    "suzhou": "sz",
    "jinan": "jn",
    "hefei": "hf",
    "zhengzhou": "zz",
}
STATIONS = ("st01", "st02", "st03", "st04")
OPERATORS_PER_CENTER = 6
# The first recording of a day starts at 09:00 local time; one starts every ~4 minutes.
DAY_START = time(9, 0)
SLOT_S = 240.0
SLOT_JITTER_S = 120.0


@dataclass(frozen=True)
class SimulationSummary:
    """What one `simulate_network` call wrote.

    ``files_written`` and ``bytes_written`` count the drop files (bags as left after any
    truncation, ``metadata.json`` files and manifests), not the truth tables.
    """

    out_dir: str
    date: str
    seed: int
    profile: str
    recordings_per_center: dict[str, int]
    files_written: int
    bytes_written: int


def _stable_key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _center_seed(seed: int, center: str, day: date_cls) -> np.random.SeedSequence:
    """A center-and-date seed sequence that does not depend on which other centers run."""
    return np.random.SeedSequence(seed, spawn_key=(_stable_key(center), day.toordinal()))


# spawn_key tags of the network-level draws (a center's conditions, a station's robot), apart
# from the per-date episode draws of `_center_seed`.
CENTER_CONDITIONS_KEY = 1
RIG_KEY = 2


def _center_conditions_rng(seed: int, center: str) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(_stable_key(center), CENTER_CONDITIONS_KEY))
    )


def _rig(seed: int, profile: CenterProfile, station: str, sim: SimulationProfile) -> Rig:
    """The robot at ``station``: the same build for every date of one network seed."""
    seq = np.random.SeedSequence(
        seed, spawn_key=(_stable_key(profile.name), _stable_key(station), RIG_KEY)
    )
    return draw_rig(profile, sim, np.random.default_rng(seq))


def _robot_serial(center: str, station: str) -> str:
    return f"P4-{_stable_key(center) % 90 + 10}{station[-2:]}"


def _operator_id(center: str, k: int) -> str:
    return f"op-{1000 + (_stable_key(center) % 80) * 100 + k:04d}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_entry(date_dir: Path, path: Path) -> dict[str, Any]:
    return {
        "path": path.relative_to(date_dir).as_posix(),
        "size": path.stat().st_size,
        "sha256": _sha256(path),
    }


def _simulate_center(
    out: Path,
    profile: CenterProfile,
    day: date_cls,
    episodes: int,
    seed: int,
    sim: SimulationProfile,
    duration_scale: float,
) -> tuple[int, int, dict[str, list[dict[str, Any]]]]:
    """Write one center's date folder; return (files, bytes, truth rows)."""
    center = profile.name
    date_dir = out / center / day.isoformat()
    manifest_path = date_dir / MANIFEST_NAME
    if manifest_path.exists():
        raise FileExistsError(
            f"{manifest_path} exists: {center} was already simulated for {day}. "
            "Use another --date or an empty output folder."
        )
    robot = load_robot_model(profile.robot_model)
    tasks = load_task_catalog().tasks
    tz = ZoneInfo(profile.timezone)
    prefix = RECORDING_ID_PREFIX.get(center, center[:2])
    day_start = datetime.combine(day, DAY_START, tzinfo=tz)
    truth: dict[str, list[dict[str, Any]]] = {
        "recordings": [],
        "faults": [],
        "clocks": [],
        "noise": [],
        "at_stop": [],
    }
    jitter = draw_center_jitter(sim, _center_conditions_rng(seed, center))
    rigs = {station: _rig(seed, profile, station, sim) for station in STATIONS}
    lines: list[str] = []
    files = n_bytes = 0
    for k, ep_seq in enumerate(_center_seed(seed, center, day).spawn(episodes)):
        setup_seq, episode_seq = ep_seq.spawn(2)
        rng = np.random.default_rng(setup_seq)
        station = str(rng.choice(STATIONS))
        operator = _operator_id(center, int(rng.integers(OPERATORS_PER_CENTER)))
        task = tasks[int(rng.integers(len(tasks)))]
        local_start = day_start + timedelta(
            seconds=k * SLOT_S + float(rng.uniform(0, SLOT_JITTER_S))
        )
        local_start = local_start.replace(microsecond=int(rng.integers(0, 1000)) * 1000)
        start_ns = int(local_start.timestamp()) * 1_000_000_000 + local_start.microsecond * 1000
        ep = simulate_episode(
            center,
            task,
            robot,
            sim,
            start_ns,
            duration_scale,
            episode_seq,
            rig=rigs[station],
            jitter=jitter,
        )

        recording_id = f"{prefix}-{station}-{day.strftime('%Y%m%d')}-{k + 1:04d}"
        serial = _robot_serial(center, station)
        station_dir = date_dir / station
        station_dir.mkdir(parents=True, exist_ok=True)
        meta_path = station_dir / f"{recording_id}.metadata.json"
        recording_files = write_recording(
            station_dir, recording_id, profile, robot, ep, duration_scale, serial
        )
        ep, recording_files = _drop_a_part(ep, recording_files, sim, seed, recording_id)
        doc = metadata_document(
            ep.story, serial, start_ns, profile.timezone, ep.conditions.eef_type
        )
        meta_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        bag_entry = _apply_file_fault(ep, recording_files[0], date_dir, rng)
        entries = [bag_entry] + [_file_entry(date_dir, p) for p in recording_files[1:]]
        entries.append(_file_entry(date_dir, meta_path))
        lines.append(
            json.dumps(
                {
                    "recording_id": recording_id,
                    "format": profile.raw_format,
                    "files": entries,
                    "recorded_at": local_start.replace(microsecond=0).isoformat(),
                    "station": station,
                    "robot_serial": serial,
                    "operator_id": operator,
                    "task_code": task.code,
                },
                ensure_ascii=False,
            )
        )
        files += len(entries)
        n_bytes += sum(int(e["size"]) for e in entries)
        rows = truth_rows(
            ep,
            center=center,
            date=day.isoformat(),
            recording_id=recording_id,
            station=station,
            robot_serial=serial,
            operator_id=operator,
            duration_scale=duration_scale,
            sim=sim,
            seed=seed,
            profile=profile,
        )
        for table, table_rows in rows.items():
            truth[table].extend(table_rows)
    date_dir.mkdir(parents=True, exist_ok=True)
    manifest = "".join(line + "\n" for line in sorted(lines))
    manifest_path.write_text(manifest, encoding="utf-8")
    return files + 1, n_bytes + manifest_path.stat().st_size, truth


def _drop_a_part(
    ep: EpisodeData, files: list[Path], sim: SimulationProfile, seed: int, recording_id: str
) -> tuple[EpisodeData, list[Path]]:
    """Lose one part of a split recording (never the last) at ``missing_part_prob``.

    The uploader never sent it: the file is deleted and not listed. Only recordings
    without another file fault and with two or more parts can lose one; the story's
    ``file_fault`` becomes ``missing_part`` so the truth says so.
    """
    parts = [f for f in files if re.search(r"_\d+\.bag$", f.name)]
    if len(parts) < 2 or ep.story.file_fault != "none":
        return ep, files
    rng = np.random.default_rng([seed, _stable_key(recording_id)])
    if rng.random() >= sim.faults.missing_part_prob:
        return ep, files
    lost = parts[int(rng.integers(len(parts) - 1))]
    lost.unlink()
    story = replace(ep.story, file_fault="missing_part")
    return replace(ep, story=story), [f for f in files if f != lost]


def _apply_file_fault(
    ep: EpisodeData, bag_path: Path, date_dir: Path, rng: np.random.Generator
) -> dict[str, Any]:
    """Break the bag as the story says and return its manifest entry."""
    if ep.story.file_fault == "truncated":
        size = bag_path.stat().st_size
        cut = int(rng.uniform(0.1, 0.9) * size)
        os.truncate(bag_path, cut)
    entry = _file_entry(date_dir, bag_path)
    if ep.story.file_fault == "checksum_mismatch":
        # The center's uploader hashed the file before it was damaged in transit.
        entry["sha256"] = hashlib.sha256(bytes.fromhex(entry["sha256"]) + b"transit").hexdigest()
    return entry


def simulate_network(
    out_dir: str | os.PathLike[str],
    *,
    episodes_per_center: int,
    seed: int,
    date: str,
    profile: str = "default",
    centers: Sequence[str] = CENTER_NAMES,
    duration_scale: float = 1.0,
    spike_sigma: tuple[float, float] | None = None,
    camera_size: tuple[int, int] | None = None,
) -> SimulationSummary:
    """Write one date of every center's drop under ``out_dir`` and merge the ground truth.

    Each center follows its own profile (topics, joint order, units, clocks). Calling again
    with another ``date`` adds that date's folders next to the earlier ones; the same
    arguments always give byte-identical files. ``spike_sigma`` overrides the profile's spike
    sizes (multiples of the position noise sigma), ``camera_size`` the profile's camera
    frame size (width, height in pixels; the profiles record 640x480).
    """
    if episodes_per_center < 0 or duration_scale <= 0:
        raise ValueError("episodes_per_center must be >= 0 and duration_scale > 0")
    day = date_cls.fromisoformat(date)
    sim = simulation_profile(profile)
    if spike_sigma is not None:
        sim = replace(sim, faults=replace(sim.faults, spike_sigma=spike_sigma))
    if camera_size is not None:
        sim = replace(sim, cameras=replace(sim.cameras, size_px=camera_size))
    out = Path(out_dir)
    counts: dict[str, int] = {}
    files = n_bytes = 0
    truth: dict[str, list[dict[str, Any]]] = {}
    for center in centers:
        c_files, c_bytes, c_truth = _simulate_center(
            out, load_profile(center), day, episodes_per_center, seed, sim, duration_scale
        )
        counts[center] = episodes_per_center
        files += c_files
        n_bytes += c_bytes
        for table, rows in c_truth.items():
            truth.setdefault(table, []).extend(rows)
    merge_truth(out, truth)
    return SimulationSummary(
        out_dir=str(out),
        date=day.isoformat(),
        seed=seed,
        profile=sim.name,
        recordings_per_center=counts,
        files_written=files,
        bytes_written=n_bytes,
    )
