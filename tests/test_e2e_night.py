"""End to end: a simulated network, a night through Prefect via the CLI, a verified release."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.release.reader import open_release
from teleop_lake.simulate import simulate_network

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DATE = "2026-11-23"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "teleop-lake"
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=900, check=False
    )


def _manifest_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _break_two_recordings(net: Path) -> tuple[str, str]:
    """Damage one bag in transit (hash no longer matches) and deliver one truncated bag."""
    m_path = net / "suzhou" / DATE / "_manifest.jsonl"
    lines = _manifest_lines(m_path)
    transit = lines[0]
    bag = transit["files"][0]  # the recording's data file (bag, .mcap, first part) comes first
    p = net / "suzhou" / DATE / bag["path"]
    data = bytearray(p.read_bytes())
    data[len(data) // 3] ^= 0xFF
    p.write_bytes(bytes(data))

    import hashlib

    m_path = net / "jinan" / DATE / "_manifest.jsonl"
    lines = _manifest_lines(m_path)
    trunc = lines[0]
    bag = trunc["files"][0]
    p = net / "jinan" / DATE / bag["path"]
    cut = p.read_bytes()[: bag["size"] // 2]
    p.write_bytes(cut)
    bag["size"], bag["sha256"] = len(cut), hashlib.sha256(cut).hexdigest()
    m_path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(transit["recording_id"]), str(trunc["recording_id"])


def test_night_end_to_end(tmp_path: Path, prefect_home: Path) -> None:
    net, lake = tmp_path / "net", tmp_path / "lake"
    simulate_network(
        net, episodes_per_center=2, seed=11, date=DATE, duration_scale=0.4, camera_size=SMALL_CAMERA
    )
    transit_id, trunc_id = _break_two_recordings(net)
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "TELEOP_LAKE_HOME": str(tmp_path)}

    proc = _cli(
        "nightly", "--network", str(net), "--lake", str(lake), "--date", DATE, "--json", env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["balanced"]
    truth = pl.read_parquet(net / "_truth" / "recordings.parquet")
    totals = summary["totals"]
    assert totals["pulled"] == truth.height == 10
    assert totals["pulled"] == totals["published"] + totals["quarantined"] + totals["pending"]
    said = re.search(r"pulled (\d+) new recordings", proc.stderr)
    assert said is not None and int(said.group(1)) == totals["pulled"]  # the log agrees
    for acc in summary["accounting"]:
        assert acc["pulled"] == acc["published"] + acc["quarantined"] + acc["pending"]
        # every delivered byte taken into the lake is counted, copied or cloned
        delivered = sum(p.stat().st_size for p in (net / acc["center"]).rglob("*") if p.is_file())
        took = summary["pull_bytes"][acc["center"]]
        assert 0 < took["copied"] + took["cloned"] <= delivered, (acc["center"], took)
    reasons = {q["recording_id"]: q["reason_codes"] for q in summary["quarantined"]}
    assert "checksum_mismatch" in reasons[transit_id]
    assert "truncated_file" in reasons[trunc_id]
    # every recording the simulator broke on purpose is quarantined too
    broken = truth.filter(pl.col("file_fault") != "none")["recording_id"].to_list()
    assert set(broken) <= set(reasons)
    assert totals["published"] >= 5

    rel_id = summary["release"]["release_id"]
    verify = _cli("release", "verify", "--lake", str(lake), "--json", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["ok"]

    report = json.loads((lake / "reports" / summary["run_id"] / "validation.json").read_text())
    assert report["totals"] == totals
    assert {q["recording_id"] for q in report["quarantined"]} == set(reasons)
    html = (lake / "reports" / summary["run_id"] / "validation.html").read_text()
    assert transit_id in html and "checksum_mismatch" in html

    rel = open_release(str(lake))
    assert rel.release_id == rel_id
    assert rel.episodes.height == totals["published"]
    assert set(rel.episodes["center"]) <= {"beijing", "suzhou", "jinan", "hefei", "zhengzhou"}
    frames = rel.scan_frames().collect()
    assert frames.height == rel.episodes["n_frames"].sum()
    # segments keep each episode's frames in order: time strictly increases within an episode
    assert (
        frames.group_by("episode_id", maintain_order=True)
        .agg(pl.col("t_ns").diff().min())["t_ns"]
        .min()
        > 0
    )
    # raw operator ids never reach a release
    ops = {
        str(x["operator_id"]) for m in net.glob("*/*/_manifest.jsonl") for x in _manifest_lines(m)
    }
    released = rel.episodes.write_csv()
    assert ops and not any(op in released for op in ops)
    assert rel.episodes["operator_pseudonym"].null_count() == 0

    # the same night again: nothing new, no new release, books still balance
    again = _cli(
        "nightly", "--network", str(net), "--lake", str(lake), "--date", DATE, "--json", env=env
    )
    assert again.returncode == 0, again.stderr[-3000:]
    s2 = json.loads(again.stdout)
    assert s2["totals"]["pulled"] == 0 and s2["balanced"]
    assert s2["release"]["release_id"] is None

    # a new day with new recordings: a new release referencing the old segments too
    simulate_network(
        net,
        episodes_per_center=1,
        seed=12,
        date="2026-11-24",
        duration_scale=0.4,
        camera_size=SMALL_CAMERA,
    )
    third = _cli(
        "nightly",
        "--network",
        str(net),
        "--lake",
        str(lake),
        "--date",
        "2026-11-24",
        "--json",
        env=env,
    )
    assert third.returncode == 0, third.stderr[-3000:]
    s3 = json.loads(third.stdout)
    assert s3["totals"]["pulled"] == 5 and s3["balanced"]
    r3 = s3["release"]
    assert r3["parent_release_id"] == rel_id
    assert r3["n_episodes"] == totals["published"] + s3["totals"]["published"]
    assert _cli("release", "verify", "--lake", str(lake), env=env).returncode == 0
    assert _cli("release", "verify", "--lake", str(lake), rel_id, env=env).returncode == 0


def test_nightly_without_network_exits_3(tmp_path: Path, prefect_home: Path) -> None:
    env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
    proc = _cli(
        "nightly",
        "--network",
        str(tmp_path / "nowhere"),
        "--lake",
        str(tmp_path / "l"),
        "--date",
        DATE,
        env=env,
    )
    assert proc.returncode == 3
    assert "no center was reachable" in proc.stderr


def test_release_notebook_runs(
    tmp_path: Path, prefect_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partner notebook executes top to bottom against a real lake."""
    import nbformat
    from nbclient import NotebookClient

    net, lake = tmp_path / "net", tmp_path / "lake"
    simulate_network(
        net,
        episodes_per_center=1,
        seed=5,
        date=DATE,
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
        centers=["beijing", "zhengzhou"],
    )
    env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
    proc = _cli(
        "nightly",
        "--network",
        str(net),
        "--lake",
        str(lake),
        "--date",
        DATE,
        "--center",
        "beijing",
        "--center",
        "zhengzhou",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb_path = Path(__file__).resolve().parents[1] / "notebooks" / "explore_release.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    monkeypatch.setenv("TELEOP_LAKE", str(lake))
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "2026-11-23-r01" in printed


def test_a_params_file_splits_recordings_at_long_dropouts(
    tmp_path: Path, prefect_home: Path
) -> None:
    """`--params` reaches the processing: with a 0.1 s dropout limit and the split policy, a
    recording with a longer joint_state gap is published as pieces around it, counted once."""
    net, lake = tmp_path / "net", tmp_path / "lake"
    simulate_network(
        net,
        episodes_per_center=2,
        seed=4,
        date=DATE,
        profile="stress",
        centers=["beijing"],
        duration_scale=0.5,
        camera_size=SMALL_CAMERA,
    )
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "TELEOP_LAKE_HOME": str(tmp_path)}
    bad = tmp_path / "bad.toml"
    bad.write_text("[gates]\nlong_fault_policy = 'trim'\n")
    base = ("nightly", "--network", str(net), "--lake", str(lake), "--date", DATE)
    proc = _cli(*base, "--params", str(bad), env=env)
    assert proc.returncode == 2 and "long_fault_policy" in proc.stderr
    assert not lake.exists()  # refused before anything ran

    params = tmp_path / "split.toml"
    params.write_text(
        "[cleaning]\nmax_dropout_s = 0.1\n\n[gates]\nlong_fault_policy = 'split'\nmin_piece_s = 1.0\n"
    )
    proc = _cli(*base, "--params", str(params), "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["balanced"]
    release = open_release(str(lake))
    eps = release.episodes
    pieces = eps.filter(pl.col("split_from").is_not_null())
    # the truth's joint_state gaps over 0.1 s (and frozen stretches over the default 2 s) cut
    # their recordings: no piece reaches into one
    faults = pl.read_parquet(net / "_truth" / "faults.parquet")
    span = pl.col("end_ns") - pl.col("start_ns")
    long_gaps = faults.filter(
        ((pl.col("kind") == "dropout") & (pl.col("stream") == "joint_state") & (span > 100_000_000))
        | ((pl.col("kind") == "frozen") & (span > 2_000_000_000))
    )
    assert long_gaps.height >= 1, "the network must hold a joint_state gap over 0.1 s"
    assert pieces.height >= 1
    for piece in pieces.iter_rows(named=True):
        assert piece["episode_id"] == f"{piece['split_from']}-p{piece['piece_index']}"
        assert piece["duration_s"] >= 1.0  # min_piece_s
        start = int(piece["start_time_utc"].timestamp() * 1e9)
        end = start + int(piece["duration_s"] * 1e9)
        gaps = long_gaps.filter(pl.col("recording_id") == piece["recording_id"])
        assert gaps.height >= 1
        assert not gaps.filter((pl.col("start_ns") < end) & (pl.col("end_ns") > start)).height
    assert summary["totals"]["published"] == eps["recording_id"].n_unique() == 2
    piece_id = pieces["episode_id"][0]
    frames = release.scan_frames().filter(pl.col("episode_id") == piece_id).collect()
    assert frames["frame_index"][0] == 0 and frames.height == pieces["n_frames"][0]
