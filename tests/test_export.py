"""Exports of a release (LeRobot v3.0, Zarr format 2 replay buffer) and the statistics they
derive from: checked against the release itself, read with pyarrow, polars and zarr alone.

LeRobot's own loader and zarr 2.x open the same exports in `make check-exports`
(tests/partner/), which builds their environments."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import av
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import zarr
from release_lake import release_lake, release_lake_copy

from teleop_lake.release.export import ExportFilter, ExportTargetError, export_release
from teleop_lake.release.export.frames import ExportRateError, nearest_frames
from teleop_lake.release.export.selection import EmptySelectionError
from teleop_lake.release.reader import (
    IncompatibleReleaseError,
    ReleaseVerificationError,
    decode_frame,
    open_release,
)
from teleop_lake.release.stats import (
    HISTOGRAM_BINS,
    episode_channel_stats,
    histogram_range,
    merge_stats,
    summarize,
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return release_lake(tmp_path_factory)


def _grid_frames(lake: Path) -> pl.DataFrame:
    return open_release(str(lake)).scan_frames().collect()


def test_stats_merge_exactly_and_quantiles_stay_within_a_bin(lake: Path) -> None:
    frames = _grid_frames(lake)
    per_episode = episode_channel_stats(frames)
    merged = {r["channel"]: r for r in merge_stats(per_episode).iter_rows(named=True)}
    checked = 0
    for channel, row in merged.items():
        values = frames[channel].drop_nulls().to_numpy().astype(np.float64)
        s = summarize(row)
        assert s.count == len(values), channel
        if not len(values):
            continue
        assert s.mean == pytest.approx(values.mean(), abs=1e-9 + 1e-9 * abs(values.mean()))
        assert s.std == pytest.approx(values.std(), rel=1e-6, abs=1e-6)
        assert (s.min, s.max) == (values.min(), values.max())
        lo, hi = histogram_range(channel)  # type: ignore[misc]
        width = (hi - lo) / HISTOGRAM_BINS
        for name, q in (("q01", 0.01), ("q50", 0.5), ("q99", 0.99)):
            # within a bin of the data around the rank (a gap between values is no error)
            below = np.quantile(values, q, method="lower") - width - 1e-9
            above = np.quantile(values, q, method="higher") + width + 1e-9
            assert below <= s.quantiles[name] <= above, (channel, name)
        checked += 1
    assert checked > 100
    # what a segment stores is what its frames give
    seg = open_release(str(lake)).manifest["segments"][0]
    stored = pl.read_parquet(lake / "segments" / seg / "stats.parquet")
    recomputed = episode_channel_stats(pl.read_parquet(lake / "segments" / seg / "frames.parquet"))
    assert stored.sort("episode_id", "channel").equals(recomputed.sort("episode_id", "channel"))


def test_lerobot_export_is_the_release(lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "lerobot"
    res = export_release(str(lake), str(out), "lerobot", fps=25, videos=False)
    release = open_release(str(lake))
    frames = _grid_frames(lake)
    assert res.release_id == release.release_id
    exported_ids: list[str] = []
    skipped = {eid: why for d in res.datasets for eid, why in d["skipped"].items()}
    assert any(eid.startswith("jin-") for eid in skipped), skipped
    assert all("hand_closure" in why for eid, why in skipped.items() if eid.startswith("jin-"))
    for d in res.datasets:
        if not d["episodes"]:
            continue
        root = out / d["name"]
        info = json.loads((root / "meta" / "info.json").read_text())
        episodes = pl.read_parquet(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
        data = pl.concat([pl.read_parquet(p) for p in sorted((root / "data").glob("*/*.parquet"))])
        assert info["codebase_version"] == "v3.0" and info["fps"] == 25
        assert info["total_frames"] == data.height == int(episodes["length"].sum())
        assert data["index"].to_list() == list(range(data.height))
        assert (data["timestamp"] - data["frame_index"] / 25).abs().max() < 1e-6
        # LeRobot reads tasks.parquet with pandas: the task text is the index
        tasks = pq.read_table(root / "meta" / "tasks.parquet")
        assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
        stats = json.loads((root / "meta" / "stats.json").read_text())
        for name, feature in info["features"].items():
            if feature["dtype"] == "float32" and feature["shape"][0] > 1:
                assert len(data[name][0]) == feature["shape"][0]
                assert len(stats[name]["mean"]) == feature["shape"][0]
        for ep in episodes.iter_rows(named=True):
            eid = ep["source_episode_id"]
            exported_ids.append(eid)
            label = release.episodes.filter(pl.col("episode_id") == eid).row(0, named=True)
            assert (ep["outcome"], ep["label_source"]) == (label["outcome"], label["label_source"])
            rows = data.slice(ep["dataset_from_index"], ep["length"])
            assert rows["episode_index"].unique().to_list() == [ep["episode_index"]]
            assert rows["next.done"].to_list() == [False] * (ep["length"] - 1) + [True]
            assert rows["next.success"][-1] == (label["outcome"] == "success")
            grid = frames.filter(pl.col("episode_id") == eid).sort("frame_index")
            grid = grid.gather_every(2)
            names = info["features"]["observation.state"]["names"]
            np.testing.assert_array_equal(
                np.stack(rows["observation.state"].to_list()),
                grid.select(names).to_numpy().astype(np.float32),
            )
            # a camera's image is the rig's JPEG of the frame the grid row points at
            camera = "camera_head"
            k = ep["length"] // 2
            want = int(grid[f"camera.{camera}.frame_index"][k])
            if want >= 0:
                table = release.camera_frames(eid, camera)
                jpeg = table.filter(pl.col("frame_index") == want)["data"][0]
                assert rows[f"observation.images.{camera}"][k]["bytes"] == jpeg
                h, w, _ = info["features"][f"observation.images.{camera}"]["shape"]
                assert decode_frame(jpeg).shape == (h, w, 3)
    assert sorted(exported_ids + list(skipped)) == sorted(release.episodes["episode_id"])
    overridden = release.episodes.filter(pl.col("label_source") == "qa_override")
    assert overridden.height == 1 and overridden["episode_id"][0] in exported_ids + list(skipped)


def test_lerobot_videos_hold_every_row_at_its_timestamp(lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "video"
    res = export_release(
        str(lake), str(out), "lerobot", selection=ExportFilter(centers=("beijing", "zhengzhou"))
    )
    release = open_release(str(lake))
    frames = _grid_frames(lake)
    checked = 0
    for d in res.datasets:
        if not d["episodes"]:
            continue
        root = out / d["name"]
        info = json.loads((root / "meta" / "info.json").read_text())
        key = "observation.images.camera_head"
        assert info["features"][key]["dtype"] == "video"
        assert info["features"][key]["info"]["video.codec"] == "h264"
        episodes = pl.read_parquet(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
        assert "observation.images.camera_head" not in pl.read_parquet_schema(
            next((root / "data").glob("*/*.parquet"))
        )
        video = root / info["video_path"].format(video_key=key, chunk_index=0, file_index=0)
        with av.open(str(video)) as container:
            decoded = [
                (f.pts * f.time_base, f.to_ndarray(format="rgb24"))
                for f in container.decode(video=0)
            ]
        assert len(decoded) == info["total_frames"]
        assert [float(t) for t, _ in decoded] == pytest.approx(
            [i / info["fps"] for i in range(len(decoded))], abs=1e-9
        )
        for ep in episodes.iter_rows(named=True):
            start = ep[f"videos/{key}/from_timestamp"]
            assert start == pytest.approx(ep["dataset_from_index"] / info["fps"])
            k = ep["length"] - 1  # the episode's last frame, at from_timestamp + k / fps
            grid = frames.filter(pl.col("episode_id") == ep["source_episode_id"]).sort(
                "frame_index"
            )
            want = int(grid["camera.camera_head.frame_index"][k])
            if want < 0:
                continue
            jpeg = release.camera_frames(ep["source_episode_id"], "camera_head").filter(
                pl.col("frame_index") == want
            )["data"][0]
            got = decoded[ep["dataset_from_index"] + k][1].astype(float)
            assert np.abs(got - decode_frame(jpeg)).mean() < 8, "H.264 frame far from the JPEG"
            checked += 1
    assert checked >= 2


def test_replay_buffer_is_zarr_format_2_with_the_rigs_jpeg_bytes(
    lake: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rb"
    res = export_release(
        str(lake), str(out), "replay-buffer", selection=ExportFilter(centers=("beijing", "hefei"))
    )
    release = open_release(str(lake))
    frames = _grid_frames(lake)
    assert {d["name"].split("-")[0] for d in res.datasets} <= {"kuavo_4pro", "tienkung"}
    for d in res.datasets:
        if not d["episodes"]:
            continue
        path = out / f"{d['name']}.zarr"
        meta = json.loads((path / "data" / "camera_head" / ".zarray").read_text())
        assert meta["zarr_format"] == 2 and meta["compressor"] == {"id": "imagecodecs_jpeg"}
        root = zarr.open_group(str(path), mode="r", zarr_format=2)
        ends = root["meta/episode_ends"][:]
        state = root["data/state"][:]
        assert state.shape[0] == ends[-1] == meta["shape"][0] == root["data/flags"].shape[0]
        labels = root.attrs["episodes"]
        assert len(labels) == len(ends)
        start = 0
        for end, label in zip(ends.tolist(), labels, strict=True):
            eid = label["episode_id"]
            grid = frames.filter(pl.col("episode_id") == eid).sort("frame_index")
            assert end - start == grid.height
            cols = root["data/state"].attrs["channels"]
            np.testing.assert_array_equal(
                state[start:end], grid.select(cols).to_numpy().astype(np.float32)
            )
            want = int(grid["camera.camera_head.frame_index"][0])
            if want >= 0:
                chunk = (path / "data" / "camera_head" / f"{start}.0.0.0").read_bytes()
                table = release.camera_frames(eid, "camera_head")
                assert chunk == table.filter(pl.col("frame_index") == want)["data"][0]
            assert (
                label["outcome"]
                == release.episodes.filter(pl.col("episode_id") == eid)["outcome"][0]
            )
            start = end


def test_exports_refuse_what_they_cannot_do(lake: Path, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    with pytest.raises(ExportTargetError, match="not empty"):
        export_release(str(lake), str(tmp_path / "full"), "lerobot")
    with pytest.raises(ExportRateError, match="must divide 50"):
        export_release(str(lake), str(tmp_path / "a"), "lerobot", fps=30)
    with pytest.raises(EmptySelectionError):
        export_release(
            str(lake), str(tmp_path / "b"), "lerobot", selection=ExportFilter(centers=("x",))
        )
    with pytest.raises(ValueError, match="unknown export format"):
        export_release(str(lake), str(tmp_path / "c"), "hdf5")


def test_rows_without_a_camera_frame_take_the_nearest() -> None:
    assert nearest_frames(np.array([-1, -1, 3, -1, 4, -1])).tolist() == [3, 3, 3, 3, 4, 4]
    assert nearest_frames(np.array([-1, -1])).tolist() == [-1, -1]


def test_release_stats_equal_stats_over_the_whole_release(lake: Path) -> None:
    release = open_release(str(lake))
    stored = pl.read_parquet(lake / "releases" / release.release_id / "stats.parquet")
    frames = _grid_frames(lake).join(
        release.episodes.select("episode_id", "robot_model"), on="episode_id"
    )
    for (model,), part in frames.group_by(["robot_model"]):
        # columns of the other model read as all-null here (count 0): only measured ones count
        direct = merge_stats(episode_channel_stats(part.drop("robot_model")))
        direct = direct.filter(pl.col("count") > 0)
        mine = stored.filter((pl.col("robot_model") == model) & (pl.col("count") > 0))
        mine = mine.drop("robot_model")
        joined = direct.join(mine, on="channel", suffix="_merged")
        assert joined.height == direct.height == mine.height
        for c in ("count", "min", "max", "hist"):
            assert joined[c].equals(joined[f"{c}_merged"], null_equal=True), (model, c)
        for c in ("sum", "sum_sq"):
            a, b = joined[c].to_numpy(), joined[f"{c}_merged"].to_numpy()
            assert np.allclose(a, b, rtol=1e-12, atol=0.0), (model, c)


def test_frames_of_one_robot_model_have_only_its_channels(lake: Path) -> None:
    release = open_release(str(lake))
    everything = release.scan_frames().collect()
    assert len(release.robot_models) == 2
    with pytest.raises(ValueError, match="choose one"):
        release.frames()
    with pytest.raises(KeyError, match="not in release"):
        release.frames("no_such_robot")
    for model in release.robot_models:
        frames = release.frames(model).collect()
        eps = release.episodes.filter(pl.col("robot_model") == model)
        assert frames.height == int(eps["n_frames"].sum())
        assert frames.width < everything.width
        signal = [c for c in frames.columns if histogram_range(c) is not None]
        assert all(frames[c].null_count() < frames.height for c in signal), model
        # nothing it measured is lost
        measured = everything.filter(pl.col("episode_id").is_in(eps["episode_id"].implode()))
        kept = [c for c in measured.columns if measured[c].null_count() < measured.height]
        assert set(kept) <= set(frames.columns), model
    successes = release.frames("kuavo_4pro", outcomes=("success",)).collect()
    ok = release.episodes.filter(
        (pl.col("robot_model") == "kuavo_4pro") & (pl.col("outcome") == "success")
    )
    assert set(successes["episode_id"].unique()) == set(ok["episode_id"])


def test_open_release_verify_refuses_a_changed_file(lake: Path, tmp_path: Path) -> None:
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    open_release(str(copy), verify=True)
    seg = open_release(str(copy)).manifest["segments"][0]
    findings = copy / "segments" / seg / "findings.parquet"
    findings.write_bytes(findings.read_bytes() + b"\0")
    with pytest.raises(ReleaseVerificationError, match="problem"):
        open_release(str(copy), verify=True)


def test_a_release_describes_itself(lake: Path) -> None:
    release = open_release(str(lake))
    folder = lake / "releases" / release.release_id
    features = json.loads((folder / "features.json").read_text())
    frames = release.scan_frames().collect()
    described = {c["name"]: c for c in features["columns"]}
    assert set(described) == set(frames.columns)
    assert not [c for c in described.values() if c["meaning"] == "undocumented column"]
    knee = described["obs.position_rad.l_knee"]
    assert knee["unit"] == "rad" and knee["robot_models"]["kuavo_4pro"] == {
        "measured": True,
        "required": True,
    }
    torque = described["obs.effort_n_m.l_knee"]
    assert torque["unit"] == "N*m" and torque["robot_models"]["kuavo_4pro"]["required"] is False
    assert set(features["flags"]) == {c for c in frames.columns if c.startswith("flag.")}
    for code, text in features["tasks"].items():
        assert text["en"] and text["zh"], code  # the simulated label files carry both
    card = (folder / "README.md").read_text()
    for section in ("## Quality", "## Frame columns", "## Episode columns", "features.json"):
        assert section in card
    assert "1 relabeled" in card and "qa_override 1" in card
    assert "docs/QUALITY.md" not in card  # the card needs no document outside the release
    assert release.episodes["task_text_zh"].null_count() == 0


def test_the_partner_notebook_reads_a_release_without_the_project(
    lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    path = Path(__file__).resolve().parents[1] / "notebooks" / "partner_quickstart.ipynb"
    nb = nbformat.read(path, as_version=4)
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # no import of the project: the only mention is the last cell's check that none happened
    assert "teleop_lake" not in sources.replace("'teleop_lake'", "").replace('"teleop_lake"', "")
    monkeypatch.setenv("TELEOP_LAKE", str(lake))
    monkeypatch.delenv("TELEOP_LEROBOT_EXPORT", raising=False)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert open_release(str(lake)).release_id in printed
    assert "read with polars, pyarrow, zarr and PIL alone" in printed


def test_older_majors_read_under_current_names_and_newer_ones_say_what_changed(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    lake = release_lake_copy(tmp_path_factory, tmp_path)
    release = open_release(str(lake))
    # a segment written under schema 2.x: torque was obs.effort_nm.*
    seg = lake / "segments" / release.manifest["segments"][0] / "frames.parquet"
    old = pl.read_parquet(seg)
    old.rename(
        {c: c.replace("obs.effort_n_m.", "obs.effort_nm.") for c in old.columns}
    ).write_parquet(seg)
    frames = release.scan_frames().collect()
    assert not [c for c in frames.columns if c.startswith("obs.effort_nm.")]
    assert frames["obs.effort_n_m.l_knee"].null_count() < frames.height
    # a release from a newer major than this reader knows
    manifest_path = lake / "releases" / release.release_id / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_version"] = "9.0.0"
    manifest["schema_changes"]["9"] = "frames.t_ns became microseconds"
    manifest_path.write_text(json.dumps(manifest))
    digest = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    (lake / "releases" / "LATEST").write_text(f"{release.release_id} {digest}\n")
    with pytest.raises(IncompatibleReleaseError, match="t_ns became microseconds"):
        open_release(str(lake), release.release_id)


def test_exports_write_to_any_fsspec_url(lake: Path) -> None:
    import fsspec

    out = "memory://exports/replay"
    res = export_release(
        str(lake), out, "lerobot", selection=ExportFilter(centers=("zhengzhou",)), fps=10
    )
    fs = fsspec.filesystem("memory")
    written = [d for d in res.datasets if d["episodes"]]
    assert written
    for done in written:
        root = f"/exports/replay/{done['name']}"
        info = json.loads(fs.cat(f"{root}/meta/info.json"))
        assert info["total_frames"] == done["frames"]
        video = f"{root}/videos/observation.images.camera_head/chunk-000/file-000.mp4"
        assert fs.size(video) > 0
    fs.rm("/exports", recursive=True)
