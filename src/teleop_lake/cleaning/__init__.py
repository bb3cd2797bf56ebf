"""Cleaning: flag spikes, limit violations, dropouts, frozen sensors, duplicates, out-of-order
samples and camera frame problems; repair what the policy allows. Never drops silently.

Pure transforms over numpy arrays and canonical streams: no IO, no orchestration.
"""

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
