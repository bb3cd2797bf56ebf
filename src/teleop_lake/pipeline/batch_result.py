"""What a processed batch returns: small facts that cross processes and the orchestrator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BatchResult:
    """What a batch did, as small serialisable facts."""

    batch_id: str
    segment_id: str | None = None
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    validation_failures: list[dict[str, Any]] = field(default_factory=list)
    episodes: list[dict[str, Any]] = field(default_factory=list)
    # wall seconds per center and stage (decode, process, validate, write)
    seconds_by_center: dict[str, dict[str, float]] = field(default_factory=dict)
    # the peak resident memory of the worker process that ran the batch (0: run in process)
    worker_peak_rss_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "segment_id": self.segment_id,
            "outcomes": self.outcomes,
            "validation_failures": self.validation_failures,
            "episodes": self.episodes,
            "seconds_by_center": self.seconds_by_center,
        }
