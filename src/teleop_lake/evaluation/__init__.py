"""Evaluation: score a processed night against the simulator's ground truth.

Pure scoring (`matching`, `clock_error`, `camera_truth`, `sample_scores`, `label_scores`,
`variation`, `outcome_scores`, `scorecard`, and `targets` for the targets, the printed table
and the worst over several networks) takes polars frames and numpy arrays and returns numbers;
`night` is the one IO module: it reads the lake's evidence, release frames, outcome ledger and
bronze recordings, and the network's ``_truth/`` tables. The definitions are written down in
docs/EVALUATION.md.
"""

from teleop_lake.evaluation.matching import (
    DetectionScore,
    dropout_truth,
    frozen_truth,
    match_detections,
    spike_truth,
)

__all__ = [
    "DetectionScore",
    "dropout_truth",
    "frozen_truth",
    "match_detections",
    "spike_truth",
]
