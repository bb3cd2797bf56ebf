"""A damaged global heap in an HDF5 camera dataset is refused before HDF5 reads it: HDF5 loops
forever on some (a zeroed region), which only a process kill could end."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.formats.hdf5_episode import check_vlen_heap
from teleop_lake.rejection import RecordingRejected
from teleop_lake.simulate.network import simulate_network


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("heap")
    simulate_network(
        root,
        episodes_per_center=1,
        seed=4,
        date="2026-11-23",
        centers=["suzhou"],
        duration_scale=0.1,
        camera_size=SMALL_CAMERA,
    )
    return next(root.rglob("*.hdf5"))


def _cameras(f: h5py.File) -> list[h5py.Dataset]:
    out: list[h5py.Dataset] = []
    f.visititems(
        lambda name, obj: (
            out.append(obj) if isinstance(obj, h5py.Dataset) and name.endswith("/data") else None
        )
    )
    return out


def test_sound_heaps_pass(episode: Path) -> None:
    with h5py.File(episode) as f:
        cams = _cameras(f)
        assert cams
        for ds in cams:
            check_vlen_heap(ds, episode.name, "cam")


def _third_object_header(data: bytes, heap: int) -> int:
    pos = heap + 16
    for _ in range(2):
        size = int.from_bytes(data[pos + 8 : pos + 16], "little")
        pos += 16 + (size + 7) // 8 * 8
    return pos - heap


@pytest.mark.parametrize("where", ["collection header", "first object", "third object"])
def test_a_zeroed_heap_region_is_refused(episode: Path, tmp_path: Path, where: str) -> None:
    """Zeroed bytes over a heap structure (not just inside a frame's JPEG bytes, which the
    camera checks judge)."""
    damaged = tmp_path / episode.name
    data = bytearray(episode.read_bytes())
    with h5py.File(episode) as f:
        off = _cameras(f)[0].id.get_offset()
    refs = np.frombuffer(
        bytes(data[off : off + 16]), dtype=[("n", "<u4"), ("a", "<u8"), ("i", "<u4")]
    )
    heap = int(refs["a"][0])  # the collection holding the first frame
    at = {"collection header": 0, "first object": 16}.get(where) or _third_object_header(
        bytes(data), heap
    )
    data[heap + at : heap + at + 64] = bytes(64)
    damaged.write_bytes(bytes(data))
    with h5py.File(damaged) as f, pytest.raises(RecordingRejected) as err:
        for ds in _cameras(f):
            check_vlen_heap(ds, damaged.name, "cam")
    assert err.value.reasons[0].code == "corrupt_file"
    assert "heap" in err.value.reasons[0].message
