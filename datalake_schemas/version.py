"""The schema version of every table in a release (semantic versioning).

Bump the major version when a column is removed or changes meaning; readers
refuse a release whose major version they do not know.
"""

# 2.0.0: camera frames are the rig's JPEG bytes in per-camera tables (cameras/<name>.parquet);
# the replay buffer holds camera.<name>.frame_index instead of decoded image arrays; frames
# gain camera.<name>.offset_ms; every float is finite (null marks what is missing).
# 2.1.0: episodes gain task_text_en and task_text_zh (from the label files); segments gain
# stats.parquet and releases stats.parquet and features.json.
SCHEMA_VERSION = "2.1.0"
# Majors this package reads: a 1.x segment still has decoded images in its replay buffer and
# no camera tables (its camera frame index points into those arrays).
READABLE_MAJORS = ("1", "2")
