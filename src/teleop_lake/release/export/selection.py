"""Which episodes of a release an export takes, and how they split into datasets.

An export is one dataset per robot model and end-effector type (``kuavo_4pro-qiangnao``): the
vectors a policy trains on (``observation.state``, ``action``) need the same channels in every
frame. A group's channels are those measured in at least one of its episodes; an episode
lacking one of them anywhere (a rig that never records hand state, a camera it does not have)
is left out and listed with the reason, never padded with invented values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from datalake_schemas import FRAME_FLAG_COLUMNS
from teleop_lake.release.reader import EpisodeFilter, Release, scan_segment_frames
from teleop_lake.release.stats import segment_episode_stats

STATE_FAMILIES = ("obs.position_rad", "obs.hand_closure", "obs.gripper_closure")
"""``observation.state``: joint positions, then the hand's or claw's closure."""
ACTION_FAMILIES = ("action.target_rad", "action.hand_closure", "action.gripper_closure")
"""``action``: the robot's joint command, then the end-effector command."""
EXTRA_FAMILIES = {
    "observation.velocity": ("obs.velocity_rad_s",),
    "observation.effort": ("obs.effort_n_m",),
    "observation.head_pose": ("obs.head_position_m", "obs.head_orientation"),
    "action.arm_target": ("action.arm_target_rad",),
}
"""Vectors exported when every selected episode of the group measured them."""


class EmptySelectionError(ValueError):
    """The filters select no episode of the release."""


ExportFilter = EpisodeFilter
"""An export's episode filters: those of the release reader."""


@dataclass
class ExportGroup:
    """One dataset of an export: the episodes, in release order, and the columns of each
    vector feature (feature name -> frames columns)."""

    name: str
    robot_model: str
    episodes: pl.DataFrame
    vectors: dict[str, list[str]]
    cameras: list[str]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def frames_columns(self) -> list[str]:
        cols = [c for cols in self.vectors.values() for c in cols]
        return cols + [f"camera.{c}.frame_index" for c in self.cameras]


@dataclass(frozen=True)
class ExportedDataset:
    """What writing one dataset of an export did."""

    name: str
    episodes: int
    frames: int
    bytes_written: int
    skipped: dict[str, str]
    undecodable_frames: int = 0
    """Camera frames that did not decode (damaged in the recording; the release flags them):
    a video shows the previous frame in their place."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _family_columns(columns: list[str], families: tuple[str, ...]) -> list[str]:
    return [c for c in columns if any(c.startswith(f"{family}.") for family in families)]


def _measured_per_episode(release: Release, episodes: pl.DataFrame) -> pl.DataFrame:
    """Per episode: for every channel column, True when it has a value in every row (its
    statistics count every frame, `teleop_lake.release.stats`); for every camera, whether its
    column is there (``camera.<name>.frame_index``) and whether any row sees a frame
    (``...:any``). A segment at a time: channels from the stored statistics, cameras from a
    scan of their index columns only."""
    parts = []
    for (segment_id,), eps in episodes.group_by(["segment_id"], maintain_order=True):
        keys = eps.select("episode_id", "robot_model")
        stats = segment_episode_stats(release.lake, str(segment_id), keys)
        full = stats.join(eps.select("episode_id", "n_frames"), on="episode_id").select(
            "episode_id", "channel", (pl.col("count") == pl.col("n_frames")).alias("complete")
        )
        wide = full.pivot(on="channel", index="episode_id", values="complete")
        scan = scan_segment_frames(release.lake, str(segment_id))
        cams = [
            c
            for c in scan.collect_schema().names()
            if c.startswith("camera.") and c.endswith(".frame_index")
        ]
        if cams:
            seen = (
                scan.filter(pl.col("episode_id").is_in(eps["episode_id"].implode()))
                .group_by("episode_id")
                .agg(
                    *[pl.col(c).is_not_null().all() for c in cams],
                    *[pl.col(c).max().ge(0).fill_null(False).alias(f"{c}:any") for c in cams],
                )
                .collect()
            )
            wide = wide.join(seen, on="episode_id", how="full", coalesce=True)
        parts.append(wide)
    return pl.concat(parts, how="diagonal")


def plan_groups(release: Release, selected: pl.DataFrame) -> Iterator[ExportGroup]:
    """The datasets an export of ``selected`` (rows of the release's episodes) writes."""
    if selected.is_empty():
        raise EmptySelectionError(f"the filters select no episode of release {release.release_id}")
    measured = _measured_per_episode(release, selected)
    for (robot_model, eef_type), episodes in selected.group_by(
        ["robot_model", "eef_type"], maintain_order=True
    ):
        eef = str(eef_type) if eef_type is not None else "none"
        name = f"{robot_model}-{eef}"
        rows = measured.join(episodes.select("episode_id"), on="episode_id", how="semi")
        # a column the group's episodes measured in full somewhere belongs to the dataset
        anywhere = [c for c in rows.columns if c != "episode_id" and ":" not in c and rows[c].any()]
        vectors = {
            "observation.state": _family_columns(anywhere, STATE_FAMILIES),
            "action": _family_columns(anywhere, ACTION_FAMILIES),
        }
        cameras = sorted(
            c[len("camera.") : -len(".frame_index")]
            for c in anywhere
            if c.startswith("camera.") and c.endswith(".frame_index")
        )
        for feature, families in EXTRA_FAMILIES.items():
            cols = _family_columns(anywhere, families)
            if (
                cols
                and rows.select(pl.all_horizontal(pl.col(cols).fill_null(False))).to_series().all()
            ):
                vectors[feature] = cols
        required = [*vectors["observation.state"], *vectors["action"]]
        skipped = {}
        for ok in rows.iter_rows(named=True):
            missing = [c for c in required if not ok[c]]
            no_camera = [c for c in cameras if not ok.get(f"camera.{c}.frame_index:any")]
            if missing:
                skipped[ok["episode_id"]] = (
                    f"no values in {len(missing)} channel(s) the dataset has, e.g. {missing[0]}"
                )
            elif no_camera:
                skipped[ok["episode_id"]] = f"no {no_camera[0]} frames"
        keep = episodes.filter(~pl.col("episode_id").is_in(list(skipped)))
        yield ExportGroup(
            name=name,
            robot_model=str(robot_model),
            episodes=keep,
            vectors={k: v for k, v in vectors.items() if v},
            cameras=cameras,
            skipped=skipped,
        )


def episode_frames(
    release: Release, episode: dict[str, object], columns: list[str]
) -> pl.DataFrame:
    """One episode's frame rows (``frame_index``, ``t_rel_s``, ``columns`` and the flags),
    read from its segment alone."""
    scan = scan_segment_frames(release.lake, str(episode["segment_id"]))
    available = scan.collect_schema().names()
    flags = [c for c in available if c.startswith("flag.")]
    wanted = ["frame_index", "t_rel_s", *columns, *flags]
    extra = [c for c in ("alignment_residual_ms",) if c in available]
    return (
        scan.filter(pl.col("episode_id") == episode["episode_id"])
        .select([c for c in wanted if c in available] + extra)
        .sort("frame_index")
        .collect()
    )


FLAG_NAMES = [f[len("flag.") :] for f in FRAME_FLAG_COLUMNS]
"""The quality flags every export carries, in this order."""
LABEL_FIELDS = (
    "center",
    "recording_id",
    "task_code",
    "outcome",
    "failure_reason",
    "label_source",
    "quality_score",
)
"""An episode's provenance and release labels, as every export carries them."""


def episode_labels(episode: dict[str, Any]) -> dict[str, Any]:
    return {name: episode[name] for name in LABEL_FIELDS}


def row_flags(rows: pl.DataFrame) -> np.ndarray:
    """(rows, flags) bool: the rows' quality flags in `FLAG_NAMES` order (false where a
    segment predates a flag)."""
    flags = rows.select(
        [pl.col(f) if f in rows.columns else pl.lit(False) for f in FRAME_FLAG_COLUMNS]
    )
    return flags.to_numpy().astype(bool)
