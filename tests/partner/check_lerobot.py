"""Load every dataset of a LeRobot export with LeRobot's own LeRobotDataset, offline, as a
training script does, and check it against the release it came from.

Run with the LeRobot environment's python (setup_lerobot_venv.sh):
    HF_HUB_OFFLINE=1 python check_lerobot.py EXPORT_DIR LAKE_DIR
Reads the lake with pyarrow alone (a partner's view); exits non-zero on the first mismatch.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata
from PIL import Image


def release_jpeg(lake: Path, release_id: str, episode_id: str, camera: str, row: int) -> bytes:
    """The JPEG the release holds for grid row ``row`` of an episode's camera."""
    eps = pq.read_table(lake / "releases" / release_id / "episodes.parquet").to_pylist()
    seg = next(e["segment_id"] for e in eps if e["episode_id"] == episode_id)
    frames = pq.read_table(lake / "segments" / seg / "frames.parquet")
    frames = frames.filter(pc.equal(frames["episode_id"], episode_id)).sort_by("frame_index")
    index = frames[f"camera.{camera}.frame_index"].to_pylist()
    want = index[row] if index[row] >= 0 else next(i for i in index if i >= 0)
    cams = pq.read_table(lake / "segments" / seg / "cameras" / f"{camera}.parquet")
    hit = cams.filter(
        pc.and_(pc.equal(cams["episode_id"], episode_id), pc.equal(cams["frame_index"], want))
    )
    return hit["data"][0].as_py()


def check(root: Path, lake: Path) -> str:
    repo_id = f"export/{root.name}"
    meta = LeRobotDatasetMetadata(repo_id, root=root)
    ds = LeRobotDataset(repo_id, root=root)
    provenance = json.loads((root / "meta" / "teleop_export.json").read_text())
    assert len(ds) == meta.total_frames == ds.num_frames
    assert ds.num_episodes == meta.total_episodes == len(meta.episodes)
    x = ds[0]
    for key in ("observation.state", "action"):
        assert x[key].dtype == torch.float32 and tuple(x[key].shape) == meta.features[key]["shape"]
        for s in ("mean", "std", "min", "max", "q01", "q99"):
            assert meta.stats[key][s].shape == meta.features[key]["shape"], (key, s)
        assert np.isfinite(meta.stats[key]["std"]).all()
    assert isinstance(x["task"], str) and x["task"]
    for ep in meta.episodes:
        lo, hi = ep["dataset_from_index"], ep["dataset_to_index"]
        first, last = ds[lo], ds[hi - 1]
        assert first["episode_index"].item() == last["episode_index"].item() == ep["episode_index"]
        assert first["frame_index"].item() == 0 and last["frame_index"].item() == ep["length"] - 1
        assert bool(last["next.done"]) and bool(last["next.success"]) == (
            ep["outcome"] == "success"
        )
    # images: the tensor LeRobot yields is the rig's JPEG, decoded
    step = 50 // meta.fps
    for key in meta.camera_keys:
        camera = key.rsplit(".", 1)[1]
        ep = meta.episodes[len(meta.episodes) - 1]
        k = ep["length"] // 2
        item = ds[ep["dataset_from_index"] + k]
        h, w, _ = meta.features[key]["shape"]
        assert tuple(item[key].shape) == (3, h, w), (key, item[key].shape)
        jpeg = release_jpeg(
            lake, provenance["release_id"], ep["source_episode_id"], camera, k * step
        )
        want = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.float32) / 255
        got = item[key].permute(1, 2, 0).numpy()
        if meta.features[key]["dtype"] == "video":  # H.264: lossy, close on average
            error = float(np.abs(got - want).mean())
            assert error < 8 / 255, f"{key}: video frame {k} is {error * 255:.1f}/255 off"
        else:  # the JPEG itself
            assert np.abs(got - want).max() < 1e-6, f"{key}: pixels differ from the release's"
        assert meta.stats[key]["mean"].shape == (3, 1, 1)
    fps = meta.fps
    chunked = LeRobotDataset(
        repo_id, root=root, delta_timestamps={"action": [i / fps for i in range(10)]}
    )
    y = chunked[len(chunked) - 1]
    assert y["action"].shape == (10, meta.features["action"]["shape"][0])
    assert y["action_is_pad"][1:].all()
    last = meta.episodes[len(meta.episodes) - 1]
    one = LeRobotDataset(repo_id, root=root, episodes=[last["episode_index"]])
    assert len(one) == last["length"]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True)))
    assert batch["observation.state"].shape[0] == min(8, len(ds))
    return (
        f"OK {root.name}: {len(ds)} frames, {ds.num_episodes} episodes, fps {fps}, "
        f"cameras {meta.camera_keys}, task {x['task']!r}"
    )


def main() -> None:
    export, lake = Path(sys.argv[1]), Path(sys.argv[2])
    datasets = sorted(p for p in export.iterdir() if (p / "meta" / "info.json").exists())
    assert datasets, f"no LeRobot dataset below {export}"
    for root in datasets:
        print(check(root, lake), flush=True)


if __name__ == "__main__":
    main()
