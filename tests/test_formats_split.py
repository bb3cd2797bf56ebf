"""Split ROS 1 recordings (Zhengzhou): parts written like `rosbag record --split`, read as one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.canonical import RecordingMeta
from teleop_lake.config.centers import load_profile
from teleop_lake.formats import read_recording
from teleop_lake.formats.ros1_bag import list_topics
from teleop_lake.rejection import RecordingRejected
from teleop_lake.simulate import simulate_network

DATE = "2026-11-23"


@pytest.fixture(scope="module")
def zhengzhou(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("net")
    simulate_network(
        out,
        episodes_per_center=3,
        seed=3,
        date=DATE,
        profile="clean",
        centers=["zhengzhou"],
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
    )
    return out


def _split_line(net: Path) -> tuple[dict[str, object], list[Path]]:
    folder = net / "zhengzhou" / DATE
    for text in (folder / "_manifest.jsonl").read_text().splitlines():
        line = json.loads(text)
        files = [folder / f["path"] for f in line["files"]]
        if sum(p.suffix == ".bag" for p in files) >= 2:
            return line, files
    raise AssertionError("no split recording in the fixture")


def test_parts_follow_the_split_interval_and_read_as_one_recording(zhengzhou: Path) -> None:
    line, files = _split_line(zhengzhou)
    profile = load_profile("zhengzhou")
    parts = sorted(p for p in files if p.suffix == ".bag")
    assert [p.name[-6:] for p in parts][:2] == ["_0.bag", "_1.bag"]
    split_s = profile.recorder["split_duration_s"] * 0.3
    per_part = [{t.topic: t for t in list_topics(p)} for p in parts]
    js_topic = profile.streams["joint_state"].topic
    first = per_part[0][js_topic]
    assert (first.last_ns - first.first_ns) / 1e9 <= split_s
    assert per_part[1][js_topic].first_ns > first.last_ns
    meta = RecordingMeta("zhengzhou", str(line["recording_id"]), "ros1-bag", "kuavo_4pro", None)
    rec = read_recording("ros1-bag", files[::-1], meta, profile)  # any file order
    js = rec.signals["joint_state"]
    assert js.n_samples == sum(p[js_topic].count for p in per_part)
    assert rec.meta.extra["bag_files"] == [p.name for p in parts]
    assert js.t_received_ns is not None and (js.t_received_ns[1:] > js.t_received_ns[:-1]).all()
    kinds = [e.kind for e in rec.events]
    assert "recording_start" in kinds and "recording_stop" in kinds


def test_a_missing_part_is_quarantined_naming_it(zhengzhou: Path) -> None:
    line, files = _split_line(zhengzhou)
    without_first = [p for p in files if not p.name.endswith("_0.bag")]
    meta = RecordingMeta("zhengzhou", str(line["recording_id"]), "ros1-bag", "kuavo_4pro", None)
    with pytest.raises(RecordingRejected) as exc:
        read_recording("ros1-bag", without_first, meta, load_profile("zhengzhou"))
    (reason,) = exc.value.reasons
    assert reason.code == "file_missing"
    assert "lacks part(s) [0]" in reason.message and "re-deliver" in reason.message
    assert reason.file is not None and "_1.bag" in reason.file
