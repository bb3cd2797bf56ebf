"""A private Prefect server for one CLI night, that dies with the night.

Without ``PREFECT_API_URL`` the flow needs a Prefect server. Prefect's own temporary server is
stopped when the process exits normally, but a night killed with SIGKILL (an OOM kill, a
scheduler's hard stop) left it running: 16 of 18 kills in a test. This one is started by the
CLI before anything else runs, on a free local port, with the kernel told to kill it when
its parent dies (``PR_SET_PDEATHSIG``), and stopped on every normal exit.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

from teleop_lake.child_process import die_with_parent_in_own_group

STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def local_prefect_server() -> Iterator[str | None]:
    """Yield the API URL of a private server (None: ``PREFECT_API_URL`` is already set and
    used as it is). Sets ``PREFECT_API_URL`` for the ``with`` block."""
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}
    proc = subprocess.Popen(
        cmd, env=env, preexec_fn=die_with_parent_in_own_group, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + float(os.environ.get(STARTUP_TIMEOUT_ENV, "180"))
        while not _healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"the local Prefect server exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local Prefect server did not answer at {url}")
            time.sleep(0.2)
        os.environ["PREFECT_API_URL"] = url
        yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
