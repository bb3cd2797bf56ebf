"""Releases: snapshots by reference, immutable, verifiable, readable by a partner."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
import zarr
from synthetic_teleop import tiny_jpegs

from datalake_schemas import EPISODE_FIELDS
from teleop_lake.lake.storage import Store
from teleop_lake.release.cameras import CAMERA_TABLE_SCHEMA
from teleop_lake.release.publish import publish_release
from teleop_lake.release.reader import decode_frame, open_release
from teleop_lake.release.segment import write_segment
from teleop_lake.release.verify import verify_release

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)
T0 = 1_795_000_000_000_000_000


def _frames(episode_id: str, n: int, value: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "episode_id": [episode_id] * n,
            "frame_index": pl.Series(range(n), dtype=pl.Int32),
            "t_ns": [T0 + i * 20_000_000 for i in range(n)],
            "t_rel_s": [i * 0.02 for i in range(n)],
            "obs.position_rad.l_knee": pl.Series([value] * n, dtype=pl.Float32),
            "obs.position_rad.r_knee": pl.Series([value + 1] * n, dtype=pl.Float32),
            "action.target_rad.l_knee": pl.Series([value] * n, dtype=pl.Float32),
            "flag.dropout": [False] * n,
        }
    )


def _episode(
    episode_id: str, run_id: str, segment_id: str, row_start: int, n: int, outcome: str = "success"
) -> dict[str, object]:
    row: dict[str, object] = {k: None for k in EPISODE_FIELDS}
    row.update(
        episode_id=episode_id,
        center="beijing",
        recording_id=episode_id,
        robot_model="kuavo_4pro",
        start_time_utc=dt.datetime(2026, 11, 23, 1, tzinfo=dt.UTC),
        duration_s=n * 0.02,
        n_frames=n,
        raw_format="ros1-bag",
        source_uri="bronze/x",
        content_key=f"ck-{run_id}",
        pipeline_version="0.1.0",
        param_hash="p",
        run_id=run_id,
        segment_id=segment_id,
        segment_row_start=row_start,
        quality_score=1.0,
        n_spikes=0,
        n_dropouts=0,
        n_frozen=0,
        outcome=outcome,
        label_source="rule",
        label_confidence=0.9,
        needs_review=False,
        labeler_version="1",
        failure_reason=None if outcome == "success" else "timeout",
    )
    return row


def _segment(
    lake: Store,
    run_id: str,
    eps: list[tuple[str, int, float]],
    recording_of: dict[str, str] | None = None,
) -> str:
    seg = f"{run_id}-b000"
    frames = pl.concat([_frames(e, n, v) for e, n, v in eps])
    rows, start = [], 0
    for e, n, _ in eps:
        rows.append(_episode(e, run_id, seg, start, n))
        rows[-1]["recording_id"] = (recording_of or {}).get(e, e)
        start += n
    episodes = pl.DataFrame(rows, schema={k: v[0] for k, v in EPISODE_FIELDS.items()})
    findings = pl.DataFrame(
        {"episode_id": [], "kind": []}, schema={"episode_id": pl.String, "kind": pl.String}
    )
    jpegs = tiny_jpegs(frames.height)
    cameras = {
        "camera_head": pl.DataFrame(
            {
                "episode_id": frames["episode_id"],
                "frame_index": frames["frame_index"],
                "t_ns": frames["t_ns"],
                "stamp_ns": frames["t_ns"],
                "width": [16] * frames.height,
                "height": [12] * frames.height,
                "encoding": ["jpeg"] * frames.height,
                "data": list(jpegs),
            },
            schema=CAMERA_TABLE_SCHEMA,
        )
    }
    write_segment(lake, seg, frames, episodes, findings, cameras)
    return seg


def test_release_snapshot_by_reference(tmp_path: Path) -> None:
    lake = Store(str(tmp_path / "lake"))
    _segment(lake, "run1", [("ep-a", 5, 0.1), ("ep-b", 3, 0.2)])
    r1 = publish_release(lake.url, "run1", "2026-11-23", NOW)
    assert (r1.release_id, r1.n_episodes, r1.n_frames, r1.added) == ("2026-11-23-r01", 2, 8, 2)
    assert verify_release(lake.url).ok
    m1_bytes = (tmp_path / "lake" / r1.manifest_path).read_bytes()

    # nothing new: no new release
    assert publish_release(lake.url, "run1b", "2026-11-23", NOW).release_id is None

    # night 2 reprocesses ep-b and adds ep-c: a new release sharing the first segment
    _segment(lake, "run2", [("ep-b", 4, 0.5), ("ep-c", 2, 0.7)])
    r2 = publish_release(lake.url, "run2", "2026-11-24", NOW)
    assert (r2.release_id, r2.parent_release_id) == ("2026-11-24-r01", "2026-11-23-r01")
    assert (r2.n_episodes, r2.added, r2.updated, r2.removed) == (3, 1, 1, 0)
    m2 = json.loads((tmp_path / "lake" / r2.manifest_path).read_text())
    assert m2["segments"] == ["run1-b000", "run2-b000"]
    assert {f["path"].split("/")[0] for f in m2["files"]} == {"releases", "segments"}
    card = (tmp_path / "lake" / "releases" / "2026-11-24-r01" / "README.md").read_text()
    assert "episodes: 3" in card and "| operator_pseudonym |" in card
    # the earlier release was not touched and still verifies
    assert (tmp_path / "lake" / r1.manifest_path).read_bytes() == m1_bytes
    assert verify_release(lake.url, r1.release_id).ok

    # the partner's view: exactly the release's episode versions
    rel = open_release(lake.url)
    frames = rel.scan_frames().collect().sort("episode_id", "frame_index")
    assert frames.group_by("episode_id").len().sort("episode_id").rows() == [
        ("ep-a", 5),
        ("ep-b", 4),
        ("ep-c", 2),
    ]
    assert frames.filter(pl.col("episode_id") == "ep-b")["obs.position_rad.l_knee"][0] == 0.5
    old = open_release(lake.url, r1.release_id).scan_frames().collect()
    assert old.filter(pl.col("episode_id") == "ep-b").height == 3

    # the replay buffer of a segment opens with zarr alone
    g = zarr.open_group(str(tmp_path / "lake" / "segments" / "run2-b000" / "replay.zarr"), mode="r")
    assert list(g["meta/episode_ends"][:]) == [4, 6]
    assert g["data/obs.position_rad"].shape == (6, 2)
    assert g["data/obs.position_rad"].attrs["channels"] == ["l_knee", "r_knee"]
    assert "data/camera_head" not in g  # frames stay JPEG, in the camera tables
    assert "camera_head" in g.attrs["cameras"]
    # the camera frames of an episode, as recorded, with their numbers
    head = rel.camera_frames("ep-b", "camera_head")
    assert head["frame_index"].to_list() == [0, 1, 2, 3]
    assert decode_frame(head["data"][0]).shape == (12, 16, 3)


def test_a_recording_republished_as_pieces_replaces_its_whole_episode(tmp_path: Path) -> None:
    lake = Store(str(tmp_path / "lake"))
    _segment(lake, "run1", [("ep-x", 5, 0.1), ("ep-y", 3, 0.2)])
    publish_release(lake.url, "run1", "2026-11-23", NOW)
    pieces = {"ep-x-p1": "ep-x", "ep-x-p2": "ep-x"}
    _segment(lake, "run2", [("ep-x-p1", 2, 0.3), ("ep-x-p2", 2, 0.4)], recording_of=pieces)
    r2 = publish_release(lake.url, "run2", "2026-11-24", NOW)
    assert (r2.n_episodes, r2.added, r2.removed) == (3, 2, 1)
    assert sorted(open_release(lake.url).episodes["episode_id"]) == ["ep-x-p1", "ep-x-p2", "ep-y"]
    assert verify_release(lake.url).ok


def test_verify_detects_tampering_and_missing_files(tmp_path: Path) -> None:
    lake = Store(str(tmp_path / "lake"))
    _segment(lake, "run1", [("ep-a", 5, 0.1)])
    publish_release(lake.url, "run1", "2026-11-23", NOW)
    frames = tmp_path / "lake" / "segments" / "run1-b000" / "frames.parquet"
    data = bytearray(frames.read_bytes())
    data[len(data) // 2] ^= 0xFF
    frames.write_bytes(bytes(data))
    res = verify_release(lake.url)
    assert not res.ok and res.problems[0]["problem"] == "checksum_mismatch"
    (tmp_path / "lake" / "releases" / "2026-11-23-r01" / "episodes.parquet").unlink()
    problems = {p["problem"] for p in verify_release(lake.url).problems}
    assert problems == {"checksum_mismatch", "missing"}


def test_verify_flags_files_added_to_a_release_or_segment_and_bad_ids(tmp_path: Path) -> None:
    import json

    from teleop_lake.lake.layout import BadIdError

    root = tmp_path / "lake"
    lake = Store(str(root))
    _segment(lake, "run1", [("ep-a", 5, 0.1)])
    publish_release(lake.url, "run1", "2026-11-23", NOW)
    assert verify_release(lake.url).ok
    (root / "releases" / "2026-11-23-r01" / "extra.txt").write_text("added later")
    zarr_extra = root / "segments" / "run1-b000" / "replay.zarr" / "data" / "planted"
    zarr_extra.mkdir(parents=True)
    (zarr_extra / "zarr.json").write_text("{}")
    unexpected = {
        p["path"] for p in verify_release(lake.url).problems if p["problem"] == "unexpected_file"
    }
    assert unexpected == {
        "releases/2026-11-23-r01/extra.txt",
        "segments/run1-b000/replay.zarr/data/planted/zarr.json",
    }
    # ids become paths only when they are ids
    for bad in ("../../elsewhere/rel", "2026-11-23-r01/../x", "LATEST"):
        with pytest.raises(BadIdError):
            verify_release(lake.url, bad)
    manifest = root / "releases" / "2026-11-23-r01" / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["segments"].append("../../outside")
    manifest.write_text(json.dumps(doc))
    problems = [p["problem"] for p in verify_release(lake.url).problems]
    assert any(p.startswith("bad_segment_id") for p in problems)


def test_a_crash_between_commit_and_latest_does_not_publish_twice(tmp_path: Path) -> None:
    """kill -9 after the manifest (the commit point) but before LATEST moved: the rerun
    finishes that commit instead of publishing an identical second release."""
    from teleop_lake.release.publish import latest_release_id, list_releases

    lake = Store(str(tmp_path / "lake"))
    _segment(lake, "run1", [("ep-a", 5, 0.1)])
    publish_release(lake.url, "run1", "2026-11-23", NOW)
    _segment(lake, "run2", [("ep-b", 3, 0.2)])
    r2 = publish_release(lake.url, "run2", "2026-11-24", NOW)
    (tmp_path / "lake" / "releases" / "LATEST").write_text("2026-11-23-r01\n")  # the lost move
    again = publish_release(lake.url, "run2-rerun", "2026-11-24", NOW)
    assert again.release_id is None and again.parent_release_id == r2.release_id
    assert latest_release_id(lake) == r2.release_id
    assert list_releases(lake) == ["2026-11-23-r01", "2026-11-24-r01"]
    assert verify_release(lake.url).ok


def test_an_edited_manifest_is_caught_through_the_recorded_hashes(tmp_path: Path) -> None:
    """LATEST records its manifest's sha256, each manifest its parent's: editing a committed
    manifest (even consistently) fails verification of that release."""
    lake = Store(str(tmp_path / "lake"))
    _segment(lake, "run1", [("ep-a", 5, 0.1)])
    publish_release(lake.url, "run1", "2026-11-23", NOW)
    _segment(lake, "run2", [("ep-b", 3, 0.2)])
    publish_release(lake.url, "run2", "2026-11-24", NOW)
    first = verify_release(lake.url, "2026-11-23-r01")
    assert first.ok and first.manifest_checked
    path = tmp_path / "lake" / "releases" / "2026-11-23-r01" / "manifest.json"
    doc = json.loads(path.read_text())
    doc["counts"]["episodes"] = 99
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    problems = verify_release(lake.url, "2026-11-23-r01").problems
    assert [p["problem"] for p in problems] == ["manifest_changed"]
    assert verify_release(lake.url).ok  # the newest release is itself unchanged
    latest = tmp_path / "lake" / "releases" / "2026-11-24-r01" / "manifest.json"
    latest.write_text(latest.read_text().replace('"run2"', '"run9"'))
    assert [p["problem"] for p in verify_release(lake.url).problems] == ["manifest_changed"]
    from teleop_lake.release.reader import ChangedReleaseError

    with pytest.raises(ChangedReleaseError, match="changed after it was committed"):
        open_release(lake.url)  # a partner's loader refuses it too
