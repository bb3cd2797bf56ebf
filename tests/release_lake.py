"""A small published lake with two robot models, a rig without hand state and a QA relabel,
built once per test session without Prefect, for the release reader, export and lineage tests.

Release r01 is the night's; r02 adds one QA override (a success relabeled a failure, with a
reviewer and a note). Tests that write to the lake take a copy (`release_lake_copy`).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.lake.overrides import OverrideRecord, append_override
from teleop_lake.lake.storage import Store
from teleop_lake.pipeline.plain_night import run_plain_night
from teleop_lake.release.publish import publish_release
from teleop_lake.release.reader import open_release
from teleop_lake.simulate import simulate_network

DATE = "2026-11-23"
# jinan's rigs publish no hand state: its episodes cannot be in a dataset whose state has it
CENTERS = ["beijing", "jinan", "hefei", "zhengzhou"]
NOW = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
REVIEWER, NOTE = "qa-test", "the cup slips out at 12 s"
_BUILT: dict[str, Path] = {}


def _build(root: Path) -> Path:
    simulate_network(
        root / "net",
        episodes_per_center=2,
        seed=5,
        date=DATE,
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
        centers=CENTERS,
    )
    lake = root / "lake"
    run_plain_night(str(root / "net"), str(lake), CENTERS, DATE, "20261124T020000Z-n1", NOW)
    target = open_release(str(lake)).episodes.filter(pl.col("outcome") == "success")
    append_override(
        Store(str(lake)),
        OverrideRecord(
            episode_id=str(target["episode_id"][0]),
            version=1,
            outcome="failure",
            failure_reason="object_dropped",
            reviewer=REVIEWER,
            note=NOTE,
            created_at=NOW.isoformat(),
        ),
    )
    publish_release(str(lake), "qa", DATE, NOW + dt.timedelta(hours=1))
    return lake


def release_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's lake (read it, never write to it)."""
    if "lake" not in _BUILT:
        _BUILT["lake"] = _build(tmp_path_factory.mktemp("release-lake"))
    return _BUILT["lake"]


def release_lake_copy(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A copy of the session's lake that a test may change."""
    dst = tmp_path / "lake"
    shutil.copytree(release_lake(tmp_path_factory), dst)
    return dst
