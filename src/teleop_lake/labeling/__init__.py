"""Labeling: success / failure / unknown with a reason from a fixed taxonomy, the source
(operator, rule or qa_override), confidence and review flags; the review-queue ranking; and
applying QA overrides to an episodes table. Pure: no IO."""

from teleop_lake.labeling.grasp import GraspEvidence, GraspParams, grasp_evidence
from teleop_lake.labeling.overrides import OUTCOMES, apply_overrides, override_problems
from teleop_lake.labeling.review import REVIEW_KINDS, rank_review_queue, review_kind
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
    "OUTCOMES",
    "REVIEW_KINDS",
    "GraspEvidence",
    "GraspParams",
    "Label",
    "LabelingParams",
    "RuleVerdict",
    "apply_overrides",
    "grasp_evidence",
    "label_episode",
    "override_problems",
    "rank_review_queue",
    "review_kind",
    "rule_verdict",
]
