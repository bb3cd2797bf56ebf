"""SIGTERM stops a night within seconds: exit 143, the lease released, the lake consistent (the
committed release verifies or none was made), and no Prefect server left behind; after
SIGKILL no server is left behind either."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from synthetic_teleop import SMALL_CAMERA

from teleop_lake.lake.lease import LEASE_REL
from teleop_lake.simulate import simulate_network


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - out
        out |= frontier
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_stops_the_night_within_seconds(tmp_path: Path) -> None:
    net, lake = tmp_path / "net", tmp_path / "lake"
    simulate_network(
        net,
        episodes_per_center=2,
        seed=8,
        date="2026-11-23",
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
        centers=["beijing", "zhengzhou"],
    )
    env = {**os.environ, "TELEOP_LAKE_HOME": str(tmp_path / "home")}
    exe = str(Path(sys.executable).with_name("teleop-lake"))
    cmd = [exe, "nightly", "--network", str(net), "--lake", str(lake), "--date", "2026-11-23"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (lake / LEASE_REL).exists():  # the night is running once it holds the lake
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the night never started"
        time.sleep(0.2)
    children = _descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    stopped_in = time.monotonic() - t0
    assert proc.returncode == 143, err.decode()[-2000:]
    assert stopped_in < 10, stopped_in
    assert "the night was stopped" in err.decode()
    assert not (lake / LEASE_REL).exists()  # released: the next night need not wait
    time.sleep(2)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert left == [], "processes left behind after SIGTERM"
    # the next night runs and finishes what this one did not
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    verify = subprocess.run(
        [exe, "release", "verify", "--lake", str(lake)], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_sigkill_leaves_no_prefect_server_behind(tmp_path: Path) -> None:
    net, lake = tmp_path / "net", tmp_path / "lake"
    simulate_network(
        net,
        episodes_per_center=1,
        seed=8,
        date="2026-11-23",
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
        centers=["beijing"],
    )
    env = {**os.environ, "TELEOP_LAKE_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    exe = str(Path(sys.executable).with_name("teleop-lake"))
    cmd = [exe, "nightly", "--network", str(net), "--lake", str(lake), "--date", "2026-11-23"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (lake / LEASE_REL).exists():
        assert proc.poll() is None, "the night ended before it could be killed"
        assert time.monotonic() < deadline, "the night never started"
        time.sleep(0.2)
    children = _descendants(proc.pid)
    assert children, "the night runs no server process to test"
    proc.kill()
    proc.wait()
    time.sleep(3)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "a process outlived the killed night"
