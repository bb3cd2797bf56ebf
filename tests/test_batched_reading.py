"""A bag (ROS 1 or MCAP) is read a batch of chunks at a time, so a long recording's raw
payloads are never all in memory. Reading in small batches must give exactly what reading the bag whole gives: same
streams, channels, stamps, values, malformed counts, camera frames and events, on bags of the
independent Kuavo writer (rig variation: unpopulated fields, bz2 chunks, repeated
connections, claws) and of the simulator (default faults)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from teleop_lake.canonical import CameraStream, SignalStream
from teleop_lake.config.centers import StreamMapping, load_profile
from teleop_lake.formats.kuavo_ros1 import read_signals
from teleop_lake.formats.kuavo_topics import SignalPiece, join_signal_pieces
from teleop_lake.formats.ros1_bag import Ros1Bag
from teleop_lake.rejection import RecordingRejected
from teleop_lake.simulate import simulate_network

DATE = "2026-11-23"
Read = tuple[dict[str, SignalStream], dict[str, CameraStream], list[Any], dict[str, Any]]


def _same(whole: Read, batched: Read) -> None:
    signals, cameras, events, info = whole
    b_signals, b_cameras, b_events, b_info = batched
    assert signals.keys() == b_signals.keys()
    for name, s in signals.items():
        b = b_signals[name]
        assert s.channels == b.channels, name
        np.testing.assert_array_equal(s.t_ns, b.t_ns, err_msg=name)
        np.testing.assert_array_equal(s.values, b.values, err_msg=name)
        assert s.t_received_ns is not None and b.t_received_ns is not None
        np.testing.assert_array_equal(s.t_received_ns, b.t_received_ns, err_msg=name)
    assert cameras.keys() == b_cameras.keys()
    for name, c in cameras.items():
        d = b_cameras[name]
        np.testing.assert_array_equal(c.t_ns, d.t_ns, err_msg=name)
        assert len(c.frames) == len(d.frames) > 0
        for i in (0, len(c.frames) // 2, len(c.frames) - 1):
            assert c.frames[i] == d.frames[i], (name, i)
    assert events == b_events
    assert info == b_info


def _bags(root: Path) -> list[list[Path]]:
    """Each recording's bag parts, in part order."""
    by_recording: dict[str, list[tuple[int, Path]]] = {}
    for bag in root.rglob("*.bag"):
        m = re.fullmatch(r"(.*)_(\d+)", bag.stem)
        stem, part = (m.group(1), int(m.group(2))) if m else (bag.stem, -1)
        by_recording.setdefault(str(bag.parent / stem), []).append((part, bag))
    return [[b for _, b in sorted(parts)] for _, parts in sorted(by_recording.items())]


def test_bags_of_another_writer_read_the_same_in_small_batches(tmp_path: Path) -> None:
    from independent_kuavo.network import write_network

    write_network(tmp_path, recordings=6, seed=11, date=DATE, camera=(64, 48), duration_s=4.0)
    profile = load_profile("beijing")
    bags = _bags(tmp_path)
    assert len(bags) == 6
    for parts in bags:
        with Ros1Bag(parts[0]) as bag:
            topics = list(bag.topic_connections())
            assert sum(1 for _ in bag.read_topic_batches(topics, 500)) > 3  # many batches
        whole = read_signals(parts, profile, batch_messages=None)
        _same(whole, read_signals(parts, profile, batch_messages=500))


def test_simulated_bags_with_faults_read_the_same_in_small_batches(tmp_path: Path) -> None:
    simulate_network(
        tmp_path,
        episodes_per_center=4,
        seed=5,
        date=DATE,
        profile="default",
        centers=["beijing", "zhengzhou"],
        camera_size=(64, 48),
        duration_scale=0.5,
    )
    for center in ("beijing", "zhengzhou"):
        profile = load_profile(center)
        for parts in _bags(tmp_path / center):
            try:
                whole = read_signals(parts, profile, batch_messages=None)
            except RecordingRejected as err:
                with pytest.raises(RecordingRejected) as again:
                    read_signals(parts, profile, batch_messages=300)
                assert again.value.reasons == err.reasons
                continue
            _same(whole, read_signals(parts, profile, batch_messages=300))


@pytest.mark.parametrize("storage", ["unchunked", "zstd-chunks"])
def test_mcap_files_read_the_same_in_small_batches(
    tmp_path: Path, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MCAP without chunks (as `--storage-preset-profile fastwrite` writes it), and in zstd
    chunks as the MCAP writer's defaults write it, whatever storage the simulated rig used."""
    from mcap.writer import CompressionType
    from test_frames_out_of_memory import _rewrite_mcap

    from teleop_lake.formats import mcap_container, ros2_mcap
    from teleop_lake.formats.mcap_container import McapFile
    from teleop_lake.simulate.ros2_bag import restore_mcap

    simulate_network(
        tmp_path / "net",
        episodes_per_center=3,
        seed=5,
        date=DATE,
        profile="default",
        centers=["jinan"],
        camera_size=(64, 48),
        duration_scale=0.5,
    )
    profile = load_profile("jinan")
    # unchunked messages are read in blocks of bytes: small ones, so that batches end often
    monkeypatch.setattr(mcap_container, "LOOSE_BLOCK", 64 << 10)
    for mcap in sorted((tmp_path / "net").rglob("*.mcap")):
        if storage == "zstd-chunks":
            chunked = tmp_path / f"{mcap.stem}.chunked.mcap"
            _rewrite_mcap(mcap, chunked, CompressionType.ZSTD)
            mcap = chunked
        else:
            unchunked = tmp_path / f"{mcap.stem}.unchunked.mcap"
            shutil.copy(mcap, unchunked)
            restore_mcap(unchunked, "fastwrite")
            mcap = unchunked
        with McapFile(mcap) as f:
            topics = list(f.topic_channels())
            assert sum(1 for _ in f.read_topic_batches(topics, 300)) > 3  # many batches
        try:
            whole = ros2_mcap.read_signals([mcap], profile, batch_messages=None)
        except RecordingRejected as err:
            with pytest.raises(RecordingRejected) as again:
                ros2_mcap.read_signals([mcap], profile, batch_messages=300)
            assert again.value.reasons == err.reasons
            continue
        _same(whole, ros2_mcap.read_signals([mcap], profile, batch_messages=300))


MAPPING = StreamMapping("joint_state", "/j", "sensor_msgs/JointState", "robot", ("a", "b"))


def _piece(n: int, bad: dict[str, int], t0: int = 0) -> SignalPiece:
    values = np.arange(n * 4, dtype=np.float64).reshape(n, 4)
    for q, k in bad.items():
        cols = slice(0, 2) if q == "position" else slice(2, 4)
        values[:k, cols] = np.nan
    return SignalPiece(
        t_ns=np.arange(t0, t0 + n, dtype=np.int64),
        received_ns=np.arange(t0, t0 + n, dtype=np.int64),
        values=values,
        quantities=(
            ("position", ("a", "b"), bad.get("position", 0)),
            ("velocity", ("a", "b"), bad.get("velocity", 0)),
        ),
        topic="/j",
        clock="robot",
    )


def test_a_quantity_empty_in_one_batch_only_is_kept_with_its_gap() -> None:
    """A quantity malformed in every message of one batch but not of another is a stretch of
    malformed messages, not a field the recorder leaves empty: kept, NaN there."""
    stream, malformed = join_signal_pieces(
        MAPPING, [_piece(5, {"velocity": 5}), _piece(5, {}, t0=5)], "x.bag"
    )
    assert stream.channels == (
        "position_raw.a",
        "position_raw.b",
        "velocity_raw.a",
        "velocity_raw.b",
    )
    assert malformed == 5
    assert np.isnan(stream.values[:5, 2:]).all() and np.isfinite(stream.values[5:]).all()
    np.testing.assert_array_equal(stream.t_ns, np.arange(10))


def test_a_quantity_empty_in_every_batch_is_dropped_and_an_empty_position_rejects() -> None:
    stream, malformed = join_signal_pieces(
        MAPPING, [_piece(5, {"velocity": 5}), _piece(3, {"velocity": 3}, t0=5)], "x.bag"
    )
    assert stream.channels == ("position_raw.a", "position_raw.b") and malformed == 0
    assert stream.values.shape == (8, 2)
    with pytest.raises(RecordingRejected) as err:
        join_signal_pieces(
            MAPPING, [_piece(5, {"position": 5}), _piece(3, {"position": 3}, t0=5)], "x.bag"
        )
    assert err.value.reasons[0].code == "unmapped_stream"
