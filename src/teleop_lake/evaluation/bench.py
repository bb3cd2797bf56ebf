"""The cleaning benchmark behind `teleop-lake bench clean`: figures, never pass/fail.

What belongs here: the process (CPU) seconds of cleaning and aligning one fault-free simulated
recording (500 Hz joint state and command, 100 Hz arm target and hands, 90 Hz head pose, three
30 Hz cameras), scaled to a 60 s episode, and how they split over the stages.

The total is `teleop_lake.processing.process_recording` timed with ``time.process_time``
(median of ``repeats``), decoding and standardizing excluded. The split comes from one extra
run under ``cProfile``: each stage's cumulative time (the functions in `STAGES`) as a share of
the profiled run, applied to the unprofiled total. Labeling and scoring are part of
``process_recording`` but not of cleaning + alignment; they are reported and subtracted.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from teleop_lake.canonical import Recording, RecordingMeta
from teleop_lake.config.centers import load_profile
from teleop_lake.config.robots import load_robot_model
from teleop_lake.config.tasks import load_task_catalog
from teleop_lake.formats import read_recording
from teleop_lake.processing import ProcessingParams, process_recording
from teleop_lake.simulate import simulate_network
from teleop_lake.standardize import standardize_recording

CLEAN_BUDGET_CORE_S = 0.15  # issue 4: cleaning + alignment of a 60 s episode
REFERENCE_EPISODE_S = 60.0
BENCH_CENTER = "beijing"
# Simulated task durations are ~10-20 s; this scale gives episodes of roughly 40-80 s.
BENCH_DURATION_SCALE = 4.0
# Stage name -> the functions whose cumulative time makes it (module suffix, function name).
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "clean: order, spikes, dropouts": (("cleaning/stream.py", "clean_signal_stream"),),
    "clean: frozen": (("cleaning/frozen.py", "detect_frozen"),),
    "clean: cameras": (("cleaning/cameras.py", "check_camera_stream"),),
    "align: operator clock": (("alignment/operator_clock.py", "estimate_operator_clock"),),
    "align: resample onto the grid": (
        ("alignment/frames.py", "add_stream"),
        ("alignment/frames.py", "add_camera"),
        ("alignment/frames.py", "frames_frame"),
    ),
}
NOT_CLEANING = {"label": (("labeling/rules.py", "label_episode"),)}


def _simulated_recording(tmp: Path, seed: int) -> Recording:
    simulate_network(
        tmp,
        episodes_per_center=1,
        seed=seed,
        date="2026-11-23",
        profile="clean",
        centers=[BENCH_CENTER],
        duration_scale=BENCH_DURATION_SCALE,
    )
    profile = load_profile(BENCH_CENTER)
    robot = load_robot_model(profile.robot_model)
    bag = next((tmp / BENCH_CENTER).rglob("*.bag"))
    files = [bag, *sorted(bag.parent.glob(f"{bag.stem}.*.json"))]
    meta = RecordingMeta(BENCH_CENTER, bag.stem, profile.raw_format, robot.name, None)
    recording = read_recording(profile.raw_format, files, meta, profile)
    return standardize_recording(recording, profile, robot)


def _cumulative_s(stats: pstats.Stats, functions: tuple[tuple[str, str], ...]) -> float:
    total = 0.0
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, name), (_, _, _, cumulative, _) in table.items():
        if any(filename.endswith(suffix) and name == fn for suffix, fn in functions):
            total += cumulative
    return total


def bench_cleaning(seed: int = 1, repeats: int = 5) -> dict[str, Any]:
    """Median core-seconds of cleaning + alignment per 60 s episode, and the stage split."""
    params = ProcessingParams()
    with tempfile.TemporaryDirectory(prefix="teleop-bench-clean-") as tmp:
        recording = _simulated_recording(Path(tmp), seed)
    robot = load_robot_model(recording.meta.robot_model)
    task = load_task_catalog().get(recording.meta.task_code)
    js = recording.signals["joint_state"]
    episode_s = (int(js.t_ns.max()) - int(js.t_ns.min())) / 1e9
    scale = REFERENCE_EPISODE_S / episode_s

    process_recording(recording, robot, task, "bench", params)  # warm caches and imports
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        process_recording(recording, robot, task, "bench", params)
        times.append(time.process_time() - t0)
    total = statistics.median(times)

    profiler = cProfile.Profile()
    profiler.enable()
    process_recording(recording, robot, task, "bench", params)
    profiler.disable()
    stats = pstats.Stats(profiler)
    profiled_total = max(_cumulative_s(stats, (("processing.py", "process_recording"),)), 1e-9)
    share = {name: _cumulative_s(stats, fns) / profiled_total for name, fns in STAGES.items()}
    label_share = _cumulative_s(stats, NOT_CLEANING["label"]) / profiled_total
    rest = max(0.0, 1.0 - sum(share.values()) - label_share)
    stages = {name: total * s * scale for name, s in share.items()}
    stages["wiring, flags, quality score"] = total * rest * scale
    return {
        "episode_s": episode_s,
        "signals": {
            name: {"rate_hz": round(s.n_samples / episode_s, 1), "channels": len(s.channels)}
            for name, s in recording.signals.items()
        },
        "cameras": {name: c.n_samples for name, c in recording.cameras.items()},
        "repeats": repeats,
        "stages_core_s_per_60s": stages,
        "total_core_s_per_60s": sum(stages.values()),
        "labeling_core_s_per_60s": total * label_share * scale,
        "process_recording_core_s_per_60s": total * scale,
        "budget_core_s": CLEAN_BUDGET_CORE_S,
    }
