"""Verifying a release: every file its manifest lists exists with that size and sha256."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store
from teleop_lake.release.publish import latest_pointer, latest_release_id, manifest_sha256
from teleop_lake.release.signing import SIGNATURE_SUFFIX, SignatureError, check_manifest


class ReleaseNotFoundError(LookupError):
    pass


@dataclass
class VerifyResult:
    release_id: str
    n_files: int = 0
    n_bytes: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    manifest_checked: bool = False
    signature_checked: bool = False
    """Whether the manifest's Ed25519 signature was checked, and held, against a given key."""
    """Whether the manifest itself was checked against the hash recorded when it was
    committed (LATEST, or its successor's manifest)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "ok": self.ok,
            "n_files": self.n_files,
            "n_bytes": self.n_bytes,
            "manifest_checked": self.manifest_checked,
            "signature_checked": self.signature_checked,
            "problems": self.problems,
        }


def verify_release(
    lake_url: str, release_id: str | None = None, public_key: str | None = None
) -> VerifyResult:
    """Recompute every checksum the release manifest lists, and flag any file in the release's
    or its segments' folders that the manifest does not list (an added file, an extra zarr
    array); with ``public_key`` (a PEM file) the manifest must carry a valid Ed25519
    signature of that key. Problems are collected, not raised."""
    lake = Store(lake_url)
    rid = release_id or latest_release_id(lake)
    if rid is None:
        raise ReleaseNotFoundError(f"no release in {lake_url}: run a night first")
    mpath = f"{layout.release_dir(rid)}/{layout.RELEASE_MANIFEST_NAME}"
    if not lake.exists(mpath):
        raise ReleaseNotFoundError(
            f"release {rid!r} has no manifest at {lake.uri(mpath)} (unknown or never committed)"
        )
    manifest = lake.read_json(mpath)
    result = VerifyResult(release_id=rid)
    listed = {str(f["path"]) for f in manifest["files"]} | {mpath, f"{mpath}{SIGNATURE_SUFFIX}"}
    folders = [layout.release_dir(rid)]
    for seg in manifest.get("segments", []):
        try:
            folders.append(layout.segment_dir(str(seg)))
        except layout.BadIdError as exc:
            result.problems.append({"path": str(seg), "problem": f"bad_segment_id: {exc}"})
    for folder in folders:  # nothing may be added to what the release is made of
        for path in lake.walk_files(folder):
            if path not in listed:
                result.problems.append({"path": path, "problem": "unexpected_file"})
    for f in manifest["files"]:
        path = f["path"]
        result.n_files += 1
        if not lake.exists(path):
            result.problems.append({"path": path, "problem": "missing"})
            continue
        size = lake.size(path)
        result.n_bytes += size
        if size != f["size"]:
            result.problems.append(
                {"path": path, "problem": "size_mismatch", "expected": f["size"], "actual": size}
            )
            continue
        sha = lake.sha256(path)
        if sha != f["sha256"]:
            result.problems.append(
                {
                    "path": path,
                    "problem": "checksum_mismatch",
                    "expected": f["sha256"],
                    "actual": sha,
                }
            )
    result.manifest_checked = _check_manifest_chain(lake, rid, result)
    if public_key is not None:
        try:
            check_manifest(lake, mpath, public_key, f"release {rid}")
            result.signature_checked = True
        except SignatureError as exc:
            path = f"{mpath}{SIGNATURE_SUFFIX}"
            result.problems.append({"path": path, "problem": f"bad_signature: {exc}"})
    return result


def _check_manifest_chain(lake: Store, rid: str, result: VerifyResult) -> bool:
    """Follow the recorded manifest hashes from LATEST back to ``rid``; a manifest whose bytes
    changed since it was committed is a problem. False when no hash reaches ``rid`` (lakes
    written before hashes were recorded)."""
    cur, sha = latest_pointer(lake)
    seen: set[str] = set()
    while cur is not None and sha is not None and cur not in seen:
        seen.add(cur)
        actual = manifest_sha256(lake, cur)
        if actual != sha:
            result.problems.append(
                {
                    "path": f"{layout.release_dir(cur)}/{layout.RELEASE_MANIFEST_NAME}",
                    "problem": "manifest_changed",
                    "expected": sha,
                    "actual": actual,
                }
            )
            return True
        if cur == rid:
            return True
        manifest = lake.read_json(f"{layout.release_dir(cur)}/{layout.RELEASE_MANIFEST_NAME}")
        cur, sha = manifest.get("parent_release_id"), manifest.get("parent_manifest_sha256")
    return False
