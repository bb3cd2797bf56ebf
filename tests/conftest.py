"""Shared fixtures: isolated Prefect home, small drops written by hand."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def write_drop_recording(
    drop: Path,
    date: str,
    recording_id: str,
    files: dict[str, bytes],
    *,
    fmt: str = "ros1-bag",
    manifest_overrides: dict[str, object] | None = None,
    file_overrides: dict[str, dict[str, object]] | None = None,
) -> dict[str, object]:
    """Write files under drop/date and append their manifest line (as a center's uploader does)."""
    folder = drop / date
    entries = []
    for rel, data in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        entry: dict[str, object] = {
            "path": rel,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        entry.update((file_overrides or {}).get(rel, {}))
        entries.append(entry)
    line: dict[str, object] = {
        "recording_id": recording_id,
        "format": fmt,
        "files": entries,
        "recorded_at": f"{date}T09:00:00+08:00",
        "station": "st01",
        "robot_serial": "P4-1",
        "operator_id": "op-1",
        "task_code": "pack_parcel",
    }
    line.update(manifest_overrides or {})
    with (folder / "_manifest.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")
    return line


@pytest.fixture
def prefect_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("prefect-home")
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "240")
    return home
