"""Rough edges of the command line a new user meets: messages said once, commands that can
be pasted back into the shell."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teleop_lake import cli
from teleop_lake.cli import app


def test_inspect_names_the_supported_formats_once(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a recording")
    res = CliRunner().invoke(app, ["inspect", str(path)])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert text.lower().count("ros 1 bags (.bag)") == 1, text


def test_printed_commands_work_without_an_activated_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    exe = venv_bin / "teleop-lake"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.sys, "argv", [str(exe)])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # not activated
    assert cli._command_name() == os.path.join(".venv", "bin", "teleop-lake")
    monkeypatch.setenv("PATH", f"{venv_bin}:/usr/bin:/bin")  # activated
    assert cli._command_name() == "teleop-lake"


def test_a_mistyped_center_is_bad_usage_said_before_anything_runs(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    res = CliRunner().invoke(
        app,
        ["nightly", "--network", str(tmp_path), "--lake", str(lake), "--center", "shanghai"],
    )
    assert res.exit_code == 2, res.output
    assert "shanghai" in res.output and "beijing" in res.output
    assert "Traceback" not in res.output
    assert not lake.exists()  # nothing written


def test_a_network_folder_without_centers_fails_before_the_lake_is_touched(
    tmp_path: Path,
) -> None:
    network, lake = tmp_path / "empty-network", tmp_path / "lake"
    network.mkdir()
    res = CliRunner().invoke(app, ["nightly", "--network", str(network), "--lake", str(lake)])
    assert res.exit_code == 3, res.output
    assert "no center was reachable" in res.output
    assert not lake.exists()  # no runs/ or reports/ written before saying so


def test_a_lake_that_takes_no_writes_fails_before_anything_runs(tmp_path: Path) -> None:
    """sysfs refuses writes even to root: an existing folder that is not writable."""
    lake = Path("/sys/kernel/mm")
    if not lake.is_dir():
        pytest.skip("no sysfs here")
    network = tmp_path / "net"
    (network / "beijing").mkdir(parents=True)
    started = time.monotonic()
    res = CliRunner().invoke(app, ["nightly", "--network", str(network), "--lake", str(lake)])
    assert res.exit_code == 3, res.output
    assert "is not writable" in res.output and "--lake" in res.output
    assert "Traceback" not in res.output
    assert time.monotonic() - started < 30  # no Prefect, no retries (about 1 s here)
