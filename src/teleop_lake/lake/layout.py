"""Where everything lives in the lake, as relative paths. The only place that spells them.

```
bronze/<center>/<kk>/<content_key>/...      raw recordings as delivered, never modified
ledger/pulls/<center>/<run_id>.parquet      what each night pulled (append-only)
ledger/outcomes/<run_id>.parquet            what became of each recording that night
quarantine/<center>/<content_key>/          reasons.json (+ the bad files when not in bronze)
evidence/<run_id>/<batch_id>/               processed.parquet, findings.parquet, clocks.parquet:
                                            what processing found for every processed episode,
                                            published or gated (for evaluation and QA)
segments/<segment_id>/                      frames.parquet, replay.zarr, episodes.parquet,
                                            findings.parquet (written once, shared by releases)
releases/<release_id>/                      episodes.parquet, manifest.json (written last)
releases/LATEST                             the newest release id, moved after the manifest
reports/<run_id>/                           validation.json, validation.html
runs/<run_id>/summary.json                  the run summary (accounting)
overrides/<episode_id>/v<nnnnnn>.json       QA label overrides (append-only, one file each)
config/pseudonym.key                        keyed hash for operator pseudonyms (never released)
```
"""

from __future__ import annotations

import re

# A release id is the night's date and a counter; a segment id a run id and a batch id. Both
# become paths: anything else (``..``, ``/``, a stray name) is refused before it is used.
RELEASE_ID_RE = re.compile(r"^\d{4}-\d{2}-\d{2}-r\d{2,6}$")
SEGMENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class BadIdError(ValueError):
    """An id that cannot name a release or a segment."""


def is_release_id(name: str) -> bool:
    return bool(RELEASE_ID_RE.match(name))


BRONZE_RECORD_NAME = "_recording.json"
RELEASE_MANIFEST_NAME = "manifest.json"
SEGMENT_MANIFEST_NAME = "segment.json"
"""A segment's manifest, written last: a segment folder without it is a crashed attempt."""
LATEST_POINTER = "releases/LATEST"
PSEUDONYM_KEY = "config/pseudonym.key"


def bronze_dir(center: str, content_key: str) -> str:
    return f"bronze/{center}/{content_key[:2]}/{content_key}"


def pull_ledger_dir(center: str) -> str:
    return f"ledger/pulls/{center}"


def pull_ledger_file(center: str, run_id: str) -> str:
    return f"{pull_ledger_dir(center)}/{run_id}.parquet"


OUTCOME_LEDGER_DIR = "ledger/outcomes"


def outcome_ledger_file(run_id: str, part: str) -> str:
    return f"{OUTCOME_LEDGER_DIR}/{run_id}/{part}.parquet"


def quarantine_dir(center: str, content_key: str) -> str:
    return f"quarantine/{center}/{content_key}"


EVIDENCE_DIR = "evidence"


def evidence_dir(run_id: str, batch_id: str) -> str:
    return f"{EVIDENCE_DIR}/{run_id}/{batch_id}"


SEGMENTS_DIR = "segments"


def segment_dir(segment_id: str) -> str:
    if not SEGMENT_ID_RE.match(segment_id) or ".." in segment_id:
        raise BadIdError(f"{segment_id!r} is not a segment id")
    return f"{SEGMENTS_DIR}/{segment_id}"


RELEASES_DIR = "releases"


def release_dir(release_id: str) -> str:
    if not is_release_id(release_id):
        raise BadIdError(
            f"{release_id!r} is not a release id (YYYY-MM-DD-rNN, e.g. 2026-11-23-r01)"
        )
    return f"{RELEASES_DIR}/{release_id}"


def report_dir(run_id: str) -> str:
    return f"reports/{run_id}"


def run_summary_file(run_id: str) -> str:
    return f"runs/{run_id}/summary.json"


OVERRIDES_DIR = "overrides"


def override_file(episode_id: str, version: int) -> str:
    return f"{OVERRIDES_DIR}/{episode_id}/v{version:06d}.json"
