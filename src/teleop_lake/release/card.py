"""The dataset card of a release: what is in it, how to read it, what every column means.

Generated from the release manifest and the data contract's field docs, so it
never drifts from the data.
"""

from __future__ import annotations

from typing import Any

from datalake_schemas import EPISODE_FIELDS, FRAME_FLAG_COLUMNS


def render_dataset_card(manifest: dict[str, Any]) -> str:
    c = manifest["counts"]
    ch = manifest["changelog"]
    lines = [
        f"# Teleoperation dataset, release {manifest['release_id']}",
        "",
        f"Created {manifest['created_at']} by teleop-lake {manifest['pipeline_version']} "
        f"(schema {manifest['schema_version']}); parent release: "
        f"{manifest['parent_release_id'] or 'none'}.",
        "",
        f"- episodes: {c['episodes']}, frames: {c['frames']} (50 Hz grid on the robot clock)",
        "- by center: " + ", ".join(f"{k} {v}" for k, v in c["by_center"].items()),
        "- by outcome: " + ", ".join(f"{k} {v}" for k, v in c["by_outcome"].items()),
        "- by robot model: " + ", ".join(f"{k} {v}" for k, v in c["by_robot_model"].items()),
        f"- changes against the parent: +{ch['added']} added, {ch['updated']} updated, "
        f"{ch['removed']} removed",
        "",
        "## Reading it",
        "",
        "```python",
        "from teleop_lake.release.reader import open_release",
        f'rel = open_release("<lake url>", "{manifest["release_id"]}")',
        "episodes, frames = rel.episodes, rel.scan_frames().collect()",
        "```",
        "",
        "Without teleop-lake: `episodes.parquet` lists each episode's `segment_id`; its frames "
        "are the rows of `segments/<segment_id>/frames.parquet` with that `episode_id`, and "
        "`segments/<segment_id>/replay.zarr` holds the same steps as a replay buffer "
        "(`data/*`, `meta/episode_ends`).",
        "",
        "Every file of the release is listed in `manifest.json` with its size and sha256.",
        "",
        "Beside the frames, each segment holds `findings.parquet` (every problem cleaning found, "
        "with its evidence: `rule`, `value`, `expected`, `residual_sigma`, `noise_floor`, "
        "`n_samples`) and `channels.parquet` (every channel of every episode: `measured`, "
        "`unpopulated` (never filled by the robot's firmware; null in the frames), `faulty` or "
        "`absent`, and whether the robot model requires it). Robots with claws have "
        "`gripper_closure` columns where robots with hands have `hand_closure`.",
        "",
        "## Episode columns",
        "",
        "| column | type | description |",
        "|---|---|---|",
    ]
    for name, (dtype, nullable, doc) in EPISODE_FIELDS.items():
        lines.append(f"| {name} | {dtype}{'?' if nullable else ''} | {doc} |")
    lines += [
        "",
        "## Frame quality flags",
        "",
        *[f"- `{f}`" for f in FRAME_FLAG_COLUMNS],
        "",
        "Operator ids are replaced by keyed pseudonyms; the key never leaves the lake.",
    ]
    return "\n".join(lines) + "\n"
