"""Labeling: success / failure / unknown with a reason from a fixed taxonomy, the source
(operator, rule or qa_override), confidence and review flags; the review-queue ranking; and
applying QA overrides to an episodes table. Pure: no IO.

Names are imported on first use (`teleop_lake.lazy_names`): the nightly flow's process needs
the parameter dataclasses, not scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teleop_lake.lazy_names import lazy_getattr

if TYPE_CHECKING:
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

_EXPORTS = {
    "GraspEvidence": "teleop_lake.labeling.grasp",
    "GraspParams": "teleop_lake.labeling.grasp",
    "grasp_evidence": "teleop_lake.labeling.grasp",
    "OUTCOMES": "teleop_lake.labeling.overrides",
    "apply_overrides": "teleop_lake.labeling.overrides",
    "override_problems": "teleop_lake.labeling.overrides",
    "REVIEW_KINDS": "teleop_lake.labeling.review",
    "rank_review_queue": "teleop_lake.labeling.review",
    "review_kind": "teleop_lake.labeling.review",
    "FAILURE_REASONS": "teleop_lake.labeling.rules",
    "LABELER_VERSION": "teleop_lake.labeling.rules",
    "Label": "teleop_lake.labeling.rules",
    "LabelingParams": "teleop_lake.labeling.rules",
    "RuleVerdict": "teleop_lake.labeling.rules",
    "label_episode": "teleop_lake.labeling.rules",
    "rule_verdict": "teleop_lake.labeling.rules",
}

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

__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
