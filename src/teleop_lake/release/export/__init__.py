"""Exports of a release into the formats partners train from, made on demand.

``export_release`` selects episodes (`ExportFilter`), splits them into one dataset per robot
model and end-effector type (`plan_groups`), and writes each as a LeRobot v3.0 dataset
(`lerobot`) or a Zarr format 2 replay buffer (`replay_buffer`) below ``out`` (a folder or any
fsspec URL). Labels are the release's (QA overrides applied), statistics are merged from the
segments' per-episode statistics, camera frames are the rig's JPEG bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from teleop_lake import __version__
from teleop_lake.lake.storage import Store
from teleop_lake.release.export.frames import row_step
from teleop_lake.release.export.lerobot import write_lerobot
from teleop_lake.release.export.replay_buffer import write_replay_buffer_v2
from teleop_lake.release.export.selection import (
    EmptySelectionError,
    ExportedDataset,
    ExportFilter,
    plan_groups,
)
from teleop_lake.release.publish import manifest_sha256
from teleop_lake.release.reader import open_release

FORMATS = ("lerobot", "replay-buffer")

__all__ = ["FORMATS", "EmptySelectionError", "ExportFilter", "ExportResult", "export_release"]


class ExportTargetError(ValueError):
    """The export folder already holds something."""


@dataclass
class ExportResult:
    release_id: str
    format: str
    out: str
    datasets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def episodes(self) -> int:
        return sum(int(d["episodes"]) for d in self.datasets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "format": self.format,
            "out": self.out,
            "episodes": self.episodes,
            "datasets": self.datasets,
        }


def export_release(
    lake_url: str,
    out: str,
    fmt: str,
    release_id: str | None = None,
    selection: ExportFilter | None = None,
    fps: int = 50,
    now: dt.datetime | None = None,
    on_episode: Callable[[str], None] | None = None,
    videos: bool = True,
) -> ExportResult:
    """Export (part of) a release; one dataset per robot model and end effector below ``out``,
    which must not exist yet or be empty (exports never overwrite). ``videos``: a LeRobot
    export's cameras as H.264 videos, else as the rig's JPEG bytes (image features)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    row_step(fps)
    release = open_release(lake_url, release_id)
    target = Store(out)
    if target.exists("") and target.ls_names(""):
        raise ExportTargetError(f"{out} is not empty; exports never overwrite: choose a new folder")
    selection = selection or ExportFilter()
    selected = selection.apply(release.episodes)
    provenance = {
        "release_id": release.release_id,
        "release_manifest_sha256": manifest_sha256(release.lake, release.release_id),
        "lake": lake_url,
        "exported_at": (now or dt.datetime.now(dt.UTC)).isoformat(),
        "exported_by": f"teleop-lake {__version__}",
        "filters": {
            "centers": list(selection.centers),
            "robot_models": list(selection.robot_models),
            "tasks": list(selection.tasks),
            "outcomes": list(selection.outcomes),
            "min_quality": selection.min_quality,
        },
    }
    result = ExportResult(release.release_id, fmt, out)
    for group in plan_groups(release, selected):
        if group.episodes.is_empty():
            result.datasets.append(
                {
                    "name": group.name,
                    "episodes": 0,
                    "frames": 0,
                    "bytes_written": 0,
                    "skipped": group.skipped,
                }
            )
            continue
        if fmt == "lerobot":
            done: ExportedDataset = write_lerobot(
                release, group, target.child(group.name), fps, provenance, on_episode, videos
            )
        else:
            done = write_replay_buffer_v2(
                release, group, target.child(f"{group.name}.zarr"), fps, provenance, on_episode
            )
        result.datasets.append(done.to_dict())
    return result
