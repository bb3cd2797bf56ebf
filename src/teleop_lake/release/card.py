"""The dataset card of a release: what is in it, how good it is, how to read it, what every
column, flag and finding means.

Generated from the release manifest and the data contract's declarations (`EPISODE_FIELDS`,
`FRAME_FAMILIES`, `FLAG_DOCS`), so it never drifts from the data and needs no other document:
a partner holding only the release folder has all of it.
"""

from __future__ import annotations

from typing import Any

from datalake_schemas import (
    CAMERA_COLUMNS,
    EPISODE_FIELDS,
    FLAG_DOCS,
    FRAME_FAMILIES,
    FRAME_FIXED_COLUMNS,
)

QUALITY_SECTION = """\
## Quality

Every frame row carries the flags below; `findings.parquet` of each segment lists every
problem cleaning found, one row each, with its evidence (`rule`, `value`, `expected`,
`residual_sigma`, `noise_floor`, `n_samples`) and the raw value where a spike was repaired.
Nothing is dropped silently: a repaired or interpolated value is flagged, a value past a
joint's limit is kept as read and flagged, a channel the robot never filled is null (see
`channels.parquet`: `measured`, `unpopulated`, `faulty` or `absent`, and whether the robot
model requires it).

`quality_score` (0..1) starts at 1 and loses, for the channels the robot model requires:
1.0 x the share of the episode's time in dropouts, 0.5 x the share frozen, 1.0 x the share
past a limit, 0.25 x the share of interpolated rows, 0.2 x min(1, spikes per minute / 100) and
0.3 x min(1, (operator clock uncertainty / 20 ms)^2). Episodes under 0.5, with an operator
clock known to worse than 20 ms, or with a required stream faulty for too long are not
published; `needs_review` marks published episodes whose label or clock a person should check.

Labels (`outcome`, `failure_reason`) come from the operator's mark, the task's success rule
on the cleaned hand signals, or a QA reviewer (`label_source`: operator, rule, qa_override;
`label_confidence`). This release's `episodes.parquet` holds the labels with every QA override
applied; a segment's own `episodes.parquet` holds them as processed.
"""


def _frame_columns_table() -> list[str]:
    lines = ["| column | unit | meaning |", "|---|---|---|"]
    for name, (unit, meaning) in FRAME_FIXED_COLUMNS.items():
        lines.append(f"| `{name}` | {unit} | {meaning} |")
    for family, (unit, meaning, _source) in FRAME_FAMILIES.items():
        lines.append(f"| `{family}.<channel>` | {unit} | {meaning} |")
    for suffix, (unit, meaning) in CAMERA_COLUMNS.items():
        lines.append(f"| `camera.<name>.{suffix}` | {unit} | {meaning} |")
    for flag, meaning in FLAG_DOCS.items():
        lines.append(f"| `{flag}` | bool | {meaning} |")
    return lines


def _figures(manifest: dict[str, Any]) -> list[str]:
    c, ch = manifest["counts"], manifest["changelog"]
    lines = [
        f"- episodes: {c['episodes']}, frames: {c['frames']} (50 Hz grid on the robot clock)",
        "- by center: " + ", ".join(f"{k} {v}" for k, v in c["by_center"].items()),
        "- by outcome: " + ", ".join(f"{k} {v}" for k, v in c["by_outcome"].items()),
        "- by robot model: " + ", ".join(f"{k} {v}" for k, v in c["by_robot_model"].items()),
    ]
    if "by_label_source" in c:
        lines.append(
            "- labels by source: "
            + ", ".join(f"{k} {v}" for k, v in c["by_label_source"].items())
            + f"; needs review: {c['needs_review']}"
        )
    if "quality_score" in c:
        q = c["quality_score"]
        lines.append(
            f"- quality_score: min {q['min']:.2f}, 10th percentile {q['p10']:.2f}, "
            f"median {q['median']:.2f}, mean {q['mean']:.2f}"
        )
    if "findings" in c:
        f = c["findings"]
        lines.append(
            f"- findings: {f['n_spikes']} spikes repaired, {f['n_dropouts']} dropouts, "
            f"{f['n_frozen']} frozen stretches, {f['n_limit_violations']} limit violations"
        )
    lines.append(
        f"- changes against the parent: +{ch['added']} added, {ch['updated']} updated, "
        f"{ch['removed']} removed, {ch.get('relabeled', 0)} relabeled "
        f"({manifest.get('overrides', {}).get('applied', 0)} QA overrides applied in all)"
    )
    return lines


def _reading(manifest: dict[str, Any]) -> list[str]:
    rid = manifest["release_id"]
    return [
        "## Reading it",
        "",
        "With polars alone (each episode's frames are the rows of its segment's "
        "`frames.parquet` with its `episode_id`):",
        "",
        "```python",
        "import polars as pl",
        f'rel = "<lake>/releases/{rid}"',
        'episodes = pl.read_parquet(f"{rel}/episodes.parquet")',
        'ep = episodes.filter(pl.col("outcome") == "success").row(0, named=True)',
        "seg = f\"<lake>/segments/{ep['segment_id']}\"",
        'frames = pl.scan_parquet(f"{seg}/frames.parquet").filter(',
        '    pl.col("episode_id") == ep["episode_id"]).collect()',
        'jpegs = pl.read_parquet(f"{seg}/cameras/camera_head.parquet")  # the rig\'s JPEG bytes',
        "```",
        "",
        "With teleop-lake's reader (one robot model's columns, filters, verification):",
        "",
        "```python",
        "from teleop_lake.release.reader import open_release",
        f'rel = open_release("<lake url>", "{rid}", verify=True)',
        'frames = rel.frames("kuavo_4pro", outcomes=("success",)).collect()',
        "```",
        "",
        "For training, export it: `teleop-lake release export --lake <lake url> "
        f"{rid} --format lerobot --out <dir>` writes a LeRobot v3.0 dataset per robot model "
        "(`LeRobotDataset(repo_id, root=<dir>/<dataset>)` loads it), `--format replay-buffer` "
        "a Zarr format 2 replay buffer (`data/<key>`, `meta/episode_ends`) as diffusion-policy "
        "and UMI read it. Each segment's `replay.zarr` (Zarr format 3) holds the same steps.",
        "",
        "`features.json` describes every frame column (dtype, unit, meaning, which robot "
        "models measure it and require it), every flag and every task's text; `stats.parquet` "
        "holds per robot model and channel count, sum, sum of squares, min, max and a "
        "histogram (normalization statistics). Every file of the release is listed in "
        "`manifest.json` with its size and sha256 (`teleop-lake release verify`).",
    ]


def render_dataset_card(manifest: dict[str, Any]) -> str:
    lines = [
        f"# Teleoperation dataset, release {manifest['release_id']}",
        "",
        f"Created {manifest['created_at']} by teleop-lake {manifest['pipeline_version']} "
        f"(schema {manifest['schema_version']}); parent release: "
        f"{manifest['parent_release_id'] or 'none'}.",
        "",
        *_figures(manifest),
        "",
        *_reading(manifest),
        "",
        QUALITY_SECTION,
        "## Frame columns",
        "",
        *_frame_columns_table(),
        "",
        "Robots with claws have `gripper_closure` columns where robots with hands have "
        "`hand_closure`; each robot model has its own joints (`features.json`).",
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
        "Operator ids are replaced by keyed pseudonyms; the key never leaves the lake.",
    ]
    return "\n".join(lines) + "\n"
