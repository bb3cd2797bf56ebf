"""Every format's camera frames stay out of memory, byte for byte as the format's own library
reads them: left in the delivered file where they lie there as they are (ROS 1 bags: see
test_cameras_real_size; MCAP without compression; HDF5 heap objects), otherwise copied once
into an anonymous spool file that nothing outlives (compressed MCAP chunks, Parquet pages).

Real camera size (640x480), short recordings (about 3 s)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import polars as pl
import pytest
from mcap.reader import make_reader
from mcap.writer import CompressionType
from mcap.writer import Writer as McapWriter

from teleop_lake.canonical import CameraStream, RecordingMeta
from teleop_lake.config.centers import load_profile
from teleop_lake.formats import read_recording
from teleop_lake.formats.frame_files import FileFrames
from teleop_lake.simulate import simulate_network
from teleop_lake.simulate.ros2_bag import restore_mcap

DATE = "2026-11-23"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("formats")
    simulate_network(
        out,
        episodes_per_center=1,
        seed=3,
        date=DATE,
        profile="clean",
        centers=["jinan", "suzhou", "hefei"],
        duration_scale=0.15,
    )
    return out


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Spools go here in these tests, so it can be checked that none is left behind."""
    where = tmp_path / "spool"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def _delivery(net: Path, center: str) -> tuple[list[Path], RecordingMeta]:
    (line,) = [
        json.loads(x) for x in (net / center / DATE / "_manifest.jsonl").read_text().splitlines()
    ]
    files = [net / center / DATE / str(f["path"]) for f in line["files"]]
    meta = RecordingMeta(center, str(line["recording_id"]), str(line["format"]), "kuavo_4pro", None)
    return files, meta


def _read(center: str, files: list[Path], meta: RecordingMeta) -> dict[str, CameraStream]:
    recording = read_recording(meta.raw_format, files, meta, load_profile(center))
    assert len(recording.cameras) == 3, center
    for cam in recording.cameras.values():
        assert isinstance(cam.frames, FileFrames), (center, cam.name, type(cam.frames))
        assert len(cam.frames) > 60, (center, cam.name)  # ~3 s at 30 Hz
    return dict(recording.cameras)


def _mcap_frames(path: Path) -> dict[str, list[bytes]]:
    """sensor_msgs/msg/CompressedImage data of every camera topic, read with the mcap
    library and rosbags' CDR deserializer."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    out: dict[str, list[bytes]] = {}
    with path.open("rb") as f:
        for schema, channel, message in make_reader(f).iter_messages():
            if schema is not None and schema.name.endswith("CompressedImage"):
                msg = store.deserialize_cdr(message.data, "sensor_msgs/msg/CompressedImage")
                out.setdefault(channel.topic, []).append(bytes(msg.data))
    return out


def _rewrite_mcap(src: Path, dst: Path, compression: CompressionType) -> None:
    """The same messages in 1 MiB chunks, as rosbag2's MCAP storage writes them."""
    with src.open("rb") as f, dst.open("wb") as out:
        writer = McapWriter(out, compression=compression)
        writer.start(profile="ros2", library="rosbag2 (re-chunked)")
        schemas: dict[int, int] = {}
        channels: dict[int, int] = {}
        for schema, channel, message in make_reader(f).iter_messages():
            assert schema is not None
            if schema.id not in schemas:
                schemas[schema.id] = writer.register_schema(
                    schema.name, schema.encoding, schema.data
                )
            if channel.id not in channels:
                channels[channel.id] = writer.register_channel(
                    channel.topic, channel.message_encoding, schemas[schema.id]
                )
            writer.add_message(
                channels[channel.id], message.log_time, message.data, message.publish_time
            )
        writer.finish()


@pytest.mark.parametrize("storage", ["unchunked", "chunks", "zstd-chunks"])
def test_mcap_frames_stay_in_the_file_unless_compressed(
    net: Path, tmp_path: Path, spool_dir: Path, storage: str
) -> None:
    files, meta = _delivery(net, "jinan")
    (mcap,) = [p for p in files if p.suffix == ".mcap"]
    truth = _mcap_frames(mcap)
    part = tmp_path / "rewritten" / mcap.name
    part.parent.mkdir()
    if storage == "unchunked":  # whatever storage the simulated rig used
        shutil.copy(mcap, part)
        restore_mcap(part, "fastwrite")
    else:
        kind = CompressionType.ZSTD if storage == "zstd-chunks" else CompressionType.NONE
        _rewrite_mcap(mcap, part, kind)
    files = [part if p == mcap else p for p in files]
    mcap = part
    cameras = _read("jinan", files, meta)
    assert len(truth) == 3
    for cam in cameras.values():
        frames = cam.frames
        assert isinstance(frames, FileFrames)
        assert (frames.path == mcap) == (storage != "zstd-chunks"), frames.path
        assert list(frames) == truth[cam.source], (storage, cam.name)
    assert list(spool_dir.iterdir()) == []


def test_hdf5_frames_are_read_from_their_heap_objects_in_the_file(
    net: Path, spool_dir: Path
) -> None:
    files, meta = _delivery(net, "suzhou")
    (path,) = [p for p in files if p.suffix in (".hdf5", ".h5")]
    cameras = _read("suzhou", files, meta)
    with h5py.File(path, "r") as f:
        for cam in cameras.values():
            frames = cam.frames
            assert isinstance(frames, FileFrames) and frames.path == path, cam.name
            group = cam.source.split(":", 1)[1]
            truth = [np.asarray(x, dtype=np.uint8).tobytes() for x in f[group]["data"][()]]
            assert len(set(truth)) > 60  # distinct frames: an off-by-one cannot pass
            assert list(frames) == truth, cam.name
    assert list(spool_dir.iterdir()) == []


def test_hdf5_frames_in_chunked_storage_are_spooled(
    net: Path, tmp_path: Path, spool_dir: Path
) -> None:
    """A writer that chunks and compresses the camera datasets: HDF5 reads the elements, a
    slice at a time, into a spool."""
    files, meta = _delivery(net, "suzhou")
    (path,) = [p for p in files if p.suffix in (".hdf5", ".h5")]
    copy = tmp_path / path.name
    with h5py.File(path, "r") as src, h5py.File(copy, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value

        def clone(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Group):
                dst.require_group(name).attrs.update(dict(obj.attrs))
            elif isinstance(obj, h5py.Dataset):
                chunked = name.endswith("/data") and obj.dtype.kind == "O"
                out = dst.create_dataset(
                    name,
                    data=obj[()],
                    dtype=obj.dtype,
                    chunks=(16,) if chunked else None,
                    compression="gzip" if chunked else None,
                )
                out.attrs.update(dict(obj.attrs))

        src.visititems(clone)
    cameras = _read("suzhou", [copy if p == path else p for p in files], meta)
    with h5py.File(path, "r") as f:
        for cam in cameras.values():
            assert str(cam.frames.path).startswith("<spooled"), cam.frames.path  # type: ignore[attr-defined]
            group = cam.source.split(":", 1)[1]
            truth = [np.asarray(x, dtype=np.uint8).tobytes() for x in f[group]["data"][()]]
            assert list(cam.frames) == truth, cam.name
    assert list(spool_dir.iterdir()) == []  # the spool file was unlinked when it was made


def test_parquet_frames_are_spooled_a_batch_at_a_time(net: Path, spool_dir: Path) -> None:
    files, meta = _delivery(net, "hefei")
    cameras = _read("hefei", files, meta)
    by_name = {p.name: p for p in files}
    for cam in cameras.values():
        assert str(cam.frames.path).startswith("<spooled"), cam.frames.path  # type: ignore[attr-defined]
        truth = pl.read_parquet(by_name[cam.source], columns=["jpeg"])["jpeg"].to_list()
        assert list(cam.frames) == truth, cam.name
    assert list(spool_dir.iterdir()) == []
