"""A small simulated lake for the QA tests, built once per test session without Prefect.

`run_night` chains the plain pipeline stages exactly as ``flows/nightly.py`` does (pull,
retry, process in batches, publish, summary, report), so a test can run a second night
after recording an override. `qa_lake` simulates 3 centers x 3 episodes (stress profile:
more wrong and missing operator marks), relabels one recording's task code to markup that is
not in the task catalog, makes one operator mark a success a failure, runs one night, and returns a fresh copy for each test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.pipeline.plain_night import run_plain_night
from teleop_lake.simulate import simulate_network

DATE = "2026-11-23"
CENTERS = ["beijing", "suzhou", "zhengzhou"]
SEED = 24
EVIL_TASK = '<script>alert("task")</script>'
_BUILT: dict[str, Path] = {}


def run_night(
    net: Path, lake: Path, run_id: str, now: dt.datetime, centers: Sequence[str] = CENTERS
) -> dict[str, Any]:
    """One night through the plain stages (no Prefect): the run summary with report paths."""
    return run_plain_night(str(net), str(lake), centers, DATE, run_id, now)


def _relabel_task(net: Path) -> str:
    """Give the first beijing recording a task code that is markup and not in the catalog."""
    manifest = net / "beijing" / DATE / "_manifest.jsonl"
    lines = [json.loads(x) for x in manifest.read_text().splitlines() if x.strip()]
    lines[0]["task_code"] = EVIL_TASK
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(lines[0]["recording_id"])


def _flip_a_mark(net: Path, skip: str) -> str:
    """Make the operator of one successful, intact recording (not ``skip``) mark it a failure
    (and re-deliver its label file honestly: size and sha256 in the manifest), so the night
    always has an operator/evidence disagreement whatever the seed draws."""
    truth = pl.read_parquet(net / "_truth" / "recordings.parquet").filter(
        (pl.col("true_outcome") == "success")
        & (pl.col("file_fault") == "none")
        & (pl.col("recording_id") != skip)
    )
    center, rid = str(truth["center"][0]), str(truth["recording_id"][0])
    manifest = net / center / DATE / "_manifest.jsonl"
    lines = [json.loads(x) for x in manifest.read_text().splitlines() if x.strip()]
    line = next(x for x in lines if x["recording_id"] == rid)
    entry = next(f for f in line["files"] if f["path"].endswith(".metadata.json"))
    path = net / center / DATE / entry["path"]
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["operator_mark"] = "failure"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    entry["size"] = path.stat().st_size
    entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    recordings = net / "_truth" / "recordings.parquet"  # the truth says what was delivered
    flipped = pl.col("recording_id") == rid
    pl.read_parquet(recordings).with_columns(
        pl.when(flipped)
        .then(pl.lit("failure"))
        .otherwise(pl.col("operator_mark"))
        .alias("operator_mark"),
        pl.when(flipped)
        .then(pl.lit("wrong"))
        .otherwise(pl.col("operator_mark_status"))
        .alias("operator_mark_status"),
    ).write_parquet(recordings)
    return rid


def _build(root: Path) -> Path:
    net, lake = root / "net", root / "lake"
    simulate_network(
        net,
        episodes_per_center=3,
        seed=SEED,
        date=DATE,
        profile="stress",
        duration_scale=0.4,
        camera_size=SMALL_CAMERA,
        centers=CENTERS,
    )
    _flip_a_mark(net, skip=_relabel_task(net))
    run_night(net, lake, "20261124T020000Z-night1", dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC))
    return root


def qa_lake(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A copy (for this test) of the session's one-night lake: ``<copy>/net``, ``<copy>/lake``."""
    if "root" not in _BUILT:
        _BUILT["root"] = _build(tmp_path_factory.mktemp("qa-lake"))
    dst = tmp_path / "qa"
    shutil.copytree(_BUILT["root"], dst)
    return dst
