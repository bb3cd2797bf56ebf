"""Lineage a partner can act on: what changed between two releases, and the ``stable`` pointer.

`diff_releases` says which episodes were added, which were removed and why (replaced by other
episodes of the same recording, quarantined when reprocessed, or simply no longer published),
which were relabeled (old -> new, with the reviewer and note of a QA override, or the run that
reprocessed them), and how the schema changed.

``releases/STABLE`` names the release partners should train on. Only a person moves it
(`promote_release`, from ``teleop-lake release promote``; no night does), after the release
verifies; every promotion is logged in ``releases/promotions/``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from teleop_lake.lake import layout
from teleop_lake.lake.overrides import OverrideRecord, read_override_log
from teleop_lake.lake.storage import Store
from teleop_lake.release.features import FEATURES_FILE
from teleop_lake.release.publish import conform_episodes, list_releases, manifest_sha256
from teleop_lake.release.verify import ReleaseNotFoundError, verify_release

STABLE_POINTER = "releases/STABLE"
PROMOTIONS_DIR = "releases/promotions"
_LABEL = ("outcome", "failure_reason", "label_source")


class PromotionRefusedError(RuntimeError):
    """The release does not verify; it was not promoted."""


def _manifest(lake: Store, release_id: str) -> dict[str, Any]:
    path = f"{layout.release_dir(release_id)}/{layout.RELEASE_MANIFEST_NAME}"
    if not lake.exists(path):
        raise ReleaseNotFoundError(f"release {release_id!r} is not committed in {lake.root}")
    return dict(lake.read_json(path))


def _episodes(lake: Store, release_id: str) -> pl.DataFrame:
    return conform_episodes(lake.read_parquet(f"{layout.release_dir(release_id)}/episodes.parquet"))


def _quarantined(lake: Store, center: str, recording_id: str) -> dict[str, Any] | None:
    """The newest quarantine record of a recording, if any."""
    base = f"quarantine/{center}"
    newest: dict[str, Any] | None = None
    for key in lake.ls_names(base):
        rel = f"{base}/{key}/reasons.json"
        if not lake.exists(rel):
            continue
        doc = lake.read_json(rel)
        if doc.get("recording_id") != recording_id:
            continue
        if newest is None or str(doc.get("quarantined_at")) > str(newest.get("quarantined_at")):
            newest = doc
    return newest


def _removal_reason(lake: Store, row: dict[str, Any], b: pl.DataFrame, b_id: str) -> dict[str, Any]:
    same = b.filter(
        (pl.col("center") == row["center"]) & (pl.col("recording_id") == row["recording_id"])
    )
    if same.height:
        ids = sorted(same["episode_id"].to_list())
        return {"reason": "replaced", "detail": f"its recording is published as {', '.join(ids)}"}
    record = _quarantined(lake, row["center"], row["recording_id"])
    if record is not None and str(record.get("run_id", "")) >= str(row["run_id"]):
        first = (record.get("reasons") or [{}])[0]
        return {
            "reason": "quarantined",
            "detail": f"run {record.get('run_id')}: {first.get('code')}: {first.get('message')}",
        }
    return {"reason": "not_published", "detail": f"no episode of its recording is in {b_id}"}


def _why_relabeled(new: dict[str, Any], overrides: dict[str, OverrideRecord]) -> dict[str, Any]:
    if new["label_source"] == "qa_override":
        record = overrides.get(new["episode_id"])
        if record is not None:
            return {
                "by": record.reviewer,
                "why": record.note or "",
                "at": record.created_at,
                "override_id": record.override_id,
            }
    return {"by": new["label_source"], "why": f"reprocessed in run {new['run_id']}", "at": None}


def _schema_changes(
    lake: Store, a_id: str, b_id: str, a: pl.DataFrame, b: pl.DataFrame
) -> dict[str, Any]:
    ma, mb = _manifest(lake, a_id), _manifest(lake, b_id)
    out: dict[str, Any] = {
        "schema_version": [ma["schema_version"], mb["schema_version"]],
        "episode_columns_added": sorted(set(b.columns) - set(a.columns)),
        "episode_columns_removed": sorted(set(a.columns) - set(b.columns)),
    }
    fa = f"{layout.release_dir(a_id)}/{FEATURES_FILE}"
    fb = f"{layout.release_dir(b_id)}/{FEATURES_FILE}"
    if lake.exists(fa) and lake.exists(fb):
        ca = {c["name"] for c in lake.read_json(fa)["columns"]}
        cb = {c["name"] for c in lake.read_json(fb)["columns"]}
        out["frame_columns_added"] = sorted(cb - ca)
        out["frame_columns_removed"] = sorted(ca - cb)
    else:
        out["frame_columns_added"] = out["frame_columns_removed"] = None
    return out


@dataclass
class ReleaseDiff:
    a: str
    b: str
    added: list[str] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    relabeled: list[dict[str, Any]] = field(default_factory=list)
    schema: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def diff_releases(lake_url: str, a_id: str, b_id: str) -> ReleaseDiff:
    """What changed from release ``a_id`` to ``b_id`` (either may be the older)."""
    lake = Store(lake_url)
    layout.release_dir(a_id)
    layout.release_dir(b_id)
    _manifest(lake, a_id)
    b_manifest = _manifest(lake, b_id)
    a, b = _episodes(lake, a_id), _episodes(lake, b_id)
    a_ids, b_ids = set(a["episode_id"]), set(b["episode_id"])
    diff = ReleaseDiff(a_id, b_id, added=sorted(b_ids - a_ids))
    for row in a.filter(~pl.col("episode_id").is_in(list(b_ids))).iter_rows(named=True):
        diff.removed.append(
            {"episode_id": row["episode_id"], **_removal_reason(lake, row, b, b_id)}
        )
    applied = set(b_manifest.get("overrides", {}).get("override_ids", []))
    overrides: dict[str, OverrideRecord] = {}
    for record in read_override_log(lake):
        if record.override_id in applied:
            held = overrides.get(record.episode_id)
            if held is None or record.version > held.version:
                overrides[record.episode_id] = record
    cols = ["episode_id", "run_id", "content_key", *_LABEL]
    both = a.select(cols).join(b.select(cols), on="episode_id", suffix="_b")
    for row in both.iter_rows(named=True):
        if (row["run_id"], row["content_key"]) != (row["run_id_b"], row["content_key_b"]):
            diff.updated.append(row["episode_id"])
        old = {k: row[k] for k in _LABEL}
        new = {k: row[f"{k}_b"] for k in _LABEL}
        if old != new:
            new_row = {"episode_id": row["episode_id"], "run_id": row["run_id_b"], **new}
            diff.relabeled.append(
                {
                    "episode_id": row["episode_id"],
                    "old": old,
                    "new": new,
                    **_why_relabeled(new_row, overrides),
                }
            )
    diff.updated.sort()
    diff.schema = _schema_changes(lake, a_id, b_id, a, b)
    return diff


def stable_release(lake: Store) -> tuple[str | None, str | None]:
    """(release id, manifest sha256 at promotion) of ``releases/STABLE``, or (None, None)."""
    if not lake.exists(STABLE_POINTER):
        return None, None
    parts = lake.read_text(STABLE_POINTER).split()
    return (parts[0] if parts else None), (parts[1] if len(parts) > 1 else None)


def promote_release(
    lake_url: str, release_id: str, promoted_by: str, note: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Point ``releases/STABLE`` at ``release_id`` once it verifies; log who and why."""
    lake = Store(lake_url)
    layout.release_dir(release_id)
    if release_id not in list_releases(lake):
        raise ReleaseNotFoundError(f"release {release_id!r} is not committed in {lake_url}")
    result = verify_release(lake_url, release_id)
    if not result.ok:
        first = result.problems[0]
        raise PromotionRefusedError(
            f"release {release_id} does not verify ({len(result.problems)} problem(s), first: "
            f"{first['problem']} {first['path']}); not promoted"
        )
    previous, _ = stable_release(lake)
    digest = manifest_sha256(lake, release_id)
    record = {
        "release_id": release_id,
        "manifest_sha256": digest,
        "promoted_by": promoted_by,
        "note": note,
        "promoted_at": now.isoformat(),
        "previous_stable": previous,
    }
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    lake.write_json(f"{PROMOTIONS_DIR}/{stamp}-{release_id}.json", record, exclusive=True)
    lake.write_text(STABLE_POINTER, f"{release_id} {digest}\n")
    return record
