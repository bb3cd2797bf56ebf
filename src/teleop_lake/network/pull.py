"""The pull: copy new recordings from a center's drop into bronze, trusting nothing.

For every manifest line not pulled before, each file is copied while its
sha256 is computed; a wrong size or hash, a missing file, an unsafe path or an
unknown format quarantines the recording with its reason (the bytes go to the
quarantine, never to bronze). Re-deliveries of content already in bronze are
recognised by content key and skipped. An unreachable drop is reported, not
raised. Each night's pull is recorded in an append-only ledger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from teleop_lake.config.centers import CenterProfile
from teleop_lake.formats import supported_formats
from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store
from teleop_lake.network.boundary import UnsafeFileError, open_drop_file, read_reused
from teleop_lake.network.drop import (
    ManifestEntry,
    ManifestProblem,
    UnsafePathError,
    check_relative_path,
    read_drop_manifests,
)
from teleop_lake.network.identity import content_key_for, episode_id_for
from teleop_lake.rejection import Reason


@dataclass(frozen=True)
class BronzeRecording:
    """A recording safely in bronze: the small record tasks pass around (never data)."""

    center: str
    recording_id: str
    episode_id: str
    content_key: str
    raw_format: str
    bronze_dir: str  # relative to the lake
    files: tuple[str, ...]  # relative to bronze_dir
    date_folder: str
    manifest: dict[str, Any]  # the manifest line's fields, as delivered

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BronzeRecording:
        return cls(**{**d, "files": tuple(d["files"])})


@dataclass(frozen=True)
class PullRejection:
    center: str
    recording_id: str
    episode_id: str
    content_key: str
    date_folder: str
    reasons: tuple[Reason, ...]


@dataclass
class CenterPull:
    center: str
    drop_url: str
    reachable: bool = True
    error: str | None = None
    new: list[BronzeRecording] = field(default_factory=list)
    rejected: list[PullRejection] = field(default_factory=list)
    already_pulled: int = 0
    duplicates: int = 0
    manifest_problems: list[ManifestProblem] = field(default_factory=list)
    bytes_copied: int = 0
    bytes_cloned: int = 0  # taken in as copy-on-write clones: no byte copied


def _seen_keys(lake: Store, center: str) -> tuple[set[tuple[str, str, str]], set[str]]:
    """(date folder, recording id, content key) triples pulled before, and bronze content keys."""
    seen: set[tuple[str, str, str]] = set()
    in_bronze: set[str] = set()
    for name in lake.ls_names(layout.pull_ledger_dir(center)):
        if not name.endswith(".parquet"):
            continue
        df = lake.read_parquet(f"{layout.pull_ledger_dir(center)}/{name}")
        for row in df.iter_rows(named=True):
            seen.add((row["date_folder"], row["recording_id"], row["content_key"]))
            if row["status"] == "bronze":
                in_bronze.add(row["content_key"])
    return seen, in_bronze


def _manifest_fields(entry: ManifestEntry) -> dict[str, Any]:
    return {
        "recording_id": entry.recording_id,
        "format": entry.raw_format,
        "recorded_at": entry.recorded_at,
        "station": entry.station,
        "robot_serial": entry.robot_serial,
        "operator_id": entry.operator_id,
        "task_code": entry.task_code,
        "files": [asdict(f) for f in entry.files],
        "extra": entry.extra,
        "date_folder": entry.date_folder,
        "line_no": entry.line_no,
    }


def max_file_bytes(profile: CenterProfile) -> int:
    """The largest file the center may deliver (profile ``[limits] max_file_gib``)."""
    return profile.max_file_bytes()


PULL_THREADS = 2
"""Recordings of one center copied at a time. Copying and hashing release the GIL, so two
threads keep two cores busy on a drop in the page cache, and overlap waits on a disk or a
network otherwise."""

_Pulled = tuple[BronzeRecording | None, tuple[Reason, ...], int, int]
"""Record, reasons, bytes copied, bytes cloned (`Store.clone_file`)."""


def _pull_one(
    entry: ManifestEntry, drop: Store, lake: Store, content_key: str, profile: CenterProfile
) -> _Pulled:
    """Copy (or clone) and verify one recording: `_Pulled`."""
    reasons: list[Reason] = []
    if entry.raw_format not in supported_formats():
        reasons.append(
            Reason(
                "unknown_format",
                f"{entry.where}: format {entry.raw_format!r} has no adapter; "
                f"supported: {', '.join(supported_formats())}",
            )
        )
    safe_paths: list[str] = []
    for f in entry.files:
        try:
            safe_paths.append(check_relative_path(f.path))
        except UnsafePathError as exc:
            reasons.append(
                Reason(
                    "unsafe_path",
                    f"{entry.where}: {exc}; the uploader must list paths relative to the "
                    "date folder",
                    file=f.path,
                )
            )
    if reasons:
        return None, tuple(reasons), 0, 0

    bronze = layout.bronze_dir(entry.center, content_key)
    quarantine = layout.quarantine_dir(entry.center, content_key) + "/files"
    staging = f"{bronze}.staging"
    copied = cloned_bytes = 0
    cap = max_file_bytes(profile)
    for f, rel in zip(entry.files, safe_paths, strict=True):
        src_rel = f"{entry.date_folder}/{rel}"
        try:
            with open_drop_file(drop, src_rel) as (src, on_disk):
                if on_disk > cap:
                    reasons.append(
                        Reason(
                            "file_too_large",
                            f"{entry.where}: {on_disk} bytes, over the {cap} bytes a file of "
                            f"{entry.center} may be (profile [limits] max_file_gib); left in "
                            "the drop",
                            file=src_rel,
                        )
                    )
                    continue
                if on_disk > f.size:
                    reasons.append(
                        Reason(
                            "size_mismatch",
                            f"{entry.where}: {on_disk} bytes in the drop, manifest says "
                            f"{f.size}; not copied (left in the drop): re-deliver it with a "
                            "manifest line that matches",
                            file=src_rel,
                        )
                    )
                    continue
                # at most one byte more than declared: a file growing meanwhile is noticed,
                # never copied whole. Where the drop and the lake share a filesystem with
                # reflinks, bronze is a copy-on-write clone: no byte copied, and a later change
                # to the drop's file does not reach it.
                target = f"{staging}/{rel}"
                cloned = lake.clone_file(target, src, f.size + 1) if drop.is_local else None
                if cloned is not None:
                    size, sha = cloned
                    cloned_bytes += size
                else:
                    size, sha = lake.write_chunks(target, read_reused(src, f.size + 1))
                    copied += size
        except FileNotFoundError:
            reasons.append(
                Reason(
                    "file_missing",
                    f"{entry.where}: listed file is not in the drop; re-upload it and "
                    "append a new manifest line",
                    file=src_rel,
                )
            )
            continue
        except UnsafeFileError as exc:
            reasons.append(
                Reason(
                    "unsafe_path",
                    f"{entry.where}: {exc}; nothing of it was read",
                    file=src_rel,
                )
            )
            continue
        if size != f.size:
            reasons.append(
                Reason(
                    "size_mismatch",
                    f"{entry.where}: {size} bytes delivered, manifest says {f.size}",
                    file=src_rel,
                )
            )
        elif sha != f.sha256:
            reasons.append(
                Reason(
                    "checksum_mismatch",
                    f"{entry.where}: sha256 {sha[:12]}... delivered, manifest says "
                    f"{f.sha256[:12]}...; the file was damaged in transit or the manifest is "
                    "wrong: re-deliver it",
                    file=src_rel,
                )
            )
    if reasons:
        # nothing is lost: the bytes we got go to the quarantine, not to bronze
        for rel in lake.walk_files(staging):
            lake.copy_verified(lake, rel, f"{quarantine}/{rel[len(staging) + 1 :]}")
        lake.remove_tree(staging)
        return None, tuple(reasons), copied, cloned_bytes

    if lake.exists(bronze):  # same content already in bronze (e.g. a crash after the move)
        lake.remove_tree(staging)
    else:
        lake.fs.mv(lake.full(staging), lake.full(bronze), recursive=True)
    record = BronzeRecording(
        center=entry.center,
        recording_id=entry.recording_id,
        episode_id=episode_id_for(entry.center, entry.recording_id),
        content_key=content_key,
        raw_format=entry.raw_format,
        bronze_dir=bronze,
        files=tuple(safe_paths),
        date_folder=entry.date_folder,
        manifest=_manifest_fields(entry),
    )
    lake.write_json(f"{bronze}/{layout.BRONZE_RECORD_NAME}", record.to_dict())
    return record, (), copied, cloned_bytes


def pull_center(
    profile: CenterProfile,
    network_url: str,
    lake: Store,
    run_id: str,
    until_date: str | None,
    now: dt.datetime,
    record_rejections: Callable[[list[PullRejection]], None] | None = None,
) -> CenterPull:
    """Pull every recording of one center's drop not pulled before; never raises for bad data.

    ``record_rejections`` gets the refused recordings before the pull ledger is written: their
    outcomes must be on the books first, or a crash between the two would leave a recording
    the ledger calls pulled with no outcome at all. (A crash before the ledger only makes the
    next night pull the same recordings again.)"""
    drop = Store(profile.resolve_drop_url(network_url))
    result = CenterPull(center=profile.name, drop_url=drop.url)
    try:
        if not drop.isdir(""):
            raise FileNotFoundError(f"drop {drop.url} does not exist")
        entries, problems = read_drop_manifests(drop, profile.name, until_date)
    except Exception as exc:  # an unreachable center is reported, the night goes on
        result.reachable = False
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    result.manifest_problems = problems

    seen, in_bronze = _seen_keys(lake, profile.name)
    ledger_rows: list[dict[str, Any]] = []
    # Decide in manifest order what to copy; copy those in parallel (copying and hashing
    # release the GIL); take the results in manifest order. An entry whose content another
    # entry of tonight is already copying waits for that copy: a duplicate if it succeeded.
    to_copy: list[tuple[ManifestEntry, str, dict[str, Any]]] = []
    waiting: list[tuple[ManifestEntry, str, dict[str, Any]]] = []
    for entry in entries:
        key = content_key_for((f.path, f.sha256) for f in entry.files)
        if (entry.date_folder, entry.recording_id, key) in seen:
            result.already_pulled += 1
            continue
        seen.add((entry.date_folder, entry.recording_id, key))
        row = {
            "date_folder": entry.date_folder,
            "recording_id": entry.recording_id,
            "content_key": key,
            "run_id": run_id,
            "pulled_at": now,
        }
        if key in in_bronze:  # a re-delivery of content we already hold
            result.duplicates += 1
            ledger_rows.append({**row, "status": "duplicate"})
        elif any(key == k for _, k, _ in to_copy):
            waiting.append((entry, key, row))
        else:
            to_copy.append((entry, key, row))

    def take(entry: ManifestEntry, key: str, row: dict[str, Any], pulled: _Pulled) -> None:
        record, reasons, copied, cloned = pulled
        result.bytes_copied += copied
        result.bytes_cloned += cloned
        if record is not None:
            in_bronze.add(key)
            result.new.append(record)
            ledger_rows.append({**row, "status": "bronze"})
            return
        result.rejected.append(
            PullRejection(
                center=profile.name,
                recording_id=entry.recording_id,
                episode_id=episode_id_for(profile.name, entry.recording_id),
                content_key=key,
                date_folder=entry.date_folder,
                reasons=reasons,
            )
        )
        ledger_rows.append({**row, "status": "quarantined"})

    with ThreadPoolExecutor(max_workers=PULL_THREADS, thread_name_prefix="pull") as pool:
        copies = pool.map(lambda item: _pull_one(item[0], drop, lake, item[1], profile), to_copy)
        for (entry, key, row), pulled in zip(to_copy, copies, strict=True):
            take(entry, key, row, pulled)
    for entry, key, row in waiting:
        if key in in_bronze:
            result.duplicates += 1
            ledger_rows.append({**row, "status": "duplicate"})
        else:  # the first copy of this content was refused: this delivery gets its own try
            take(entry, key, row, _pull_one(entry, drop, lake, key, profile))
    if record_rejections is not None and result.rejected:
        record_rejections(result.rejected)
    if ledger_rows:
        lake.write_parquet(
            layout.pull_ledger_file(profile.name, run_id),
            pl.DataFrame(ledger_rows).with_columns(pl.col("pulled_at").dt.replace_time_zone("UTC")),
        )
    return result
