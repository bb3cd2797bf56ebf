"""Shared fixtures: isolated Prefect home, small drops written by hand."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def write_drop_recording(
    drop: Path,
    date: str,
    recording_id: str,
    files: dict[str, bytes],
    *,
    fmt: str = "ros1-bag",
    manifest_overrides: dict[str, object] | None = None,
    file_overrides: dict[str, dict[str, object]] | None = None,
) -> dict[str, object]:
    """Write files under drop/date and append their manifest line (as a center's uploader does)."""
    folder = drop / date
    entries = []
    for rel, data in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        entry: dict[str, object] = {
            "path": rel,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        entry.update((file_overrides or {}).get(rel, {}))
        entries.append(entry)
    line: dict[str, object] = {
        "recording_id": recording_id,
        "format": fmt,
        "files": entries,
        "recorded_at": f"{date}T09:00:00+08:00",
        "station": "st01",
        "robot_serial": "P4-1",
        "operator_id": "op-1",
        "task_code": "pack_parcel",
    }
    line.update(manifest_overrides or {})
    with (folder / "_manifest.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")
    return line


@pytest.fixture
def prefect_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("prefect-home")
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "240")
    return home


# --- a test run leaves nothing large behind --------------------------------------------------

LEFT_BEHIND_LIMIT_BYTES = 100 * 1024 * 1024
"""What a whole run may leave behind outside pytest's own folders (whose retention policy keeps
only failed tests' folders): spools, scratch lakes, worker scratch."""
_SESSION_TMP: list[Path] = []


def _tree_bytes(path: Path) -> int:
    if path.is_symlink() or not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path, onerror=lambda _e: None):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_size
    return total


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """The run's temporary files (its own and its subprocesses') go to one folder of its own,
    so what it leaves behind is measured without counting other programs' files. pytest's own
    folders stay where they were (short paths: tests bind Unix sockets in them)."""
    if hasattr(config, "workerinput"):
        return
    config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]  # before TMPDIR moves
    session_tmp = Path(tempfile.mkdtemp(prefix="teleop-tests-"))
    os.environ["TMPDIR"] = str(session_tmp)
    tempfile.tempdir = str(session_tmp)
    _SESSION_TMP.append(session_tmp)
    # the tool's own home (Prefect state, a long-lived server's record) is the run's too: a
    # test never uses, nor writes into, the home of whoever runs the tests
    os.environ["TELEOP_LAKE_HOME"] = str(session_tmp / "teleop-lake-home")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _SESSION_TMP:
        return
    session_tmp = _SESSION_TMP[0]
    left = {
        p.name: _tree_bytes(p) for p in session_tmp.iterdir() if not p.name.startswith("pytest-of-")
    }
    total = sum(left.values())
    if total > LEFT_BEHIND_LIMIT_BYTES:
        biggest = sorted(left.items(), key=lambda kv: -kv[1])[:5]
        listing = ", ".join(f"{name} ({size / 1e6:.0f} MB)" for name, size in biggest)
        session.config.get_terminal_writer().line(
            f"the test run left {total / 1e6:.0f} MB behind: {listing}; a test does not clean "
            "up after itself",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    for name in left:  # measured and reported: do not leave it on the machine either
        path = session_tmp / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


def pytest_unconfigure(config: pytest.Config) -> None:
    """After pytest's own retention cleanup: drop the run's folder unless a failed test's
    folder is kept in it."""
    for session_tmp in _SESSION_TMP:
        kept = [p for p in session_tmp.rglob("*") if p.is_file()]
        if not kept:
            shutil.rmtree(session_tmp, ignore_errors=True)
