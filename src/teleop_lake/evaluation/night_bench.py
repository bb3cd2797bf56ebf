"""`teleop-lake bench night`: what a night costs, against its I/O floor, at N and 10x N episodes.

Figures, never pass/fail. It simulates a Beijing network of 10 x N fault-free Kuavo recordings at
the rigs' camera size (three 640x480 JPEG cameras at 30 Hz); the small night gets the first N
of them, the large night all. For each night it:

- runs the night's plain stages (`teleop_lake.pipeline.plain_night`) in a child process, so
  that its CPU seconds and peak RSS are the night's alone; the child prints the per-stage
  CPU and wall seconds (`teleop_lake.pipeline.stage_clock`);
- measures the I/O floor in the same run: read every delivered byte, then write the
  release's bytes again with the same codecs (each Parquet file decoded and re-encoded with
  its own compression, the rest copied). The night cannot cost less than this;
- measures the machine's copy bandwidth on the same files (read + write, no hashing);
- with ``prefect``, runs the same night again through the Prefect flow (`teleop-lake nightly`)
  on another lake, on a long-lived server the benchmark starts (`teleop-lake server start`;
  the server's own CPU is counted): the extra CPU is the orchestration's share, CPU over
  wall the cores it kept busy. Run again on the same lake the night finds nothing new: its
  CPU is the night's fixed cost, measured too with a private server for comparison;
- for the large night, with ``dask_workers`` > 1, runs it through the flow on a local Dask
  cluster of 1 and of ``dask_workers`` worker processes: the wall time each added worker
  saves.

Per-episode figures are scaled to a 60 s episode, and a full network night (14,000 one-minute
episodes) is extrapolated from them for one 2-core machine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from teleop_lake.pipeline.heap import batch_process_env

CENTER = "beijing"
DATE = "2026-11-23"
GRID_HZ = 50.0
NETWORK_NIGHT_EPISODES = 14_000
NETWORK_NIGHT_EPISODE_S = 60.0
MACHINE_CORES = 2
SIGNAL_STAGES = ("decode", "clean, align, label", "validate", "write evidence", "publish release")
"""The signal path of a night: its stages but the two that move camera bytes, whose floor is the
disk: the pull (copy and hash into bronze) and the segment write. The segment write holds the
signal tables too (frames, replay buffer, statistics); they are not timed apart, so the signal
path leaves out their cost."""
CHUNK = 8 << 20


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _read_all(files: list[Path]) -> int:
    n = 0
    for p in files:
        with p.open("rb") as f:
            while chunk := f.read(CHUNK):
                n += len(chunk)
    return n


def _timed(fn: Any) -> tuple[Any, float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu0, time.perf_counter() - wall0


def _rewrite_release(segments: Path, out: Path) -> int:
    """Write the release's bytes again with the same codecs: the floor of publishing it."""
    n = 0
    for p in _files(segments):
        dst = out / p.relative_to(segments)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix == ".parquet":
            meta = pq.ParquetFile(p).metadata
            codec = meta.row_group(0).column(0).compression.lower() if meta.num_row_groups else None
            rows = meta.row_group(0).num_rows if meta.num_row_groups else None
            first = meta.row_group(0) if meta.num_row_groups else None
            columns = [first.column(i) for i in range(first.num_columns)] if first else []
            # the columns written with a dictionary and with statistics, as they were
            dictionary = [c.path_in_schema for c in columns if "DICTIONARY" in str(c.encodings)]
            statistics = [c.path_in_schema for c in columns if c.is_stats_set]
            pq.write_table(
                pq.read_table(p),
                dst,
                compression="none" if codec in (None, "uncompressed") else codec,
                row_group_size=rows,
                use_dictionary=dictionary if first else True,
                write_statistics=statistics if first else True,
            )
        else:
            shutil.copyfile(p, dst)
        n += dst.stat().st_size
    return n


def _copy_bandwidth(files: list[Path], out: Path) -> float:
    """Bytes per second of a plain copy (read + write) of ``files``."""
    out.mkdir(parents=True, exist_ok=True)
    t0, n = time.perf_counter(), 0
    for i, p in enumerate(files):
        shutil.copyfile(p, out / f"{i}{p.suffix}")
        n += p.stat().st_size
    wall = time.perf_counter() - t0
    shutil.rmtree(out)
    return n / wall if wall > 0 else float("nan")


def _bag_camera_bytes(network: Path) -> int:
    """JPEG payload bytes of the delivered bags' camera topics (read with rosbags)."""
    from rosbags.highlevel import AnyReader

    total = 0
    for bag in sorted(network.rglob("*.bag")):
        with AnyReader([bag]) as reader:
            conns = [c for c in reader.connections if c.msgtype.endswith("CompressedImage")]
            for _conn, _t, raw in reader.messages(connections=conns):
                total += len(raw)
    return total


def _child_night(network: Path, lake: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "teleop_lake.evaluation.night_bench", str(network), str(lake)]
    # the plain night's child gets the batch worker's environment: it measures what a
    # batch process of the nightly flow holds
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=batch_process_env())
    if proc.returncode != 0:
        raise RuntimeError(f"the benchmark night failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _server_cpu_s(home: Path) -> float:
    """CPU seconds the long-lived server recorded under ``home`` has used (0: none runs)."""
    from teleop_lake.local_server import running_server

    info = running_server(home)
    if info is None:
        return 0.0
    fields = Path(f"/proc/{info.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _cli_night(network: Path, lake: Path, home: Path, *options: str) -> dict[str, float]:
    """Run ``teleop-lake nightly`` (the Prefect flow) with its own home: on the long-lived
    server recorded there, else on a private one; its CPU (children and that server's
    included) and wall seconds."""
    exe = Path(sys.executable).with_name("teleop-lake")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(TELEOP_LAKE_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    cmd = [str(exe), "nightly", "--network", str(network), "--lake", str(lake)]
    server0 = _server_cpu_s(home)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*cmd, "--date", DATE, "--center", CENTER, *options],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(
            f"the benchmark's Prefect night ({' '.join(options) or 'local'}) failed: {proc.stderr[-2000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu += _server_cpu_s(home) - server0
    return {"cpu_s": cpu, "wall_s": wall}


def _first_recordings(full: Path, out: Path, n: int) -> None:
    """A network delivering only the first ``n`` recordings of ``full`` (hard links)."""
    for manifest in sorted(full.glob(f"{CENTER}/*/_manifest.jsonl")):
        lines = [x for x in manifest.read_text().splitlines() if x.strip()][:n]
        folder = out / manifest.parent.relative_to(full)
        folder.mkdir(parents=True, exist_ok=True)
        for line in lines:
            for entry in json.loads(line)["files"]:
                dst = folder / entry["path"]
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(manifest.parent / entry["path"], dst)
        (folder / "_manifest.jsonl").write_text("".join(x + "\n" for x in lines))


def _dask_walls(network: Path, root: Path, workers: int) -> list[dict[str, float]]:
    """Wall seconds of the night through the flow on a local Dask cluster of 1 and of
    ``workers`` single-threaded worker processes (a fresh lake each). One recording per
    batch, so there is work for every worker (a batch is the unit a worker takes)."""
    from distributed import LocalCluster

    out = []
    for n in sorted({1, workers}):
        with LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster:
            night = _cli_night(
                network,
                root / f"lake-dask{n}",
                root / f"home-dask{n}",
                "--batch-size",
                "1",
                "--dask-address",
                str(cluster.scheduler_address),
            )
        out.append({"workers": n, "wall_s": night["wall_s"]})
    return out


def measure_night(root: Path, network: Path, prefect: bool) -> dict[str, Any]:
    lake = root / "lake"
    drop = _files(network / CENTER)
    night = _child_night(network, lake)
    raw_bytes, read_cpu, read_wall = _timed(lambda: _read_all(drop))
    release_bytes, write_cpu, write_wall = _timed(
        lambda: _rewrite_release(lake / "segments", root / "floor")
    )
    shutil.rmtree(root / "floor", ignore_errors=True)
    copy_bps = _copy_bandwidth(drop, root / "copy")
    camera_files = sum(p.stat().st_size for p in (lake / "segments").rglob("cameras/*.parquet"))
    data_s = night["n_frames"] / GRID_HZ
    floor_cpu, floor_wall = read_cpu + write_cpu, read_wall + write_wall
    res: dict[str, Any] = {
        "episodes": night["n_published"],
        "data_s": data_s,
        "largest_recording_bytes": max(p.stat().st_size for p in drop),
        "raw_bytes": raw_bytes,
        "release_bytes": release_bytes,
        "release_camera_bytes": camera_files,
        "bag_camera_bytes": _bag_camera_bytes(network),
        "night_cpu_s": night["cpu_s"],
        "night_wall_s": night["wall_s"],
        "stages": night["stages"],
        "peak_rss_bytes": night["peak_rss_bytes"],
        "floor_cpu_s": floor_cpu,
        "floor_wall_s": floor_wall,
        "copy_bandwidth_bytes_s": copy_bps,
        "night_bytes_s": raw_bytes / night["wall_s"],
    }
    res["cpu_vs_floor"] = night["cpu_s"] / floor_cpu if floor_cpu > 0 else float("nan")
    res["wall_vs_floor"] = night["wall_s"] / floor_wall if floor_wall > 0 else float("nan")
    res["episodes_per_core_s"] = res["episodes"] / night["cpu_s"]
    res["core_s_per_60s"] = night["cpu_s"] * 60.0 / data_s if data_s else float("nan")
    res["camera_bytes_vs_bag"] = camera_files / res["bag_camera_bytes"]
    res["night_bytes_s_vs_copy"] = res["night_bytes_s"] / copy_bps
    if prefect:
        from teleop_lake.local_server import free_port, start_server, stop_server

        home = root / "home"
        start_server(home, port=free_port())
        try:
            pn = _cli_night(network, root / "lake-prefect", home)
            empty = _cli_night(network, root / "lake-prefect", home)  # nothing new: fixed cost
        finally:
            stop_server(home)
        private = _cli_night(network, root / "lake-prefect", root / "home-private")
        res["prefect_cpu_s"], res["prefect_wall_s"] = pn["cpu_s"], pn["wall_s"]
        res["orchestration_share"] = max(0.0, 1.0 - night["cpu_s"] / pn["cpu_s"])
        res["cores_used"] = pn["cpu_s"] / pn["wall_s"]
        res["fixed_cpu_s"] = empty["cpu_s"]
        res["fixed_cpu_private_server_s"] = private["cpu_s"]
    return res


def bench_night(
    episodes: int = 2,
    scale: int = 10,
    seed: int = 1,
    duration_scale: float = 4.0,
    prefect: bool = True,
    workdir: str | None = None,
    dask_workers: int = 2,
) -> dict[str, Any]:
    """The night at ``episodes`` and ``scale`` x ``episodes``, with the ratios between them."""
    from teleop_lake.simulate import simulate_network

    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="teleop-bench-night-", dir=workdir) as tmp:
        full = Path(tmp) / "network"
        simulate_network(
            full,
            episodes_per_center=episodes * scale,
            seed=seed,
            date=DATE,
            profile="clean",
            centers=[CENTER],
            duration_scale=duration_scale,
        )
        # The small night delivers the first N of the same recordings: what differs is the
        # number of episodes, not which ones.
        small = Path(tmp) / "network-1x"
        _first_recordings(full, small, episodes)
        for label, network in (("1x", small), (f"{scale}x", full)):
            root = Path(tmp) / label
            root.mkdir()
            runs[label] = measure_night(root, network, prefect)
            if dask_workers > 1 and label != "1x":
                walls = _dask_walls(network, root, dask_workers)
                runs[label]["dask"] = walls
                one, many = walls[0]["wall_s"], walls[-1]["wall_s"]
                runs[label]["dask_speedup"] = one / many
                runs[label]["dask_wall_saved_per_added_worker_s"] = (one - many) / (
                    dask_workers - 1
                )
            shutil.rmtree(root)
    one, many = runs["1x"], runs[f"{scale}x"]
    core_s_60 = many["core_s_per_60s"]
    signal = _signal_path(one, many)
    network_cpu_h = NETWORK_NIGHT_EPISODES * core_s_60 * NETWORK_NIGHT_EPISODE_S / 60.0 / 3600
    return {
        "center": CENTER,
        "camera": "3 x 640x480 JPEG, 30 Hz",
        "runs": runs,
        "rss_ratio": many["peak_rss_bytes"] / one["peak_rss_bytes"],
        "signal_path": signal,
        "network_night": {
            "episodes": NETWORK_NIGHT_EPISODES,
            "core_s_per_60s": core_s_60,
            "cpu_hours": network_cpu_h,
            "hours_on_one_machine": network_cpu_h / MACHINE_CORES,
            "bytes": NETWORK_NIGHT_EPISODES * many["raw_bytes"] / many["data_s"] * 60.0,
            "copy_hours": NETWORK_NIGHT_EPISODES
            * many["raw_bytes"]
            / many["data_s"]
            * 60.0
            / many["copy_bandwidth_bytes_s"]
            / 3600,
        },
    }


def _signal_path(one: dict[str, Any], many: dict[str, Any]) -> dict[str, Any]:
    """The signal path's CPU per added minute of data (the large night less the small one:
    a process's imports and first calls are paid once, not per episode), and a network night
    of it on one machine."""

    def cpu(run: dict[str, Any]) -> float:
        return sum(float(run["stages"].get(s, {}).get("cpu_s", 0.0)) for s in SIGNAL_STAGES)

    added_s = many["data_s"] - one["data_s"]
    per_60 = (cpu(many) - cpu(one)) * 60.0 / added_s if added_s > 0 else float("nan")
    cpu_h = NETWORK_NIGHT_EPISODES * per_60 * NETWORK_NIGHT_EPISODE_S / 60.0 / 3600
    return {
        "stages": list(SIGNAL_STAGES),
        "cpu_s": {"1x": cpu(one), "large": cpu(many)},
        "core_s_per_added_60s": per_60,
        "network_night_cpu_hours": cpu_h,
        "network_night_hours_on_one_machine": cpu_h / MACHINE_CORES,
    }


def _peak_rss_bytes() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux a child's ru_maxrss
    starts from its parent's RSS at the fork (the benchmark's parent holds the simulation)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _main(network: str, lake: str) -> None:
    """The child: one plain night; prints its figures as one JSON line."""
    from teleop_lake.pipeline import stage_clock
    from teleop_lake.pipeline.plain_night import run_plain_night

    stage_clock.reset()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    now = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
    summary = run_plain_night(network, lake, [CENTER], DATE, "20261124T020000Z-bench", now)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    release = summary.get("release") or {}
    print(
        json.dumps(
            {
                "cpu_s": cpu,
                "wall_s": wall,
                "stages": stage_clock.totals(),
                "peak_rss_bytes": _peak_rss_bytes(),
                "n_published": int(release.get("n_episodes") or 0),
                "n_frames": int(release.get("n_frames") or 0),
            }
        )
    )


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
