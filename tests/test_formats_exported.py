"""The exported formats: Hefei's Parquet folders (parquet-dir) and Suzhou's HDF5 episodes (hdf5).

Known answers: a simulated episode of the Tien-Kung-like robot is written by the
simulator's writer and read back by the adapter and standardization; the SI values,
stamps and events must be the ones simulated. Bad input (missing groups or files, a joint
the robot model does not know, duplicated or non-monotonic stamps, cut files) must be
refused with a reason naming the file, the stream and the problem. The vectorised long
pivot is compared with the row-by-row oracle on generated tables.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import h5py
import numpy as np
import polars as pl
import pytest
from synthetic_teleop import SMALL_CAMERA

from datalake_schemas.frames import frames_schema
from teleop_lake.canonical import Recording, RecordingMeta
from teleop_lake.config.centers import load_profile
from teleop_lake.config.robots import load_robot_model
from teleop_lake.config.tasks import load_task_catalog
from teleop_lake.formats import read_recording
from teleop_lake.formats.listing import list_streams
from teleop_lake.formats.parquet_dir import _pivot_per_row, pivot_long
from teleop_lake.processing import ProcessingParams, process_recording
from teleop_lake.rejection import RecordingRejected
from teleop_lake.simulate import simulate_network
from teleop_lake.simulate.episode import EpisodeData, simulate_episode
from teleop_lake.simulate.labels import metadata_document
from teleop_lake.simulate.params import simulation_profile
from teleop_lake.simulate.writers import write_recording
from teleop_lake.standardize import standardize_recording

ROBOT = load_robot_model("tienkung")
TASK = next(t for t in load_task_catalog().tasks if t.code == "pack_parcel")
START_NS = 1_795_395_600_123_456_789
FORMATS = {"hefei": "parquet-dir", "suzhou": "hdf5"}


@cache
def _episode() -> EpisodeData:
    sim = simulation_profile("clean")
    return simulate_episode(
        "hefei", TASK, ROBOT, sim, START_NS, 0.4, np.random.SeedSequence([5, 7])
    )


def _write(tmp: Path, center: str) -> list[Path]:
    """One clean recording of ``center`` in its own format, plus its label file."""
    profile = load_profile(center)
    ep = _episode()
    files = write_recording(tmp, "rec-0001", profile, ROBOT, ep, 0.4, "TK-0101")
    label = tmp / "rec-0001.metadata.json"
    label.write_text(json.dumps(metadata_document(ep.story, "TK-0101", START_NS, "Asia/Shanghai")))
    return [*files, label]


def _subdir(tmp: Path, name: str) -> Path:
    (tmp / name).mkdir()
    return tmp / name


def _read(center: str, files: list[Path]) -> Recording:
    profile = load_profile(center)
    meta = RecordingMeta(center, "rec-0001", FORMATS[center], ROBOT.name, TASK.code)
    return read_recording(FORMATS[center], files, meta, profile)


def _standard(center: str, files: list[Path]) -> Recording:
    return standardize_recording(_read(center, files), load_profile(center), ROBOT)


def _reasons(center: str, files: list[Path], standardize: bool = False) -> list[dict[str, str]]:
    with pytest.raises(RecordingRejected) as err:
        (_standard if standardize else _read)(center, files)
    return [dict(r.to_dict()) for r in err.value.reasons]  # type: ignore[arg-type]


def _expected(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = _episode().streams[name]
    order = np.argsort(s.stamp_ns, kind="stable")
    return s.stamp_ns[order], s.received_ns[order], s.values[order]


# --- known answers -------------------------------------------------------------------


@pytest.mark.parametrize("center", ["hefei", "suzhou"])
def test_episode_reads_back_in_si_units_and_canonical_order(center: str, tmp_path: Path) -> None:
    rec = _standard(center, _write(tmp_path, center))
    # the writers store stamps in us (Hefei) or ns (Suzhou)
    unit_ns = 1000 if center == "hefei" else 1
    stamps, received, values = _expected("joint_state")
    js = rec.signals["joint_state"]
    n = len(ROBOT.joints)
    assert js.channels[:n] == tuple(f"position_rad.{j}" for j in ROBOT.joint_names)
    assert np.array_equal(js.t_ns, stamps // unit_ns * unit_ns)
    sim = _episode().streams["joint_state"]
    for quantity in ("position_rad", "velocity_rad_s", "effort_n_m"):
        got = js.values[:, [js.channels.index(f"{quantity}.{j}") for j in ROBOT.joint_names]]
        want = values[:, [sim.channels.index(f"{quantity}.{j}") for j in ROBOT.joint_names]]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    if center == "hefei":  # the newer rig logs receive times, HDF5 has none
        assert js.t_received_ns is not None
        assert np.array_equal(js.t_received_ns, received // 1000 * 1000)
    else:
        assert js.t_received_ns is None
    # arm targets in degrees at Hefei come back in radians; hands on 0..1000 counts -> 0..1
    _, _, arm = _expected("arm_target")
    np.testing.assert_allclose(rec.signals["arm_target"].values, arm, atol=1e-9)
    _, _, hand = _expected("hand_state")
    tol = 0.5 / 1000 + 1e-12 if center == "hefei" else 1e-12
    np.testing.assert_allclose(rec.signals["hand_state"].values, hand, atol=tol)
    assert rec.signals["arm_target"].clock == "operator"
    assert rec.signals["hand_state"].channels[0] == f"closure.{ROBOT.hand_joints[0]}"
    head = rec.signals["head_pose"]
    assert np.allclose(np.linalg.norm(head.values[:, 3:7], axis=1), 1.0)
    cams = rec.cameras
    assert set(cams) == {"camera_head", "camera_left", "camera_right"}
    frames = _episode().frames["camera_head"]
    assert cams["camera_head"].frames[0][:2] == b"\xff\xd8"
    assert sorted(cams["camera_head"].frames) == sorted(frames)
    kinds = [e.kind for e in rec.events]
    assert kinds.count("recording_start") == 1 and kinds.count("recording_stop") == 1
    start = next(e for e in rec.events if e.kind == "recording_start")
    assert start.t_ns == START_NS // unit_ns * unit_ns
    assert "skill_mark" in kinds and rec.meta.task_code == TASK.code


def test_upper_body_episode_processes_into_valid_frames(tmp_path: Path) -> None:
    rec = _standard("suzhou", _write(tmp_path, "suzhou"))
    ep = process_recording(rec, ROBOT, TASK, "ep-tk", ProcessingParams())
    cols = ep.frames.columns
    assert "obs.position_rad.waist_yaw" in cols and "obs.hand_closure.l_little" in cols
    assert not any("knee" in c for c in cols)  # no leg columns for a robot without legs
    frames_schema().validate(ep.frames)
    assert ep.publishable, ep.gate_reasons


# --- the simulated drops ----------------------------------------------------------------


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exported")
    simulate_network(
        out,
        episodes_per_center=4,
        seed=30,  # a truncated file at both centers, a checksum mismatch (the file reads)
        date="2026-11-23",
        profile="stress",
        centers=["hefei", "suzhou"],
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
    )
    return out


def test_drops_read_or_are_refused_as_the_truth_says(network: Path) -> None:
    truth = pl.read_parquet(network / "_truth" / "recordings.parquet")
    seen: set[str] = set()
    for row in truth.iter_rows(named=True):
        center, rid = row["center"], row["recording_id"]
        day = network / center / "2026-11-23"
        line = next(
            json.loads(x)
            for x in (day / "_manifest.jsonl").read_text().splitlines()
            if json.loads(x)["recording_id"] == rid
        )
        assert line["format"] == FORMATS[center]
        files = [day / f["path"] for f in line["files"]]
        fault = row["file_fault"]
        seen.add(fault)
        if fault in ("truncated", "missing_stream"):
            reasons = _reasons(center, files)
            code = {"truncated": "truncated_file", "missing_stream": "missing_stream"}[fault]
            assert [r["code"] for r in reasons] == [code], reasons
            if fault == "missing_stream":
                assert reasons[0]["stream"] == row["missing_stream"]
            assert reasons[0]["file"]
        else:
            rec = _standard(center, files)
            assert rec.signals["joint_state"].n_samples > 100
            start = next(e.t_ns for e in rec.events if e.kind == "recording_start")
            assert abs(start - row["start_ns"]) < 1000
    assert {"none", "truncated", "checksum_mismatch"} <= seen


@pytest.mark.parametrize("center", ["hefei", "suzhou"])
def test_inspect_lists_streams_counts_and_rates(center: str, tmp_path: Path) -> None:
    files = _write(tmp_path, center)
    target = files[0].parent if center == "hefei" else files[0]
    listed = {t.topic: t for t in list_streams(target)}
    profile = load_profile(center)
    js = listed[profile.streams["joint_state"].topic.strip("/")]
    assert js.count == _episode().streams["joint_state"].n_samples  # times, not long rows
    assert js.mean_rate_hz == pytest.approx(500.0, rel=0.01)
    assert js.max_gap_s < 0.01
    assert listed[profile.streams["arm_target"].topic.strip("/")].mean_rate_hz == pytest.approx(
        100.0, rel=0.02
    )
    assert len(listed) == 10  # 6 signal streams, 3 cameras, events


# --- bad input ---------------------------------------------------------------------------


def test_hdf5_without_the_puppet_group_names_file_streams_and_group(tmp_path: Path) -> None:
    files = _write(tmp_path, "suzhou")
    with h5py.File(files[0], "a") as f:
        del f["puppet"]
    reasons = _reasons("suzhou", files)
    # hand_state is optional (some rigs record none): only the required streams are named
    assert {r["stream"] for r in reasons} == {"joint_state", "joint_command"}
    assert all(r["code"] == "missing_stream" and r["file"] == "rec-0001.hdf5" for r in reasons)
    assert "whole puppet/ group is missing" in reasons[0]["message"]


@pytest.mark.parametrize("kind", ["external_link", "external_storage", "virtual"])
def test_hdf5_reaching_outside_the_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    """An HDF5 episode whose data lies elsewhere (another file, /etc/passwd) is refused before
    anything is read: the reader stays inside the file it was given."""
    files = _write(tmp_path, "suzhou")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x" * 64)
    with h5py.File(files[0], "a") as f:
        if kind == "external_link":
            f["master/evil"] = h5py.ExternalLink("/etc/passwd", "/")
        elif kind == "external_storage":
            f.create_dataset("extra", shape=(64,), dtype="u1", external=[(str(outside), 0, 64)])
        else:
            layout = h5py.VirtualLayout(shape=(64,), dtype="u1")
            layout[:] = h5py.VirtualSource(str(outside), "data", shape=(64,))
            f.create_virtual_dataset("extra", layout)
    reasons = _reasons("suzhou", files)
    assert [r["code"] for r in reasons] == ["unsafe_path"], reasons
    assert reasons[0]["file"] == "rec-0001.hdf5" and "outside itself" in reasons[0]["message"]


def test_parquet_stream_lost_in_upload_is_missing(tmp_path: Path) -> None:
    files = _write(tmp_path, "hefei")
    lost = next(p for p in files if p.name == "exo_arm_target.parquet")
    files.remove(lost)
    reasons = _reasons("hefei", files)
    assert reasons == [
        {
            "code": "missing_stream",
            "file": "exo_arm_target.parquet",
            "stream": "arm_target",
            "message": "required Parquet stream 'exo_arm_target.parquet' is not in the "
            "delivery; the sidecar lists it, so the upload lost it: ask for a re-delivery",
        }
    ]


def test_unknown_joint_names_the_file_and_stream(tmp_path: Path) -> None:
    files = _write(tmp_path, "suzhou")
    with h5py.File(files[0], "a") as f:
        ds = f["puppet/joint_state/joint_velocity"]
        names = [n.decode() if isinstance(n, bytes) else n for n in ds.attrs["joint_names"]]
        ds.attrs["joint_names"] = np.array(["waist_pitch", *names[1:]], dtype=h5py.string_dtype())
    (reason,) = _reasons("suzhou", files, standardize=True)
    assert reason["code"] == "unknown_joint" and reason["stream"] == "joint_state"
    assert reason["file"] == "rec-0001.hdf5:/puppet/joint_state"
    assert "waist_pitch" in reason["message"]

    files = _write(_subdir(tmp_path, "hf"), "hefei")
    path = next(p for p in files if p.name == "joint_state.parquet")
    df = pl.read_parquet(path).with_columns(
        pl.col("joint").cast(pl.String).str.replace("left_elbow_joint", "left_elbo_joint")
    )
    df.write_parquet(path)
    (reason,) = _reasons("hefei", files, standardize=True)
    assert reason["code"] == "unknown_joint" and reason["file"] == "joint_state.parquet"
    assert "left_elbo_joint" in reason["message"]


def test_duplicated_and_non_monotonic_stamps_are_refused(tmp_path: Path) -> None:
    files = _write(tmp_path, "hefei")
    hand = next(p for p in files if p.name == "hand_state.parquet")
    df = pl.read_parquet(hand)
    t = df["t_us"].to_numpy().copy()
    t[10] = t[9]
    t[20], t[21] = t[21], t[20]
    df.with_columns(pl.Series("t_us", t)).write_parquet(hand)
    reasons = _reasons("hefei", files)
    assert [r["code"] for r in reasons] == ["bad_timestamps", "bad_timestamps"]
    assert {r["file"] for r in reasons} == {"hand_state.parquet"}
    assert {r["stream"] for r in reasons} == {"hand_state"}
    assert "non-monotonic" in reasons[0]["message"] and "row 21" in reasons[0]["message"]
    assert "1 duplicated stamps (first at row 10" in reasons[1]["message"]

    # a long table with one (time, joint) row twice: which value is meant is unknown
    files = _write(_subdir(tmp_path, "b"), "hefei")
    js = next(p for p in files if p.name == "joint_state.parquet")
    df = pl.read_parquet(js)
    pl.concat([df.head(3), df.slice(2, 1), df.slice(3)]).write_parquet(js)
    (reason,) = _reasons("hefei", files)
    assert reason["code"] == "bad_timestamps" and reason["stream"] == "joint_state"
    assert "1 (time, joint) pairs are duplicated" in reason["message"]

    files = _write(_subdir(tmp_path, "c"), "suzhou")
    with h5py.File(files[0], "a") as f:
        ts = f["master/arm/timestamps"]
        t = ts[()]
        t[5] = t[3]
        ts[...] = t
    (reason,) = _reasons("suzhou", files)
    assert reason["code"] == "bad_timestamps" and reason["stream"] == "arm_target"
    assert "/master/arm/timestamps is non-monotonic" in reason["message"]


@pytest.mark.parametrize("center", ["hefei", "suzhou"])
def test_cut_files_are_truncated_not_crashes(center: str, tmp_path: Path) -> None:
    files = _write(tmp_path, center)
    os.truncate(files[0], files[0].stat().st_size // 2)
    (reason,) = _reasons(center, files)
    assert reason["code"] == "truncated_file" and reason["file"] == files[0].name


def test_parquet_folder_without_sidecar_is_refused(tmp_path: Path) -> None:
    files = [p for p in _write(tmp_path, "hefei") if p.name != "sidecar.json"]
    (reason,) = _reasons("hefei", files)
    assert reason["code"] == "file_missing" and "sidecar.json" in reason["message"]


# --- the vectorised pivot against the obvious oracle ---------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_long_pivot_matches_the_row_by_row_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_t, joints = int(rng.integers(1, 40)), [f"j{k}" for k in range(int(rng.integers(1, 6)))]
    t = np.repeat(np.cumsum(rng.integers(1, 5, n_t)), len(joints))
    names = np.tile(joints, n_t)
    for g in range(n_t):  # rows of one time in any joint order
        sl = slice(g * len(joints), (g + 1) * len(joints))
        names[sl] = rng.permutation(names[sl])
    keep = rng.random(len(t)) > 0.15  # some (time, joint) pairs missing
    keep[0] = True
    df = pl.DataFrame(
        {"t_us": t[keep], "joint": names[keep], "a": rng.normal(size=keep.sum())}
    ).with_columns(b=pl.col("a") * 2.0)
    t_fast, found, fast, _, missing = pivot_long(
        df["t_us"].to_numpy(), df["joint"], df.select("a", "b").to_numpy(), "f.parquet", "s"
    )
    t_slow, slow = _pivot_per_row(df, {"position_raw": "a", "velocity_raw": "b"})
    assert np.array_equal(t_fast, t_slow)
    assert found == list(dict.fromkeys(df["joint"].to_list()))
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
    np.testing.assert_allclose(np.nan_to_num(fast), np.nan_to_num(slow))
    assert missing == int(np.isnan(fast[:, : len(found)]).any(axis=1).sum())
