"""A private Prefect server for one CLI night, that dies with the night.

Without ``PREFECT_API_URL`` the flow needs a Prefect server. Prefect's own temporary server is
stopped when the process exits normally, but a night killed with SIGKILL (an OOM kill, a
scheduler's hard stop) left it running: 16 of 18 kills in a test. This one is started by the
CLI before anything else runs, on a free local port, with the kernel told to kill it when
its parent dies (``PR_SET_PDEATHSIG``), and stopped on every normal exit.

Starting a server costs a night about 6 CPU-seconds (6-60 s of wall time under load), and its
flow runs vanish with it. An operator who runs nights often starts one long-lived server
instead (`teleop-lake server start`): `start_server` runs ``prefect server start`` detached,
with its UI, and records it in ``server.json`` under the tool's home; every later night,
``serve`` and ``qa`` find it there (`running_server`) and use it, and `stop_server` stops it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from teleop_lake.child_process import die_with_parent_in_own_group

STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
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
    port = free_port()
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


# --- a long-lived server ------------------------------------------------------------------

DEFAULT_PORT = 4200  # Prefect's own default: the UI where operators expect it
STATE_FILE = "server.json"


class ServerError(RuntimeError):
    """The long-lived server cannot be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    url: str  # the API URL (PREFECT_API_URL)
    ui_url: str
    prefect_home: str
    log: str
    started_at: str


def tool_home() -> Path:
    """The tool's own folder: ``TELEOP_LAKE_HOME`` or ``~/.teleop-lake``."""
    return Path(os.environ.get("TELEOP_LAKE_HOME", Path.home() / ".teleop-lake"))


def _read_state(home: Path) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads((home / STATE_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _is_our_server(pid: int) -> bool:
    """Whether ``pid`` is alive and still a Prefect server (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"prefect" in b" ".join(cmdline) and b"server" in cmdline


def running_server(home: Path | None = None) -> ServerInfo | None:
    """The long-lived server recorded under ``home``, when it is alive and answers."""
    info = _read_state(home or tool_home())
    if info is None or not _is_our_server(info.pid) or not _healthy(info.url):
        return None
    return info


@contextlib.contextmanager
def _state_lock(home: Path) -> Iterator[None]:
    """One start or stop at a time per home (two operators, two shells)."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "server.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_server(
    home: Path | None = None, port: int = DEFAULT_PORT, timeout_s: float = 180.0
) -> tuple[ServerInfo, bool]:
    """Start the long-lived server (or find the one running); (its info, whether started now).

    It runs ``prefect server start`` in its own session, so it outlives this process and a
    Ctrl-C at the terminal; its log is ``server.log`` and its database is under
    ``<home>/prefect``, the folder nights use as ``PREFECT_HOME``."""
    home = home or tool_home()
    with _state_lock(home):
        found = running_server(home)
        if found is not None:
            return found, False
        if not _port_free(port):
            raise ServerError(
                f"port {port} on 127.0.0.1 is in use by another program; choose another with --port"
            )
        prefect_home = home / "prefect"
        prefect_home.mkdir(parents=True, exist_ok=True)
        log = home / "server.log"
        env = {
            **os.environ,
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        env.pop("PREFECT_API_URL", None)
        cmd = [
            str(Path(sys.executable).with_name("prefect")),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-background",
        ]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives this process, its terminal and its Ctrl-C
            )
        url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + timeout_s
        while not _healthy(url):
            if proc.poll() is not None:
                raise ServerError(
                    f"the Prefect server exited with {proc.returncode} while starting; see {log}"
                )
            if time.monotonic() > deadline:
                _stop_pid(proc.pid)
                raise ServerError(
                    f"the Prefect server did not answer at {url} in {timeout_s:.0f} s; see {log}"
                )
            time.sleep(0.2)
        info = ServerInfo(
            pid=proc.pid,
            url=url,
            ui_url=f"http://127.0.0.1:{port}",
            prefect_home=str(prefect_home),
            log=str(log),
            started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        tmp = home / f"{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(info), indent=2) + "\n")
        tmp.replace(home / STATE_FILE)
        return info, True


def _stop_pid(pid: int, timeout_s: float = 20.0) -> None:
    """SIGTERM the server's process group (it was started in its own session), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our child (tests, one shell)
        if not _is_our_server(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def stop_server(home: Path | None = None) -> ServerInfo | None:
    """Stop the long-lived server recorded under ``home``; its info, or None if none ran.
    The record is removed either way, so a server that died leaves nothing stale."""
    home = home or tool_home()
    with _state_lock(home):
        info = _read_state(home)
        if info is not None and _is_our_server(info.pid):
            _stop_pid(info.pid)
        else:
            info = None
        with contextlib.suppress(FileNotFoundError):
            (home / STATE_FILE).unlink()
        return info
