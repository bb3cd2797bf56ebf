"""Configuration is its own layer: loaded and checked once, before a night runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

import teleop_lake.config.centers as centers
from teleop_lake.cli import app
from teleop_lake.config import check_configuration


def test_the_shipped_configuration_is_consistent() -> None:
    assert check_configuration() == []


def test_a_profile_naming_an_unknown_robot_fails_the_night_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = centers.load_profile

    def broken(center: str) -> centers.CenterProfile:
        profile = real(center)
        if center == "hefei":
            return dataclasses.replace(profile, robot_model="kuavo_9")
        return profile

    monkeypatch.setattr(centers, "load_profile", broken)
    problems = check_configuration()
    assert len(problems) == 1 and "hefei" in problems[0] and "kuavo_9" in problems[0]

    network, lake = tmp_path / "net", tmp_path / "lake"
    (network / "beijing").mkdir(parents=True)
    res = CliRunner().invoke(app, ["nightly", "--network", str(network), "--lake", str(lake)])
    assert res.exit_code == 3, res.output
    assert "configuration is broken" in res.output and "kuavo_9" in res.output
    assert not lake.exists()  # nothing written
