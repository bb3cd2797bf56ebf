"""The QA override log: append-only, versioned, one immutable JSON file per override.

``overrides/<episode_id>/v<nnnnnn>.json`` holds who overrode which episode's label, when, to
what, why, and what the label was before. Versions count up per episode from 1; a file is
created with an exclusive create and never rewritten, so two reviewers racing for the same
version cannot both win (the loser gets `OverrideConflictError` and nothing is written). The
latest version of each episode is the label in force.

Nothing here decides whether an override is valid (`teleop_lake.labeling.overrides`) or
where the previous label comes from (`teleop_lake.pipeline.qa`); this module reads and writes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from teleop_lake.lake import layout
from teleop_lake.lake.storage import AlreadyExistsError, Store

OVERRIDE_FORMAT = "teleop-lake-override/1"
_EPISODE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION_RE = re.compile(r"^v(\d{6})\.json$")


class OverrideConflictError(RuntimeError):
    pass


@dataclass(frozen=True)
class OverrideRecord:
    """One entry of the override log."""

    episode_id: str
    version: int
    outcome: str
    failure_reason: str | None
    reviewer: str
    note: str | None
    created_at: str
    """ISO 8601 UTC instant the override was recorded."""
    previous: dict[str, Any] = field(default_factory=dict)
    """The label before: outcome, failure_reason, label_source, label_confidence, and
    ``from`` (where it was read: an earlier override, a release, or processing evidence)."""
    format: str = OVERRIDE_FORMAT

    @property
    def override_id(self) -> str:
        return f"{self.episode_id}/v{self.version:06d}"

    @property
    def path(self) -> str:
        return layout.override_file(self.episode_id, self.version)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "override_id": self.override_id}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OverrideRecord:
        return cls(
            episode_id=d["episode_id"],
            version=int(d["version"]),
            outcome=d["outcome"],
            failure_reason=d.get("failure_reason"),
            reviewer=d["reviewer"],
            note=d.get("note"),
            created_at=d["created_at"],
            previous=dict(d.get("previous") or {}),
            format=d.get("format", OVERRIDE_FORMAT),
        )


def is_valid_episode_id(episode_id: str) -> bool:
    """An id that is safe as one path component (no separators, no ``..``)."""
    return bool(_EPISODE_ID_RE.match(episode_id)) and ".." not in episode_id


def episode_versions(lake: Store, episode_id: str) -> list[int]:
    """Versions of an episode's overrides in the log, oldest first."""
    out = []
    for name in lake.ls_names(f"{layout.OVERRIDES_DIR}/{episode_id}"):
        m = _VERSION_RE.match(name)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def episode_history(lake: Store, episode_id: str) -> list[OverrideRecord]:
    """Every override of one episode, oldest first."""
    return [
        OverrideRecord.from_dict(lake.read_json(layout.override_file(episode_id, v)))
        for v in episode_versions(lake, episode_id)
    ]


def read_override_log(lake: Store) -> list[OverrideRecord]:
    """The whole log, by episode then version."""
    out = []
    for episode_id in lake.ls_names(layout.OVERRIDES_DIR):
        out.extend(episode_history(lake, episode_id))
    return out


def latest_overrides(lake: Store) -> dict[str, OverrideRecord]:
    """The override in force for each overridden episode (its highest version)."""
    latest: dict[str, OverrideRecord] = {}
    for episode_id in lake.ls_names(layout.OVERRIDES_DIR):
        versions = episode_versions(lake, episode_id)
        if versions:
            d = lake.read_json(layout.override_file(episode_id, versions[-1]))
            latest[episode_id] = OverrideRecord.from_dict(d)
    return latest


def overrides_frame(records: list[OverrideRecord]) -> pl.DataFrame:
    """Override records as a table (one row each), the shape `apply_overrides` reads."""
    return pl.DataFrame(
        {
            "episode_id": [r.episode_id for r in records],
            "override_id": [r.override_id for r in records],
            "version": [r.version for r in records],
            "outcome": [r.outcome for r in records],
            "failure_reason": [r.failure_reason for r in records],
            "reviewer": [r.reviewer for r in records],
            "note": [r.note for r in records],
            "created_at": [r.created_at for r in records],
        },
        schema={
            "episode_id": pl.String,
            "override_id": pl.String,
            "version": pl.Int64,
            "outcome": pl.String,
            "failure_reason": pl.String,
            "reviewer": pl.String,
            "note": pl.String,
            "created_at": pl.String,
        },
    )


def append_override(lake: Store, record: OverrideRecord) -> OverrideRecord:
    """Write ``record`` as a new, immutable log entry (exclusive create).

    Raises `OverrideConflictError` (nothing written) when that version already exists: another
    override of the same episode was recorded meanwhile; read the log again and retry.
    """
    if not is_valid_episode_id(record.episode_id):
        raise ValueError(f"episode id {record.episode_id!r} cannot name a log entry")
    try:
        lake.write_json(record.path, record.to_dict(), exclusive=True)
    except AlreadyExistsError as exc:
        raise OverrideConflictError(
            f"override {record.override_id} already exists: another reviewer overrode "
            f"{record.episode_id} at the same time; check `teleop-lake qa log` and retry"
        ) from exc
    return record
