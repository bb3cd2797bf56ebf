"""Data segments: one night-batch of published episodes, written once and shared by releases.

A segment folder holds ``frames.parquet`` (the aligned grid), ``episodes.parquet``
(one row per episode with its row offset), ``findings.parquet`` (what cleaning
flagged, with its evidence), ``channels.parquet`` (every channel's status per episode:
measured, unpopulated, faulty or absent), ``replay.zarr`` (a replay buffer: ``data/<family>`` arrays of shape
(steps, channels) + ``meta/episode_ends``) and ``segment.json`` listing every file
with size and sha256. Releases copy those file entries into their manifest
instead of hashing segments again, so publishing costs in proportion to the
new data.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

import numpy as np
import polars as pl
import zarr
from zarr.codecs import BloscCodec

from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store

SEGMENT_MANIFEST_NAME = "segment.json"
REPLAY_NAME = "replay.zarr"
ROW_CHUNK = 16_384
IMAGE_CHUNK_FRAMES = 100
_SIGNAL_COMPRESSOR = BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")

# Column families of the frames table that become one replay-buffer array each.
_FAMILY_RE = re.compile(r"^((?:obs|action)\.[a-z_]+)\.(.+)$")


def column_families(columns: list[str]) -> dict[str, list[str]]:
    """Group ``obs.position_rad.l_knee``-style columns by family, in column order."""
    families: dict[str, list[str]] = {}
    for c in columns:
        m = _FAMILY_RE.match(c)
        if m:
            families.setdefault(m.group(1), []).append(c)
    return families


def _zarr_url(lake: Store, rel: str) -> str:
    return lake.full(rel) if lake.is_local else lake.uri(rel)


def write_replay_buffer(
    lake: Store,
    rel: str,
    frames: pl.DataFrame,
    episode_ids: list[str],
    images: Mapping[str, np.ndarray],
) -> None:
    """Write a replay-buffer Zarr store: ``data/*`` (steps first) and ``meta/episode_ends``."""
    group = zarr.open_group(_zarr_url(lake, rel), mode="w-")
    n = frames.height
    ends = (
        frames.group_by("episode_id", maintain_order=True)
        .len()["len"]
        .cum_sum()
        .to_numpy()
        .astype(np.int64)
    )
    group.create_array("meta/episode_ends", data=ends)
    group.attrs["episode_ids"] = episode_ids
    group.attrs["layout"] = "replay_buffer: data/<key>[step, ...], meta/episode_ends[episode]"
    t = group.create_array("data/t_ns", shape=(n,), chunks=(ROW_CHUNK,), dtype="int64")
    t[:] = frames["t_ns"].to_numpy()
    for family, cols in column_families(frames.columns).items():
        arr = frames.select(cols).to_numpy().astype(np.float32, copy=False)
        z = group.create_array(
            f"data/{family}",
            shape=arr.shape,
            chunks=(ROW_CHUNK, arr.shape[1]),
            dtype="float32",
            compressors=_SIGNAL_COMPRESSOR,
            fill_value=np.nan,
        )
        z[:] = arr
        z.attrs["channels"] = [c[len(family) + 1 :] for c in cols]
    flag_cols = [c for c in frames.columns if c.startswith("flag.")]
    if flag_cols:
        flags = frames.select(flag_cols).to_numpy().astype(bool)
        z = group.create_array(
            "data/flags", shape=flags.shape, chunks=(ROW_CHUNK, flags.shape[1]), dtype="bool"
        )
        z[:] = flags
        z.attrs["channels"] = [c[len("flag.") :] for c in flag_cols]
    for name, stack in images.items():
        z = group.create_array(
            f"data/{name}",
            shape=stack.shape,
            chunks=(IMAGE_CHUNK_FRAMES, *stack.shape[1:]),
            dtype="uint8",
            compressors=_SIGNAL_COMPRESSOR,
        )
        z[:] = stack
        z.attrs["layout"] = "HWC RGB, the nearest camera frame to each grid tick"


def describe_files(lake: Store, seg_rel: str) -> list[dict[str, object]]:
    """Every file below a segment, with size and sha256 (paths relative to the lake)."""
    entries = []
    for rel in lake.walk_files(seg_rel):
        if rel.endswith(SEGMENT_MANIFEST_NAME) and rel.count("/") == seg_rel.count("/") + 1:
            continue
        data = lake.read_bytes(rel)
        entries.append({"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return entries


def write_segment(
    lake: Store,
    segment_id: str,
    frames: pl.DataFrame,
    episodes: pl.DataFrame,
    findings: pl.DataFrame,
    images: Mapping[str, np.ndarray],
    channels: pl.DataFrame | None = None,
) -> dict[str, object]:
    """Write one segment (fails if it exists: segments are immutable). Returns its manifest."""
    seg = layout.segment_dir(segment_id)
    if lake.exists(f"{seg}/{SEGMENT_MANIFEST_NAME}"):
        raise FileExistsError(f"segment {segment_id} already exists; segments are written once")
    lake.remove_tree(seg)  # leftovers of a crashed attempt of the same batch
    lake.write_parquet(f"{seg}/frames.parquet", frames)
    lake.write_parquet(f"{seg}/episodes.parquet", episodes)
    lake.write_parquet(f"{seg}/findings.parquet", findings)
    if channels is not None:
        lake.write_parquet(f"{seg}/channels.parquet", channels)
    write_replay_buffer(
        lake, f"{seg}/{REPLAY_NAME}", frames, episodes["episode_id"].to_list(), images
    )
    manifest = {
        "segment_id": segment_id,
        "n_episodes": episodes.height,
        "n_frames": frames.height,
        "files": describe_files(lake, seg),
    }
    lake.write_json(f"{seg}/{SEGMENT_MANIFEST_NAME}", manifest, exclusive=True)
    return manifest
