"""Data segments: one night-batch of published episodes, written once and shared by releases.

A segment folder holds ``frames.parquet`` (the aligned grid), ``episodes.parquet``
(one row per episode with its row offset and its labels as processed: a release's own
``episodes.parquet`` holds the labels with QA overrides applied, and exports carry those), ``findings.parquet`` (what cleaning
flagged, with its evidence), ``stats.parquet`` (per episode and channel: count, sum, sum of
squares, min, max and a fixed-bin histogram, which merge exactly: `teleop_lake.release.stats`),
``channels.parquet`` (every channel's status per episode:
measured, unpopulated, faulty or absent), ``cameras/<camera>.parquet`` (the frames the rig
recorded, its JPEG bytes passed through: `teleop_lake.release.cameras`), ``replay.zarr``
(a replay buffer: ``data/<family>`` arrays of shape
(steps, channels) + ``meta/episode_ends``) and ``segment.json`` listing every file
with size and sha256. Releases copy those file entries into their manifest
instead of hashing segments again, so publishing costs in proportion to the
new data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import polars as pl
import zarr
from zarr.codecs import BloscCodec
from zarr.core.array_spec import ArrayConfigParams

from teleop_lake.cleaning.findings import Finding, findings_frame
from teleop_lake.lake import layout
from teleop_lake.lake.layout import SEGMENT_MANIFEST_NAME
from teleop_lake.lake.storage import Store
from teleop_lake.release.cameras import (
    CAMERA_ARROW_SCHEMA,
    ROW_GROUP_FRAMES,
    CameraTable,
    camera_table_batches,
    camera_table_path,
)
from teleop_lake.release.stats import episode_channel_stats

REPLAY_NAME = "replay.zarr"
# Every chunk is written as it is: checking each for emptiness first cost more than the write
# (a background thread, 40% of its samples, in a profiled night), and an empty chunk is rare.
_NO_EMPTY_CHECK: ArrayConfigParams = {"write_empty_chunks": True}
ROW_CHUNK = 16_384
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
    cameras: list[str],
) -> None:
    """Write a replay-buffer Zarr store: ``data/*`` (steps first) and ``meta/episode_ends``.

    Camera frames are not in it: they stay the rig's JPEG bytes in the segment's camera tables
    (`teleop_lake.release.cameras`), which ``data/camera.<name>.frame_index`` points into; a
    buffer of decoded images is an export made on demand."""
    group = zarr.open_group(_zarr_url(lake, rel), mode="w-")
    n = frames.height
    ends = (
        frames.group_by("episode_id", maintain_order=True)
        .len()["len"]
        .cum_sum()
        .to_numpy()
        .astype(np.int64)
    )
    group.create_array("meta/episode_ends", data=ends, config=_NO_EMPTY_CHECK)
    group.attrs["episode_ids"] = episode_ids
    group.attrs["layout"] = "replay_buffer: data/<key>[step, ...], meta/episode_ends[episode]"
    t = group.create_array(
        "data/t_ns", shape=(n,), chunks=(ROW_CHUNK,), dtype="int64", config=_NO_EMPTY_CHECK
    )
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
            config=_NO_EMPTY_CHECK,
        )
        z[:] = arr
        z.attrs["channels"] = [c[len(family) + 1 :] for c in cols]
    flag_cols = [c for c in frames.columns if c.startswith("flag.")]
    if flag_cols:
        flags = frames.select(flag_cols).to_numpy().astype(bool)
        z = group.create_array(
            "data/flags",
            shape=flags.shape,
            chunks=(ROW_CHUNK, flags.shape[1]),
            dtype="bool",
            config=_NO_EMPTY_CHECK,
        )
        z[:] = flags
        z.attrs["channels"] = [c[len("flag.") :] for c in flag_cols]
    for name in cameras:
        col = f"camera.{name}.frame_index"
        if col in frames.columns:
            z = group.create_array(
                f"data/{col}",
                shape=(n,),
                chunks=(ROW_CHUNK,),
                dtype="int32",
                fill_value=-1,
                config=_NO_EMPTY_CHECK,
            )
            z[:] = frames[col].to_numpy()
    group.attrs["cameras"] = {
        name: f"../{camera_table_path(name)} (rows: episode_id, frame_index)" for name in cameras
    }


def describe_files(
    lake: Store, seg_rel: str, known: Mapping[str, tuple[int, str]] | None = None
) -> list[dict[str, object]]:
    """Every file below a segment, with size and sha256 (paths relative to the lake). Files in
    ``known`` (hashed as they were written) are not read again."""
    known = known or {}
    entries: list[dict[str, object]] = []
    for rel in lake.walk_files(seg_rel):
        if rel.endswith(SEGMENT_MANIFEST_NAME) and rel.count("/") == seg_rel.count("/") + 1:
            continue
        size, digest = known[rel] if rel in known else (lake.size(rel), lake.sha256(rel))
        entries.append({"path": rel, "size": size, "sha256": digest})
    return entries


def write_segment(
    lake: Store,
    segment_id: str,
    frames: pl.DataFrame,
    episodes: pl.DataFrame,
    findings: pl.DataFrame,
    cameras: Mapping[str, CameraTable],
    channels: pl.DataFrame | None = None,
    damaged: list[tuple[str, Finding]] | None = None,
) -> dict[str, object]:
    """Write one segment (fails if it exists: segments are immutable). Returns its manifest.

    Each camera's table is written streaming, a batch of frames at a time (`CameraRows`),
    first: the JPEG frames are checked on their way through, and a damaged frame (kept as
    delivered) adds a ``frame_corrupt`` finding to ``findings`` and to ``damaged``."""
    seg = layout.segment_dir(segment_id)
    if lake.exists(f"{seg}/{SEGMENT_MANIFEST_NAME}"):
        raise FileExistsError(f"segment {segment_id} already exists; segments are written once")
    lake.remove_tree(seg)  # leftovers of a crashed attempt of the same batch
    written: dict[str, tuple[int, str]] = {}
    found: list[tuple[str, Finding]] = []
    for name, rows in sorted(cameras.items()):
        rel = f"{seg}/{camera_table_path(name)}"
        written[rel] = lake.write_parquet_tables(
            rel,
            camera_table_batches(rows, found),
            CAMERA_ARROW_SCHEMA,
            compression="none",
            row_group_size=ROW_GROUP_FRAMES,
            # the frames are unique JPEG bytes: neither statistics nor a dictionary (which
            # pyarrow otherwise builds of them, hashing every frame, per row group)
            statistics=[c for c in CAMERA_ARROW_SCHEMA.names if c != "data"],
            dictionary=[c for c in CAMERA_ARROW_SCHEMA.names if c != "data"],
        )
    if found:
        more = findings_frame(f for _, f in found).with_columns(
            pl.Series("episode_id", [e for e, _ in found], dtype=pl.String())
        )
        findings = pl.concat([findings, more], how="diagonal_relaxed")
        if damaged is not None:
            damaged += found
    tables = {
        "frames": frames,
        "episodes": episodes,
        "findings": findings,
        "stats": episode_channel_stats(frames),
    }
    if channels is not None:
        tables["channels"] = channels
    for name, table in tables.items():
        written[f"{seg}/{name}.parquet"] = lake.write_parquet(f"{seg}/{name}.parquet", table)
    write_replay_buffer(
        lake, f"{seg}/{REPLAY_NAME}", frames, episodes["episode_id"].to_list(), sorted(cameras)
    )
    manifest = {
        "segment_id": segment_id,
        "n_episodes": episodes.height,
        "n_frames": frames.height,
        "files": describe_files(lake, seg, written),
    }
    lake.write_json(f"{seg}/{SEGMENT_MANIFEST_NAME}", manifest, exclusive=True)
    return manifest
