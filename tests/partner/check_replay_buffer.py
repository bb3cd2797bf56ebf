"""Open every replay buffer of an export with zarr 2.x, as diffusion-policy and UMI do.

Run with the zarr 2 environment's python (setup_zarr2_venv.sh):
    python check_replay_buffer.py EXPORT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import imagecodecs
import numpy as np
import zarr
from imagecodecs.numcodecs import register_codecs

register_codecs()


def check(path: Path) -> str:
    root = zarr.open(str(path), mode="r")
    assert zarr.__version__.startswith("2.")
    ends = root["meta/episode_ends"][:]
    assert ends.dtype == np.int64 and (np.diff(ends) > 0).all()
    n = int(ends[-1])
    for key in root["data"].array_keys():
        assert root["data"][key].shape[0] == n, key
    assert root["data/state"].dtype == np.float32 and np.isfinite(root["data/state"][:]).all()
    assert len(root["data/state"].attrs["channels"]) == root["data/state"].shape[1]
    assert len(root.attrs["episodes"]) == len(ends) == root["meta/episode_success"].shape[0]
    cameras = sorted(root.attrs["cameras"])
    for camera in cameras:
        arr = root["data"][camera]
        for i in (0, n // 2, n - 1):
            img = arr[i]
            assert img.shape == arr.shape[1:] and img.dtype == np.uint8
            raw = (path / "data" / camera / f"{i}.0.0.0").read_bytes()
            assert (img == imagecodecs.jpeg8_decode(raw)).all()
    return f"OK {path.name}: {n} steps, {len(ends)} episodes, cameras {cameras}"


def main() -> None:
    export = Path(sys.argv[1])
    stores = sorted(export.glob("*.zarr"))
    assert stores, f"no replay buffer below {export}"
    for path in stores:
        print(check(path), flush=True)


if __name__ == "__main__":
    main()
