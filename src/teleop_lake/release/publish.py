"""Cutting a release: a complete, immutable snapshot of every publishable episode so far.

A release is a snapshot by reference: its ``episodes.parquet`` (rewritten each
time; small) points into data segments that were written once and are shared.
The manifest lists every file the release consists of, with size and sha256;
segment entries are copied from each segment's own ``segment.json`` so nothing
old is hashed again. The release exists once ``manifest.json`` is written (an
exclusive create, last); ``releases/LATEST`` moves after that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from datalake_schemas import EPISODE_FIELDS, MAJOR_CHANGES, SCHEMA_VERSION, episodes_schema
from teleop_lake import __version__
from teleop_lake.labeling.overrides import apply_overrides
from teleop_lake.lake import layout
from teleop_lake.lake.layout import SEGMENT_MANIFEST_NAME
from teleop_lake.lake.overrides import latest_overrides, overrides_frame
from teleop_lake.lake.storage import Store, json_bytes
from teleop_lake.release.card import render_dataset_card
from teleop_lake.release.features import FEATURES_FILE, release_features
from teleop_lake.release.signing import SIGNATURE_SUFFIX, sign, signing_key_from_env
from teleop_lake.release.stats import STATS_FILE, release_stats

MANIFEST_FORMAT = "teleop-lake-release/1"


@dataclass(frozen=True)
class PublishResult:
    release_id: str | None  # None when nothing changed since the parent release
    parent_release_id: str | None
    n_episodes: int
    n_frames: int
    added: int
    updated: int
    removed: int
    manifest_path: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def latest_release_id(lake: Store) -> str | None:
    return latest_pointer(lake)[0]


def latest_pointer(lake: Store) -> tuple[str | None, str | None]:
    """(release id, sha256 of its manifest) from LATEST; the hash is None in lakes written
    before it was recorded."""
    if not lake.exists(layout.LATEST_POINTER):
        return None, None
    parts = lake.read_text(layout.LATEST_POINTER).split()
    return (parts[0] if parts else None), (parts[1] if len(parts) > 1 else None)


def manifest_sha256(lake: Store, release_id: str) -> str:
    return lake.sha256(f"{layout.release_dir(release_id)}/{layout.RELEASE_MANIFEST_NAME}")


def _move_latest(lake: Store, release_id: str) -> None:
    """Point LATEST at ``release_id``, with its manifest's hash: a changed manifest is caught
    by `release verify`, and every manifest records its parent's hash in turn."""
    lake.write_text(layout.LATEST_POINTER, f"{release_id} {manifest_sha256(lake, release_id)}\n")


def list_releases(lake: Store) -> list[str]:
    """Committed releases (those with a manifest), oldest first."""
    out = []
    for name in lake.ls_names(layout.RELEASES_DIR):
        if not layout.is_release_id(name):
            continue
        if lake.exists(f"{layout.release_dir(name)}/{layout.RELEASE_MANIFEST_NAME}"):
            out.append(name)
    return sorted(out)


def conform_episodes(df: pl.DataFrame) -> pl.DataFrame:
    """An episodes table in the current column set and order: segments written under an older
    minor schema version lack the nullable columns added since; they read as null."""
    missing = [
        pl.lit(None, dtype=dtype).alias(name)
        for name, (dtype, nullable, _) in EPISODE_FIELDS.items()
        if nullable and name not in df.columns
    ]
    return df.with_columns(missing).select(list(EPISODE_FIELDS)) if missing else df


def current_episodes(lake: Store) -> tuple[pl.DataFrame, dict[str, dict[str, Any]]]:
    """The newest processed version of every episode across committed segments."""
    tables, manifests = [], {}
    for seg_id in lake.ls_names(layout.SEGMENTS_DIR):
        seg = layout.segment_dir(seg_id)
        if not lake.exists(f"{seg}/{SEGMENT_MANIFEST_NAME}"):
            continue  # an unfinished segment of a crashed batch
        manifests[seg_id] = lake.read_json(f"{seg}/{SEGMENT_MANIFEST_NAME}")
        tables.append(conform_episodes(lake.read_parquet(f"{seg}/episodes.parquet")))
    if not tables:
        return pl.DataFrame(), manifests
    # The newest version of each episode, and of each recording only what its newest run
    # published: a recording once published whole and later as pieces (or the reverse) keeps
    # only the later episodes.
    recording = ["center", "recording_id"]
    eps = (
        pl.concat(tables, how="vertical")
        .sort(["episode_id", "run_id", "segment_id"])
        .unique("episode_id", keep="last", maintain_order=True)
        .filter(pl.col("run_id") == pl.col("run_id").max().over(recording))
        .sort([*recording, "episode_id"])
    )
    return eps, manifests


class ReleaseConflictError(RuntimeError):
    """Another publish got in the way; nothing of this one was committed."""


def _newest_committed(lake: Store) -> str | None:
    """LATEST, or the release committed on top of it whose LATEST move a crash cut off (its
    manifest names LATEST as parent), following such children to the newest."""
    latest = latest_release_id(lake)
    parents = {
        rid: lake.read_json(f"{layout.release_dir(rid)}/{layout.RELEASE_MANIFEST_NAME}").get(
            "parent_release_id"
        )
        for rid in list_releases(lake)
    }
    seen: set[str | None] = {latest}
    while True:
        children = sorted(rid for rid, parent in parents.items() if parent == latest)
        if not children or children[-1] in seen:
            return latest
        latest = children[-1]
        seen.add(latest)


def _next_release_id(lake: Store, date: str) -> str:
    taken = [r for r in lake.ls_names(layout.RELEASES_DIR) if r.startswith(f"{date}-r")]
    return f"{date}-r{len(taken) + 1:02d}"


def _fingerprint(eps: pl.DataFrame, override_ids: list[str]) -> str:
    """What makes a release different from its parent: episode versions, labels, and the QA
    overrides applied (a new override cuts a new release even if it repeats a label)."""
    cols = ["episode_id", "content_key", "run_id", "outcome", "failure_reason", "label_source"]
    if eps.is_empty():
        return ""
    text = eps.select(cols).sort("episode_id").write_csv() + "\n".join(sorted(override_ids))
    return hashlib.sha256(text.encode()).hexdigest()


def _relabeled(eps: pl.DataFrame, parent_eps: pl.DataFrame) -> list[str]:
    """Episodes in both whose label (outcome, reason, source) changed since the parent."""
    if parent_eps.is_empty():
        return []
    cols = ["episode_id", "outcome", "failure_reason", "label_source"]
    joined = eps.select(cols).join(parent_eps.select(cols), on="episode_id", suffix="_parent")
    changed = joined.filter(
        pl.any_horizontal(
            pl.col(c).ne_missing(pl.col(f"{c}_parent"))
            for c in ("outcome", "failure_reason", "label_source")
        )
    )
    return sorted(changed["episode_id"].to_list())


def _file_entry(rel: str, data: bytes, role: str) -> dict[str, Any]:
    """A manifest entry: path, size, sha256 and role of bytes in hand (never read back)."""
    return {
        "path": rel,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "role": role,
    }


def _write_file(lake: Store, rel: str, data: bytes, role: str) -> dict[str, Any]:
    lake.write_bytes(rel, data)
    return _file_entry(rel, data, role)


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd")
    return buf.getvalue()


def publish_release(lake_url: str, run_id: str, date: str, now: dt.datetime) -> PublishResult:
    """Commit a new release of the lake's current episodes, if they changed. Signed when
    ``TELEOP_LAKE_SIGNING_KEY`` names a key (`teleop_lake.release.signing`)."""
    lake = Store(lake_url)
    signing_key = signing_key_from_env()
    eps, seg_manifests = current_episodes(lake)
    overrides = overrides_frame(list(latest_overrides(lake).values()))
    eps = apply_overrides(eps, overrides)
    published_ids = set(eps["episode_id"].to_list()) if not eps.is_empty() else set()
    applied = sorted(
        oid
        for eid, oid in zip(overrides["episode_id"], overrides["override_id"], strict=True)
        if eid in published_ids
    )
    parent = _newest_committed(lake)
    if parent is not None and parent != latest_release_id(lake):
        # a crash between the manifest (the commit) and LATEST: finish that commit first, so
        # the rerun compares against it and does not publish the same release twice
        _move_latest(lake, parent)
    parent_eps = (
        lake.read_parquet(f"{layout.release_dir(parent)}/episodes.parquet")
        if parent
        else pl.DataFrame()
    )
    parent_overrides = (
        lake.read_json(f"{layout.release_dir(parent)}/{layout.RELEASE_MANIFEST_NAME}")
        .get("overrides", {})
        .get("override_ids", [])
        if parent
        else []
    )
    if eps.is_empty() or _fingerprint(eps, applied) == _fingerprint(parent_eps, parent_overrides):
        return PublishResult(
            None, parent, eps.height, int(eps["n_frames"].sum()) if eps.height else 0, 0, 0, 0, None
        )
    episodes_schema().validate(eps)

    old = (
        {}
        if parent_eps.is_empty()
        else dict(
            zip(
                parent_eps["episode_id"],
                parent_eps["run_id"] + parent_eps["content_key"],
                strict=True,
            )
        )
    )
    new = dict(zip(eps["episode_id"], eps["run_id"] + eps["content_key"], strict=True))
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    updated = sorted(e for e in set(new) & set(old) if new[e] != old[e])
    relabeled = _relabeled(eps, parent_eps)

    release_id = _next_release_id(lake, date)
    rdir = layout.release_dir(release_id)
    if lake.exists(rdir):  # never write into a release folder this night did not create
        raise ReleaseConflictError(f"release folder {rdir} appeared while publishing; not touched")
    files = [_write_file(lake, f"{rdir}/episodes.parquet", _parquet_bytes(eps), "episodes")]
    used_segments = sorted(eps["segment_id"].unique().to_list())
    for seg_id in used_segments:
        seg_json = f"{layout.segment_dir(seg_id)}/{SEGMENT_MANIFEST_NAME}"
        files.append(_file_entry(seg_json, lake.read_bytes(seg_json), "segment_manifest"))
        for f in seg_manifests[seg_id]["files"]:
            files.append({**f, "role": "segment_data"})

    stats = release_stats(lake, eps)
    files.insert(1, _write_file(lake, f"{rdir}/{STATS_FILE}", _parquet_bytes(stats), "stats"))
    features = json_bytes(release_features(lake, eps, stats))
    files.insert(2, _write_file(lake, f"{rdir}/{FEATURES_FILE}", features, "features"))

    n_frames = int(eps["n_frames"].sum())
    scores = eps["quality_score"].to_numpy()
    counts: dict[str, Any] = {
        "episodes": eps.height,
        "frames": n_frames,
        "by_center": dict(eps.group_by("center").len().sort("center").iter_rows()),
        "by_outcome": dict(eps.group_by("outcome").len().sort("outcome").iter_rows()),
        "by_robot_model": dict(eps.group_by("robot_model").len().sort("robot_model").iter_rows()),
        "needs_review": int(eps["needs_review"].sum()),
        "by_label_source": dict(
            eps.group_by("label_source").len().sort("label_source").iter_rows()
        ),
        "quality_score": {
            "min": round(float(scores.min()), 4),
            "p10": round(float(np.quantile(scores, 0.1)), 4),
            "median": round(float(np.median(scores)), 4),
            "mean": round(float(scores.mean()), 4),
        },
        "findings": {
            c: int(eps[c].sum())
            for c in ("n_spikes", "n_dropouts", "n_frozen", "n_limit_violations")
        },
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "release_id": release_id,
        "created_at": now.isoformat(),
        "run_id": run_id,
        "parent_release_id": parent,
        "parent_manifest_sha256": manifest_sha256(lake, parent) if parent else None,
        "schema_version": SCHEMA_VERSION,
        "schema_changes": MAJOR_CHANGES,
        "pipeline_version": __version__,
        "param_hashes": sorted(eps["param_hash"].unique().to_list()),
        "segments": used_segments,
        "counts": counts,
        "changelog": {
            "added": len(added),
            "updated": len(updated),
            "removed": len(removed),
            "added_episode_ids": added[:1000],
            "updated_episode_ids": updated[:1000],
            "removed_episode_ids": removed[:1000],
            "relabeled": len(relabeled),
            "relabeled_episode_ids": relabeled[:1000],
        },
        "overrides": {"applied": len(applied), "override_ids": applied},
        "files": files,
    }
    card = render_dataset_card({**manifest, "files": []}).encode()
    files.insert(1, _write_file(lake, f"{rdir}/README.md", card, "dataset_card"))
    manifest_path = f"{rdir}/{layout.RELEASE_MANIFEST_NAME}"
    if latest_release_id(lake) != parent:
        raise ReleaseConflictError(
            f"another night published {latest_release_id(lake)} while this one built "
            f"{release_id} on {parent}; {release_id} is not committed (run the night again)"
        )
    manifest_bytes = json_bytes(manifest)
    if signing_key is not None:  # signed before the commit: every committed release is signed
        lake.write_bytes(
            f"{manifest_path}{SIGNATURE_SUFFIX}", sign(signing_key, manifest_bytes), exclusive=True
        )
    lake.write_bytes(manifest_path, manifest_bytes, exclusive=True)  # the commit point
    _move_latest(lake, release_id)
    return PublishResult(
        release_id,
        parent,
        counts["episodes"],
        counts["frames"],
        len(added),
        len(updated),
        len(removed),
        manifest_path,
    )
