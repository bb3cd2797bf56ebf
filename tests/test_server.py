"""The long-lived Prefect server: `teleop-lake server start|status|stop`, and nights that use it
instead of starting a private server each."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

EXE = Path(sys.executable).parent / "teleop-lake"


def _cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _flow_runs(api_url: str) -> list[dict[str, object]]:
    req = urllib.request.Request(
        f"{api_url}/flow_runs/filter",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        runs: list[dict[str, object]] = json.loads(r.read())
    return runs


def test_a_long_lived_server_is_started_used_by_nights_and_stopped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["TELEOP_LAKE_HOME"] = str(home)
    port = _free_port()

    status = _cli("server", "status", env=env)
    assert status.returncode == 1 and "no Prefect server runs" in status.stdout

    started = _cli("server", "start", "--port", str(port), "--json", env=env)
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert info["started"] is True and info["url"] == f"http://127.0.0.1:{port}/api"
        again = _cli("server", "start", "--port", str(port), "--json", env=env)
        assert again.returncode == 0 and json.loads(again.stdout)["started"] is False
        assert json.loads(again.stdout)["pid"] == info["pid"]
        status = _cli("server", "status", "--json", env=env)
        assert status.returncode == 0 and json.loads(status.stdout)["running"] is True

        # a night with nothing to do, through the long-lived server: its run stays visible
        (tmp_path / "net" / "beijing").mkdir(parents=True)
        night = _cli(
            "nightly",
            "--network",
            str(tmp_path / "net"),
            "--lake",
            str(tmp_path / "lake"),
            "--center",
            "beijing",
            "--date",
            "2026-11-23",
            env=env,
        )
        assert night.returncode == 0, night.stderr[-3000:]
        assert f"using the Prefect server at http://127.0.0.1:{port}" in night.stderr
        runs = _flow_runs(info["url"])
        assert len(runs) == 1 and runs[0]["state_type"] == "COMPLETED"
    finally:
        stopped = _cli("server", "stop", env=env)
    assert stopped.returncode == 0 and f"pid {info['pid']}" in stopped.stdout
    assert (
        not Path(f"/proc/{info['pid']}").exists()
        or not Path(f"/proc/{info['pid']}/cmdline").read_bytes()
    )
    assert _cli("server", "status", env=env).returncode == 1
    assert "no server was running" in _cli("server", "stop", env=env).stdout
