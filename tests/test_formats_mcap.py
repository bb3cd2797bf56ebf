"""ROS 2 MCAP reading: the container, CDR bulk decoding, the jinan adapter, real files, bad input."""

from __future__ import annotations

import dataclasses
import errno
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import zstandard
from mcap.writer import Writer as McapWriter
from rosbags.rosbag2 import Reader as Rosbag2Reader
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Rosbag2Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from synthetic_teleop import SMALL_CAMERA
from typer.testing import CliRunner

from teleop_lake.canonical import Recording, RecordingMeta
from teleop_lake.cli import app
from teleop_lake.config.centers import load_profile, profile_from_toml
from teleop_lake.config.robots import load_robot_model
from teleop_lake.formats import read_recording, ros2_mcap
from teleop_lake.formats.cdr_layout import cdr_typestore_for, decode_cdr_fields
from teleop_lake.formats.listing import list_streams
from teleop_lake.formats.mcap_container import MAX_MESSAGE_BYTES, McapFile, decompress_messages
from teleop_lake.formats.ros1_layout import numeric_rows, stamp_ns
from teleop_lake.formats.ros1_records import PayloadSegment
from teleop_lake.formats.ros2_mcap import decode_benchmark, read_signals
from teleop_lake.rejection import RecordingRejected
from teleop_lake.simulate import simulate_network
from teleop_lake.simulate.ros2_bag import MCAP_STORAGES, restore_mcap
from teleop_lake.standardize import standardize_recording

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-samples" / "ros"
if not REAL.is_dir():
    REAL = Path("/work/shared/real-samples/ros")
NAV2 = REAL / "nav2_turtlebot.mcap"
DATE = "2026-11-23"

POSE_PROFILE = """
name = "nav2"
timezone = "UTC"
raw_format = "ros2-mcap"
robot_model = "kuavo_4pro"
[streams.head_pose]
topic = "/amcl_pose"
message = "geometry_msgs/PoseWithCovarianceStamped"
clock = "robot"
stamp_field = "record_time"  # the header stamps are simulation time (seconds since start)
"""


@pytest.fixture(scope="module")
def jinan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("net")
    simulate_network(
        out,
        episodes_per_center=2,
        seed=5,
        date=DATE,
        profile="clean",
        centers=["jinan"],
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
    )
    return out


def _lines(net: Path, center: str) -> list[dict[str, object]]:
    text = (net / center / DATE / "_manifest.jsonl").read_text()
    return [json.loads(x) for x in text.splitlines()]


def _files(net: Path, center: str, line: dict[str, object]) -> list[Path]:
    return [net / center / DATE / str(f["path"]) for f in line["files"]]  # type: ignore[attr-defined, index]


def _meta(center: str, line: dict[str, object]) -> RecordingMeta:
    return RecordingMeta(center, str(line["recording_id"]), str(line["format"]), "kuavo_4pro", None)


# --- real files --------------------------------------------------------------------------


def test_real_mcap_lists_every_topic_with_its_type_and_count() -> None:
    topics = {t.topic: t for t in list_streams(NAV2)}
    assert {k: v.count for k, v in topics.items()} == {
        "/odom": 2639,
        "/tf": 5422,
        "/tf_static": 1,
        "/amcl_pose": 135,
    }
    assert topics["/amcl_pose"].msgtype == "geometry_msgs/msg/PoseWithCovarianceStamped"
    assert topics["/odom"].mean_rate_hz == pytest.approx(27.1, abs=0.1)
    assert topics["/amcl_pose"].max_gap_s == pytest.approx(4.43, abs=0.01)


def test_real_sqlite_rosbag2_folder_lists_its_topics() -> None:
    topics = {t.topic: t for t in list_streams(REAL / "tf_example")}
    assert {k: v.count for k, v in topics.items()} == {"/tf": 517, "/tf_static": 1}
    assert topics["/tf"].msgtype == "tf2_msgs/msg/TFMessage"


def test_a_sqlite3_rosbag2_delivered_as_mcap_is_refused_saying_what_it_is() -> None:
    folder = REAL / "tf_example"
    meta = RecordingMeta("jinan", "tf_example", "ros2-mcap", "kuavo_4pro", None)
    with pytest.raises(RecordingRejected) as exc:
        read_recording("ros2-mcap", sorted(folder.iterdir()), meta, load_profile("jinan"))
    (reason,) = exc.value.reasons
    assert (reason.code, reason.file) == ("unknown_format", "tf_example.db3")
    assert "sqlite3" in reason.message and "ros2 bag convert" in reason.message


def test_cli_inspect_lists_mcap_and_refuses_unknown_files(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["inspect", str(NAV2), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["topic"]: r for r in json.loads(res.stdout)["streams"]}
    assert rows["/tf"]["count"] == 5422 and "max_gap_s" in rows["/tf"]
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    res = CliRunner().invoke(app, ["inspect", str(odd)])
    assert res.exit_code == 1 and "unknown recording type" in res.output


def test_a_profile_mapping_a_real_pose_topic_decodes_it_in_bulk() -> None:
    profile = profile_from_toml(POSE_PROFILE)
    signals, _, _, _ = read_signals([NAV2], profile, required=())
    pose = signals["head_pose"]
    assert pose.n_samples == 135 and pose.source == "/amcl_pose"
    assert pose.channels[:3] == ("position_raw.x", "position_raw.y", "position_raw.z")
    q = pose.values[:, 3:]
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-6)
    assert pose.t_received_ns is not None and (pose.t_ns == pose.t_received_ns).all()
    # the same values as rosbags' per-message CDR deserializer
    with McapFile(NAV2) as f:
        raw = f.read_topics(["/amcl_pose"])["/amcl_pose"]
    store = cdr_typestore_for(raw.connection.msgtype, raw.connection.msgdef)
    paths = ["pose.pose.position.x", "pose.pose.orientation.w", "header.stamp"]
    fast = decode_cdr_fields(raw, store, "geometry_msgs/msg/PoseWithCovarianceStamped", paths)
    slow = decode_cdr_fields(
        raw, store, "geometry_msgs/msg/PoseWithCovarianceStamped", paths, allow_bulk=False
    )
    assert fast.bulk and not slow.bulk
    a, _ = numeric_rows(fast, paths[:2], 2)
    b, _ = numeric_rows(slow, paths[:2], 2)
    assert np.array_equal(a, b)
    assert np.array_equal(stamp_ns(fast, "header.stamp"), stamp_ns(slow, "header.stamp"))


def test_real_topics_that_cannot_be_mapped_are_refused_clearly() -> None:
    wrong_type = POSE_PROFILE.replace("/amcl_pose", "/odom")
    with pytest.raises(RecordingRejected) as exc:
        read_signals([NAV2], profile_from_toml(wrong_type), required=())
    (reason,) = exc.value.reasons
    assert reason.code == "unmapped_stream" and reason.stream == "head_pose"
    assert "nav_msgs/msg/Odometry" in reason.message and reason.file == NAV2.name
    no_decoder = wrong_type.replace("/odom", "/tf").replace(
        "geometry_msgs/PoseWithCovarianceStamped", "tf2_msgs/TFMessage"
    )
    with pytest.raises(RecordingRejected) as exc:
        read_signals([NAV2], profile_from_toml(no_decoder), required=())
    assert exc.value.reasons[0].code == "unmapped_stream"
    assert "no decoder for message type tf2_msgs/msg/TFMessage" in exc.value.reasons[0].message
    # header stamps in simulation time (seconds since start) are refused, not mistaken for 1970
    stamped = POSE_PROFILE.replace('stamp_field = "record_time"', "")
    with pytest.raises(RecordingRejected) as exc:
        read_signals([NAV2], profile_from_toml(stamped), required=())
    assert exc.value.reasons[0].code == "bad_timestamps"


# --- the simulated Jinan center ------------------------------------------------------------


def test_jinan_reads_into_the_canonical_model_with_stamps_apart_from_log_times(
    jinan: Path,
) -> None:
    profile = load_profile("jinan")
    robot = load_robot_model(profile.robot_model)
    for line in _lines(jinan, "jinan"):
        assert line["format"] == "ros2-mcap"
        rec = read_recording(
            "ros2-mcap", _files(jinan, "jinan", line), _meta("jinan", line), profile
        )
        std = standardize_recording(rec, profile, robot)
        js = std.signals["joint_state"]
        assert js.channels[: len(robot.joint_names)] == tuple(
            f"position_rad.{j}" for j in robot.joint_names
        )
        assert np.isfinite(js.values).all()
        knee = js.values[:, robot.joint_names.index("l_knee")]
        assert abs(np.median(knee) - 0.6) < 0.05  # the standing knee, in radians
        assert js.t_received_ns is not None
        lag_ms = (js.t_received_ns - js.t_ns) / 1e6
        assert 0.5 < np.median(lag_ms) < 16  # log time = header stamp + transport delay
        hands = std.signals["hand_state"].values
        assert hands.min() >= 0.0 and hands.max() <= 1.0
        assert set(std.cameras) == {"camera_head", "camera_left", "camera_right"}
        assert std.cameras["camera_head"].frames[0][:2] == b"\xff\xd8"
        assert rec.events[0].kind == "recording_start"
        assert rec.meta.task_code == line["task_code"]


def test_jinan_joint_stream_decodes_in_bulk_and_matches_rosbags(jinan: Path) -> None:
    line = _lines(jinan, "jinan")[0]
    mcap = next(p for p in _files(jinan, "jinan", line) if p.suffix == ".mcap")
    figures = decode_benchmark(mcap, load_profile("jinan"))
    assert figures["bulk_used"] == 1.0 and figures["max_abs_diff"] == 0.0
    assert figures["n_messages"] > 1000


def test_truncated_mcap_is_quarantined_naming_the_file(jinan: Path, tmp_path: Path) -> None:
    line = _lines(jinan, "jinan")[0]
    files = _files(jinan, "jinan", line)
    mcap = next(p for p in files if p.suffix == ".mcap")
    cut = tmp_path / mcap.name
    cut.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    others = [p for p in files if p != mcap]
    with pytest.raises(RecordingRejected) as exc:
        read_recording("ros2-mcap", [cut, *others], _meta("jinan", line), load_profile("jinan"))
    (reason,) = exc.value.reasons
    assert reason.code == "truncated_file" and reason.file == mcap.name
    assert "re-deliver" in reason.message


def test_a_missing_topic_and_a_split_part_gap_are_quarantined(jinan: Path, tmp_path: Path) -> None:
    line = _lines(jinan, "jinan")[0]
    files = _files(jinan, "jinan", line)
    mcap = next(p for p in files if p.suffix == ".mcap")
    label = next(p for p in files if p.name.endswith(".metadata.json"))
    profile = load_profile("jinan")
    moved = profile_from_toml(
        (Path(__file__).parents[1] / "src/teleop_lake/config/centers/jinan.toml")
        .read_text()
        .replace('"/joint_states"', '"/robot/joint_states"')
    )
    with pytest.raises(RecordingRejected) as exc:
        read_recording("ros2-mcap", [mcap, label], _meta("jinan", line), moved)
    (reason,) = exc.value.reasons
    assert reason.code == "missing_stream" and reason.stream == "joint_state"
    assert "/robot/joint_states" in reason.message and reason.file == mcap.name
    part = tmp_path / "rec_1.mcap"
    shutil.copy(mcap, part)
    with pytest.raises(RecordingRejected) as exc:
        read_recording("ros2-mcap", [part, label], _meta("jinan", line), profile)
    assert exc.value.reasons[0].code == "file_missing"
    assert "lacks part(s) [0]" in exc.value.reasons[0].message


def _assert_same_recording(got: Recording, plain: Recording) -> None:
    """The same streams, camera frames and events as ``plain``."""
    assert set(got.signals) == set(plain.signals)
    for name, stream in plain.signals.items():
        assert np.array_equal(got.signals[name].values, stream.values, equal_nan=True), name
        assert np.array_equal(got.signals[name].t_ns, stream.t_ns), name
    assert set(got.cameras) == set(plain.cameras) and plain.cameras
    for name, cam in plain.cameras.items():
        assert list(got.cameras[name].frames) == list(cam.frames), name
    assert got.events == plain.events


def _recompressed(bag_dir: Path, out: Path, mode: str) -> list[Path]:
    """The rosbag2 folder ``bag_dir`` rewritten by rosbags with rosbag2's own zstd compression
    (``ros2 bag record --compression-mode message|file``); its files."""
    with Rosbag2Reader(bag_dir) as reader:
        writer = Rosbag2Writer(out, version=8, storage_plugin=StoragePlugin.MCAP)
        writer.set_compression(CompressionMode[mode.upper()], CompressionFormat.ZSTD)
        writer.open()
        conns = {
            c.id: writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
            for c in reader.connections
        }
        for conn, t, raw in reader.messages():
            writer.write(conns[conn.id], t, raw)
        writer.close()
    return sorted(out.iterdir())


@pytest.mark.parametrize("mode", ["message", "file"])
def test_rosbag2_compressed_bags_read_as_the_plain_one(
    jinan: Path, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bag recorded with rosbag2's zstd compression (per message, or the whole ``.mcap.zstd``)
    decodes to the same streams, frames and events as the plain one."""
    line = _lines(jinan, "jinan")[0]
    files = _files(jinan, "jinan", line)
    mcap = next(p for p in files if p.suffix == ".mcap")
    label = next(p for p in files if p.name.endswith(".metadata.json"))
    meta, profile = _meta("jinan", line), load_profile("jinan")
    plain = read_recording("ros2-mcap", files, meta, profile)
    packed = _recompressed(mcap.parent, tmp_path / f"{mcap.stem}-{mode}", mode)
    scratch = tmp_path / "scratch"  # where a packed part is inflated while it is read
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert [p.suffix for p in packed] == [".zstd" if mode == "file" else ".mcap", ".yaml"]
    got = read_recording("ros2-mcap", [*packed, label], meta, profile)
    assert got.meta.extra["rosbag2_compression"] == f"zstd per {mode}"
    _assert_same_recording(got, plain)
    assert list(scratch.iterdir()) == []


def _restored(
    jinan: Path, tmp_path: Path, storage: str
) -> tuple[list[Path], Any, dict[str, object]]:
    """The first Jinan recording's rosbag2 folder copied and its MCAP file rewritten with
    ``storage`` (`restore_mcap`): (its files with the label file, the MCAP summary, the
    manifest line)."""
    from mcap.reader import make_reader

    line = _lines(jinan, "jinan")[0]
    files = _files(jinan, "jinan", line)
    mcap = next(p for p in files if p.suffix == ".mcap")
    label = next(p for p in files if p.name.endswith(".metadata.json"))
    folder = tmp_path / mcap.parent.name
    shutil.copytree(mcap.parent, folder)
    restore_mcap(folder / mcap.name, storage)
    with (folder / mcap.name).open("rb") as f:
        summary = make_reader(f).get_summary()
    assert summary is not None
    return [*sorted(folder.iterdir()), label], summary, line


@pytest.mark.parametrize("storage", MCAP_STORAGES)
def test_bags_of_other_mcap_storage_configurations_read_as_the_plain_one(
    jinan: Path, tmp_path: Path, storage: str
) -> None:
    """MCAP storage as other recorder configurations write it (no chunks at all; zstd chunks
    with CRCs) decodes to the same streams, frames and events as rosbags' plain chunks."""
    files, summary, line = _restored(jinan, tmp_path, storage)
    meta, profile = _meta("jinan", line), load_profile("jinan")
    plain = read_recording("ros2-mcap", _files(jinan, "jinan", line), meta, profile)
    assert bool(summary.chunk_indexes) == (storage == "zstd_chunks")
    assert {c.compression for c in summary.chunk_indexes} <= {"zstd"}
    got = read_recording("ros2-mcap", files, meta, profile)
    _assert_same_recording(got, plain)


def test_a_damaged_compressed_chunk_is_a_corrupt_file(jinan: Path, tmp_path: Path) -> None:
    """A zeroed region inside a zstd chunk's data (the damaged-recordings run's case) is
    refused as corrupt_file naming the file, not a processing error."""
    files, summary, line = _restored(jinan, tmp_path, "zstd_chunks")
    part = next(p for p in files if p.suffix == ".mcap")
    chunk = max(summary.chunk_indexes, key=lambda c: c.compressed_size)
    data = bytearray(part.read_bytes())
    middle = chunk.chunk_start_offset + chunk.chunk_length // 2
    data[middle : middle + 4096] = bytes(4096)
    part.write_bytes(bytes(data))
    with pytest.raises(RecordingRejected) as exc:
        read_recording("ros2-mcap", files, _meta("jinan", line), load_profile("jinan"))
    (reason,) = exc.value.reasons
    assert reason.code == "corrupt_file" and reason.file == part.name, reason
    assert "chunk" in reason.message


def test_metadata_yaml_that_is_not_plain_settings_says_nothing(tmp_path: Path) -> None:
    """Aliases expanding to huge trees, deep nesting, lists and unreadable files are not
    settings: no compression is read from them, quickly, and nothing is refused."""
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for k in range(1, 9):
        laughs.append(f"{chr(97 + k)}: &{chr(97 + k)} [" + ", ".join([f"*{chr(96 + k)}"] * 9) + "]")
    cases = {
        "laughs": "\n".join(laughs)
        + "\nrosbag2_bagfile_information:\n  compression_mode: *i\n  compression_format: *i\n",
        "deep": "rosbag2_bagfile_information: " + "[" * 5000 + "]" * 5000 + "\n",
        "list": "rosbag2_bagfile_information:\n  compression_mode: [file]\n",
        "binary": "\udcff",
    }
    for name, text in cases.items():
        path = tmp_path / name / "metadata.yaml"
        path.parent.mkdir()
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        assert ros2_mcap.rosbag2_compression(path) == "", name
    assert ros2_mcap.rosbag2_compression(tmp_path / "absent.yaml") == ""


def test_a_compressed_message_claiming_too_much_is_refused_before_it_is_inflated() -> None:
    big = zstandard.ZstdCompressor().compress(bytes(MAX_MESSAGE_BYTES + 1))
    seg = PayloadSegment(np.frombuffer(big, np.uint8), np.array([0]), np.array([len(big)]))
    with pytest.raises(ValueError, match="claims"):
        decompress_messages(seg, "zstd")
    empty = PayloadSegment(np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert len(decompress_messages(empty, "zstd").lengths) == 0


def test_rigs_recording_with_rosbag2_compression_deliver_readable_bags(tmp_path: Path) -> None:
    """The simulator's ROS 2 rigs vary in rosbag2's own compression (seed 9: per message and
    per file) and in their MCAP storage (unchunked, zstd chunks); their intact recordings
    read like the plain ones."""
    net = tmp_path / "net"
    simulate_network(
        net,
        episodes_per_center=8,
        seed=9,
        date=DATE,
        profile="default",
        centers=["jinan"],
        duration_scale=0.2,
        camera_size=SMALL_CAMERA,
    )
    truth = pl.read_parquet(net / "_truth" / "recordings.parquet").filter(
        pl.col("file_fault").is_in(["none", "checksum_mismatch"])
        & pl.col("missing_stream").is_null()
    )
    assert set(truth["rosbag2_compression"].drop_nulls()) == {"message", "file"}
    assert set(truth["mcap_storage"].drop_nulls()) == {"fastwrite", "zstd_chunks"}
    lines = {str(x["recording_id"]): x for x in _lines(net, "jinan")}
    profile = load_profile("jinan")
    for row in truth.iter_rows(named=True):
        line = lines[row["recording_id"]]
        rec = read_recording("ros2-mcap", _files(net, "jinan", line), _meta("jinan", line), profile)
        mode = row["rosbag2_compression"]
        assert rec.meta.extra.get("rosbag2_compression") == (mode and f"zstd per {mode}")
        assert rec.signals["joint_state"].values.shape[0] > 0 and rec.cameras


def test_rosbag2_compression_that_cannot_be_read_is_refused_clearly(
    jinan: Path, tmp_path: Path
) -> None:
    line = _lines(jinan, "jinan")[0]
    mcap = next(p for p in _files(jinan, "jinan", line) if p.suffix == ".mcap")
    meta, profile = _meta("jinan", line), load_profile("jinan")
    packed, yaml_file = _recompressed(mcap.parent, tmp_path / "file", "file")

    def refused(files: list[Path], prof: object = profile) -> tuple[str, str | None, str]:
        with pytest.raises(RecordingRejected) as exc:
            read_recording("ros2-mcap", files, meta, prof)  # type: ignore[arg-type]
        (reason,) = exc.value.reasons
        return reason.code, reason.file, reason.message

    # inflating past the center's per-file cap stops there
    tiny = dataclasses.replace(profile, max_file_gib=1e-6)
    assert refused([packed, yaml_file], tiny)[:2] == ("file_too_large", packed.name)
    # damaged compressed bytes
    broken = tmp_path / "broken" / packed.name
    broken.parent.mkdir()
    data = bytearray(packed.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    broken.write_bytes(bytes(data))
    code, file, _ = refused([broken, yaml_file])
    assert (code, file) in {("corrupt_file", packed.name), ("truncated_file", packed.name)}
    # cut short, or empty: truncated, naming the delivered file (not its inflated copy)
    for size in (len(data) // 2, 0):
        cut = tmp_path / f"cut{size}" / packed.name
        cut.parent.mkdir()
        cut.write_bytes(packed.read_bytes()[:size])
        assert refused([cut, yaml_file])[:2] == ("truncated_file", packed.name)
    # an MCAP error inside an inflated part names the delivered file too
    inner = tmp_path / "inner" / packed.name
    inner.parent.mkdir()
    mcap_bytes = mcap.read_bytes()
    inner.write_bytes(zstandard.ZstdCompressor().compress(mcap_bytes[: len(mcap_bytes) // 2]))
    code, file, message = refused([inner, yaml_file])
    assert (code, file) == ("truncated_file", packed.name)
    # a full disk while inflating is no verdict on the file: raised, to be retried
    full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ros2_mcap, "decompress_part", lambda *a: (_ for _ in ()).throw(full))
        with pytest.raises(OSError, match="No space"):
            read_recording("ros2-mcap", [packed, yaml_file], meta, profile)
    # a compression rosbag2 does not write
    odd = tmp_path / "odd" / "metadata.yaml"
    odd.parent.mkdir()
    odd.write_text(
        yaml_file.read_text().replace("compression_format: zstd", "compression_format: lz4")
    )
    code, file, message = refused([packed, odd])
    assert (code, file) == ("unknown_format", "metadata.yaml") and "lz4" in message


def test_a_message_type_without_definition_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "custom.mcap"
    with path.open("wb") as f:
        w = McapWriter(f)
        w.start(profile="ros2", library="test")
        sid = w.register_schema("acme_msgs/msg/Secret", "ros2msg", b"")
        cid = w.register_channel("/joint_states", "cdr", sid)
        for i in range(3):
            w.add_message(cid, 1_700_000_000_000_000_000 + i, b"\0\1\0\0" + bytes(8), 0)
        w.finish()
    profile = profile_from_toml(
        POSE_PROFILE.replace("head_pose", "joint_state")
        .replace("/amcl_pose", "/joint_states")
        .replace("geometry_msgs/PoseWithCovarianceStamped", "acme_msgs/Secret")
    )
    with pytest.raises(RecordingRejected) as exc:
        read_signals([path], profile, required=("joint_state",))
    (reason,) = exc.value.reasons
    assert reason.code == "unknown_message_type" and reason.file == "custom.mcap"
    assert "acme_msgs/msg/Secret" in reason.message
