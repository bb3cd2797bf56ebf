"""Reading a release as a partner does: the episodes table, frames as a lazy polars scan,
and the replay-buffer Zarr stores of its segments.

```python
from teleop_lake.release.reader import open_release
rel = open_release("./lake")                  # the latest release
rel.episodes.filter(pl.col("outcome") == "success")
frames = rel.frames("kuavo_4pro", outcomes=("success",)).collect()  # that model's columns
head = rel.camera_frames("bei-...", "camera_head")   # JPEG bytes as recorded, + stamps
pixels = decode_frame(head["data"][0])        # (height, width, 3) uint8
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from datalake_schemas import READABLE_MAJORS, SCHEMA_VERSION, upgrade_column
from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store
from teleop_lake.release.cameras import CAMERA_TABLE_SCHEMA, camera_table_path, decode_frame
from teleop_lake.release.lineage import stable_release
from teleop_lake.release.publish import latest_pointer, manifest_sha256
from teleop_lake.release.signing import check_manifest
from teleop_lake.release.stats import STATS_FILE, histogram_range
from teleop_lake.release.verify import ReleaseNotFoundError, verify_release

__all__ = [
    "ChangedReleaseError",
    "EpisodeFilter",
    "IncompatibleReleaseError",
    "Release",
    "ReleaseVerificationError",
    "decode_frame",
    "open_release",
]


class IncompatibleReleaseError(RuntimeError):
    pass


class ChangedReleaseError(RuntimeError):
    """The release's manifest is not the one that was committed."""


def scan_segment_frames(lake: Store, segment_id: str) -> pl.LazyFrame:
    """A segment's frames, columns under their current names whatever the segment's schema
    major (`datalake_schemas.upgrade_column`)."""
    scan = pl.scan_parquet(lake.uri(f"{layout.segment_dir(segment_id)}/frames.parquet"))
    names = scan.collect_schema().names()
    renames = {c: upgrade_column(c) for c in names if upgrade_column(c) != c}
    return scan.rename(renames) if renames else scan


class ReleaseVerificationError(RuntimeError):
    """``open_release(..., verify=True)`` found the release's files not as its manifest says."""


@dataclass(frozen=True)
class EpisodeFilter:
    """Which episodes of a release to read; an empty tuple means any. ``min_quality`` is the
    episode's ``quality_score`` (0..1)."""

    centers: tuple[str, ...] = ()
    robot_models: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    min_quality: float = 0.0

    def apply(self, episodes: pl.DataFrame) -> pl.DataFrame:
        keep = pl.col("quality_score") >= self.min_quality
        for column, values in (
            ("center", self.centers),
            ("robot_model", self.robot_models),
            ("task_code", self.tasks),
            ("outcome", self.outcomes),
        ):
            if values:
                keep &= pl.col(column).is_in(list(values))
        return episodes.filter(keep)


@dataclass(frozen=True)
class Release:
    lake: Store
    release_id: str
    manifest: dict[str, Any]
    episodes: pl.DataFrame

    def segment_urls(self, name: str) -> list[str]:
        return [self.lake.uri(f"{layout.segment_dir(s)}/{name}") for s in self.manifest["segments"]]

    def scan_frames(self) -> pl.LazyFrame:
        """Frames of exactly this release's episode versions, across its segments, every robot
        model's columns together (`frames` reads one model's)."""
        return self._scan(self.episodes)

    @property
    def robot_models(self) -> list[str]:
        return sorted(self.episodes["robot_model"].unique().to_list())

    def frames(
        self,
        robot_model: str | None = None,
        *,
        centers: tuple[str, ...] = (),
        tasks: tuple[str, ...] = (),
        outcomes: tuple[str, ...] = (),
        min_quality: float = 0.0,
    ) -> pl.LazyFrame:
        """Frames of one robot model's episodes (filtered by center, task, outcome, quality),
        with only the channels that model measured: no column another model fills and this
        one leaves null. ``robot_model`` may be left out when the release holds one."""
        models = self.robot_models
        if robot_model is None:
            if len(models) > 1:
                raise ValueError(
                    f"release {self.release_id} holds robot models {', '.join(models)}: choose "
                    "one with frames(robot_model=...) (scan_frames() reads them all)"
                )
            robot_model = models[0] if models else ""
        if robot_model not in models:
            raise KeyError(
                f"robot model {robot_model!r} is not in release {self.release_id} "
                f"(it holds {', '.join(models) or 'none'})"
            )
        selection = EpisodeFilter(centers, (robot_model,), tasks, outcomes, min_quality)
        episodes = selection.apply(self.episodes)
        lf = self._scan(episodes)
        measured = self._measured_channels(robot_model)
        if measured is None:  # a release from before its statistics: one pass to find them
            counts = lf.select(pl.all().is_not_null().any()).collect().row(0, named=True)
            empty = [c for c, any_value in counts.items() if not any_value]
        else:
            names = lf.collect_schema().names()
            empty = [c for c in names if histogram_range(c) is not None and c not in measured]
        return lf.drop(empty)

    def _measured_channels(self, robot_model: str) -> set[str] | None:
        rel = f"{layout.release_dir(self.release_id)}/{STATS_FILE}"
        if not self.lake.exists(rel):
            return None
        stats = self.lake.read_parquet(rel)
        rows = stats.filter((pl.col("robot_model") == robot_model) & (pl.col("count") > 0))
        return set(rows["channel"].to_list())

    def _scan(self, episodes: pl.DataFrame) -> pl.LazyFrame:
        keys = episodes.select("episode_id", "segment_id").lazy()
        segments = sorted(episodes["segment_id"].unique().to_list())
        scans = [
            scan_segment_frames(self.lake, s).with_columns(pl.lit(s).alias("segment_id"))
            for s in segments
        ]
        if not scans:
            return pl.LazyFrame(schema={"episode_id": pl.String()})
        return (
            pl.concat(scans, how="diagonal_relaxed")
            .join(keys, on=["episode_id", "segment_id"], how="semi", maintain_order="left")
            .drop("segment_id")
        )

    def camera_size(self, episode_id: str, camera: str) -> tuple[int, int]:
        """(height, width) of an episode's camera frames, from its table's first row of that
        episode (no frame bytes read)."""
        row = self.episodes.filter(pl.col("episode_id") == episode_id)
        if row.is_empty():
            raise KeyError(f"episode {episode_id!r} is not in release {self.release_id}")
        seg = layout.segment_dir(str(row["segment_id"][0]))
        first = (
            pl.scan_parquet(self.lake.uri(f"{seg}/{camera_table_path(camera)}"))
            .filter(pl.col("episode_id") == episode_id)
            .select("height", "width")
            .head(1)
            .collect()
        )
        if first.is_empty():
            raise KeyError(f"episode {episode_id!r} has no {camera} frames")
        return int(first["height"][0]), int(first["width"][0])

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
    lake_url: str,
    release_id: str | None = None,
    public_key: str | None = None,
    *,
    verify: bool = False,
) -> Release:
    """The release ``release_id`` (default: LATEST; ``"stable"``: the one the lake's operators
    promoted). With ``public_key`` (a PEM file the lake's
    operators gave you) its manifest must carry their valid signature, else `SignatureError`.
    With ``verify`` every file is checked against the manifest first (sizes, sha256, no file
    added), else `ReleaseVerificationError`."""
    lake = Store(lake_url)
    if verify:
        result = verify_release(lake_url, release_id, public_key)
        if not result.ok:
            first = result.problems[0]
            raise ReleaseVerificationError(
                f"release {result.release_id}: {len(result.problems)} problem(s), first: "
                f"{first['problem']} {first['path']}; run `teleop-lake release verify --lake "
                f"{lake_url} {result.release_id}` for all of them"
            )
    pointer, recorded = latest_pointer(lake)
    if release_id == "stable":
        release_id, promoted = stable_release(lake)
        if release_id is None:
            raise ReleaseNotFoundError(
                f"no release was promoted to stable in {lake_url}: ask the lake's operators "
                "(`teleop-lake release promote`), or open the latest"
            )
        if promoted is not None and manifest_sha256(lake, release_id) != promoted:
            raise ChangedReleaseError(
                f"release {release_id}: its manifest changed after it was promoted to stable"
            )
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
        # the release's manifest says what its majors changed: an old reader can tell you
        known = max(READABLE_MAJORS, key=int)
        changes = [
            f"{m}.0.0: {text}"
            for m, text in sorted(dict(manifest.get("schema_changes") or {}).items())
            if m.isdigit() and int(m) > int(known)
        ]
        what = ("; what changed: " + "; ".join(changes)) if changes else ""
        raise IncompatibleReleaseError(
            f"release {rid} has schema {manifest['schema_version']}, this reader knows "
            f"{SCHEMA_VERSION}{what}. Upgrade teleop-lake to read it"
        )
    episodes = lake.read_parquet(f"{layout.release_dir(rid)}/episodes.parquet")
    return Release(lake=lake, release_id=rid, manifest=manifest, episodes=episodes)
