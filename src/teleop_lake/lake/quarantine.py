"""Writing quarantine records: one folder per refused recording, with its reasons as JSON."""

from __future__ import annotations

import datetime as dt

from teleop_lake.lake import layout
from teleop_lake.lake.ledger import Outcome, RecordingKeys
from teleop_lake.lake.storage import Store
from teleop_lake.rejection import Reason


def record_quarantine(
    lake: Store,
    *,
    center: str,
    recording_id: str,
    episode_id: str,
    content_key: str,
    run_id: str,
    stage: str,
    reasons: tuple[Reason, ...],
    now: dt.datetime,
) -> str:
    """Write ``quarantine/<center>/<content_key>/reasons.json``; returns its path."""
    rel = f"{layout.quarantine_dir(center, content_key)}/reasons.json"
    lake.write_json(
        rel,
        {
            "center": center,
            "recording_id": recording_id,
            "episode_id": episode_id,
            "content_key": content_key,
            "run_id": run_id,
            "stage": stage,
            "quarantined_at": now.isoformat(),
            "bronze_dir": layout.bronze_dir(center, content_key),
            "reasons": [r.to_dict() for r in reasons],
        },
    )
    return rel


def quarantine(
    lake: Store,
    rec: RecordingKeys,
    *,
    run_id: str,
    stage: str,
    reasons: tuple[Reason, ...],
    now: dt.datetime,
) -> Outcome:
    """Quarantine ``rec``: write its reasons record and return its ledger outcome."""
    record_quarantine(
        lake,
        center=rec.center,
        recording_id=rec.recording_id,
        episode_id=rec.episode_id,
        content_key=rec.content_key,
        run_id=run_id,
        stage=stage,
        reasons=reasons,
        now=now,
    )
    return Outcome.of(rec, run_id, stage, "quarantined", reasons)
