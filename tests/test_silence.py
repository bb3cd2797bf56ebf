"""Operators see trouble: a center quiet for several nights in a row fails the night with its
name, and the summary says where each center's share of the night went, stage by stage."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from release_lake import release_lake

from teleop_lake.config.centers import load_profile, profile_from_toml
from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store
from teleop_lake.pipeline import silence
from teleop_lake.pipeline.silence import silent_centers
from teleop_lake.pipeline.summary import SUMMARY_STAGES


def _summary(run_id: str, date: str, pulled: dict[str, int], unreachable: tuple[str, ...] = ()):
    return {
        "run_id": run_id,
        "date": date,
        "accounting": [{"center": c, "pulled": n} for c, n in pulled.items()],
        "unreachable_centers": [{"center": c, "drop_url": "x", "error": "e"} for c in unreachable],
    }


def _keep(lake: Store, summary: dict[str, Any]) -> None:
    lake.write_json(layout.run_summary_file(summary["run_id"]), summary)


def test_stage_seconds_per_center(tmp_path_factory: pytest.TempPathFactory) -> None:
    lake = Store(str(release_lake(tmp_path_factory)))
    summary = lake.read_json(layout.run_summary_file("20261124T020000Z-n1"))
    assert summary["stage_seconds"]["stages"] == list(SUMMARY_STAGES)
    seconds = summary["stage_seconds"]["by_center"]
    assert set(seconds) == {"beijing", "jinan", "hefei", "zhengzhou"}
    for center, row in seconds.items():
        assert set(row) == set(SUMMARY_STAGES)
        assert all(row[s] > 0 for s in ("pull", "decode", "process", "write")), (center, row)


def test_a_center_quiet_three_nights_in_a_row_is_named(tmp_path: Path) -> None:
    lake = Store(str(tmp_path / "lake"))
    # beijing delivered on the 20th, then nothing; hefei was unreachable twice, then delivered
    _keep(lake, _summary("20261121T020000Z-a", "2026-11-20", {"beijing": 4, "hefei": 0}))
    _keep(lake, _summary("20261122T020000Z-b", "2026-11-21", {"beijing": 0, "hefei": 0}))
    _keep(lake, _summary("20261122T090000Z-c", "2026-11-21", {"beijing": 0}))  # a rerun: one night
    _keep(lake, _summary("20261123T020000Z-d", "2026-11-22", {"hefei": 0}))  # beijing not run
    _keep(
        lake,
        _summary("20261123T030000Z-e", "2026-11-22", {"beijing": 0, "hefei": 2}, ("beijing",)),
    )
    tonight = _summary("20261124T020000Z-f", "2026-11-23", {"beijing": 0, "hefei": 0, "jinan": 1})
    alerts = silent_centers(lake, tonight)
    assert [a["center"] for a in alerts] == ["beijing"]
    (alert,) = alerts
    assert alert["nights"] == 3 and alert["unreachable_nights"] == 1
    assert alert["last_delivery"] == "2026-11-20" and alert["threshold"] == 3
    assert "beijing" in alert["message"] and "3 nights in a row" in alert["message"]

    # one delivering night resets the streak; an alert of 0 is off
    _keep(lake, tonight)
    later = _summary("20261125T020000Z-g", "2026-11-24", {"beijing": 1, "hefei": 0})
    assert silent_centers(lake, later) == []


def test_silent_nights_is_a_profile_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lake = Store(str(tmp_path / "lake"))
    _keep(lake, _summary("20261123T020000Z-a", "2026-11-22", {"beijing": 0}))
    tonight = _summary("20261124T020000Z-b", "2026-11-23", {"beijing": 0})
    assert silent_centers(lake, tonight) == []  # 2 nights < 3
    stricter = dataclasses.replace(load_profile("beijing"), silent_nights_alert=2)
    monkeypatch.setattr(silence, "load_profile", lambda center: stricter)
    assert [a["nights"] for a in silent_centers(lake, tonight)] == [2]
    off = dataclasses.replace(stricter, silent_nights_alert=0)
    monkeypatch.setattr(silence, "load_profile", lambda center: off)
    assert silent_centers(lake, tonight) == []
    text = 'name = "x"\ndisplay_name = "X"\ntimezone = "UTC"\nraw_format = "ros1-bag"\n'
    text += 'robot_model = "kuavo_4pro"\ndrop_url = ""\n[alerts]\nsilent_nights = -1\n'
    with pytest.raises(ValueError, match="silent_nights must be a whole number"):
        profile_from_toml(text)


def test_the_night_exits_1_naming_a_silent_center(tmp_path: Path, prefect_home: Path) -> None:
    lake = Store(str(tmp_path / "lake"))
    _keep(lake, _summary("20261121T020000Z-a", "2026-11-21", {"beijing": 0}))
    _keep(lake, _summary("20261122T020000Z-b", "2026-11-22", {"beijing": 0}))
    (tmp_path / "net" / "beijing").mkdir(parents=True)  # reachable, delivering nothing
    env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
    exe = Path(sys.executable).parent / "teleop-lake"
    proc = subprocess.run(
        [
            *(str(exe), "nightly", "--network", str(tmp_path / "net"), "--lake", lake.url),
            *("--center", "beijing", "--date", "2026-11-23", "--json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "center beijing has been unreachable or without new recordings for 3 nights" in (
        proc.stderr
    )
    summary = json.loads(proc.stdout)
    assert [a["center"] for a in summary["silent_centers"]] == ["beijing"]
    report = json.loads(
        (tmp_path / "lake" / "reports").glob("*/validation.json").__next__().read_text()
    )
    assert report["silent_centers"][0]["nights"] == 3
