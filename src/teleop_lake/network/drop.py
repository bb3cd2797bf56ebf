"""Reading a center's drop as the delivery contract (shared formats/DROP.md) defines it.

A drop holds date folders (``YYYY-MM-DD``), each with recording files and a
``_manifest.jsonl`` written last. Only files a manifest lists exist for us.
This module parses manifests and refuses unsafe paths; it copies nothing.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from teleop_lake.lake.storage import Store
from teleop_lake.network.boundary import UnsafeFileError, read_drop_text

MANIFEST_NAME = "_manifest.jsonl"
# A manifest line is ~1 kB: this is a million recordings in one date folder.
MANIFEST_MAX_BYTES = 1 << 30
DATE_FOLDER_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
KNOWN_FORMATS = ("ros1-bag", "ros2-mcap", "hdf5", "parquet-dir")
_CORE_KEYS = {
    "recording_id",
    "format",
    "files",
    "recorded_at",
    "station",
    "robot_serial",
    "operator_id",
    "task_code",
}


class UnsafePathError(ValueError):
    pass


@dataclass(frozen=True)
class ManifestFile:
    path: str  # relative to the date folder, already checked safe
    size: int
    sha256: str


@dataclass(frozen=True)
class ManifestEntry:
    """One recording as its center's uploader announced it."""

    center: str
    date_folder: str
    line_no: int
    recording_id: str
    raw_format: str
    files: tuple[ManifestFile, ...]
    recorded_at: str | None = None
    station: str | None = None
    robot_serial: str | None = None
    operator_id: str | None = None
    task_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.center}/{self.date_folder}/{MANIFEST_NAME} line {self.line_no}"


@dataclass(frozen=True)
class ManifestProblem:
    """A manifest line we could not even read as a recording (reported, never silently dropped)."""

    center: str
    date_folder: str
    line_no: int
    message: str


def check_relative_path(path: str) -> str:
    """Return ``path`` normalised, or raise `UnsafePathError` if it could leave the drop."""
    if not isinstance(path, str) or not path:
        raise UnsafePathError("empty path")
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or "://" in path:
        raise UnsafePathError(f"absolute path {path!r}")
    if "\\" in path:
        raise UnsafePathError(f"backslash in path {path!r}")
    parts = path.split("/")
    if any(p == ".." for p in parts):
        raise UnsafePathError(f"path {path!r} contains '..'")
    norm = posixpath.normpath(path)
    if norm.startswith("..") or norm == ".":
        raise UnsafePathError(f"path {path!r} leaves the drop")
    return norm


def parse_manifest_line(
    center: str, date_folder: str, line_no: int, line: str
) -> ManifestEntry | ManifestProblem:
    """Parse one manifest line; problems are returned, not raised."""

    def problem(msg: str) -> ManifestProblem:
        return ManifestProblem(center, date_folder, line_no, msg)

    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return problem(f"not JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, dict):
        return problem("a manifest line must be a JSON object")
    rec_id = obj.get("recording_id")
    if not isinstance(rec_id, str) or not rec_id:
        return problem("missing recording_id")
    raw_files = obj.get("files")
    if not isinstance(raw_files, list) or not raw_files:
        return problem(f"recording {rec_id!r}: 'files' must be a non-empty list")
    files = []
    for i, f in enumerate(raw_files):
        if not isinstance(f, dict):
            return problem(f"recording {rec_id!r}: files[{i}] is not an object")
        size, sha = f.get("size"), f.get("sha256")
        if not isinstance(size, int) or size < 0:
            return problem(f"recording {rec_id!r}: files[{i}].size must be a non-negative integer")
        if not isinstance(sha, str) or not SHA256_RE.match(sha.lower()):
            return problem(f"recording {rec_id!r}: files[{i}].sha256 must be 64 hex digits")
        # path safety is checked by the pull so the recording is quarantined with its reason
        files.append(ManifestFile(path=str(f.get("path", "")), size=size, sha256=sha.lower()))

    def opt(key: str) -> str | None:
        v = obj.get(key)
        return str(v) if v is not None else None

    return ManifestEntry(
        center=center,
        date_folder=date_folder,
        line_no=line_no,
        recording_id=rec_id,
        raw_format=str(obj.get("format", "")),
        files=tuple(files),
        recorded_at=opt("recorded_at"),
        station=opt("station"),
        robot_serial=opt("robot_serial"),
        operator_id=opt("operator_id"),
        task_code=opt("task_code"),
        extra={k: v for k, v in obj.items() if k not in _CORE_KEYS},
    )


def list_date_folders(drop: Store, until_date: str | None = None) -> list[str]:
    """Date folders of a drop, oldest first, up to and including ``until_date``."""
    dates = [n for n in drop.ls_names() if DATE_FOLDER_RE.match(n)]
    if until_date:
        dates = [d for d in dates if d <= until_date]
    return sorted(dates)


def read_drop_manifests(
    drop: Store, center: str, until_date: str | None = None
) -> tuple[list[ManifestEntry], list[ManifestProblem]]:
    """Every manifest line of every date folder, as the manifests are right now."""
    entries: list[ManifestEntry] = []
    problems: list[ManifestProblem] = []
    for date in list_date_folders(drop, until_date):
        rel = f"{date}/{MANIFEST_NAME}"
        if not drop.exists(rel):
            continue  # uploads in progress: the manifest is written last
        try:
            text = read_drop_text(drop, rel, MANIFEST_MAX_BYTES)
        except (UnsafeFileError, UnicodeDecodeError) as exc:
            problems.append(
                ManifestProblem(
                    center, date, 0, f"manifest not read: {exc}; nothing of it is pulled"
                )
            )
            continue
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            parsed = parse_manifest_line(center, date, i, line)
            if isinstance(parsed, ManifestEntry):
                entries.append(parsed)
            else:
                problems.append(parsed)
    return entries, problems
