"""A real Prefect server: the nightly deployment registers with its cron schedule and a run of it
publishes a release. Everything runs in subprocesses against a server the test starts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.simulate import simulate_network

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BIN = Path(sys.executable).parent
DATE = "2026-11-23"

CHECK = """
import asyncio, json, sys
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

async def main():
    async with get_client() as c:
        for _ in range(120):
            try:
                d = await c.read_deployment_by_name("teleop-nightly/nightly")
                break
            except Exception:
                await asyncio.sleep(1)
        else:
            raise SystemExit("the deployment never appeared")
        schedules = [{"cron": s.schedule.cron, "timezone": s.schedule.timezone, "active": s.active}
                     for s in d.schedules]
    run = await run_deployment("teleop-nightly/nightly", parameters={"date": sys.argv[1]},
                               timeout=600)
    print(json.dumps({"schedules": schedules, "state": run.state.type.value, "name": run.name}))

asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"prefect server at {url} not healthy after {timeout_s} s")


def test_scheduled_deployment_runs_a_night(tmp_path: Path) -> None:
    net, lake = tmp_path / "net", tmp_path / "lake"
    simulate_network(
        net,
        episodes_per_center=1,
        seed=4,
        date=DATE,
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
        centers=["beijing"],
    )
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": api,
    }
    server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    logs = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        stdout=logs,
        stderr=subprocess.STDOUT,
    )
    serving = None
    try:
        _wait_healthy(api, server, 180)
        serving = subprocess.Popen(
            [
                str(BIN / "teleop-lake"),
                "serve",
                "--network",
                str(net),
                "--lake",
                str(lake),
                "--cron",
                "30 2 * * *",
            ],
            env=env,
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
        out = subprocess.run(
            [sys.executable, "-c", CHECK, DATE],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["schedules"] == [
            {"cron": "30 2 * * *", "timezone": "Asia/Shanghai", "active": True}
        ]
        assert result["state"] == "COMPLETED"
        assert result["name"] == f"nightly-{DATE}"
        assert (lake / "releases" / "LATEST").read_text().split()[0] == f"{DATE}-r01"
    finally:
        for p in (serving, server):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        logs.close()


def test_serve_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["TELEOP_LAKE_HOME"] = str(tmp_path / "home")  # no long-lived server recorded there
    proc = subprocess.run(
        [str(BIN / "teleop-lake"), "serve", "--network", "n", "--lake", "l"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3
    assert "teleop-lake server start" in proc.stderr
