"""Cleaning: flag spikes, limit violations, dropouts, frozen sensors, duplicates, out-of-order
samples and camera frame problems; repair what the policy allows. Never drops silently.

Pure transforms over numpy arrays and canonical streams: no IO, no orchestration.

Names are imported on first use (`teleop_lake.lazy_names`): the nightly flow's process needs
the parameter dataclasses, not scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teleop_lake.lazy_names import lazy_getattr

if TYPE_CHECKING:
    from teleop_lake.cleaning.cameras import CameraCheck, check_camera_stream
    from teleop_lake.cleaning.findings import FINDING_KINDS, Finding, findings_frame
    from teleop_lake.cleaning.frozen import FrozenResult, detect_frozen
    from teleop_lake.cleaning.params import CleaningParams
    from teleop_lake.cleaning.quality import QualityGates, quality_score
    from teleop_lake.cleaning.spikes import SpikeResult, detect_spikes
    from teleop_lake.cleaning.stream import CleanedStream, clean_signal_stream
    from teleop_lake.cleaning.timestamps import (
        Gaps,
        detect_dropouts,
        nominal_period_ns,
        order_and_deduplicate,
    )

_EXPORTS = {
    "CameraCheck": "teleop_lake.cleaning.cameras",
    "check_camera_stream": "teleop_lake.cleaning.cameras",
    "FINDING_KINDS": "teleop_lake.cleaning.findings",
    "Finding": "teleop_lake.cleaning.findings",
    "findings_frame": "teleop_lake.cleaning.findings",
    "FrozenResult": "teleop_lake.cleaning.frozen",
    "detect_frozen": "teleop_lake.cleaning.frozen",
    "CleaningParams": "teleop_lake.cleaning.params",
    "QualityGates": "teleop_lake.cleaning.quality",
    "quality_score": "teleop_lake.cleaning.quality",
    "SpikeResult": "teleop_lake.cleaning.spikes",
    "detect_spikes": "teleop_lake.cleaning.spikes",
    "CleanedStream": "teleop_lake.cleaning.stream",
    "clean_signal_stream": "teleop_lake.cleaning.stream",
    "Gaps": "teleop_lake.cleaning.timestamps",
    "detect_dropouts": "teleop_lake.cleaning.timestamps",
    "nominal_period_ns": "teleop_lake.cleaning.timestamps",
    "order_and_deduplicate": "teleop_lake.cleaning.timestamps",
}

__all__ = [
    "FINDING_KINDS",
    "CameraCheck",
    "CleanedStream",
    "CleaningParams",
    "Finding",
    "FrozenResult",
    "Gaps",
    "QualityGates",
    "SpikeResult",
    "check_camera_stream",
    "clean_signal_stream",
    "detect_dropouts",
    "detect_frozen",
    "detect_spikes",
    "findings_frame",
    "nominal_period_ns",
    "order_and_deduplicate",
    "quality_score",
]

__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
