"""Lineage between releases: `release diff` (added, removed with reason, relabeled with who
and why, schema changes) and the `stable` pointer only a person moves (`release promote`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from release_lake import NOTE, REVIEWER, release_lake, release_lake_copy
from typer.testing import CliRunner

from teleop_lake.cli import app
from teleop_lake.lake.storage import Store
from teleop_lake.release.lineage import (
    PromotionRefusedError,
    diff_releases,
    promote_release,
    stable_release,
)
from teleop_lake.release.publish import list_releases, publish_release
from teleop_lake.release.reader import open_release
from teleop_lake.release.stats import episode_channel_stats
from teleop_lake.release.verify import ReleaseNotFoundError

NOW = dt.datetime(2026, 11, 25, 3, tzinfo=dt.UTC)


def test_diff_names_the_relabel_with_its_reviewer_and_note(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    lake = release_lake(tmp_path_factory)
    r01, r02 = list_releases(Store(str(lake)))
    diff = diff_releases(str(lake), r01, r02)
    assert diff.added == [] and diff.removed == [] and diff.updated == []
    (change,) = diff.relabeled
    assert change["old"]["outcome"] == "success" and change["new"] == {
        "outcome": "failure",
        "failure_reason": "object_dropped",
        "label_source": "qa_override",
    }
    assert (change["by"], change["why"]) == (REVIEWER, NOTE)
    assert diff.schema["schema_version"][0] == diff.schema["schema_version"][1]
    assert diff.schema["frame_columns_added"] == diff.schema["frame_columns_removed"] == []
    res = CliRunner().invoke(app, ["release", "diff", "--lake", str(lake), r01, r02, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["relabeled"][0]["by"] == REVIEWER
    human = CliRunner().invoke(app, ["release", "diff", "--lake", str(lake), r01, r02])
    assert human.exit_code == 0 and "relabeled" in human.stdout and NOTE in human.stdout


def _publish_as_pieces(lake: Path, episode_id: str) -> str:
    """A later run publishing one recording as a piece (as a split at a long fault does):
    a segment holding only that episode row, then a release."""
    release = open_release(str(lake))
    row = release.episodes.filter(pl.col("episode_id") == episode_id)
    seg_id = "20261125T030000Z-n2-b000"
    piece = row.with_columns(
        pl.lit(f"{episode_id}-p1").alias("episode_id"),
        pl.lit(episode_id).alias("split_from"),
        pl.lit(1, dtype=pl.Int64).alias("piece_index"),
        pl.lit("20261125T030000Z-n2").alias("run_id"),
        pl.lit(seg_id).alias("segment_id"),
    )
    frames = (
        release.scan_frames()
        .filter(pl.col("episode_id") == episode_id)
        .collect()
        .with_columns(pl.lit(f"{episode_id}-p1").alias("episode_id"))
    )
    seg = lake / "segments" / seg_id
    seg.mkdir(parents=True)
    piece.write_parquet(seg / "episodes.parquet")
    frames.write_parquet(seg / "frames.parquet")
    episode_channel_stats(frames).write_parquet(seg / "stats.parquet")
    files = []
    for name in ("episodes", "frames", "stats"):
        data = (seg / f"{name}.parquet").read_bytes()
        files.append(
            {
                "path": f"segments/{seg_id}/{name}.parquet",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    manifest = {
        "segment_id": seg_id,
        "n_episodes": 1,
        "n_frames": int(piece["n_frames"][0]),
        "files": files,
    }
    (seg / "segment.json").write_text(json.dumps(manifest))
    result = publish_release(str(lake), "20261125T030000Z-n2", "2026-11-24", NOW)
    assert result.release_id is not None
    return result.release_id


def test_diff_says_why_an_episode_left(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    lake = release_lake_copy(tmp_path_factory, tmp_path)
    r02 = list_releases(Store(str(lake)))[-1]
    gone = str(open_release(str(lake)).episodes["episode_id"][-1])
    r03 = _publish_as_pieces(lake, gone)
    diff = diff_releases(str(lake), r02, r03)
    assert diff.added == [f"{gone}-p1"]
    (removed,) = diff.removed
    assert removed["episode_id"] == gone and removed["reason"] == "replaced"
    assert f"{gone}-p1" in removed["detail"]


def test_only_a_verified_release_becomes_stable(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    lake = release_lake_copy(tmp_path_factory, tmp_path)
    store = Store(str(lake))
    r01, r02 = list_releases(store)
    assert stable_release(store) == (None, None)
    with pytest.raises(ReleaseNotFoundError, match="no release was promoted"):
        open_release(str(lake), "stable")
    record = promote_release(str(lake), r01, "alice", "first partner cut", NOW)
    assert stable_release(store)[0] == r01 and record["previous_stable"] is None
    assert open_release(str(lake), "stable").release_id == r01
    # a changed file in r02: refused, the pointer stays
    card = lake / "releases" / r02 / "README.md"
    card.write_text(card.read_text() + "edited\n")
    with pytest.raises(PromotionRefusedError, match="does not verify"):
        promote_release(str(lake), r02, "alice", None, NOW)
    assert stable_release(store)[0] == r01
    res = CliRunner().invoke(app, ["release", "promote", "--lake", str(lake), r02, "--by", "bob"])
    assert res.exit_code == 1 and "does not verify" in res.output
    listing = CliRunner().invoke(app, ["release", "list", "--lake", str(lake), "--json"])
    doc = json.loads(listing.stdout)
    assert doc["stable"] == r01
    row = next(r for r in doc["releases"] if r["release_id"] == r02)
    assert row["relabeled"] == 1 and sum(row["by_outcome"].values()) == row["episodes"]
    assert (lake / "releases" / "promotions").is_dir()


def test_release_list_on_a_folder_that_is_no_lake_says_so(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["release", "list", "--lake", str(tmp_path / "typo")])
    assert res.exit_code == 3 and "no releases" in res.output


def test_help_reads_right_flags_take_no_value_and_defaults_are_stated() -> None:
    verify = CliRunner().invoke(app, ["release", "verify", "--help"])
    assert verify.exit_code == 0 and "--json" in verify.output and "<bool>" not in verify.output
    nightly = CliRunner().invoke(app, ["nightly", "--help"])
    assert "default: today" in " ".join(nightly.output.replace("│", " ").split())
