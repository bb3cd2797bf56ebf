"""The schema version of every table in a release (semantic versioning).

Bump the major version when a column is removed or changes meaning; readers
refuse a release whose major version they do not know.
"""

# 2.0.0: camera frames are the rig's JPEG bytes in per-camera tables (cameras/<name>.parquet);
# the replay buffer holds camera.<name>.frame_index instead of decoded image arrays; frames
# gain camera.<name>.offset_ms; every float is finite (null marks what is missing).
# 3.0.0: obs.effort_nm.* is renamed obs.effort_n_m.* (newton-metres; "nm" read as
# nanometres); episodes gain task_text_en and task_text_zh (from the label files); segments
# gain stats.parquet, releases stats.parquet and features.json.
SCHEMA_VERSION = "3.0.0"
# Majors this package reads: a 1.x segment still has decoded images in its replay buffer and
# no camera tables (its camera frame index points into those arrays); 1.x and 2.x segments
# name torque obs.effort_nm.* (`upgrade_column` renames it on read).
READABLE_MAJORS = ("1", "2", "3")

MAJOR_CHANGES: dict[str, str] = {
    "2": "camera frames moved from decoded arrays in replay.zarr to the rig's JPEG bytes in "
    "cameras/<camera>.parquet; frames gained camera.<name>.offset_ms",
    "3": "frames column family obs.effort_nm.* was renamed obs.effort_n_m.* (newton-metres)",
}
"""What each major version changed, for the error a reader too old for a release gives."""

COLUMN_RENAMES: dict[str, str] = {"obs.effort_nm.": "obs.effort_n_m."}
"""Frames column prefixes of older majors -> their current names."""


def upgrade_column(name: str) -> str:
    """A frames column of any readable major under its current name."""
    for old, new in COLUMN_RENAMES.items():
        if name.startswith(old):
            return new + name[len(old) :]
    return name


def changes_since(major: str) -> list[str]:
    """What the majors after ``major`` changed (oldest first), as far as this package knows."""
    return [f"{m}.0.0: {text}" for m, text in sorted(MAJOR_CHANGES.items()) if int(m) > int(major)]
