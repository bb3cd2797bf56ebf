"""A bag stored in plain chunks is read sparsely: of a camera frame only its message header,
the first bytes of its image and its last bytes are read; everything the decode uses is the
same as when the spans are read whole. Where the index does not say exactly where a frame
ends, the span is read whole again, and the result is still the same."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qa_lake import DATE

from teleop_lake.formats import ros1_bag
from teleop_lake.formats.ros1_bag import Ros1Bag
from teleop_lake.simulate import simulate_network


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A 640x480 three-camera bag of the simulator (rosbags' writer) and one of the independent
    Kuavo writer (built from the format documents alone)."""
    from independent_kuavo.network import VariationParams, write_network

    root = tmp_path_factory.mktemp("sparse")
    simulate_network(
        root / "sim",
        episodes_per_center=1,
        seed=21,
        date=DATE,
        profile="clean",
        centers=["beijing"],
        duration_scale=0.2,
    )
    write_network(
        root / "ind",
        recordings=1,
        seed=7,
        date=DATE,
        camera=(640, 480),
        duration_s=4.0,
        params=VariationParams(bz2_share=0.0, claw_share=0.0),
    )
    return sorted(root.rglob("*.bag"))


def _everything(path: Path, batch_messages: int | None = 2_000) -> list[tuple[str, bytes]]:
    """What a read hands on, as bytes: per batch and topic its record times, and per segment
    the payload lengths, file positions, the bytes kept of each payload and the kept tails."""
    out: list[tuple[str, bytes]] = []
    with Ros1Bag(path) as bag:
        topics = sorted(bag.topic_connections())
        for batch in bag.read_topic_batches(topics, batch_messages):
            for topic, raw in sorted(batch.items()):
                out.append((topic, raw.t_record_ns.tobytes()))
                for seg in raw.segments:
                    kept = seg.lengths if seg.kept is None else seg.kept
                    body = b"".join(
                        seg.buffer[a : a + k].tobytes()
                        for a, k in zip(seg.starts.tolist(), kept.tolist(), strict=True)
                    )
                    places = b"" if seg.file_starts is None else seg.file_starts.tobytes()
                    tails = b"" if seg.tails is None else seg.tails.tobytes()
                    out.append((topic, seg.lengths.tobytes() + places + body + tails))
    return out


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Bytes of chunk data read sparsely and whole, counted."""
    count = {"sparse": 0, "whole": 0}
    sparse, whole = Ros1Bag._read_ranges, Ros1Bag._read_chunk_bytes

    def read_ranges(
        self: Ros1Bag, pos: int, ranges: np.ndarray, size: int | None = None
    ) -> memoryview:
        count["sparse"] += int((ranges[:, 1] - ranges[:, 0]).sum())
        return sparse(self, pos, ranges, size)

    def read_chunk_bytes(self: Ros1Bag, pos: int, n: int) -> memoryview:
        count["whole"] += n
        return whole(self, pos, n)

    monkeypatch.setattr(Ros1Bag, "_read_ranges", read_ranges)
    monkeypatch.setattr(Ros1Bag, "_read_chunk_bytes", read_chunk_bytes)
    yield count


def test_frames_are_skipped_and_what_is_read_is_the_same(
    bags: list[Path], bytes_read: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(bags) == 2
    for bag in bags:
        bytes_read.update(sparse=0, whole=0)
        sparse = _everything(bag)
        size = bag.stat().st_size
        # the bag opens by reading its first chunk whole (its connection records), no more
        assert bytes_read["whole"] < 0.05 * size, (bag.name, bytes_read)
        assert 0 < bytes_read["sparse"] < 0.5 * size, (bag.name, bytes_read)
        with monkeypatch.context() as patch:
            patch.setattr(ros1_bag, "SKIP_MIN", 1 << 40)  # no frame skipped
            bytes_read.update(sparse=0, whole=0)
            assert _everything(bag) == sparse, bag.name
        assert bytes_read["sparse"] + bytes_read["whole"] > 0.9 * size, (bag.name, bytes_read)


@pytest.mark.parametrize("shift", [-1, 1, 600])
def test_where_the_index_misplaces_a_frames_end_the_frame_is_read_whole(
    bags: list[Path], bytes_read: dict[str, int], monkeypatch: pytest.MonkeyPatch, shift: int
) -> None:
    """The index says where each record starts; where the next starts is taken as its end. If
    that is wrong (another record between them, a damaged entry), bytes a frame needs were not
    read: the check after locating the records finds it, and those records are read whole
    (or, if that is not enough either, the span); the result is the same."""
    expected = {bag: _everything(bag) for bag in bags}
    ends = ros1_bag._record_ends
    monkeypatch.setattr(ros1_bag, "_record_ends", lambda chunk: ends(chunk) + shift)
    for bag in bags:
        bytes_read.update(sparse=0, whole=0)
        assert _everything(bag) == expected[bag], bag.name
        read = bytes_read["sparse"] + bytes_read["whole"]
        assert read > 0.9 * bag.stat().st_size, (bag.name, bytes_read)


def test_a_connection_record_between_frames_costs_only_its_frames(
    tmp_path: Path, bytes_read: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers that repeat a connection record in every chunk put one between a frame and the
    next index entry: only those frames are read again whole, not the whole span."""
    from independent_kuavo.network import VariationParams, write_network

    write_network(
        tmp_path,
        recordings=1,
        seed=3,
        date=DATE,
        camera=(640, 480),
        duration_s=4.0,
        params=VariationParams(bz2_share=0.0, claw_share=0.0, repeat_connections_share=1.0),
    )
    (bag,) = sorted(tmp_path.rglob("*.bag"))
    sparse = _everything(bag)
    assert bytes_read["whole"] < 0.1 * bag.stat().st_size, bytes_read
    assert bytes_read["sparse"] < 0.6 * bag.stat().st_size, bytes_read
    with monkeypatch.context() as patch:  # every span read as one range: what the file holds
        patch.setattr(
            ros1_bag, "_sparse_plan", lambda o, e, s: np.array([[0, int(e.max())]], np.int64)
        )
        assert _everything(bag) == sparse


def test_a_payload_reaching_into_a_skipped_frame_is_judged_on_the_files_bytes(
    bags: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record whose length field was enlarged reaches over the next index entry into the
    middle of a frame the sparse read skipped: it must be read from the file, never from the
    stale bytes of the reused buffer."""
    source = bags[1]  # the simulator's bag
    data = bytearray(source.read_bytes())
    with Ros1Bag(source) as bag:
        cameras = {c.conn_id for c in bag.connections.values() if "image" in c.topic.lower()}
        chunk = bag._chunks[len(bag._chunks) // 2]
        owner = {int(o): cid for cid, e in chunk.index.items() for o in e["offset"]}
        order = sorted(owner)
        at = next(
            o
            for o, nxt in itertools.pairwise(order)
            if owner[o] not in cameras and owner[nxt] in cameras
        )
        pos = chunk.data_pos + at
        (hlen,) = np.frombuffer(data[pos : pos + 4], "<u4")
        length_at = pos + 4 + int(hlen)
        (length,) = np.frombuffer(data[length_at : length_at + 4], "<u4")
    data[length_at : length_at + 4] = np.uint32(int(length) + 3000).tobytes()
    damaged = tmp_path / "enlarged.bag"
    damaged.write_bytes(bytes(data))

    def outcome() -> object:
        try:
            return _everything(damaged)
        except ros1_bag.BagReadError as err:
            return err.code, str(err)

    sparse = outcome()
    with monkeypatch.context() as patch:  # every span read as one range: what the file holds
        patch.setattr(
            ros1_bag, "_sparse_plan", lambda o, e, s: np.array([[0, int(e.max())]], np.int64)
        )
        assert outcome() == sparse


def test_the_plan_reads_whole_records_and_a_frames_head_and_tail() -> None:
    offsets = np.array([0, 100, 20_000, 20_050], dtype=np.int64)
    ends = np.array([100, 20_000, 20_050, 90_000], dtype=np.int64)
    skip = ends - offsets > ros1_bag.SKIP_MIN
    assert skip.tolist() == [False, True, False, True]
    plan = ros1_bag._sparse_plan(offsets, ends, skip)
    head, tail = ros1_bag.RECORD_HEAD, ros1_bag.PAYLOAD_TAIL
    # the first record and the first frame's head merge; the frame's tail, the small record
    # and the second frame's head are within READ_MERGE_BYTES of each other, and merge too
    assert plan.tolist() == [
        [0, 100 + head],
        [20_000 - tail, 20_050 + head],
        [90_000 - tail, 90_000],
    ]
