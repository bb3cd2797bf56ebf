"""The data contract of the teleop lake: Pandera models, field docs, schema version.

This package imports nothing of the project's own code; partners may vendor it.
Every table the lake writes is validated against these models at its write
boundary, in batches (one `validate` call per batch, never per episode).
"""

from datalake_schemas.episodes import EPISODE_FIELDS, episodes_schema
from datalake_schemas.frames import (
    CAMERA_COLUMNS,
    FLAG_DOCS,
    FRAME_FAMILIES,
    FRAME_FIXED_COLUMNS,
    FRAME_FLAG_COLUMNS,
    frames_schema,
)
from datalake_schemas.quarantine import quarantine_schema
from datalake_schemas.version import (
    MAJOR_CHANGES,
    READABLE_MAJORS,
    SCHEMA_VERSION,
    changes_since,
    upgrade_column,
)

__all__ = [
    "CAMERA_COLUMNS",
    "EPISODE_FIELDS",
    "FLAG_DOCS",
    "FRAME_FAMILIES",
    "FRAME_FIXED_COLUMNS",
    "FRAME_FLAG_COLUMNS",
    "MAJOR_CHANGES",
    "READABLE_MAJORS",
    "SCHEMA_VERSION",
    "changes_since",
    "episodes_schema",
    "frames_schema",
    "quarantine_schema",
    "upgrade_column",
]
