"""Labeling: success / failure / unknown with a reason from a fixed taxonomy, the source
(operator or rule), confidence and review flags. Pure: events and cleaned streams in, a
`Label` out."""

from teleop_lake.labeling.grasp import GraspEvidence, GraspParams, grasp_evidence
from teleop_lake.labeling.rules import (
    FAILURE_REASONS,
    LABELER_VERSION,
    Label,
    LabelingParams,
    RuleVerdict,
    label_episode,
    rule_verdict,
)

__all__ = [
    "FAILURE_REASONS",
    "LABELER_VERSION",
    "GraspEvidence",
    "GraspParams",
    "Label",
    "LabelingParams",
    "RuleVerdict",
    "grasp_evidence",
    "label_episode",
    "rule_verdict",
]
