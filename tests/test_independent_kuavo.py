"""Recordings from the independent Kuavo writer (tests/independent_kuavo) read back.

(a) rosbags, a third-party ROS 1 bag reader, reads every bag with the definitions embedded in
it: topics, types, md5sums, counts, record times and values are those written; (b) the
pipeline's own reader (`teleop_lake.formats.read_recording`) opens the recordings of every rig
variant. The writer knows nothing of the pipeline's simulator; see its package docstring.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from bag_reading import BagReader
from independent_kuavo import kuavo
from independent_kuavo.bag import MAGIC, BagWriter, encode_header
from independent_kuavo.motion import load_robot_joints
from independent_kuavo.network import (
    CENTER,
    MANIFEST_NAME,
    NetworkResult,
    VariationParams,
    WrittenRecording,
    WrittenTopic,
    allocate,
    main,
    write_network,
)
from independent_kuavo.truth import TABLES
from rosbags.interfaces import ConnectionExtRosbag1
from rosbags.rosbag1 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from teleop_lake.canonical import RecordingMeta
from teleop_lake.config.centers import load_profile
from teleop_lake.formats import read_recording
from teleop_lake.formats.ros1_layout import constants_upper_case
from teleop_lake.network.identity import episode_id_for
from teleop_lake.simulate.kuavo_types import LEJU_CLAW_STATE_MD5

DATE = "2026-11-23"
CAMERA = (32, 24)
DURATION_S = 3.0
N_RECORDINGS = 10
# md5sums of standard ROS 1 messages, as `rosmsg md5` prints them.
KNOWN_MD5 = {
    "std_msgs/Header": "2176decaecbce78abc3b96ef049fabed",
    "geometry_msgs/Vector3": "4a842b65f413084dc2b10fb484ea7f17",
    "geometry_msgs/Quaternion": "a779879fadf0160734f906b8c19c7004",
    "sensor_msgs/JointState": "3066dcd76a6cfaef579bd0f34173e9fd",
    "sensor_msgs/CompressedImage": "8f7a12909da2c9d3332d540a0977563f",
    # as Leju's generated kuavo_msgs code publishes it for its lejuClawState.msg
    "kuavo_msgs/lejuClawState": "71c0eb8f4803a00f5667de51a2f70aac",
}
# rosbags takes only upper-case names as constants and reads Leju's ``int8 kError = -1`` as a
# field: its own md5 and decoding of lejuClawState are wrong, so it is compared after the
# constants are upper-cased (what the project's reader does), and its md5 is the known one.
LOWER_CASE_CONSTANTS = (kuavo.TYPE_CLAW_STATE,)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> NetworkResult:
    out = tmp_path_factory.mktemp("independent_kuavo")
    # one bz2 rig instead of two: bz2 is the slowest part of writing
    params = VariationParams(bz2_share=0.1)
    return write_network(
        out,
        recordings=N_RECORDINGS,
        seed=20261123,
        date=DATE,
        camera=CAMERA,
        duration_s=DURATION_S,
        params=params,
    )


@pytest.fixture(scope="module")
def plain_hand(tmp_path_factory: pytest.TempPathFactory) -> WrittenRecording:
    """One recording of the most common rig: hands, newer hand-state topic, all fields."""
    only_newer_hand = VariationParams(
        claw_share=0.0,
        hand_state_newer_share=1.0,
        hand_state_older_share=0.0,
        hand_state_none_share=0.0,
        velocity_unpopulated_share=0.0,
        effort_unpopulated_share=0.0,
        joint_current_share=0.0,
        bz2_share=0.0,
        relative_type_names_share=0.0,
        repeat_connections_share=0.0,
        marks_in_metadata_share=0.0,
        clock_mismatch_share=0.0,
    )
    out = tmp_path_factory.mktemp("independent_kuavo_plain")
    result = write_network(
        out,
        recordings=1,
        seed=5,
        date=DATE,
        camera=CAMERA,
        duration_s=DURATION_S,
        params=only_newer_hand,
    )
    return result.recordings[0]


# --- the writer's own pieces ----------------------------------------------------------------


def test_md5sums_are_computed_the_ros_way() -> None:
    for type_names in ("qualified", "relative"):
        for effort_field in ("joint_torque", "joint_current"):
            reg = kuavo.registry_for(type_names, effort_field)
            for name, md5 in KNOWN_MD5.items():
                assert reg.md5sum(name) == md5, name
            for name in (
                kuavo.TYPE_SENSORS,
                kuavo.TYPE_JOINT_CMD,
                kuavo.TYPE_HAND_POSITION,
                kuavo.TYPE_CLAW_COMMAND,
            ):
                store = get_typestore(Stores.EMPTY)
                store.register(get_types_from_msg(reg.full_definition(name), name))
                _, md5 = store.generate_msgdef(name.replace("/", "/msg/"))
                assert reg.md5sum(name) == md5, (name, type_names, effort_field)
    # the project's simulator embeds Leju's claw-state text with the md5 Leju publishes: the
    # same this writer computes the ROS way
    assert (
        kuavo.registry_for("qualified", "joint_torque").md5sum(kuavo.TYPE_CLAW_STATE)
        == LEJU_CLAW_STATE_MD5
    )
    torque = kuavo.registry_for("qualified", "joint_torque").md5sum(kuavo.TYPE_SENSORS)
    current = kuavo.registry_for("qualified", "joint_current").md5sum(kuavo.TYPE_SENSORS)
    assert torque != current


def test_full_definition_is_laid_out_as_rosbag_record_embeds_it() -> None:
    text = kuavo.registry_for("qualified", "joint_torque").full_definition(kuavo.TYPE_SENSORS)
    sections = text.split("\n" + "=" * 80 + "\n")
    assert sections[0].startswith("std_msgs/Header header\n")
    assert [s.splitlines()[0] for s in sections[1:]] == [
        "MSG: std_msgs/Header",
        "MSG: kuavo_msgs/jointData",
        "MSG: kuavo_msgs/imuData",
        "MSG: geometry_msgs/Vector3",
        "MSG: geometry_msgs/Quaternion",
        "MSG: kuavo_msgs/endEffectorData",
    ]


def test_allocation_gives_every_share_its_quota() -> None:
    rng = np.random.default_rng(0)
    drawn = allocate(rng, 10, {"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.0})
    assert sorted(drawn) == ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    assert set(allocate(rng, 3, {"a": 0.9, "b": 0.05, "c": 0.05})) == {"a", "b", "c"}


def _header_fields(raw: bytes) -> dict[str, bytes]:
    fields, pos = {}, 0
    while pos < len(raw):
        n = struct.unpack_from("<I", raw, pos)[0]
        name, _, value = raw[pos + 4 : pos + 4 + n].partition(b"=")
        fields[name.decode()] = value
        pos += 4 + n
    return fields


def _records(data: bytes, pos: int, end: int) -> list[tuple[dict[str, bytes], bytes]]:
    out = []
    while pos < end:
        hlen = struct.unpack_from("<I", data, pos)[0]
        header = _header_fields(data[pos + 4 : pos + 4 + hlen])
        dlen = struct.unpack_from("<I", data, pos + 4 + hlen)[0]
        out.append((header, data[pos + 8 + hlen : pos + 8 + hlen + dlen]))
        pos += 8 + hlen + dlen
    return out


def _check_layout(data: bytes) -> None:
    """The record sequence of the bag v2.0 spec, checked byte by byte (independent of rosbags)."""
    assert data[: len(MAGIC)] == MAGIC
    (bag_header, padding), *_ = _records(data, len(MAGIC), len(MAGIC) + 1)
    assert bag_header["op"] == b"\x03" and set(padding) == {ord(" ")}
    assert len(encode_header(bag_header)) + len(padding) == 4096  # header + padding
    index_pos = struct.unpack("<Q", bag_header["index_pos"])[0]
    chunk_count = struct.unpack("<I", bag_header["chunk_count"])[0]
    conn_count = struct.unpack("<I", bag_header["conn_count"])[0]
    body = _records(data, len(MAGIC) + 8 + 4096, index_pos)
    chunks = [r for r in body if r[0]["op"] == b"\x05"]
    assert len(chunks) == chunk_count
    assert {r[0]["op"] for r in body} == {b"\x05", b"\x04"}  # chunks and their index data
    index = _records(data, index_pos, len(data))
    assert [r[0]["op"] for r in index] == [b"\x07"] * conn_count + [b"\x06"] * chunk_count
    for header, payload in chunks:
        raw = bz2.decompress(payload) if header["compression"] == b"bz2" else payload
        assert len(raw) == struct.unpack("<I", header["size"])[0]
        assert {r[0]["op"] for r in _records(raw, 0, len(raw))} <= {b"\x02", b"\x07"}


@pytest.mark.parametrize("compression", ["none", "bz2"])
@pytest.mark.parametrize("repeat_connections", [False, True])
def test_bag_writer_round_trips_through_rosbags(
    tmp_path: Path, compression: Any, repeat_connections: bool
) -> None:
    reg = kuavo.registry_for("relative", "joint_torque")
    path = tmp_path / "small.bag"
    t0 = 1_795_000_000_123_456_789
    written: dict[str, list[tuple[int, Any]]] = {"/a": [], "/b": []}
    with BagWriter(
        path,
        compression=compression,
        chunk_threshold_bytes=2048,
        repeat_connections=repeat_connections,
    ) as bag:
        a = bag.add_connection(
            "/a",
            kuavo.TYPE_JOINT_STATE,
            md5sum=reg.md5sum(kuavo.TYPE_JOINT_STATE),
            message_definition=reg.full_definition(kuavo.TYPE_JOINT_STATE),
            callerid="/node_a",
        )
        b = bag.add_connection(
            "/b",
            kuavo.TYPE_HAND_POSITION,
            md5sum=reg.md5sum(kuavo.TYPE_HAND_POSITION),
            message_definition=reg.full_definition(kuavo.TYPE_HAND_POSITION),
            callerid="/node_b",
            latching=True,
        )
        for k in range(200):
            t = t0 + k * 5_000_000
            if k % 2 == 0:
                pos = np.arange(3.0) * k
                bag.write(
                    a,
                    t,
                    reg.serialize(
                        kuavo.TYPE_JOINT_STATE, kuavo.joint_state(k, t - 1000, ("x", "y", "z"), pos)
                    ),
                )
                written["/a"].append((t, pos))
            else:
                left = np.full(6, k % 101, np.uint8)
                bag.write(
                    b,
                    t,
                    reg.serialize(
                        kuavo.TYPE_HAND_POSITION, kuavo.hand_position(k, t - 2000, left, left[::-1])
                    ),
                )
                written["/b"].append((t, left))
    _check_layout(path.read_bytes())
    store = get_typestore(Stores.EMPTY)
    with Reader(path) as reader:
        assert len(reader.chunk_infos) > 3
        conns = {c.topic: c for c in reader.connections}
        ext_a, ext_b = conns["/a"].ext, conns["/b"].ext
        assert isinstance(ext_a, ConnectionExtRosbag1) and isinstance(ext_b, ConnectionExtRosbag1)
        assert (ext_a.callerid, ext_a.latching) == ("/node_a", 0)
        assert (ext_b.callerid, ext_b.latching) == ("/node_b", 1)
        for c in reader.connections:
            store.register(get_types_from_msg(c.msgdef.data, c.msgtype))
            assert c.digest == reg.md5sum(c.msgtype.replace("/msg/", "/"))
        got: dict[str, list[tuple[int, Any]]] = {"/a": [], "/b": []}
        for c, t, raw in reader.messages():
            msg: Any = store.deserialize_ros1(raw, c.msgtype)
            got[c.topic].append((t, msg))
    assert [t for t, _ in got["/a"]] == [t for t, _ in written["/a"]]
    assert [t for t, _ in got["/b"]] == [t for t, _ in written["/b"]]
    for (t, pos), (_, msg) in zip(written["/a"], got["/a"], strict=True):
        assert msg.name == ["x", "y", "z"]
        np.testing.assert_array_equal(msg.position, pos)
        assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == t - 1000
    for (_, left), (_, msg) in zip(written["/b"], got["/b"], strict=True):
        np.testing.assert_array_equal(msg.left_hand_position, left)
        np.testing.assert_array_equal(msg.right_hand_position, left[::-1])


# --- the network ----------------------------------------------------------------------------


def test_a_ten_recording_network_shows_every_rig_variant(network: NetworkResult) -> None:
    rigs = [r.plan.rig for r in network.recordings]
    assert {r.end_effector for r in rigs} == {"hand", "claw"}
    assert {r.eef_type for r in rigs} == {"qiangnao", "leju_claw"}
    assert {r.hand_state_topic for r in rigs if r.end_effector == "hand"} == {
        kuavo.TOPIC_HAND_STATE_NEW,
        kuavo.TOPIC_HAND_STATE_OLD,
        None,
    }
    assert {r.hand_state_topic for r in rigs if r.end_effector == "claw"} == {
        kuavo.TOPIC_CLAW_STATE
    }
    assert {r.velocity_populated for r in rigs} == {True, False}
    assert {r.effort_populated for r in rigs} == {True, False}
    assert {r.effort_field for r in rigs} == {"joint_torque", "joint_current"}
    assert {r.compression for r in rigs} == {"none", "bz2"}
    assert {r.type_names for r in rigs} == {"qualified", "relative"}
    assert {r.repeat_connections for r in rigs} == {True, False}
    assert {r.marks_in_metadata for r in rigs} == {True, False}
    assert len({r.position_sigma_rad for r in rigs}) == len(rigs)
    assert any(r.plan.clock_mismatch_stream for r in network.recordings)
    lat = [r.plan.control_latency_s * 1e3 for r in network.recordings]
    assert all(15.0 <= x <= 25.0 for x in lat)
    offsets = [abs(r.plan.operator_offset_ns) / 1e9 for r in network.recordings]
    assert all(0.02 <= x <= 1.5 for x in offsets)


def test_drop_follows_the_delivery_contract(network: NetworkResult) -> None:
    manifest = network.drop / MANIFEST_NAME
    lines = [json.loads(x) for x in manifest.read_text(encoding="utf-8").splitlines()]
    assert [x["recording_id"] for x in lines] == [r.recording_id for r in network.recordings]
    newest_file = 0
    for line, rec in zip(lines, network.recordings, strict=True):
        assert re.fullmatch(r"bj-st0[1-4]-20261123-\d{4}", line["recording_id"])
        assert line["format"] == "ros1-bag"
        assert line["station"] == rec.plan.rig.station
        assert line["robot_serial"] == rec.plan.rig.serial
        assert line["operator_id"].startswith("op-")
        assert line["recorded_at"].endswith("+08:00")
        assert line["recorded_at"].startswith(DATE)
        assert line["files"][0]["path"] == f"{line['station']}/{line['recording_id']}.bag"
        for entry in line["files"]:
            path = network.drop / entry["path"]
            data = path.read_bytes()
            assert entry["size"] == len(data)
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()
            newest_file = max(newest_file, path.stat().st_mtime_ns)
        meta = json.loads((network.drop / line["files"][1]["path"]).read_text(encoding="utf-8"))
        assert meta["device_sn"] == rec.plan.rig.serial
        assert meta["task_code"] == line["task_code"]
        assert meta["eef_type"] == rec.plan.rig.eef_type
        assert ("marks" in meta) == rec.plan.rig.marks_in_metadata
        assert len(line["files"]) == (2 if rec.plan.rig.marks_in_metadata else 3)
    assert manifest.stat().st_mtime_ns >= newest_file


def test_truth_tables_have_the_documented_layout(network: NetworkResult) -> None:
    truth = {t: pl.read_parquet(network.out / "_truth" / f"{t}.parquet") for t in TABLES}
    for table, (schema, _) in TABLES.items():
        assert dict(truth[table].schema) == schema, table
    recs = truth["recordings"]
    assert recs.height == N_RECORDINGS
    for row in recs.iter_rows(named=True):
        assert row["episode_id"] == episode_id_for(CENTER, row["recording_id"])
    faults = truth["faults"]
    per_kind = faults.group_by("recording_id", "kind").len()
    assert per_kind.filter(pl.col("kind") == "spike")["len"].to_list() == [1] * N_RECORDINGS
    assert per_kind.filter(pl.col("kind") == "frozen")["len"].to_list() == [1] * N_RECORDINGS
    assert per_kind.filter(pl.col("kind") == "dropout").height == N_RECORDINGS
    frozen = faults.filter(pl.col("kind") == "frozen")
    assert set(frozen["moving"].to_list()) == {True, False}
    spikes = faults.filter(pl.col("kind") == "spike").join(
        truth["noise"], on=["center", "recording_id"]
    )
    ratio = spikes["magnitude"] / spikes["position_sigma_rad"]
    assert ratio.min() >= 10.0 and ratio.max() <= 60.0  # type: ignore[operator]
    mismatched = truth["clocks"].filter(pl.col("clock") != pl.col("declared_clock"))
    flagged = recs.filter(pl.col("clock_mismatch_stream").is_not_null())
    assert sorted(mismatched["stream"].to_list()) == sorted(
        flagged["clock_mismatch_stream"].to_list()
    )
    at_stop = truth["at_stop"]
    assert at_stop.height > 0
    assert at_stop["channel"].str.contains("forearm_pitch").all()


def _joint_topic(rec: WrittenRecording) -> WrittenTopic:
    return rec.topics[kuavo.TOPIC_SENSORS]


def test_joints_at_rest_read_the_stop_plus_noise(network: NetworkResult) -> None:
    truth = pl.read_parquet(network.out / "_truth" / "at_stop.parquet")
    names = load_robot_joints().names
    crossed = 0
    for rec in network.recordings:
        rows = truth.filter(pl.col("recording_id") == rec.recording_id)
        topic = _joint_topic(rec)
        t = topic.values["sensor_time"]
        for row in rows.iter_rows(named=True):
            j = names.index(row["channel"].split(".", 1)[1])
            inside = (t >= row["start_ns"]) & (t < row["end_ns"])
            readings = topic.values["joint_q"][inside, j] - row["stop_rad"]
            assert np.abs(np.median(readings)) < 3 * rec.plan.rig.position_sigma_rad
            crossed += int(np.sum(readings > 0))
    assert crossed > 0  # readings past the nominal limit (forearm stop = max 0.0)


def test_station_streams_are_stamped_on_the_station_clock(network: NetworkResult) -> None:
    for rec in network.recordings:
        arm = rec.topics[kuavo.TOPIC_ARM_TRAJ]
        offset_s = np.median(arm.stamps_ns - arm.record_ns) / 1e9
        if rec.plan.clock_mismatch_stream == "arm_target":
            assert abs(offset_s) < 0.05
        else:
            assert abs(offset_s - rec.plan.operator_offset_ns / 1e9) < 0.05


# --- (a) rosbags reads every bag as written -------------------------------------------------


def _decode_all(bag: Path) -> tuple[dict[str, Any], dict[str, list[tuple[int, Any]]]]:
    conns: dict[str, Any] = {}
    msgs: dict[str, list[tuple[int, Any]]] = {}
    with BagReader([bag]) as reader:
        store = get_typestore(Stores.EMPTY)
        for c in reader.connections:
            conns[c.topic] = c
            store.register(get_types_from_msg(constants_upper_case(c.msgdef.data), c.msgtype))
        for topic, conn in conns.items():
            _, md5 = store.generate_msgdef(conn.msgtype)
            if constants_upper_case(conn.msgdef.data) == conn.msgdef.data:
                assert md5 == conn.digest, topic
        for c, t, raw in reader.messages():
            msgs.setdefault(c.topic, []).append((t, reader.deserialize(raw, c.msgtype)))
    return conns, msgs


def _stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)


def test_rosbags_reads_every_bag_as_written(network: NetworkResult) -> None:
    for rec in network.recordings:
        conns, msgs = _decode_all(rec.files[0])
        assert set(conns) == set(rec.topics), rec.recording_id
        for topic, wt in rec.topics.items():
            assert conns[topic].msgtype == wt.msgtype.replace("/", "/msg/")
            assert conns[topic].msgcount == wt.count
            assert len(msgs[topic]) == wt.count
            assert [t for t, _ in msgs[topic]] == wt.record_ns.tolist()
            assert [_stamp_ns(m) for _, m in msgs[topic]] == wt.stamps_ns.tolist()
        _check_values(rec, msgs)


def _check_values(rec: WrittenRecording, msgs: dict[str, list[tuple[int, Any]]]) -> None:
    rig = rec.plan.rig
    sensors = rec.topics[kuavo.TOPIC_SENSORS]
    got = [m for _, m in msgs[kuavo.TOPIC_SENSORS]]
    np.testing.assert_array_equal(
        np.stack([m.joint_data.joint_q for m in got]), sensors.values["joint_q"]
    )
    np.testing.assert_array_equal(
        np.stack([m.joint_data.joint_v for m in got]), sensors.values["joint_v"]
    )
    effort = np.stack([getattr(m.joint_data, rig.effort_field) for m in got])
    np.testing.assert_array_equal(effort, sensors.values[rig.effort_field])
    sensor_time = [m.sensor_time.sec * 10**9 + m.sensor_time.nanosec for m in got]
    assert sensor_time == sensors.values["sensor_time"].tolist()
    if not rig.velocity_populated:
        assert not np.any(np.stack([m.joint_data.joint_v for m in got]))
    if not rig.effort_populated:
        assert not np.any(effort)
    arm = [m for _, m in msgs[kuavo.TOPIC_ARM_TRAJ]]
    assert len(arm[0].name) == len(arm[0].position) == 14
    np.testing.assert_array_equal(
        np.stack([m.position for m in arm]), rec.topics[kuavo.TOPIC_ARM_TRAJ].values["position"]
    )
    cmd_topic = kuavo.TOPIC_HAND_COMMAND if rig.end_effector == "hand" else kuavo.TOPIC_CLAW_COMMAND
    cmd = [m for _, m in msgs[cmd_topic]]
    written = rec.topics[cmd_topic].values
    if rig.end_effector == "hand":
        np.testing.assert_array_equal(
            np.stack([m.left_hand_position for m in cmd]), written["left"]
        )
        np.testing.assert_array_equal(
            np.stack([m.right_hand_position for m in cmd]), written["right"]
        )
    else:
        np.testing.assert_array_equal(np.stack([m.data.position for m in cmd]), written["position"])
    if rig.hand_state_topic is not None:
        state = [m for _, m in msgs[rig.hand_state_topic]]
        written = rec.topics[rig.hand_state_topic].values
        if rig.hand_state_topic == kuavo.TOPIC_HAND_STATE_NEW:
            np.testing.assert_array_equal(
                np.stack([m.left_hand_position for m in state]), written["left"]
            )
        elif rig.hand_state_topic == kuavo.TOPIC_HAND_STATE_OLD:
            np.testing.assert_array_equal(
                np.stack([m.position for m in state]), written["position"]
            )
        else:
            np.testing.assert_array_equal(
                np.stack([m.data.position for m in state]), written["position"]
            )
            np.testing.assert_array_equal(np.stack([m.state for m in state]), written["state"])
    for topic in (kuavo.TOPIC_CAMERA_HEAD, kuavo.TOPIC_CAMERA_LEFT, kuavo.TOPIC_CAMERA_RIGHT):
        frames = [m for _, m in msgs[topic]]
        assert all(m.format == "jpeg" for m in frames)
        assert all(bytes(m.data[:2]) == b"\xff\xd8" for m in frames)
        digests = [hashlib.sha256(bytes(m.data)).hexdigest() for m in frames]
        assert digests == rec.topics[topic].values["jpeg_sha256"].tolist()


# --- (b) the pipeline's reader opens them ---------------------------------------------------


_PIPELINE_READS: dict[Path, Any] = {}


def _read_with_pipeline(rec: WrittenRecording) -> Any:
    """The pipeline's reading of a recording (read once per bag, as process.py builds meta)."""
    if rec.files[0] in _PIPELINE_READS:
        return _PIPELINE_READS[rec.files[0]]
    profile = load_profile(CENTER)
    m = rec.manifest_line
    meta = RecordingMeta(
        center=CENTER,
        recording_id=m["recording_id"],
        raw_format=m["format"],
        robot_model=profile.robot_model,
        task_code=m.get("task_code"),
        station=m.get("station"),
        robot_serial=m.get("robot_serial"),
        operator_id=m.get("operator_id"),
        recorded_at=m.get("recorded_at"),
        extra=dict(m.get("extra") or {}),
    )
    _PIPELINE_READS[rec.files[0]] = read_recording(m["format"], rec.files, meta, profile)
    return _PIPELINE_READS[rec.files[0]]


def _check_pipeline_reading(rec: WrittenRecording) -> None:
    recording = _read_with_pipeline(rec)
    rig = rec.plan.rig
    expected = {"joint_state", "joint_command", "arm_target", "hand_command"}
    if rig.hand_state_topic is not None:
        expected.add("hand_state")
    assert expected <= set(recording.signals)
    if rig.hand_state_topic is None:
        assert "hand_state" not in recording.signals
    by_stream = {wt.stream: wt for wt in rec.topics.values()}
    for name in expected:
        sig, wt = recording.signals[name], by_stream[name]
        np.testing.assert_array_equal(sig.t_ns, wt.stamps_ns, err_msg=name)
        assert sig.t_received_ns is not None
        np.testing.assert_array_equal(sig.t_received_ns, wt.record_ns, err_msg=name)
    js = recording.signals["joint_state"]
    sensors = rec.topics[kuavo.TOPIC_SENSORS].values
    pos = [i for i, c in enumerate(js.channels) if c.startswith("position")]
    np.testing.assert_array_equal(js.values[:, pos], sensors["joint_q"])
    arm = recording.signals["arm_target"]
    assert arm.clock == "operator"
    np.testing.assert_array_equal(arm.values, rec.topics[kuavo.TOPIC_ARM_TRAJ].values["position"])
    hc = recording.signals["hand_command"]
    written = by_stream["hand_command"].values
    if rig.end_effector == "hand":
        np.testing.assert_array_equal(hc.values, np.hstack([written["left"], written["right"]]))
    else:
        np.testing.assert_array_equal(hc.values[:, :2], written["position"])
        if "hand_state" in recording.signals:  # Leju's lower-case constants: fields unshifted
            hs = recording.signals["hand_state"]
            state = by_stream["hand_state"].values
            codes = [i for i, c in enumerate(hs.channels) if c.startswith("state_code_raw.")]
            positions = [i for i, c in enumerate(hs.channels) if c.startswith("position_raw.")]
            np.testing.assert_array_equal(hs.values[:, positions], state["position"])
            np.testing.assert_array_equal(hs.values[:, codes], state["state"])
    for name, topic in (
        ("camera_head", kuavo.TOPIC_CAMERA_HEAD),
        ("camera_left", kuavo.TOPIC_CAMERA_LEFT),
        ("camera_right", kuavo.TOPIC_CAMERA_RIGHT),
    ):
        cam = recording.cameras[name]
        assert [hashlib.sha256(f).hexdigest() for f in cam.frames] == rec.topics[topic].values[
            "jpeg_sha256"
        ].tolist()
    assert recording.meta.task_code == rec.plan.task.code
    assert recording.meta.robot_serial == rig.serial
    assert sum(e.kind == "skill_mark" for e in recording.events) == 5


def test_pipeline_reader_reads_a_hand_rig_with_the_newer_hand_state(
    plain_hand: WrittenRecording,
) -> None:
    assert plain_hand.plan.rig.hand_state_topic == kuavo.TOPIC_HAND_STATE_NEW
    _check_pipeline_reading(plain_hand)


VARIANTS = {
    "older_hand_state": lambda r: r.plan.rig.hand_state_topic == kuavo.TOPIC_HAND_STATE_OLD,
    "no_hand_state": lambda r: (
        r.plan.rig.end_effector == "hand" and r.plan.rig.hand_state_topic is None
    ),
    "claw": lambda r: r.plan.rig.end_effector == "claw",
    "joint_current": lambda r: r.plan.rig.effort_field == "joint_current",
    "velocity_unpopulated": lambda r: not r.plan.rig.velocity_populated,
    "effort_unpopulated": lambda r: not r.plan.rig.effort_populated,
    "bz2_chunks": lambda r: r.plan.rig.compression == "bz2",
    "relative_type_names": lambda r: r.plan.rig.type_names == "relative",
    "connections_in_every_chunk": lambda r: r.plan.rig.repeat_connections,
    "marks_in_metadata": lambda r: r.plan.rig.marks_in_metadata,
    "clock_mismatch": lambda r: r.plan.clock_mismatch_stream is not None,
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_pipeline_reader_reads_rig_variants(network: NetworkResult, variant: str) -> None:
    recs = [r for r in network.recordings if VARIANTS[variant](r)]
    assert recs, f"the network has no {variant} recording"
    for rec in recs:
        _check_pipeline_reading(rec)


def test_command_line_writes_a_drop(tmp_path: Path) -> None:
    args = [
        "--out",
        str(tmp_path),
        "--recordings",
        "1",
        "--seed",
        "3",
        "--date",
        DATE,
        "--camera",
        "16x12",
        "--duration-s",
        "2",
    ]
    assert main(args) == 0
    lines = (tmp_path / CENTER / DATE / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert (tmp_path / "_truth" / "at_stop.parquet").exists()
    # a second run for the same date replaces its own rows, keeps the table layout
    assert main(args) == 0
    assert pl.read_parquet(tmp_path / "_truth" / "recordings.parquet").height == 1
