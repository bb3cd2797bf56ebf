"""Reading a release as a partner does: the episodes table, frames as a lazy polars scan,
and the replay-buffer Zarr stores of its segments.

```python
from teleop_lake.release.reader import open_release
rel = open_release("./lake")                  # the latest release
rel.episodes.filter(pl.col("outcome") == "success")
frames = rel.scan_frames().collect()          # only this release's episode versions
head = rel.camera_frames("bei-...", "camera_head")   # JPEG bytes as recorded, + stamps
pixels = decode_frame(head["data"][0])        # (height, width, 3) uint8
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from datalake_schemas import SCHEMA_VERSION
from datalake_schemas.version import READABLE_MAJORS
from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store
from teleop_lake.release.cameras import CAMERA_TABLE_SCHEMA, camera_table_path, decode_frame
from teleop_lake.release.publish import latest_pointer, manifest_sha256
from teleop_lake.release.signing import check_manifest
from teleop_lake.release.verify import ReleaseNotFoundError

__all__ = [
    "ChangedReleaseError",
    "IncompatibleReleaseError",
    "Release",
    "decode_frame",
    "open_release",
]


class IncompatibleReleaseError(RuntimeError):
    pass


class ChangedReleaseError(RuntimeError):
    """The release's manifest is not the one that was committed."""


@dataclass(frozen=True)
class Release:
    lake: Store
    release_id: str
    manifest: dict[str, Any]
    episodes: pl.DataFrame

    def segment_urls(self, name: str) -> list[str]:
        return [self.lake.uri(f"{layout.segment_dir(s)}/{name}") for s in self.manifest["segments"]]

    def scan_frames(self) -> pl.LazyFrame:
        """Frames of exactly this release's episode versions, across its segments."""
        keys = self.episodes.select("episode_id", "segment_id").lazy()
        scans = [
            pl.scan_parquet(self.lake.uri(f"{layout.segment_dir(s)}/frames.parquet")).with_columns(
                pl.lit(s).alias("segment_id")
            )
            for s in self.manifest["segments"]
        ]
        return (
            pl.concat(scans, how="diagonal_relaxed")
            .join(keys, on=["episode_id", "segment_id"], how="semi", maintain_order="left")
            .drop("segment_id")
        )

    def camera_frames(self, episode_id: str, camera: str) -> pl.DataFrame:
        """One episode's frames of one camera (`teleop_lake.release.cameras`), in capture order:
        what ``camera.<camera>.frame_index`` of its frame rows points at. Reads only the row
        groups that hold the episode."""
        row = self.episodes.filter(pl.col("episode_id") == episode_id)
        if row.is_empty():
            raise KeyError(f"episode {episode_id!r} is not in release {self.release_id}")
        seg = layout.segment_dir(str(row["segment_id"][0]))
        rel = f"{seg}/{camera_table_path(camera)}"
        if not self.lake.exists(rel):
            return pl.DataFrame(schema=CAMERA_TABLE_SCHEMA)
        return (
            pl.scan_parquet(self.lake.uri(rel))
            .filter(pl.col("episode_id") == episode_id)
            .sort("t_ns")
            .collect()
        )


def open_release(
    lake_url: str, release_id: str | None = None, public_key: str | None = None
) -> Release:
    """The release ``release_id`` (default: LATEST). With ``public_key`` (a PEM file the lake's
    operators gave you) its manifest must carry their valid signature, else `SignatureError`."""
    lake = Store(lake_url)
    pointer, recorded = latest_pointer(lake)
    rid = release_id or pointer
    if rid is None:
        raise ReleaseNotFoundError(f"no release in {lake_url}")
    if rid == pointer and recorded is not None and manifest_sha256(lake, rid) != recorded:
        raise ChangedReleaseError(
            f"release {rid}: its manifest changed after it was committed (sha256 differs from "
            f"the one LATEST recorded); run `teleop-lake release verify --lake {lake_url}`"
        )
    mpath = f"{layout.release_dir(rid)}/{layout.RELEASE_MANIFEST_NAME}"
    if public_key is not None:
        check_manifest(lake, mpath, public_key, f"release {rid}")
    manifest = lake.read_json(mpath)
    major = str(manifest["schema_version"]).split(".")[0]
    if major not in READABLE_MAJORS:
        raise IncompatibleReleaseError(
            f"release {rid} has schema {manifest['schema_version']}, this reader knows "
            f"{SCHEMA_VERSION}: upgrade teleop-lake to read it"
        )
    episodes = lake.read_parquet(f"{layout.release_dir(rid)}/episodes.parquet")
    return Release(lake=lake, release_id=rid, manifest=manifest, episodes=episodes)
