"""Cameras at the rigs' real size: a Kuavo bag with three 640x480 JPEG cameras at 30 Hz goes
through a night and its frames reach the release byte for byte, as the rig recorded them.

One short recording (duration_scale 0.2, ~4 s) keeps this quick; the size is the real one.
The bag is read back with rosbags, not with our reader, to compare against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from qa_lake import DATE, run_night
from rosbags.highlevel import AnyReader

from teleop_lake.cleaning.jpeg import jpeg_info
from teleop_lake.release.reader import decode_frame, open_release
from teleop_lake.simulate import simulate_network

CAMERAS = ("camera_head", "camera_left", "camera_right")


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("real-size")
    net, lake = root / "net", root / "lake"
    simulate_network(
        net,
        episodes_per_center=1,
        seed=21,
        date=DATE,
        profile="clean",
        centers=["beijing"],
        duration_scale=0.2,
    )
    now = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
    summary = run_night(net, lake, "20261124T020000Z-real", now, centers=["beijing"])
    assert summary["release"]["n_episodes"] == 1, summary
    return net, lake


def _bag_frames(net: Path) -> dict[str, list[bytes]]:
    """Every CompressedImage payload in the delivered bag, per topic."""
    (bag,) = (net / "beijing" / DATE).rglob("*.bag")
    out: dict[str, list[bytes]] = {}
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.msgtype.endswith("CompressedImage")]
        for conn, _t, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            out.setdefault(conn.topic, []).append(bytes(msg.data))
    return out


def test_the_rig_records_three_real_size_jpeg_cameras(night: tuple[Path, Path]) -> None:
    frames = _bag_frames(night[0])
    assert len(frames) == 3
    for topic, payloads in frames.items():
        assert len(payloads) > 90, topic  # ~4 s at 30 Hz
        sizes = [len(p) for p in payloads]
        # an indoor scene at quality 85: tens of kB a frame, like the rigs' (not a flat image)
        assert 20_000 < float(np.median(sizes)) < 120_000, (topic, np.median(sizes))
        info = jpeg_info(payloads[0])
        assert (info.width, info.height) == (640, 480), topic
        assert len({hashlib.sha256(p).digest() for p in payloads[:30]}) == 30  # sensor noise


def test_frames_reach_the_release_as_recorded_and_the_grid_points_at_them(
    night: tuple[Path, Path],
) -> None:
    net, lake = night
    delivered = {hashlib.sha256(p).digest() for ps in _bag_frames(net).values() for p in ps}
    delivered_bytes = sum(len(p) for ps in _bag_frames(net).values() for p in ps)
    rel = open_release(str(lake))
    episode_id = str(rel.episodes["episode_id"][0])
    grid = rel.scan_frames().collect()
    stored = 0
    for camera in CAMERAS:
        table = rel.camera_frames(episode_id, camera)
        assert table.height > 90, camera
        # passed through: every frame is one the rig recorded, byte for byte, none twice
        hashes = [hashlib.sha256(b).digest() for b in table["data"]]
        assert set(hashes) <= delivered and len(set(hashes)) == table.height, camera
        assert set(table["width"]) == {640} and set(table["height"]) == {480}
        assert table["t_ns"].is_sorted() and table["frame_index"].n_unique() == table.height
        assert decode_frame(table["data"][0]).shape == (480, 640, 3)
        # every grid row's frame number is a row of the camera table, within a frame period
        index = grid[f"camera.{camera}.frame_index"]
        pointed = set(index.filter(index >= 0).to_list())
        assert pointed and pointed <= set(table["frame_index"].to_list()), camera
        offsets = grid[f"camera.{camera}.offset_ms"].drop_nulls()
        assert offsets.abs().max() <= 1000 / 30 / 2 + 1, camera
        stored += sum(len(b) for b in table["data"])
    # no re-encode, no decoded pixels: the release's camera files are the frames' own size
    files = sum(p.stat().st_size for p in (lake / "segments").rglob("cameras/*.parquet"))
    assert stored <= delivered_bytes and files <= 1.1 * stored, (files, stored, delivered_bytes)
    replay = sum(p.stat().st_size for p in (lake / "segments").rglob("replay.zarr/**/*"))
    assert replay < 0.05 * files  # the replay buffer holds frame numbers, not pixels


def test_frames_are_stored_plain_and_the_rest_with_dictionaries(night: tuple[Path, Path]) -> None:
    """The JPEG bytes are stored as they are: no compression, no statistics and no dictionary
    (each frame is unique: building one hashed every frame, per row group). The repeated
    columns keep theirs."""
    import pyarrow.parquet as pq

    for path in (night[1] / "segments").rglob("cameras/*.parquet"):
        meta = pq.ParquetFile(path).metadata
        assert meta.num_row_groups > 1, path
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            columns = {group.column(i).path_in_schema: group.column(i) for i in range(8)}
            data = columns["data"]
            assert data.compression == "UNCOMPRESSED" and not data.is_stats_set, path
            assert not any("DICTIONARY" in e for e in data.encodings), data.encodings
            assert any("DICTIONARY" in e for e in columns["episode_id"].encodings)


def test_a_frame_reads_back_as_the_same_picture_polars_only(night: tuple[Path, Path]) -> None:
    """A partner without our package: polars reads the table, Pillow decodes the bytes."""
    _, lake = night
    (path,) = list((lake / "segments").rglob("cameras/camera_head.parquet"))
    table = pl.read_parquet(path, columns=["frame_index", "t_ns", "data"])
    pixels = decode_frame(table["data"][len(table) // 2])
    assert pixels.dtype == np.uint8 and 10 < float(pixels.mean()) < 245  # a scene, not black


def test_the_bag_reader_leaves_frames_in_the_file(night: tuple[Path, Path]) -> None:
    """A recording's frames are located, not copied: memory does not grow with its length."""
    from teleop_lake.canonical import RecordingMeta, all_frame_ends
    from teleop_lake.config.centers import load_profile
    from teleop_lake.formats import read_recording
    from teleop_lake.formats.frame_files import FileFrames

    net = night[0]
    (bag,) = (net / "beijing" / DATE).rglob("*.bag")
    meta = RecordingMeta("beijing", "r", "ros1-bag", "kuavo_4pro", "pack_parcel")
    recording = read_recording("ros1-bag", [bag], meta, load_profile("beijing"))
    by_topic = _bag_frames(net)
    for camera in recording.cameras.values():
        assert isinstance(camera.frames, FileFrames), camera.name
        assert list(camera.frames) == by_topic[camera.source], camera.name
        # each frame's first and last bytes (its JPEG markers) were taken while the chunk
        # was read, so the camera checks need not read them from the file again
        ends = camera.frames._ends
        assert ends is not None and ends.known.all(), camera.name
        heads, tails = all_frame_ends(camera.frames, 2, 16)
        assert [bytes(h) for h in heads] == [f[:2] for f in by_topic[camera.source]]
        assert [bytes(t) for t in tails] == [f[-16:] for f in by_topic[camera.source]]


def _independent_bag(net: Path, seed: int, bz2: bool) -> Path:
    """One 4 s 640x480 Beijing recording by the independent Kuavo writer (built from the
    format documents alone), its chunks bz2-compressed or plain; returns its bag."""
    from independent_kuavo.network import VariationParams, write_network

    write_network(
        net,
        recordings=1,
        seed=seed,
        date=DATE,
        camera=(640, 480),
        duration_s=4.0,
        params=VariationParams(bz2_share=1.0 if bz2 else 0.0, claw_share=0.0),
    )
    (bag,) = (net / "beijing" / DATE).rglob("*.bag")
    return bag


@pytest.mark.parametrize("bz2", [False, True], ids=["plain-chunks", "bz2-chunks"])
def test_bags_of_another_writer_pass_their_frames_through(tmp_path: Path, bz2: bool) -> None:
    """The same on bags written by the independent Kuavo writer (built from the format
    documents alone), 640x480: with plain chunks the frames stay in the file, with bz2
    chunks they are decompressed and spooled to a temporary file (never all in memory);
    either way they reach the release unchanged."""
    from teleop_lake.canonical import RecordingMeta
    from teleop_lake.config.centers import load_profile
    from teleop_lake.formats import read_recording
    from teleop_lake.formats.frame_files import FileFrames

    net, lake = tmp_path / "net", tmp_path / "lake"
    bag = _independent_bag(net, seed=7, bz2=bz2)
    meta = RecordingMeta("beijing", "r", "ros1-bag", "kuavo_4pro", "pack_parcel")
    recording = read_recording("ros1-bag", [bag], meta, load_profile("beijing"))
    for c in recording.cameras.values():
        assert isinstance(c.frames, FileFrames), c.name
        assert str(c.frames.path).startswith("<spooled") == bz2, c.frames.path
    now = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
    summary = run_night(net, lake, "20261124T020000Z-ind", now, centers=["beijing"])
    assert summary["release"]["n_episodes"] == 1, summary["quarantined"]
    delivered = {hashlib.sha256(p).digest() for ps in _bag_frames(net).values() for p in ps}
    rel = open_release(str(lake))
    episode_id = str(rel.episodes["episode_id"][0])
    for camera in recording.cameras:
        table = rel.camera_frames(episode_id, camera)
        assert table.height > 90 and set(table["width"]) == {640}, camera
        assert {hashlib.sha256(b).digest() for b in table["data"]} <= delivered, camera


def test_a_frame_damaged_in_delivery_is_published_as_delivered_and_flagged(
    tmp_path: Path,
) -> None:
    """Bytes written over one frame's scan data, so that Pillow cannot decode it (a bag of the
    independent writer, its manifest matching the damaged bytes, as a center whose disk broke
    the file would deliver it): the episode is published, the frame passes through as
    delivered, the segment's findings and the night's evidence both name the frame, and a
    LeRobot export shows the frame before it in its place and counts it."""
    import json
    import random

    from teleop_lake.cleaning.jpeg import scan_start
    from teleop_lake.release.cameras import UNDECODABLE
    from teleop_lake.release.export import export_release

    net, lake = tmp_path / "net", tmp_path / "lake"
    bag = _independent_bag(net, seed=11, bz2=False)
    frame = _bag_frames(net)["/cam_h/color/image_raw/compressed"][40]
    start = scan_start(frame)
    assert isinstance(start, int)
    rng = random.Random(5)
    for _ in range(50):  # garbage in the scan data that Pillow refuses to decode
        broken = bytearray(frame)
        cut = rng.randrange(start, len(frame) - 600)
        broken[cut : cut + 512] = b"\xff\x3a" + rng.randbytes(510)
        try:
            decode_frame(bytes(broken))
        except UNDECODABLE:
            break
    else:
        raise AssertionError("no damage found that Pillow refuses")
    data = bytearray(bag.read_bytes())
    at = data.find(frame)
    assert at > 0 and data.find(frame, at + 1) < 0
    data[at : at + len(frame)] = broken
    bag.write_bytes(bytes(data))
    manifest = net / "beijing" / DATE / "_manifest.jsonl"
    lines = [json.loads(x) for x in manifest.read_text().splitlines() if x.strip()]
    for f in lines[0]["files"]:
        if f["path"].endswith(".bag"):
            f["sha256"] = hashlib.sha256(data).hexdigest()
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))

    now = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
    summary = run_night(net, lake, "20261124T020000Z-dmg", now, centers=["beijing"])
    assert summary["release"]["n_episodes"] == 1, summary["quarantined"]
    rel = open_release(str(lake))
    episode_id = str(rel.episodes["episode_id"][0])
    table = rel.camera_frames(episode_id, "camera_head")
    damaged = bytes(data[at : at + len(frame)])
    assert damaged in set(table["data"].to_list())  # passed through as delivered
    (seg_findings,) = list((lake / "segments").rglob("findings.parquet"))
    evidence = [p for p in lake.rglob("findings.parquet") if "segments" not in p.parts]
    assert evidence
    for path in (seg_findings, *evidence):
        corrupt = pl.read_parquet(path).filter(pl.col("kind") == "frame_corrupt")
        assert corrupt.height == 1, path
        row = corrupt.row(0, named=True)
        assert row["stream"] == "camera_head" and row["rule"] == "camera.jpeg_scan"
        assert row["detail"].startswith("frame 40: byte 0x3A after a 0xFF")
        assert "kept in the camera table as delivered" in row["detail"]
    res = export_release(str(lake), str(tmp_path / "out"), "lerobot", fps=50)
    (dataset,) = res.datasets
    assert dataset["episodes"] == 1 and 1 <= dataset["undecodable_frames"] <= 2, dataset
