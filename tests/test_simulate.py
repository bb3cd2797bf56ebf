"""The simulated collection network: drops per DROP.md, Kuavo bags per profile, a truthful truth.

One small network (5 centers x 2 episodes, duration_scale 0.3, the ``stress`` profile so
that clocks are far off and every file fault appears) is generated once per module; the
other tests run single episodes through the pure functions.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from bag_reading import open_recording
from rosbags.highlevel import AnyReaderError
from rosbags.rosbag1 import ReaderError
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.config.centers import CENTER_NAMES, CenterProfile, load_profile
from teleop_lake.config.robots import load_robot_model
from teleop_lake.config.tasks import load_task_catalog
from teleop_lake.network.identity import episode_id_for
from teleop_lake.simulate import simulate_network, simulation_profile
from teleop_lake.simulate.episode import EpisodeData, simulate_episode
from teleop_lake.simulate.faults import inject_faults
from teleop_lake.simulate.params import FAILURE_REASONS, FILE_FAULTS, FaultRates, SimulationProfile
from teleop_lake.simulate.story import draw_story
from teleop_lake.simulate.streams import OperatorClock

DATE = "2026-11-23"
# Seed 36 of the stress profile gives, in 10 recordings, two truncated bags, a checksum
# mismatch, both kinds of missing stream and four kinds of failure.
SEED = 36
ROBOT = load_robot_model("kuavo_4pro")
TASKS = {t.code: t for t in load_task_catalog().tasks}
START_NS = 1_795_395_600_000_000_000
MS = 1_000_000
STAMP_SIGMA_COLUMN = {
    "joint_state": "joint_stamp_sigma_s",
    "joint_command": "joint_stamp_sigma_s",
    "arm_target": "stream_100hz_stamp_sigma_s",
    "hand_command": "stream_100hz_stamp_sigma_s",
    "hand_state": "stream_100hz_stamp_sigma_s",
    "head_pose": "vr_stamp_sigma_s",
    "camera_head": "camera_stamp_sigma_s",
    "camera_left": "camera_stamp_sigma_s",
    "camera_right": "camera_stamp_sigma_s",
}


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("network")
    t0 = time.perf_counter()
    summary = simulate_network(
        out,
        episodes_per_center=2,
        seed=SEED,
        date=DATE,
        profile="stress",
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
    )
    print(f"5 centers x 2 episodes at duration_scale 0.3: {time.perf_counter() - t0:.1f} s")
    assert summary.recordings_per_center == dict.fromkeys(CENTER_NAMES, 2)
    # per center: a manifest, and per recording its label file plus its data files (one
    # bag; a rosbag2 folder's .mcap and metadata.yaml; the parts of a split bag)
    n_files = sum(1 + sum(len(line["files"]) for line in _manifest(out, c)) for c in CENTER_NAMES)
    assert summary.files_written == n_files
    return out


def _truth(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / "_truth" / f"{table}.parquet")


def _manifest(out: Path, center: str) -> list[dict[str, Any]]:
    text = (out / center / DATE / "_manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@dataclass
class Topic:
    record_ns: np.ndarray
    msgs: list[Any]

    def stamps_ns(self) -> np.ndarray:
        return np.array([m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in self.msgs])


@cache
def _read_bag(paths: tuple[Path, ...]) -> dict[str, Topic]:
    """Every topic of a recording (bag parts, rosbag2 folder), decoded with its own definitions."""
    out: dict[str, Topic] = {}
    with open_recording(list(paths)) as reader:
        raw: dict[str, tuple[list[int], list[Any]]] = {}
        for conn, t_ns, data in reader.messages():
            times, msgs = raw.setdefault(conn.topic, ([], []))
            times.append(t_ns)
            msgs.append(reader.deserialize(data, conn.msgtype))
    for topic, (times, msgs) in raw.items():
        out[topic] = Topic(np.array(times, dtype=np.int64), msgs)
    return out


def _bag_path(out: Path, center: str, recording_id: str) -> tuple[Path, ...]:
    """What rosbags' AnyReader opens: the bag (or its parts in order), or the rosbag2 folder."""
    station = recording_id.split("-")[1]
    line = next(x for x in _manifest(out, center) if x["recording_id"] == recording_id)
    data = [f["path"] for f in line["files"] if not f["path"].endswith(".metadata.json")]
    if any(p.endswith((".mcap", ".mcap.zstd")) for p in data):
        return (out / center / DATE / station / recording_id,)
    return tuple(out / center / DATE / p for p in sorted(data))


def _joint_field(msg: Any, field: str) -> Any:
    """A kuavo sensorsData joint_data field (the torque field under either of its names), or its
    sensor_msgs/JointState counterpart."""
    if hasattr(msg, "joint_data"):
        if field == "joint_torque" and not hasattr(msg.joint_data, field):
            field = "joint_current"
        return getattr(msg.joint_data, field)
    return getattr(
        msg, {"joint_q": "position", "joint_v": "velocity", "joint_torque": "effort"}[field]
    )


def _recording_profile(row: dict[str, Any]) -> CenterProfile:
    """The center profile as the truth says this recording's rig lays out: its end effector's
    streams, the end-effector state on ``hand_state_topic`` (absent when null)."""
    profile = load_profile(row["center"]).for_end_effector(row["end_effector"])
    streams = dict(profile.streams)
    state = streams.pop("hand_state")
    if row["hand_state_topic"] is not None:
        (streams["hand_state"],) = [
            c for c in state.candidates() if c.topic == row["hand_state_topic"]
        ]
    return replace(profile, streams=streams)


def _label_path(out: Path, center: str, recording_id: str) -> Path:
    station = recording_id.split("-")[1]
    return out / center / DATE / station / f"{recording_id}.metadata.json"


def _intact(out: Path) -> pl.DataFrame:
    return _truth(out, "recordings").filter(
        ~pl.col("file_fault").is_in(["truncated", "missing_part"])
    )


# Centers whose recordings rosbags reads (the exported formats: tests/test_formats_exported.py).
ROS_CENTERS = [c for c in CENTER_NAMES if load_profile(c).raw_format in ("ros1-bag", "ros2-mcap")]


def _intact_ros(out: Path) -> pl.DataFrame:
    return _intact(out).filter(pl.col("center").is_in(ROS_CENTERS))


# --- determinism -------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_drops_and_centers_are_independent(
    network: Path, tmp_path: Path
) -> None:
    simulate_network(
        tmp_path,
        episodes_per_center=2,
        seed=SEED,
        date=DATE,
        profile="stress",
        centers=["jinan"],
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
    )
    ours = sorted(p.relative_to(tmp_path / "jinan") for p in (tmp_path / "jinan").rglob("*.*"))
    theirs = sorted(p.relative_to(network / "jinan") for p in (network / "jinan").rglob("*.*"))
    assert ours == theirs and len(ours) == 7  # manifest + 2 x (label, .mcap, metadata.yaml)
    for rel in ours:
        assert (tmp_path / "jinan" / rel).read_bytes() == (network / "jinan" / rel).read_bytes()


def test_another_seed_gives_other_recordings(tmp_path: Path) -> None:
    a = simulate_network(
        tmp_path / "a",
        episodes_per_center=1,
        seed=1,
        date=DATE,
        centers=["hefei"],
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
    )
    b = simulate_network(
        tmp_path / "b",
        episodes_per_center=1,
        seed=2,
        date=DATE,
        centers=["hefei"],
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
    )
    ma = (Path(a.out_dir) / "hefei" / DATE / "_manifest.jsonl").read_bytes()
    mb = (Path(b.out_dir) / "hefei" / DATE / "_manifest.jsonl").read_bytes()
    assert ma != mb


# --- the drop contract -------------------------------------------------------------------

ID_PATTERN = re.compile(r"^(bj|sz|jn|hf|zz)-st0[1-4]-20261123-\d{4}$")


def test_manifests_follow_the_drop_contract(network: Path) -> None:
    truth = _truth(network, "recordings")
    fault_of = dict(zip(truth["recording_id"], truth["file_fault"], strict=True))
    for center in CENTER_NAMES:
        date_dir = network / center / DATE
        manifest_path = date_dir / "_manifest.jsonl"
        lines = _manifest(network, center)
        assert len(lines) == 2
        ids = [line["recording_id"] for line in lines]
        assert len(set(ids)) == len(ids)
        listed = set()
        for line in lines:
            assert ID_PATTERN.match(line["recording_id"]), line["recording_id"]
            assert line["format"] == load_profile(center).raw_format
            assert line["station"] == line["recording_id"].split("-")[1]
            recorded = datetime.fromisoformat(line["recorded_at"])
            assert recorded.utcoffset() == timedelta(hours=8)
            assert recorded.date().isoformat() == DATE
            assert line["task_code"] in TASKS
            assert line["robot_serial"] and line["operator_id"].startswith("op-")
            for k, entry in enumerate(line["files"]):
                rel = entry["path"]
                assert not rel.startswith("/") and ".." not in rel
                path = date_dir / rel
                listed.add(path)
                assert path.stat().st_size == entry["size"]
                true_sha = hashlib.sha256(path.read_bytes()).hexdigest()
                # the damaged sha256 is the first file's: the bag, the .mcap, the first part
                wrong = fault_of[line["recording_id"]] == "checksum_mismatch" and k == 0
                assert (true_sha != entry["sha256"]) == wrong, rel
            # the manifest is written after every file it lists
            assert all(manifest_path.stat().st_mtime_ns >= p.stat().st_mtime_ns for p in listed)
        on_disk = {p for p in date_dir.rglob("*") if p.is_file() and p != manifest_path}
        assert on_disk == listed


def test_metadata_json_carries_labels_marks_and_the_operator_mark(network: Path) -> None:
    truth = _truth(network, "recordings")
    for row in truth.iter_rows(named=True):
        path = _label_path(network, row["center"], row["recording_id"])
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["task_code"] == row["task_code"]
        assert doc["device_sn"] == row["robot_serial"]
        assert doc.get("eef_type") == row["eef_type"]
        if row["eef_type"] is not None:
            assert (row["eef_type"] == "leju_claw") == (row["end_effector"] == "claw")
        assert doc["task_name_zh"] and doc["scene_name"] and doc["task_group_code"]
        if row["operator_mark"] is None:
            assert "operator_mark" not in doc
        else:
            assert doc["operator_mark"] == row["operator_mark"]
        marks = doc["marks"]
        assert marks and {m["markType"] for m in marks} == {"step"}
        positions = [(m["startPosition"], m["endPosition"]) for m in marks]
        assert all(0.0 <= a < b <= 1.0 for a, b in positions)
        assert all(positions[i][1] == positions[i + 1][0] for i in range(len(positions) - 1))
        first = marks[0]
        assert set(first) >= {"markStart", "markEnd", "duration", "skillAtomic", "skillDetail"}
        assert re.match(r"^\d+\.\d{3}s$", first["duration"])
        assert first["markStart"].startswith(DATE)


def test_fixture_covers_every_file_fault(network: Path) -> None:
    faults = set(_truth(network, "recordings")["file_fault"])
    assert {"none", "truncated", "checksum_mismatch", "missing_stream"} <= faults
    assert faults <= set(FILE_FAULTS)


# --- the bags ----------------------------------------------------------------------------


def test_bags_read_with_embedded_kuavo_definitions_and_follow_each_profile(network: Path) -> None:
    for row in _intact_ros(network).iter_rows(named=True):
        center, rid = row["center"], row["recording_id"]
        profile = _recording_profile(row)
        path = _bag_path(network, center, rid)
        with open_recording(list(path)) as reader:
            conns = {c.topic: c for c in reader.connections}
        expected = {m.topic for name, m in profile.streams.items() if name != row["missing_stream"]}
        expected |= set(profile.cameras.values()) | {"/teleop/event"}
        assert set(conns) == expected, rid
        for name, mapping in profile.streams.items():
            if name == row["missing_stream"]:
                continue
            conn = conns[mapping.topic]
            assert conn.msgtype.replace("/msg/", "/") == mapping.message
            if mapping.message.startswith("kuavo_msgs/"):
                assert conn.msgdef.data.startswith("std_msgs/Header header")
        if "/sensors_data_raw" in conns:
            msgdef = conns["/sensors_data_raw"].msgdef.data
            assert "float64[] joint_q" in msgdef and "MSG: kuavo_msgs/jointData" in msgdef
            assert f"float64[] {row['effort_field']}\n" in msgdef
        else:
            assert row["effort_field"] is None

        topics = _read_bag(path)
        order = profile.streams["joint_state"].joint_order
        if "/sensors_data_raw" in topics:
            q = np.array([m.joint_data.joint_q for m in topics["/sensors_data_raw"].msgs])
            assert q.shape[1] == 28
            # The standing knees are at 0.6 rad wherever the profile puts them.
            for knee in ("l_knee", "r_knee"):
                assert abs(np.median(q[:, order.index(knee)]) - 0.6) < 0.05
        if "/kuavo_arm_traj" in topics:
            arm = topics["/kuavo_arm_traj"].msgs
            assert list(arm[0].name) == list(profile.streams["arm_target"].joint_order)
            deg = np.array([m.position for m in arm])
            assert np.abs(deg).max() > 10.0  # degrees, not radians
        n_fingers = 2 if row["end_effector"] == "claw" else 12
        if "hand_state" in profile.streams:
            hand = topics[profile.streams["hand_state"].topic].msgs
            message = profile.streams["hand_state"].message
            if message == "kuavo_msgs/robotHandPosition":
                vals = np.array(
                    [list(m.left_hand_position) + list(m.right_hand_position) for m in hand]
                )
            elif message == "kuavo_msgs/lejuClawState":
                vals = np.array([m.data.position for m in hand])
                assert all(len(m.state) == 2 for m in hand)
            else:
                vals = np.array([m.position for m in hand])
            assert vals.shape[1] == n_fingers and vals.min() >= 0 and vals.max() <= 100
        cmd = topics[profile.streams["hand_command"].topic].msgs
        message = profile.streams["hand_command"].message
        if message == "kuavo_msgs/robotHandPosition":
            assert len(cmd[0].left_hand_position) == 6 and len(cmd[0].right_hand_position) == 6
        elif message == "kuavo_msgs/lejuClawCommand":
            assert list(cmd[0].data.name) == ["l_claw", "r_claw"]
        else:
            assert len(cmd[0].position) == 12
        head = topics[profile.cameras["camera_head"]].msgs
        assert head[0].format == "jpeg" and bytes(head[0].data[:2]) == b"\xff\xd8"
        assert len({bytes(m.data) for m in head}) == len(head)  # no frame repeats itself
        o = [p.pose.orientation for p in topics[profile.streams["head_pose"].topic].msgs]
        quat = np.array([[q.x, q.y, q.z, q.w] for q in o])
        assert np.allclose(np.linalg.norm(quat, axis=1), 1.0, atol=1e-9)


def test_zhengzhou_writes_arms_first_and_hand_state_on_dexhand() -> None:
    zz, bj = load_profile("zhengzhou"), load_profile("beijing")
    assert zz.streams["joint_state"].joint_order[0] == "l_arm_pitch"
    assert bj.streams["joint_state"].joint_order[0] == "l_leg_roll"
    assert zz.streams["hand_state"].topic == "/dexhand/state"


def test_truncated_bags_do_not_read_and_keep_their_true_size(network: Path) -> None:
    truncated = _truth(network, "recordings").filter(
        (pl.col("file_fault") == "truncated") & pl.col("center").is_in(ROS_CENTERS)
    )
    assert truncated.height >= 1
    for row in truncated.iter_rows(named=True):
        path = _bag_path(network, row["center"], row["recording_id"])
        with pytest.raises((AnyReaderError, ReaderError)), open_recording(list(path)) as reader:
            sum(1 for _ in reader.messages())


def test_events_match_start_and_duration_in_the_truth(network: Path) -> None:
    for row in _intact_ros(network).iter_rows(named=True):
        ev = _read_bag(_bag_path(network, row["center"], row["recording_id"]))["/teleop/event"]
        texts = [m.data for m in ev.msgs]
        assert texts[0] == "recording_start" and texts[-1] == "recording_stop"
        assert ev.record_ns[0] == row["start_ns"]
        assert abs(ev.record_ns[-1] - row["start_ns"] - row["duration_s"] * 1e9) < 1e3
        assert ("emergency_stop" in texts) == (row["true_failure_reason"] == "emergency_stop")
        if row["emergency_stop_ns"] is not None:
            assert ev.record_ns[texts.index("emergency_stop")] == row["emergency_stop_ns"]


# --- clocks ------------------------------------------------------------------------------


def test_operator_clock_in_the_truth_reproduces_the_header_stamps(network: Path) -> None:
    clocks = _truth(network, "clocks")
    noise = _truth(network, "noise")
    checked_operator = 0
    for row in _intact_ros(network).iter_rows(named=True):
        center, rid = row["center"], row["recording_id"]
        p = _recording_profile(row)
        topic_of = {n: m.topic for n, m in p.streams.items()} | p.cameras
        topics = _read_bag(_bag_path(network, center, rid))
        sigmas = noise.filter(pl.col("recording_id") == rid).row(0, named=True)
        lo_ns = sigmas["transport_delay_min_s"] * 1e9
        hi_ns = sigmas["transport_delay_max_s"] * 1e9
        assert 0.5 * MS <= lo_ns <= 5 * MS and 10 * MS <= hi_ns <= 40 * MS
        for c in clocks.filter(pl.col("recording_id") == rid).iter_rows(named=True):
            topic = topics[topic_of[c["stream"]]]
            clock = OperatorClock(c["offset_ns"], c["drift_ppm"], c["reference_ns"])
            # stamp = clock(t_sent) + jitter and record = t_sent + the transport delay
            residual = topic.stamps_ns() - clock.to_operator(topic.record_ns)
            tol_ns = 5 * 1e9 * sigmas[STAMP_SIGMA_COLUMN[c["stream"]]] + 1
            assert residual.max() <= -lo_ns + tol_ns, (rid, c["stream"])
            assert residual.min() >= -hi_ns - tol_ns, (rid, c["stream"])
            if c["clock"] == "operator":
                checked_operator += 1
                if abs(c["offset_ns"]) > 50 * MS:  # the check would catch an unmapped clock
                    raw = topic.stamps_ns() - topic.record_ns
                    assert not ((raw <= -lo_ns + tol_ns) & (raw >= -hi_ns - tol_ns)).all()
    assert checked_operator >= 10  # three ROS centers x ~2 intact recordings x 3 streams


def test_default_clock_ranges_per_center() -> None:
    sim = simulation_profile("default")
    task = TASKS["open_microwave_door"]
    for center in CENTER_NAMES:
        rng = np.random.default_rng(0)
        stories = [draw_story(task, center, sim, 1.0, rng) for _ in range(200)]
        offsets_s = np.abs([s.clock_offset_ns / 1e9 for s in stories])
        drifts = np.abs([s.clock_drift_ppm for s in stories])
        if center == "zhengzhou":
            assert offsets_s.min() >= 0.5 and offsets_s.max() <= 1.5 and drifts.max() <= 50
            assert drifts.max() > 20  # really drifting
        else:
            assert offsets_s.max() <= 0.020 and drifts.max() <= 5.0
    clean = simulation_profile("clean")
    s = draw_story(task, "zhengzhou", clean, 1.0, np.random.default_rng(1))
    assert abs(s.clock_offset_ns) <= 1 * MS and s.clock_drift_ppm == 0.0
    with pytest.raises(ValueError, match="unknown simulation profile"):
        simulation_profile("nightly")


def test_outcome_and_mark_rates_of_the_default_profile() -> None:
    sim = simulation_profile("default")
    rng = np.random.default_rng(7)
    task = TASKS["pack_parcel"]
    stories = [draw_story(task, "hefei", sim, 1.0, rng) for _ in range(2000)]
    success = np.mean([s.true_outcome == "success" for s in stories])
    assert 0.72 <= success <= 0.78
    status = [s.operator_mark_status for s in stories]
    assert 0.03 <= status.count("wrong") / 2000 <= 0.07
    assert 0.06 <= status.count("missing") / 2000 <= 0.10
    file_faults = np.mean([s.file_fault != "none" for s in stories])
    assert 0.08 <= file_faults <= 0.14
    for s in stories:
        if s.operator_mark_status == "correct":
            assert s.operator_mark == s.true_outcome
        elif s.operator_mark_status == "wrong":
            assert s.operator_mark not in (None, s.true_outcome)
        if s.failure_reason == "timeout":
            assert s.timeline.duration_s >= 1.25 * task.timeout_s


# --- motion ------------------------------------------------------------------------------


def _forced(reason: str | None) -> SimulationProfile:
    clean = simulation_profile("clean")
    if reason is None:
        return replace(clean, success_rate=1.0)
    weights = tuple(1.0 if r == reason else 0.0 for r in FAILURE_REASONS)
    return replace(clean, success_rate=0.0, failure_weights=weights)


@cache
def _episode(reason: str | None, task_code: str, seed: int) -> EpisodeData:
    return simulate_episode(
        "beijing",
        TASKS[task_code],
        ROBOT,
        _forced(reason),
        START_NS,
        0.3,
        np.random.SeedSequence(seed),
    )


CASES = [
    (reason, task, seed)
    for seed, reason in enumerate((None, *FAILURE_REASONS))
    for task in ("open_microwave_door", "separate_coil", "hand_over_cup")
]


def _grasp_closure(ep: EpisodeData, stream: str) -> tuple[np.ndarray, np.ndarray]:
    s = ep.streams[stream]
    side = ep.story.task.grasp_hand
    cols = [
        i for i, c in enumerate(s.channels) if side == "both" or c.startswith(f"closure.{side[0]}_")
    ]
    return (s.t_true_ns - ep.start_ns) / 1e9, s.values[:, cols].mean(axis=1)


def _longest_run_s(t_s: np.ndarray, mask: np.ndarray) -> float:
    best, start = 0.0, None
    for t, m in zip(t_s, mask, strict=True):
        if m and start is None:
            start = t
        if not m and start is not None:
            best, start = max(best, t - start), None
    if start is not None:
        best = max(best, t_s[-1] - start)
    return best


def test_upper_body_robot_moves_within_its_limits_without_legs() -> None:
    """The Tien-Kung-like model (waist, arms, head; no legs) simulates like the Kuavo."""
    robot = load_robot_model("tienkung")
    sim = simulation_profile("clean")
    ep = simulate_episode(
        "suzhou", TASKS["pack_parcel"], robot, sim, START_NS, 0.5, np.random.SeedSequence(3)
    )
    js = ep.streams["joint_state"]
    n = len(robot.joints)
    assert js.channels[:n] == tuple(f"position_rad.{j}" for j in robot.joint_names)
    lo, hi = robot.position_limits_rad()
    pos, vel = js.values[:, :n], js.values[:, n : 2 * n]
    assert (pos >= lo).all() and (pos <= hi).all()
    assert (np.abs(vel) <= np.array([j.velocity_max_rad_s for j in robot.joints])).all()
    arms = [robot.joint_names.index(a) for a in robot.arm_joint_names]
    assert np.ptp(pos[:, arms], axis=0).max() > 0.3  # a real reach
    # the head follows the VR headset's yaw, the waist sways a little
    head_yaw = robot.joint_names.index("head_yaw")
    waist = robot.joint_names.index("waist_yaw")
    assert np.ptp(pos[:, head_yaw]) > 0.02 and 0.0 < np.ptp(pos[:, waist]) < 0.1
    assert set(ep.frames) == {"camera_head", "camera_left", "camera_right"}


@pytest.mark.parametrize(("reason", "task_code", "seed"), CASES)
def test_motion_stays_within_position_and_velocity_limits(
    reason: str | None, task_code: str, seed: int
) -> None:
    ep = _episode(reason, task_code, seed)
    js = ep.streams["joint_state"]
    lo, hi = ROBOT.position_limits_rad()
    v_max = np.array([j.velocity_max_rad_s for j in ROBOT.joints])
    pos = js.values[:, :28]
    vel = js.values[:, 28:56]
    assert js.channels[0] == f"position_rad.{ROBOT.joint_names[0]}"
    assert (pos >= lo).all() and (pos <= hi).all()
    assert (np.abs(vel) <= v_max).all()
    eff = js.values[:, 84:112]
    assert (np.abs(eff) <= np.array([j.effort_max_nm for j in ROBOT.joints])).all()
    # the arm really moves (a reach), and the head pose quaternion is a unit quaternion
    assert np.ptp(pos[:, 12:26], axis=0).max() > 0.3
    quat = ep.streams["head_pose"].values[:, 3:7]
    assert np.allclose(np.linalg.norm(quat, axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize(("reason", "task_code", "seed"), CASES)
def test_hand_closure_carries_the_outcome(reason: str | None, task_code: str, seed: int) -> None:
    ep = _episode(reason, task_code, seed)
    task, tl = ep.story.task, ep.story.timeline
    t_s, state = _grasp_closure(ep, "hand_state")
    _, command = _grasp_closure(ep, "hand_command")
    on_object = (state > 0.5) & (state < 0.8)
    held_s = _longest_run_s(t_s, on_object)
    assert 0.8 <= command.max() <= 0.96
    if reason in (None, "timeout"):
        assert held_s >= task.hold_min_s
        assert state.max() < 0.8 and state[-1] < 0.1  # stopped short, then let go
    elif reason == "grasp_missed":
        assert state.max() >= 0.93 and held_s < 0.3
    elif reason == "object_dropped":
        assert held_s < task.hold_min_s
        after = state[t_s > tl.drop_s + 0.3]
        assert after.max() > 0.85 or after.min() < 0.3
    elif reason == "task_incomplete":
        assert 0.5 < state[-1] < 0.8  # still holding when the recording stops
    elif reason == "emergency_stop":
        cmd = ep.streams["joint_command"]
        latency_ns = int(ROBOT.control_latency_ms * MS)
        after = cmd.t_true_ns > START_NS + tl.estop_s * 1e9 + latency_ns + 2 * MS
        assert after.sum() > 100
        assert np.ptp(cmd.values[after, :28], axis=0).max() == 0.0  # the robot stops
        assert "emergency_stop" in [e.text for e in ep.events]


def test_robot_command_follows_the_operator_after_the_control_latency() -> None:
    ep = _episode(None, "separate_coil", 0)
    arm = ep.streams["arm_target"]
    cmd = ep.streams["joint_command"]
    j = int(np.argmax(np.ptp(arm.values, axis=0)))
    name = arm.channels[j].split(".", 1)[1]
    c = cmd.values[:, cmd.channels.index(f"target_rad.{name}")]
    lags_ms = np.arange(0, 60, 2)
    errors = [
        np.abs(np.interp(cmd.t_true_ns - lag * MS, arm.t_true_ns, arm.values[:, j]) - c)[50:].mean()
        for lag in lags_ms
    ]
    assert lags_ms[int(np.argmin(errors))] == pytest.approx(ROBOT.control_latency_ms, abs=2)


# --- truth versus what was written -------------------------------------------------------


def test_truth_rows_match_the_manifests(network: Path) -> None:
    truth = _truth(network, "recordings")
    assert truth.height == 10 and truth["recording_id"].n_unique() == 10
    for center in CENTER_NAMES:
        for line in _manifest(network, center):
            row = truth.filter(pl.col("recording_id") == line["recording_id"]).row(0, named=True)
            assert row["center"] == center and row["date"] == DATE
            assert row["episode_id"] == episode_id_for(center, line["recording_id"])
            for key in ("task_code", "station", "robot_serial", "operator_id"):
                assert row[key] == line[key]
            assert row["true_outcome"] in ("success", "failure")
            assert (row["true_failure_reason"] is None) == (row["true_outcome"] == "success")
            assert (row["missing_stream"] is None) == (row["file_fault"] != "missing_stream")
    noise = _truth(network, "noise")
    assert noise.height == 10
    clocks = _truth(network, "clocks")
    assert set(clocks["clock"]) == {"robot", "operator"}
    robot_rows = clocks.filter(pl.col("clock") == "robot")
    assert (robot_rows["offset_ns"] == 0).all() and (robot_rows["drift_ppm"] == 0.0).all()


def test_injected_faults_are_where_the_truth_says(network: Path) -> None:
    faults = _truth(network, "faults")
    clocks = _truth(network, "clocks")
    noise = _truth(network, "noise")
    assert set(faults["kind"]) == {"spike", "dropout", "frozen"}
    checked = {"spike": 0, "dropout": 0, "frozen": 0}
    for row in _intact_ros(network).iter_rows(named=True):
        center, rid = row["center"], row["recording_id"]
        profile = load_profile(center)
        topics = _read_bag(_bag_path(network, center, rid))
        sigma = noise.filter(pl.col("recording_id") == rid)["position_sigma_rad"][0]
        for f in faults.filter(pl.col("recording_id") == rid).iter_rows(named=True):
            topic_name = profile.cameras.get(f["stream"]) or profile.streams[f["stream"]].topic
            topic = topics[topic_name]
            c = clocks.filter((pl.col("recording_id") == rid) & (pl.col("stream") == f["stream"]))
            clock = OperatorClock(c["offset_ns"][0], c["drift_ppm"][0], c["reference_ns"][0])
            # back to the robot clock (drift over one recording is far below a period)
            t_robot = topic.stamps_ns() - (clock.to_operator(topic.stamps_ns()) - topic.stamps_ns())
            inside = (t_robot >= f["start_ns"]) & (t_robot < f["end_ns"])
            if f["kind"] == "dropout":
                sigma_ns = (
                    1e9
                    * noise.filter(pl.col("recording_id") == rid)[STAMP_SIGMA_COLUMN[f["stream"]]][
                        0
                    ]
                )
                margin = 5 * sigma_ns
                assert not (
                    (t_robot >= f["start_ns"] + margin) & (t_robot < f["end_ns"] - margin)
                ).any()
                period = np.median(np.diff(t_robot))
                mid = (f["start_ns"] + f["end_ns"]) / 2
                before, after = t_robot[t_robot < mid], t_robot[t_robot >= mid]
                gap = after[0] - before[-1]
                expected = f["end_ns"] - f["start_ns"] + period
                assert abs(gap - expected) <= 0.1 * period + 2 * margin
                checked["dropout"] += 1
                continue
            order = profile.streams["joint_state"].joint_order
            idx = np.flatnonzero(inside)
            assert len(idx) >= 1
            if f["kind"] == "spike":
                (channel,) = f["channels"]
                col = order.index(channel.split(".", 1)[1])
                q = np.array(
                    [
                        _joint_field(topic.msgs[i], "joint_q")[col]
                        for i in range(idx[0] - 5, idx[-1] + 6)
                    ]
                )
                neighbours = np.r_[q[:5], q[-5:]]
                bump = q[5:-5] - np.interp(
                    np.arange(5, len(q) - 5), np.r_[0:5, len(q) - 5 : len(q)], neighbours
                )
                assert len(idx) <= 3
                assert np.abs(bump) == pytest.approx(f["magnitude"], abs=12 * sigma)
                assert f["magnitude"] >= 20 * sigma * 0.999
                checked["spike"] += 1
            else:
                for channel in f["channels"]:
                    quantity, joint = channel.split(".", 1)
                    col = order.index(joint)
                    field = {
                        "position_rad": "joint_q",
                        "velocity_rad_s": "joint_v",
                        "effort_n_m": "joint_torque",
                    }[quantity]
                    vals = np.array(
                        [
                            _joint_field(topic.msgs[i], field)[col]
                            for i in range(idx[0] - 1, idx[-1] + 2)
                        ]
                    )
                    assert (vals[:-1] == vals[0]).all()  # repeats the value before the span
                    assert vals[-1] != vals[0]
                duration_s = (f["end_ns"] - f["start_ns"]) / 1e9
                low_s, high_s = simulation_profile("stress").faults.frozen_s  # the fixture's
                assert low_s <= duration_s <= high_s + 0.01
                checked["frozen"] += 1
    assert min(checked.values()) >= 1, checked


def test_position_noise_in_the_truth_matches_the_legs(network: Path) -> None:
    noise = _truth(network, "noise")
    faults = _truth(network, "faults")
    for row in (
        _intact_ros(network).filter(pl.col("missing_stream").is_null()).iter_rows(named=True)
    ):
        rid, center = row["recording_id"], row["center"]
        js = load_profile(center).streams["joint_state"]
        order = js.joint_order
        topic = _read_bag(_bag_path(network, center, rid))[js.topic]
        t = topic.stamps_ns()
        keep = np.r_[True, np.diff(t) < 3 * MS]  # a sample right after a gap starts afresh
        for f in faults.filter(
            (pl.col("recording_id") == rid) & (pl.col("stream") == "joint_state")
        ).iter_rows(named=True):
            keep &= ~((t >= f["start_ns"] - 10 * MS) & (t < f["end_ns"] + 10 * MS))
        legs = [order.index(j) for j in ROBOT.joints_in_group("leg")]
        q = np.array([_joint_field(m, "joint_q") for m in topic.msgs])[:, legs]
        d2 = np.diff(q, n=2, axis=0)[keep[2:] & keep[1:-1] & keep[:-2]]
        estimate = np.std(d2) / np.sqrt(6.0)
        truth = noise.filter(pl.col("recording_id") == rid)["position_sigma_rad"][0]
        assert estimate == pytest.approx(truth, rel=0.1), rid


def test_fault_records_explain_every_changed_sample() -> None:
    ep = _episode(None, "hand_over_cup", 3)
    rates = FaultRates(
        spikes_per_min=120, dropouts_per_min=40, frozen_per_min=60, frozen_message_fraction=0.5
    )
    broken, records = inject_faults(
        ep.streams, rates, ep.position_noise_rad, np.random.default_rng(4)
    )
    assert {r.kind for r in records} == {"spike", "dropout", "frozen"}
    assert {r.scope for r in records if r.kind == "frozen"} == {"channel", "message"}
    for name, before in ep.streams.items():
        after = broken[name]
        gone = ~np.isin(before.t_true_ns, after.t_true_ns)
        drops = [r for r in records if r.stream == name and r.kind == "dropout"]
        in_drop = np.zeros(before.n_samples, dtype=bool)
        for r in drops:
            in_drop |= (before.t_true_ns >= r.start_ns) & (before.t_true_ns < r.end_ns)
        np.testing.assert_array_equal(gone, in_drop)
        if name != "joint_state":
            continue
        kept = before.values[~gone]
        changed = after.values != kept
        t = after.t_true_ns
        explained = np.zeros_like(changed)
        for r in records:
            if r.stream == name and r.kind != "dropout":
                rows = (t >= r.start_ns) & (t < r.end_ns)
                for ch in r.channels if r.scope == "channel" else before.channels:
                    explained[rows, before.channels.index(ch)] = True
        # every changed value is inside a fault; every spiked/frozen value changed
        assert not (changed & ~explained).any()
        assert (changed | ~explained).all()


# --- more dates and the profiles ---------------------------------------------------------


def test_another_date_adds_folders_and_merges_the_truth(tmp_path: Path) -> None:
    kw: dict[str, Any] = {
        "episodes_per_center": 1,
        "seed": 3,
        "centers": ["suzhou"],
        "duration_scale": 0.3,
        "camera_size": SMALL_CAMERA,
    }
    simulate_network(tmp_path, date="2026-11-23", **kw)
    simulate_network(tmp_path, date="2026-11-24", **kw)
    assert sorted(p.name for p in (tmp_path / "suzhou").iterdir()) == ["2026-11-23", "2026-11-24"]
    rec = _truth(tmp_path, "recordings")
    assert rec.height == 2 and rec["recording_id"].n_unique() == 2
    assert set(rec["date"]) == {"2026-11-23", "2026-11-24"}
    assert set(_truth(tmp_path, "noise")["recording_id"]) == set(rec["recording_id"])
    with pytest.raises(FileExistsError, match="already simulated"):
        simulate_network(tmp_path, date="2026-11-24", **kw)


def test_clean_profile_has_no_faults(tmp_path: Path) -> None:
    simulate_network(
        tmp_path,
        episodes_per_center=2,
        seed=9,
        date=DATE,
        profile="clean",
        centers=["beijing"],
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
    )
    assert _truth(tmp_path, "faults").height == 0
    rec = _truth(tmp_path, "recordings")
    assert set(rec["file_fault"]) == {"none"} and set(rec["operator_mark_status"]) == {"correct"}


def test_spike_sizes_follow_the_requested_range() -> None:
    ep = _episode(None, "hand_over_cup", 3)
    for sizes in ((20.0, 100.0), (5.0, 6.0)):
        rates = FaultRates(spikes_per_min=300, spike_sigma=sizes)
        _, records = inject_faults(
            ep.streams, rates, ep.position_noise_rad, np.random.default_rng(4)
        )
        ratio = np.array([r.magnitude_rad for r in records if r.kind == "spike"])
        ratio /= ep.position_noise_rad
        assert len(ratio) > 20
        assert sizes[0] <= ratio.min() and ratio.max() <= sizes[1]
    with pytest.raises(ValueError, match="spike_sigma"):
        FaultRates(spike_sigma=(8.0, 5.0))
