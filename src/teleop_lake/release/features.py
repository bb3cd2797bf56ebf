"""``features.json``: a release describing its own columns, flags and tasks, as data.

Every frame column of the release with its dtype, unit and meaning (from the data contract's
declarations, `datalake_schemas.frames`), and per robot model whether the model measured it
(from the release's statistics) and whether its faults gate publishing (the model's
``required_channels``); every flag; every task code with its text in English and Chinese
(the catalog's wording, and the label files' where they carry it).
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow.parquet as pq

from datalake_schemas import (
    CAMERA_COLUMNS,
    FLAG_DOCS,
    FRAME_FAMILIES,
    FRAME_FIXED_COLUMNS,
    SCHEMA_VERSION,
    upgrade_column,
)
from teleop_lake.config.robots import UnknownRobotModelError, load_robot_model
from teleop_lake.config.tasks import load_task_catalog
from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store

FEATURES_FILE = "features.json"
FEATURES_FORMAT = "teleop-lake-features/1"


def describe_column(name: str) -> dict[str, str]:
    """Unit, meaning and (for channel families) family and source of a frames column."""
    if name in FRAME_FIXED_COLUMNS:
        unit, meaning = FRAME_FIXED_COLUMNS[name]
        return {"unit": unit, "meaning": meaning}
    if name in FLAG_DOCS:
        return {"unit": "", "meaning": FLAG_DOCS[name]}
    if name.startswith("camera."):
        camera, _, suffix = name[len("camera.") :].rpartition(".")
        if suffix in CAMERA_COLUMNS:
            unit, meaning = CAMERA_COLUMNS[suffix]
            return {"unit": unit, "meaning": f"camera {camera}: {meaning}", "camera": camera}
    family, _, channel = name.rpartition(".")
    if family in FRAME_FAMILIES:
        unit, meaning, source = FRAME_FAMILIES[family]
        return {
            "unit": unit,
            "meaning": meaning,
            "family": family,
            "channel": channel,
            "source": source,
        }
    return {"unit": "", "meaning": "undocumented column"}


def _frame_schemas(lake: Store, segments: list[str]) -> dict[str, dict[str, str]]:
    """Per segment, its frames columns and their Arrow types (read from the footers only)."""
    out = {}
    for seg in segments:
        with lake.fs.open(lake.full(f"{layout.segment_dir(seg)}/frames.parquet"), "rb") as f:
            schema = pq.read_schema(f)
        out[seg] = {upgrade_column(field.name): str(field.type) for field in schema}
    return out


def _required(robot_model: str, source: str | None) -> bool | None:
    if source is None:
        return None
    try:
        robot = load_robot_model(robot_model)
    except UnknownRobotModelError:
        return None
    return source in robot.required_channels


def _task_texts(episodes: pl.DataFrame) -> dict[str, dict[str, str | bool | None]]:
    catalog = load_task_catalog()
    out: dict[str, dict[str, str | bool | None]] = {}
    for code in sorted(c for c in episodes["task_code"].unique().to_list() if c is not None):
        rows = episodes.filter(pl.col("task_code") == code)
        spec = catalog.get(code)

        def first(column: str, rows: pl.DataFrame = rows) -> str | None:
            if column not in rows.columns:
                return None
            values = rows[column].drop_nulls()
            return str(values.mode().sort()[0]) if len(values) else None

        out[code] = {
            "en": spec.name if spec is not None else first("task_text_en"),
            "zh": first("task_text_zh"),
            "label_file_en": first("task_text_en"),
            "in_catalog": spec is not None,
        }
    return out


def release_features(lake: Store, episodes: pl.DataFrame, stats: pl.DataFrame) -> dict[str, Any]:
    """The ``features.json`` document of a release of ``episodes`` with statistics ``stats``
    (`teleop_lake.release.stats.release_stats`)."""
    schemas = _frame_schemas(lake, sorted(episodes["segment_id"].unique().to_list()))
    models_by_segment = (
        episodes.group_by("segment_id").agg(pl.col("robot_model").unique()).iter_rows()
    )
    present: dict[str, set[str]] = {}
    for seg, models in models_by_segment:
        for column in schemas[seg]:
            present.setdefault(column, set()).update(models)
    measured = {
        (m, c) for m, c, n in stats.select("robot_model", "channel", "count").iter_rows() if n > 0
    }
    dtypes = {c: t for schema in schemas.values() for c, t in schema.items()}
    columns = []
    for name in dtypes:  # the segments' own column order
        doc = describe_column(name)
        in_stats = any(c == name for _, c in measured) or "family" in doc
        per_model = {}
        for model in sorted(present.get(name, ())):
            per_model[model] = {
                "measured": (model, name) in measured if in_stats else True,
                "required": _required(model, doc.get("source")),
            }
        columns.append({"name": name, "dtype": dtypes[name], **doc, "robot_models": per_model})
    return {
        "format": FEATURES_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "columns": columns,
        "flags": dict(FLAG_DOCS),
        "tasks": _task_texts(episodes),
    }
