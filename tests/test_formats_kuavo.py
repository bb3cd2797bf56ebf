"""The Kuavo ROS 1 adapter against small bags written here with rosbags' Writer, and a real bag.

The bags follow /work/shared/formats/KUAVO.md: kuavo_msgs types are registered
from .msg text, messages of the small bags are serialized by rosbags itself
(an oracle independent of the bulk decoder). Faults are injected into the
written bags and each must end in the documented reason code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag1 import Reader, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from teleop_lake.canonical import Recording, RecordingMeta
from teleop_lake.config.centers import CenterProfile, load_profile, profile_from_toml
from teleop_lake.config.robots import load_robot_model
from teleop_lake.formats import list_topics, read_recording, supported_formats
from teleop_lake.formats.kuavo_ros1 import decode_benchmark, read_signals
from teleop_lake.formats.ros1_bag import Ros1Bag
from teleop_lake.formats.ros1_layout import (
    copy_rows,
    decode_fields,
    numeric_rows,
    stamp_ns,
    typestore_for,
)
from teleop_lake.formats.ros1_records import BAG_MAGIC, header_u32, header_u64
from teleop_lake.rejection import RecordingRejected
from teleop_lake.standardize import standardize_recording

REAL_BAG = Path("/work/shared/real-samples/ros/ROS_example.bag")

KUAVO_MSGS = {
    "kuavo_msgs/msg/jointData": "float64[] joint_q\nfloat64[] joint_v\nfloat64[] joint_vd\n"
    "float64[] {fourth}\n",
    "kuavo_msgs/msg/imuData": "geometry_msgs/Vector3 gyro\ngeometry_msgs/Vector3 acc\n"
    "geometry_msgs/Vector3 free_acc\ngeometry_msgs/Quaternion quat\n",
    "kuavo_msgs/msg/endEffectorData": "string[] name\nfloat64[] position\nfloat64[] velocity\n"
    "float64[] effort\n",
    "kuavo_msgs/msg/sensorsData": "std_msgs/Header header\ntime sensor_time\n"
    "kuavo_msgs/jointData joint_data\nkuavo_msgs/imuData imu_data\n"
    "kuavo_msgs/endEffectorData end_effector_data\n",
    "kuavo_msgs/msg/jointCmd": "std_msgs/Header header\nfloat64[] joint_q\nfloat64[] joint_v\n"
    "float64[] tau\nfloat64[] tau_max\nfloat64[] tau_ratio\nfloat64[] joint_kp\n"
    "float64[] joint_kd\nint32[] control_modes\n",
    "kuavo_msgs/msg/robotHandPosition": "std_msgs/Header header\nuint8[] left_hand_position\n"
    "uint8[] right_hand_position\n",
}
T0_NS = 1_790_000_000 * 10**9  # 2026-09-21, robot clock at the first sample


def kuavo_typestore(fourth: str = "joint_torque") -> Typestore:
    store = get_typestore(Stores.ROS1_NOETIC)
    for name, text in KUAVO_MSGS.items():
        store.register(get_types_from_msg(text.format(fourth=fourth), name))
    return store


@dataclass
class BagSpec:
    """What to write into a test bag; defaults are a clean 2 s Beijing-style recording."""

    duration_s: float = 2.0
    joint_hz: float = 500.0
    hand_hz: float = 100.0
    head_hz: float = 50.0
    camera_hz: float = 30.0
    fourth: str = "joint_torque"
    hand_state_topic: str = "/control_robot_hand_position_state"
    hand_state_jointstate: bool = False
    skip_topics: tuple[str, ...] = ()
    zero_stamps_topic: str | None = None
    empty_header_sensors: bool = False
    short_arm_every: int = 0  # every k-th /kuavo_arm_traj message carries 12 values
    events: tuple[tuple[float, str], ...] = ((0.0, "recording_start"), (1.9, "recording_stop"))
    compression: str | None = None
    t_start_ns: int = T0_NS
    arm_names_in_msg: bool = True
    extra_topics: dict[str, str] = field(default_factory=dict)  # topic -> type, empty payload
    no_definition_topics: tuple[str, ...] = ()
    declared_only: dict[str, str] = field(default_factory=dict)  # connection, no message
    sensor_stamp_edit: Callable[[np.ndarray], np.ndarray] | None = None


def joint_truth(t_s: np.ndarray) -> np.ndarray:
    """Known joint positions (rad) in Beijing recorder order: 28 sines."""
    k = np.arange(28)
    return 0.1 * np.sin(2 * np.pi * 0.5 * t_s[:, None] + k) + 0.01 * k


def write_bag(path: Path, spec: BagSpec, store: Typestore | None = None) -> dict[str, np.ndarray]:
    """Write ``spec`` as a Kuavo-format ROS 1 bag; return the truth arrays written."""
    store = store or kuavo_typestore(spec.fourth)
    m = store.types
    truth: dict[str, np.ndarray] = {}

    def hdr(t_ns: int, seq: int = 0) -> object:
        sec, nsec = divmod(t_ns, 10**9)
        return m["std_msgs/msg/Header"](
            seq=seq, stamp=m["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec), frame_id=""
        )

    def stamp(t_ns: int) -> object:
        sec, nsec = divmod(t_ns, 10**9)
        return m["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec)

    def times(hz: float) -> np.ndarray:
        return spec.t_start_ns + (np.arange(int(spec.duration_s * hz)) * 1e9 / hz).astype(np.int64)

    writer = Writer(path)
    if spec.compression:
        writer.set_compression(getattr(Writer.CompressionFormat, spec.compression.upper()))
    writer.open()
    conns = {}

    def conn(topic: str, msgtype: str) -> object:
        if topic not in conns:
            if topic in spec.no_definition_topics:
                conns[topic] = writer.add_connection(topic, msgtype, msgdef="", md5sum="0" * 32)
            else:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=store)
        return conns[topic]

    msgs: list[tuple[int, str, str, object]] = []  # (record time, topic, type, message)
    latency_ns = 3_000_000
    zero = spec.zero_stamps_topic
    t = times(spec.joint_hz)
    q = joint_truth((t - spec.t_start_ns) / 1e9)
    stamps = spec.sensor_stamp_edit(t.copy()) if spec.sensor_stamp_edit else t
    truth.update(sensors_t=stamps, sensors_q=q)
    vec = m["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=9.8)
    quat = m["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)
    for i, ti in enumerate(t.tolist()):
        st = 0 if zero == "/sensors_data_raw" else int(stamps[i])
        jd = m["kuavo_msgs/msg/jointData"](
            joint_q=q[i],
            joint_v=q[i] * 2,
            joint_vd=np.zeros(28),
            **{spec.fourth: q[i] * 10},
        )
        msg = m["kuavo_msgs/msg/sensorsData"](
            header=hdr(0 if spec.empty_header_sensors else st, i),
            sensor_time=stamp(st),
            joint_data=jd,
            imu_data=m["kuavo_msgs/msg/imuData"](gyro=vec, acc=vec, free_acc=vec, quat=quat),
            end_effector_data=m["kuavo_msgs/msg/endEffectorData"](
                name=[], position=np.zeros(0), velocity=np.zeros(0), effort=np.zeros(0)
            ),
        )
        msgs.append((ti + latency_ns, "/sensors_data_raw", "kuavo_msgs/msg/sensorsData", msg))
        cmd = m["kuavo_msgs/msg/jointCmd"](
            header=hdr(ti, i),
            joint_q=q[i] + 0.001,
            joint_v=np.zeros(28),
            tau=np.zeros(28),
            tau_max=np.zeros(28),
            tau_ratio=np.zeros(28),
            joint_kp=np.zeros(28),
            joint_kd=np.zeros(28),
            control_modes=np.full(28, 2, dtype=np.int32),
        )
        msgs.append((ti + latency_ns + 1000, "/joint_cmd", "kuavo_msgs/msg/jointCmd", cmd))
    th = times(spec.hand_hz)
    arm_deg = np.degrees(joint_truth((th - spec.t_start_ns) / 1e9)[:, 12:26])
    hands = (np.arange(len(th))[:, None] + np.arange(12)) % 101
    truth.update(arm_t=th, arm_deg=arm_deg, hands=hands)
    names = [f"arm_joint_{k + 1}" for k in range(14)] if spec.arm_names_in_msg else []
    for i, ti in enumerate(th.tolist()):
        pos = arm_deg[i]
        if spec.short_arm_every and i % spec.short_arm_every == 1:
            pos = pos[:12]
        js = m["sensor_msgs/msg/JointState"](
            header=hdr(ti),
            name=names[: len(pos)],
            position=pos,
            velocity=np.zeros(0),
            effort=np.zeros(0),
        )
        msgs.append((ti + 20_000_000, "/kuavo_arm_traj", "sensor_msgs/msg/JointState", js))
        hp = m["kuavo_msgs/msg/robotHandPosition"](
            header=hdr(ti),
            left_hand_position=hands[i, :6].astype(np.uint8),
            right_hand_position=hands[i, 6:].astype(np.uint8),
        )
        msgs.append(
            (ti + 5_000_000, "/control_robot_hand_position", "kuavo_msgs/msg/robotHandPosition", hp)
        )
        if spec.hand_state_jointstate:
            hs = m["sensor_msgs/msg/JointState"](
                header=hdr(ti),
                name=[],
                position=hands[i].astype(float),
                velocity=np.zeros(0),
                effort=np.zeros(0),
            )
            msgs.append((ti + 6_000_000, spec.hand_state_topic, "sensor_msgs/msg/JointState", hs))
        else:
            msgs.append(
                (ti + 6_000_000, spec.hand_state_topic, "kuavo_msgs/msg/robotHandPosition", hp)
            )
    tp = times(spec.head_hz)
    for i, ti in enumerate(tp.tolist()):
        pose = m["geometry_msgs/msg/Pose"](
            position=m["geometry_msgs/msg/Point"](x=0.1 * i, y=0.0, z=1.6),
            orientation=m["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=2.0),
        )
        ps = m["geometry_msgs/msg/PoseStamped"](header=hdr(ti), pose=pose)
        msgs.append((ti + 15_000_000, "/vr/head_pose", "geometry_msgs/msg/PoseStamped", ps))
    tc = times(spec.camera_hz)
    truth["camera_t"] = tc
    for i, ti in enumerate(tc.tolist()):
        for topic in ("/cam_h", "/cam_l", "/cam_r"):
            img = m["sensor_msgs/msg/CompressedImage"](
                header=hdr(ti),
                format="jpeg",
                data=np.frombuffer(b"\xff\xd8" + i.to_bytes(4, "little") + b"\xff\xd9", np.uint8),
            )
            msgs.append(
                (
                    ti + 30_000_000,
                    f"{topic}/color/image_raw/compressed",
                    "sensor_msgs/msg/CompressedImage",
                    img,
                )
            )
    for at_s, kind in spec.events:
        ev = m["std_msgs/msg/String"](data=kind)
        msgs.append((spec.t_start_ns + int(at_s * 1e9), "/teleop/event", "std_msgs/msg/String", ev))
    for topic, msgtype in spec.extra_topics.items():
        msgs.append((spec.t_start_ns, topic, msgtype, None))
    for topic, msgtype in spec.declared_only.items():
        conn(topic, msgtype)
    msgs.sort(key=lambda x: x[0])
    for t_rec, topic, msgtype, msg in msgs:
        if topic in spec.skip_topics and msg is not None:
            continue
        c = conn(topic, msgtype)
        if msg is None:
            writer.write(c, t_rec, b"")
            continue
        writer.write(c, t_rec, store.serialize_ros1(msg, msgtype))
    writer.close()
    return truth


# -- fixtures ---------------------------------------------------------------------------------
BEIJING = load_profile("beijing")
ZHENGZHOU = load_profile("zhengzhou")
ROBOT = load_robot_model("kuavo_4pro")
RECORDER_LATENCY_NS = 3_000_000  # write_bag's record delay on /sensors_data_raw


def manifest_meta(task_code: str | None = "open_microwave_door", **kw: object) -> RecordingMeta:
    return RecordingMeta(
        center="beijing",
        recording_id="bj-st03-20261123-0042",
        raw_format="ros1-bag",
        robot_model="kuavo_4pro",
        task_code=task_code,
        **kw,  # type: ignore[arg-type]
    )


def rejection(files: list[Path], profile: CenterProfile = BEIJING, **meta_kw: object) -> list:
    with pytest.raises(RecordingRejected) as info:
        read_recording("ros1-bag", files, manifest_meta(**meta_kw), profile)
    return list(info.value.reasons)


@pytest.fixture(scope="module")
def clean_bag(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("clean") / "bj-st03-20261123-0042.bag"
    return path, write_bag(path, BagSpec())


# -- registry ---------------------------------------------------------------------------------
def test_registry_lists_ros1_and_refuses_unknown_formats(clean_bag) -> None:
    assert "ros1-bag" in supported_formats()
    with pytest.raises(RecordingRejected) as info:
        read_recording("tape-reel", [clean_bag[0]], manifest_meta(), BEIJING)
    assert info.value.reasons[0].code == "unknown_format"


# -- known answers on a clean bag -------------------------------------------------------------
def test_clean_bag_decodes_to_the_values_written(clean_bag) -> None:
    path, truth = clean_bag
    rec = read_recording("ros1-bag", [path], manifest_meta(), BEIJING)
    js = rec.signals["joint_state"]
    names = BEIJING.streams["joint_state"].joint_order
    assert js.channels[:28] == tuple(f"position_raw.{n}" for n in names)
    assert js.values.shape == (1000, 84)
    np.testing.assert_array_equal(js.values[:, :28], truth["sensors_q"])
    np.testing.assert_array_equal(js.values[:, 28:56], truth["sensors_q"] * 2)
    np.testing.assert_array_equal(js.values[:, 56:], truth["sensors_q"] * 10)
    np.testing.assert_array_equal(js.t_ns, truth["sensors_t"])
    np.testing.assert_array_equal(js.t_received_ns, truth["sensors_t"] + RECORDER_LATENCY_NS)
    assert js.clock == "robot" and js.source == "/sensors_data_raw"
    cmd = rec.signals["joint_command"]
    np.testing.assert_array_equal(cmd.values, truth["sensors_q"] + 0.001)
    arm = rec.signals["arm_target"]
    assert arm.clock == "operator" and arm.values.shape == (200, 14)
    np.testing.assert_allclose(arm.values, truth["arm_deg"], rtol=0, atol=1e-12)
    for name in ("hand_command", "hand_state"):
        np.testing.assert_array_equal(rec.signals[name].values, truth["hands"])
    pose = rec.signals["head_pose"]
    assert pose.channels == (
        "position_raw.x",
        "position_raw.y",
        "position_raw.z",
        "orientation_raw.qx",
        "orientation_raw.qy",
        "orientation_raw.qz",
        "orientation_raw.qw",
    )
    np.testing.assert_allclose(pose.values[:3, 0], [0.0, 0.1, 0.2])
    assert pose.values[0, 6] == 2.0  # raw, not yet normalised
    cam = rec.cameras["camera_head"]
    assert cam.n_samples == 60 and cam.encoding == "jpeg"
    np.testing.assert_array_equal(cam.t_ns, truth["camera_t"])
    assert cam.frames[7] == b"\xff\xd8" + (7).to_bytes(4, "little") + b"\xff\xd9"
    assert [(e.kind, e.t_ns - T0_NS) for e in rec.events] == [
        ("recording_start", 0),
        ("recording_stop", 1_900_000_000),
    ]
    assert rec.meta.task_code == "open_microwave_door"
    assert any("metadata.json missing" in w for w in rec.meta.extra["warnings"])


def test_bulk_and_per_message_decoding_agree_and_bulk_is_faster(tmp_path: Path) -> None:
    path = tmp_path / "ten_s.bag"
    write_bag(path, BagSpec(duration_s=10.0, events=()))
    result = decode_benchmark(path, BEIJING)
    assert result["n_messages"] == 5000
    assert result["bulk_used"] == 1.0
    assert result["max_abs_diff"] == 0.0
    # measured ~40-50x on a quiet machine; 5x leaves room for a noisy shared one
    assert result["speedup"] >= 5.0, result


@pytest.mark.parametrize("dtype", ["<f8", "<i4", ">f8", "<f4"])
@pytest.mark.parametrize("offset", [0, 3, 8])
def test_copy_rows_of_unaligned_fields_equals_numpy_assignment(dtype: str, offset: int) -> None:
    """A bulk-decoded field is a strided view at any byte offset of the message matrix; the
    byte-wise copy must give exactly what numpy's element-wise cast gives."""
    rng = np.random.default_rng(5)
    n, msg, width = 257, 61, 5
    matrix = rng.integers(0, 255, size=(n, msg), dtype=np.uint8)
    item = np.dtype(dtype).itemsize
    view = np.ndarray((n, width), dtype=dtype, buffer=matrix, offset=offset, strides=(msg, item))
    expected = np.empty((n, width + 2), dtype=np.float64)
    got = np.zeros((n, width + 2), dtype=np.float64)
    with np.errstate(invalid="ignore"):  # random bytes hold signalling NaNs
        expected[:, 1 : 1 + width] = view
        copy_rows(got[:, 1 : 1 + width], view)
    np.testing.assert_array_equal(got[:, 1 : 1 + width], expected[:, 1 : 1 + width])
    assert not np.any(got[:, 0]) and not np.any(got[:, -1])  # nothing written beside


def test_decode_and_standardize_of_60s(tmp_path: Path) -> None:
    """A whole minute decodes in bulk; its cost is measured by `teleop-lake bench decode`
    (a benchmark, not a timed test: these machines are shared)."""
    path = tmp_path / "sixty_s.bag"
    write_bag(path, BagSpec(duration_s=60.0, camera_hz=1.0, events=()))
    signals, _, _, _ = read_signals([path], BEIJING, with_cameras=False)
    std = standardize_recording(Recording(manifest_meta(), signals, {}), BEIJING, ROBOT)
    assert std.signals["joint_state"].n_samples == 30_000
    assert np.isfinite(std.signals["joint_state"].values).all()


def test_joint_current_variant_and_compressed_chunks(tmp_path: Path) -> None:
    for i, compression in enumerate((None, "bz2", "lz4")):
        path = tmp_path / f"v{i}.bag"
        truth = write_bag(path, BagSpec(fourth="joint_current", compression=compression))
        js = read_recording("ros1-bag", [path], manifest_meta(), BEIJING).signals["joint_state"]
        np.testing.assert_array_equal(js.values[:, 56:], truth["sensors_q"] * 10)


def test_zhengzhou_order_and_jointstate_hand_state(tmp_path: Path) -> None:
    path = tmp_path / "zz.bag"
    truth = write_bag(path, BagSpec(hand_state_topic="/dexhand/state", hand_state_jointstate=True))
    rec = read_recording("ros1-bag", [path], manifest_meta(), ZHENGZHOU)
    np.testing.assert_array_equal(rec.signals["hand_state"].values, truth["hands"])
    std = standardize_recording(rec, ZHENGZHOU, ROBOT)
    js = std.signals["joint_state"]
    # Zhengzhou's recorder writes arms first: slot 0 is l_arm_pitch, slot 14 is l_leg_roll
    q = truth["sensors_q"]
    np.testing.assert_array_equal(
        js.values[:, js.channel_index("position_rad.l_arm_pitch")], q[:, 0]
    )
    np.testing.assert_array_equal(
        js.values[:, js.channel_index("position_rad.l_leg_roll")], q[:, 14]
    )
    np.testing.assert_array_equal(
        js.values[:, js.channel_index("position_rad.head_pitch")], q[:, 27]
    )


def test_header_without_stamp_falls_back_to_sensor_time(tmp_path: Path) -> None:
    path = tmp_path / "nohdr.bag"
    truth = write_bag(path, BagSpec(empty_header_sensors=True))
    js = read_recording("ros1-bag", [path], manifest_meta(), BEIJING).signals["joint_state"]
    np.testing.assert_array_equal(js.t_ns, truth["sensors_t"])


def test_duplicated_and_backward_stamps_are_kept_as_recorded(tmp_path: Path) -> None:
    def edit(t: np.ndarray) -> np.ndarray:
        t[100] = t[99]  # duplicate
        t[500] = t[400]  # jump back
        return t

    path = tmp_path / "stamps.bag"
    truth = write_bag(path, BagSpec(sensor_stamp_edit=edit))
    js = read_recording("ros1-bag", [path], manifest_meta(), BEIJING).signals["joint_state"]
    np.testing.assert_array_equal(js.t_ns, truth["sensors_t"])
    assert int((np.diff(js.t_ns) <= 0).sum()) == 2


def test_malformed_messages_become_nan_rows_via_the_fallback(tmp_path: Path) -> None:
    path = tmp_path / "short.bag"
    truth = write_bag(path, BagSpec(short_arm_every=10))
    rec = read_recording("ros1-bag", [path], manifest_meta(), BEIJING)
    arm = rec.signals["arm_target"].values
    bad = np.zeros(200, dtype=bool)
    bad[1::10] = True
    assert np.isnan(arm[bad]).all()
    np.testing.assert_allclose(arm[~bad], truth["arm_deg"][~bad], rtol=0, atol=1e-12)
    assert rec.meta.extra["malformed_messages"] == {"arm_target": 20}


def test_split_bag_parts_read_as_one_in_part_order(tmp_path: Path) -> None:
    p0, p1 = tmp_path / "rec_0.bag", tmp_path / "rec_1.bag"
    t0 = write_bag(p0, BagSpec(duration_s=1.0, events=((0.0, "recording_start"),)))
    t1 = write_bag(
        p1,
        BagSpec(duration_s=1.0, t_start_ns=T0_NS + 10**9, events=((0.9, "recording_stop"),)),
    )
    rec = read_recording("ros1-bag", [p1, p0], manifest_meta(), BEIJING)  # order as delivered
    js = rec.signals["joint_state"]
    np.testing.assert_array_equal(js.t_ns, np.concatenate([t0["sensors_t"], t1["sensors_t"]]))
    assert rec.cameras["camera_left"].n_samples == 60
    assert [e.kind for e in rec.events] == ["recording_start", "recording_stop"]
    assert rec.meta.extra["bag_files"] == ["rec_0.bag", "rec_1.bag"]


# -- label files ------------------------------------------------------------------------------
METADATA = {
    "device_sn": "P4-210",
    "eef_type": "dexhand",
    "scene_code": "kitchen",
    "scene_name": "厨房",
    "sub_scene_code": "microwave",
    "sub_scene_name": "微波炉",
    "task_group_code": "appliances",
    "task_group_name": "家电",
    "task_code": "open_microwave_door",
    "task_name": "打开微波炉门",
    "operator_mark": "failure",
    "marks": [
        {
            "markStart": "09:14:08",
            "markEnd": "09:14:09",
            "duration": "1.0s",
            "skillAtomic": "pick",
            "skillDetail": "拿起",
            "enSkillDetail": "pick the cup",
            "markType": "step",
            "startPosition": 0.25,
            "endPosition": 0.5,
        },
    ],
}


def test_metadata_fills_meta_and_makes_label_events(clean_bag, tmp_path: Path) -> None:
    path, _ = clean_bag
    meta_file = tmp_path / "bj-st03-20261123-0042.metadata.json"
    meta_file.write_text(json.dumps(METADATA, ensure_ascii=False), encoding="utf-8")
    rec = read_recording("ros1-bag", [path, meta_file], manifest_meta(task_code=None), BEIJING)
    assert rec.meta.task_code == "open_microwave_door"
    assert rec.meta.robot_serial == "P4-210" and rec.meta.scene == "kitchen"
    assert rec.meta.extra["task_name"] == "打开微波炉门" and rec.meta.extra["eef_type"] == "dexhand"
    t_end = rec.meta.extra["t_last_record_ns"]
    marks = [e for e in rec.events if e.kind == "operator_mark"]
    assert [(e.value, e.t_ns) for e in marks] == [("failure", t_end)]
    skill = [e for e in rec.events if e.kind == "skill_mark"]
    span = t_end - rec.meta.extra["t_first_record_ns"]
    assert [(e.value, e.t_ns) for e in skill] == [("pick", T0_NS + round(0.25 * span))]
    # the manifest wins over the label file
    rec2 = read_recording(
        "ros1-bag", [path, meta_file], manifest_meta(task_code="other", robot_serial="X"), BEIJING
    )
    assert rec2.meta.task_code == "other" and rec2.meta.robot_serial == "X"


def test_moments_json_variant_and_no_operator_mark(clean_bag, tmp_path: Path) -> None:
    path, _ = clean_bag
    meta_doc = {k: v for k, v in METADATA.items() if k not in ("marks", "operator_mark")}
    (tmp_path / "metadata.json").write_text(json.dumps(meta_doc), encoding="utf-8")
    moments = [
        {
            "triggerTime": "2026-09-21T01:00:00Z",
            "duration": "0.5s",
            "customFieldValues": {"skill_atomic": "place", "start_position": 0.5},
        }
    ]
    (tmp_path / "moments.json").write_text(json.dumps(moments), encoding="utf-8")
    rec = read_recording(
        "ros1-bag",
        [path, tmp_path / "metadata.json", tmp_path / "moments.json"],
        manifest_meta(),
        BEIJING,
    )
    assert [e.value for e in rec.events if e.kind == "skill_mark"] == ["place"]
    assert not [e for e in rec.events if e.kind == "operator_mark"]


def test_no_metadata_and_no_task_code_is_rejected(clean_bag) -> None:
    reasons = rejection([clean_bag[0]], task_code=None)
    assert [r.code for r in reasons] == ["file_missing"]
    assert "task_code" in reasons[0].message


def test_garbage_metadata_json_is_corrupt(clean_bag, tmp_path: Path) -> None:
    bad = tmp_path / "metadata.json"
    bad.write_bytes(b"{not json")
    reasons = rejection([clean_bag[0], bad])
    assert [(r.code, r.file) for r in reasons] == [("corrupt_file", "metadata.json")]


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("keep_fraction", [0.999, 0.6, 0.05, 0.001])
def test_truncated_bag_is_rejected_as_truncated(clean_bag, tmp_path: Path, keep_fraction) -> None:
    data = clean_bag[0].read_bytes()
    cut = tmp_path / "cut.bag"
    cut.write_bytes(data[: int(len(data) * keep_fraction)])
    reasons = rejection([cut])
    assert [(r.code, r.file) for r in reasons] == [("truncated_file", "cut.bag")]


def test_garbage_bytes_are_corrupt(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bag"
    junk.write_bytes(np.random.default_rng(7).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    assert [r.code for r in rejection([junk])] == ["corrupt_file"]


@pytest.mark.parametrize("patch", [b"\xff" * 64, b"\x00" * 64, b"\x08\x00\x00\x00garbage!" * 8])
def test_garbage_in_the_index_is_corrupt(clean_bag, tmp_path: Path, patch: bytes) -> None:
    data = bytearray(clean_bag[0].read_bytes())
    with Reader(clean_bag[0]) as r:  # rosbags' own reader locates the connection records
        assert r.connections
    (hlen,) = np.frombuffer(data[13:17], "<u4")
    header = bytes(data[17 : 17 + hlen])
    index_pos = int(np.frombuffer(header[header.index(b"index_pos=") + 10 :][:8], "<u8")[0])
    data[index_pos : index_pos + len(patch)] = patch
    bad = tmp_path / "patched.bag"
    bad.write_bytes(bytes(data))
    assert [(r.code, r.file) for r in rejection([bad])] == [("corrupt_file", "patched.bag")]


@pytest.mark.parametrize("where", ["next chunk's record", "next chunk's header", "chunk's end"])
def test_an_index_entry_pointing_out_of_its_chunk_is_truncated(
    clean_bag, tmp_path, where: str
) -> None:
    """Chunks are read several at once: a record must still lie inside its own chunk, and an
    entry pointing out of it is judged as when chunks were read one by one."""
    data = bytearray(clean_bag[0].read_bytes())
    with Ros1Bag(clean_bag[0]) as bag:
        first, second = bag._chunks[:2]
        assert second.compression == "none"
        # an index record after chunk 0's data: its last entry is pointed at a whole, valid
        # record of the same connection in chunk 1
        pos = first.data_pos + first.data_len
        while True:
            fields, entries_pos, entries_len, pos = bag._record(pos)
            conn = int(np.frombuffer(fields["conn"], "<u4")[0])
            if conn in second.index:
                break
        there = {
            "next chunk's record": second.data_pos
            - first.data_pos
            + int(second.index[conn]["offset"][0]),
            "next chunk's header": second.pos - first.data_pos,
            "chunk's end": first.data_len - 2,
        }[where]
    last_offset = entries_pos + entries_len - 4
    data[last_offset : last_offset + 4] = np.uint32(there).tobytes()
    bad = tmp_path / "pointing.bag"
    bad.write_bytes(bytes(data))
    assert [(r.code, r.file) for r in rejection([bad])] == [("truncated_file", "pointing.bag")]


@pytest.mark.parametrize("change", ["topic", "definition"])
def test_a_connection_damaged_in_the_index_section_is_corrupt(
    clean_bag, tmp_path: Path, change: str
) -> None:
    """The index section repeats each connection record written in the chunks: bytes
    overwritten there must not rename a topic (a camera then missing) or change a definition."""
    data = bytearray(clean_bag[0].read_bytes())
    with Ros1Bag(clean_bag[0]) as bag:
        header, _, _, _ = bag._record(len(BAG_MAGIC))
        pos = header_u64(header, "index_pos")
        _, conn_data, conn_len, _ = bag._record(pos)  # the first connection record
    section = bytes(data[pos:conn_data])
    if change == "topic":
        at = pos + section.index(b"topic=") + len(b"topic=") + 1
        data[at : at + 3] = b"XYZ"
    else:
        body = bytes(data[conn_data : conn_data + conn_len])
        at = conn_data + body.index(b"message_definition=") + len(b"message_definition=")
        data[at : at + 3] = b"XYZ"
    bad = tmp_path / "renamed.bag"
    bad.write_bytes(bytes(data))
    assert [(r.code, r.file) for r in rejection([bad])] == [("corrupt_file", "renamed.bag")]


@pytest.mark.parametrize("field", ["a connection's count", "the number of connections"])
def test_a_chunk_summary_that_disagrees_with_the_chunk_index_is_corrupt(
    clean_bag, tmp_path: Path, field: str
) -> None:
    """The chunk infos at the end of a bag repeat each chunk's per-connection counts: bytes
    overwritten there (a damaged tail) must not drop a connection's messages silently."""
    data = bytearray(clean_bag[0].read_bytes())
    with Ros1Bag(clean_bag[0]) as bag:
        header, _, _, _ = bag._record(len(BAG_MAGIC))
        pos = header_u64(header, "index_pos")
        for _ in range(header_u32(header, "conn_count")):
            _, _, _, pos = bag._record(pos)
        hlen = int(np.frombuffer(data[pos : pos + 4], "<u4")[0])
        _, info_data, _, _ = bag._record(pos)  # the first chunk info
    if field == "a connection's count":
        at = info_data + 4  # the first (conn, count) pair's count
        data[at : at + 4] = (int(np.frombuffer(data[at : at + 4], "<u4")[0]) + 1).to_bytes(
            4, "little"
        )
    else:
        at = bytes(data[pos + 4 : pos + 4 + hlen]).index(b"count=") + pos + 4 + 6
        data[at : at + 4] = (int(np.frombuffer(data[at : at + 4], "<u4")[0]) - 1).to_bytes(
            4, "little"
        )
    bad = tmp_path / "summary.bag"
    bad.write_bytes(bytes(data))
    assert [(r.code, r.file) for r in rejection([bad])] == [("corrupt_file", "summary.bag")]


def test_missing_required_topic_names_topic_and_file(tmp_path: Path) -> None:
    path = tmp_path / "nocmd.bag"
    write_bag(path, BagSpec(skip_topics=("/joint_cmd", "/vr/head_pose")))
    reasons = rejection([path])
    assert [(r.code, r.stream, r.file) for r in reasons] == [
        ("missing_stream", "joint_command", "nocmd.bag")
    ]
    assert "/joint_cmd" in reasons[0].message


def test_required_topic_without_messages_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "emptyarm.bag"
    write_bag(
        path,
        BagSpec(
            skip_topics=("/kuavo_arm_traj",),
            declared_only={"/kuavo_arm_traj": "sensor_msgs/msg/JointState"},
        ),
    )
    assert {t.topic: t.count for t in list_topics(path)}["/kuavo_arm_traj"] == 0
    reasons = rejection([path])
    assert [(r.code, r.stream) for r in reasons] == [("missing_stream", "arm_target")]
    assert "holds no messages" in reasons[0].message


def test_a_camera_declared_without_a_frame_is_an_empty_camera(tmp_path: Path) -> None:
    """A camera driver that died before its first frame leaves a declared topic without
    messages: the recording reads, with that camera empty."""
    topic = "/cam_r/color/image_raw/compressed"
    path = tmp_path / "deadcam.bag"
    write_bag(
        path,
        BagSpec(skip_topics=(topic,), declared_only={topic: "sensor_msgs/msg/CompressedImage"}),
    )
    rec = read_recording("ros1-bag", [path], manifest_meta(), BEIJING)
    assert len(rec.cameras["camera_right"].frames) == 0
    assert len(rec.cameras["camera_left"].frames) > 0


def test_optional_head_pose_may_be_absent(tmp_path: Path) -> None:
    path = tmp_path / "nohead.bag"
    write_bag(path, BagSpec(skip_topics=("/vr/head_pose", "/cam_r/color/image_raw/compressed")))
    rec = read_recording("ros1-bag", [path], manifest_meta(), BEIJING)
    assert "head_pose" not in rec.signals and "camera_right" not in rec.cameras
    assert rec.meta.extra["absent_optional_streams"] == ["head_pose", "camera_right"]


def test_topic_of_another_type_is_unmapped(tmp_path: Path) -> None:
    path = tmp_path / "wrongtype.bag"
    write_bag(
        path,
        BagSpec(
            skip_topics=("/joint_cmd",), extra_topics={"/joint_cmd": "sensor_msgs/msg/JointState"}
        ),
    )
    reasons = rejection([path])
    assert [(r.code, r.stream) for r in reasons] == [("unmapped_stream", "joint_command")]
    assert "kuavo_msgs/jointCmd" in reasons[0].message


def test_topic_without_definition_is_unknown_message_type(tmp_path: Path) -> None:
    path = tmp_path / "nodef.bag"
    write_bag(path, BagSpec(no_definition_topics=("/joint_cmd",)))
    reasons = rejection([path])
    assert [(r.code, r.stream, r.file) for r in reasons] == [
        ("unknown_message_type", "joint_command", "nodef.bag")
    ]


def test_zero_stamps_are_bad_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "zero.bag"
    write_bag(path, BagSpec(zero_stamps_topic="/sensors_data_raw"))
    reasons = rejection([path])
    assert [(r.code, r.stream) for r in reasons] == [("bad_timestamps", "joint_state")]


def test_stamps_before_2000_are_bad_timestamps(tmp_path: Path) -> None:
    # a robot clock that booted at the epoch: 1996 (ROS 1 time cannot hold 2100 + stamps)
    path = tmp_path / "epoch.bag"
    write_bag(path, BagSpec(sensor_stamp_edit=lambda t: t - 30 * 365 * 86400 * 10**9))
    reasons = rejection([path])
    assert [(r.code, r.stream) for r in reasons] == [("bad_timestamps", "joint_state")]
    assert "1000 of 1000" in reasons[0].message


# -- a real bag nobody here wrote -------------------------------------------------------------
def test_list_topics_of_the_real_bag() -> None:
    topics = {t.topic: t for t in list_topics(REAL_BAG)}
    assert {k: (v.msgtype, v.count) for k, v in topics.items()} == {
        "ORB-SLAM": ("geometry_msgs/PoseStamped", 8362),
        "S-PTAM": ("geometry_msgs/PoseStamped", 5439),
        "groundtruth": ("geometry_msgs/PoseStamped", 12765),
    }
    gt = topics["groundtruth"]
    assert gt.first_ns == 1502792570283404827 and gt.last_ns == 1502793459302349567
    assert gt.mean_rate_hz == pytest.approx(12764 / ((gt.last_ns - gt.first_ns) / 1e9))


def test_real_bag_pose_decodes_like_rosbags_and_is_rejected_without_joints() -> None:
    with Ros1Bag(REAL_BAG) as bag:
        raw = bag.read_topics(["groundtruth"])["groundtruth"]
        store, msgtype = typestore_for(raw.connection.msgtype, raw.connection.msgdef)
        paths = ["pose.position.x", "pose.position.y", "pose.position.z", "header.stamp"]
        fast = decode_fields(raw, store, msgtype, paths)
        slow = decode_fields(raw, store, msgtype, paths, allow_bulk=False)
    assert fast.bulk and not slow.bulk
    a, _ = numeric_rows(fast, paths[:3], 3)
    b, _ = numeric_rows(slow, paths[:3], 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(stamp_ns(fast, "header.stamp"), stamp_ns(slow, "header.stamp"))

    toml = (
        "name = 'lab'\ntimezone = 'UTC'\nraw_format = 'ros1-bag'\nrobot_model = 'kuavo_4pro'\n"
        "[streams.joint_state]\ntopic = '/sensors_data_raw'\nmessage = 'kuavo_msgs/sensorsData'\n"
        "clock = 'robot'\n"
        "[streams.head_pose]\ntopic = 'groundtruth'\nmessage = 'geometry_msgs/PoseStamped'\n"
        "clock = 'operator'\n"
    )
    reasons = rejection([REAL_BAG], profile=profile_from_toml(toml))
    missing = [r for r in reasons if r.code == "missing_stream"]
    assert [(r.stream, r.file) for r in missing] == [("joint_state", "ROS_example.bag")]
    assert "/sensors_data_raw" in missing[0].message and "groundtruth" in missing[0].message
    # the required streams the profile does not map at all are named too (hand_state is
    # optional: some rigs publish none)
    assert {r.stream for r in reasons if r.code == "unmapped_stream"} == {
        "joint_command",
        "arm_target",
        "hand_command",
    }
