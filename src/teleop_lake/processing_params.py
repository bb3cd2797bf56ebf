"""Every parameter of the processing, in one frozen dataclass.

Its own module, light to import (no signal processing): the nightly flow's process builds and
passes the parameters but never runs a stage. `teleop_lake.processing` re-exports it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from teleop_lake.alignment.params import AlignmentParams
from teleop_lake.cleaning.params import CleaningParams
from teleop_lake.cleaning.quality import QualityGates
from teleop_lake.labeling.rules import LabelingParams

if TYPE_CHECKING:
    from teleop_lake.config.robots import RobotModel


@dataclass(frozen=True)
class ProcessingParams:
    """Every parameter of the processing; `param_hash` goes into what a release records."""

    grid_rate_hz: float = 50.0
    """Training grid rate: the rate the partner policies train at (a 20 ms period)."""
    min_duration_s: float = 2.0
    """Shorter joint_state spans are rejected (too_short): too little to align and label."""
    cleaning: CleaningParams = field(default_factory=CleaningParams)
    alignment: AlignmentParams = field(default_factory=AlignmentParams)
    labeling: LabelingParams = field(default_factory=LabelingParams)
    gates: QualityGates = field(default_factory=QualityGates)

    def param_hash(self, robot: RobotModel | None = None) -> str:
        """sha256 of the parameters as canonical JSON (stable across runs and machines); with
        ``robot``, also of what its model declares that an estimate depends on (the control
        latency and its spread): a changed latency changes what the clocks mean."""
        doc: dict[str, Any] = asdict(self)
        if robot is not None:
            doc["robot"] = robot.latency_fingerprint()
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
