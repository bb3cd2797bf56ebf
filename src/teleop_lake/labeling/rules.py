"""Labeling rules, version ``rules-2``: outcome, failure reason, provenance and review flags.

Rules, in order (the first failure found is the reason):

1. task not in the catalog -> unknown / ``unknown_task`` (needs review);
2. events: ``emergency_stop`` -> ``emergency_stop``; ``robot_fault`` -> ``robot_fault``;
   ``abort`` -> ``task_incomplete`` (the attempt was abandoned);
3. duration beyond the task's ``timeout_s`` -> ``timeout``;
4. the task's success predicate (`teleop_lake.labeling.grasp`) on the cleaned hand_state of
   its grasp hand(s): held and released -> success; cut short while holding ->
   ``task_incomplete``; slipped out or let go too early -> ``object_dropped``; closed on
   nothing -> ``grasp_missed``; never grasped -> ``task_incomplete``. No hand_state -> the
   rules cannot judge.

Then the operator's own mark (the last ``operator_mark`` event):

- agrees with the rules -> source ``operator``, the rules' reason, high confidence;
- disagrees -> ``needs_review`` with both sides in ``review_reason``; the rules' outcome
  stands (source ``rule``) unless the deciding measurement is borderline (within
  ``marginal_fraction`` of its threshold), then the mark stands (source ``operator``);
- missing -> the rules' outcome (source ``rule``); flagged for review when it rests on the
  grasp predicate alone (a proxy), not when an event or the timeout decided (hard facts);
- the rules cannot judge -> the mark stands (moderate confidence), or ``unknown`` /
  ``data_unusable`` without a mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from teleop_lake.canonical import Event, SignalStream
from teleop_lake.config.tasks import TaskSpec
from teleop_lake.labeling.grasp import GraspEvidence, GraspParams, grasp_evidence

LABELER_VERSION = "rules-2"

FAILURE_REASONS: dict[str, str] = {
    "operator_marked_failure": "the operator marked a failure and no rule says more",
    "emergency_stop": "an emergency stop was pressed during the episode",
    "robot_fault": "the robot reported a fault during the episode",
    "timeout": "the episode lasted longer than the task's timeout",
    "grasp_missed": "the grasp hand closed fully without stopping on an object",
    "object_dropped": "the object slipped out of the hand, or was let go before the hold "
    "was complete",
    "task_incomplete": "the attempt was aborted or cut short while holding the object, or "
    "the hand never grasped",
    "data_unusable": "the data does not allow a judgement",
    "unknown_task": "the task code is not in the task catalog",
}

EVENT_FAILURES = (
    ("emergency_stop", "emergency_stop"),
    ("robot_fault", "robot_fault"),
    ("abort", "task_incomplete"),
)

Outcome = Literal["success", "failure", "unknown"]


@dataclass(frozen=True)
class LabelingParams:
    grasp: GraspParams = field(default_factory=GraspParams)
    confidence_agree: float = 0.95
    """Operator and rules agree: two independent sources."""
    confidence_event_rule: float = 0.9
    """An e-stop, fault, abort or timeout is a hard fact, even unconfirmed by the operator."""
    confidence_grasp_rule: float = 0.8
    """The success predicate alone, clear margins: a proxy of the task, not the task itself."""
    confidence_marginal: float = 0.5
    """The success predicate alone, borderline measurement."""
    confidence_operator_only: float = 0.7
    """Only the operator's mark (no hand data to check it against)."""
    confidence_disagree: float = 0.4
    """Rules and operator disagree: one of them stands until a reviewer decides."""
    marginal_fraction: float = 0.03
    """A measurement within 3% of its threshold (0.06 s of a 2 s hold, 0.027 of a 0.9
    closure) is borderline: about the hand-state quantisation (0.01) plus its noise."""
    labeler_version: str = LABELER_VERSION


@dataclass(frozen=True)
class Label:
    outcome: Outcome
    failure_reason: str | None
    source: Literal["operator", "rule"]
    labeler_version: str
    confidence: float
    needs_review: bool
    review_reason: str | None
    operator_mark: str | None
    evidence: str
    rule_outcome: str | None = None
    """What the rules alone say (None: they were not asked: the task is unknown)."""
    rule_failure_reason: str | None = None

    def __post_init__(self) -> None:
        if self.failure_reason is not None and self.failure_reason not in FAILURE_REASONS:
            raise ValueError(f"unknown failure reason {self.failure_reason!r}")


@dataclass(frozen=True)
class RuleVerdict:
    outcome: Outcome
    failure_reason: str | None
    confidence: float
    evidence: str
    hard_fact: bool = False
    """Decided by an event or the timeout (not by the signal predicate)."""
    marginal: bool = False
    """The deciding measurement is within ``marginal_fraction`` of its threshold."""

    def describe(self) -> str:
        reason = f" ({self.failure_reason})" if self.failure_reason else ""
        return f"rules say {self.outcome}{reason}"


def _hand_channels(hand_state: SignalStream, side: str) -> list[int]:
    prefix = "closure.l_" if side == "left" else "closure.r_"
    return [i for i, c in enumerate(hand_state.channels) if c.startswith(prefix)]


GRASP_FAILURES = (
    ("not_released", "task_incomplete"),
    ("dropped", "object_dropped"),
    ("missed", "grasp_missed"),
    ("no_grasp", "task_incomplete"),
)
"""Per-hand grasp outcomes that fail the task, most telling first (both-hand tasks)."""


def rule_verdict(
    events: Sequence[Event],
    duration_s: float,
    hand_state: SignalStream | None,
    task: TaskSpec,
    params: LabelingParams,
) -> RuleVerdict:
    """What the rules alone say (``unknown`` when they cannot judge)."""
    kinds = {e.kind for e in events}
    for kind, reason in EVENT_FAILURES:
        if kind in kinds:
            return RuleVerdict(
                "failure", reason, params.confidence_event_rule, f"{kind} event", hard_fact=True
            )
    if duration_s > task.timeout_s:
        return RuleVerdict(
            "failure",
            "timeout",
            params.confidence_event_rule,
            f"lasted {duration_s:.1f} s > timeout {task.timeout_s:.0f} s",
            hard_fact=True,
        )
    if hand_state is None or hand_state.n_samples == 0:
        return RuleVerdict("unknown", None, 0.0, "no hand_state to check the grasp")
    sides = ("left", "right") if task.grasp_hand == "both" else (task.grasp_hand,)
    evidences: list[tuple[str, GraspEvidence]] = []
    for side in sides:
        cols = _hand_channels(hand_state, side)
        if not cols:
            return RuleVerdict("unknown", None, 0.0, f"no {side} hand channels in hand_state")
        closure = np.mean(hand_state.values[:, cols], axis=1)
        evidences.append(
            (
                side,
                grasp_evidence(
                    hand_state.t_ns, closure, task.hold_min_s, task.success, params.grasp
                ),
            )
        )
    text = (
        "; ".join(ev.describe(side) for side, ev in evidences)
        + f" (hold_min {task.hold_min_s:.1f} s; lasted {duration_s:.1f} s,"
        f" expected {task.expected_duration_s:.0f} s)"
    )
    for outcome, reason in GRASP_FAILURES:
        deciding = [ev for _, ev in evidences if ev.outcome == outcome]
        if deciding:
            marginal = min(ev.margin for ev in deciding) < params.marginal_fraction
            conf = params.confidence_marginal if marginal else params.confidence_grasp_rule
            return RuleVerdict("failure", reason, conf, text, marginal=marginal)
    marginal = min(ev.margin for _, ev in evidences) < params.marginal_fraction
    conf = params.confidence_marginal if marginal else params.confidence_grasp_rule
    return RuleVerdict("success", None, conf, text, marginal=marginal)


def _operator_mark(events: Sequence[Event]) -> str | None:
    marks = [e for e in events if e.kind == "operator_mark" and e.value in ("success", "failure")]
    return max(marks, key=lambda e: e.t_ns).value if marks else None


def label_episode(
    events: Sequence[Event],
    duration_s: float,
    hand_state: SignalStream | None,
    task: TaskSpec | None,
    params: LabelingParams,
) -> Label:
    """Label one episode (``hand_state`` cleaned, any clock; see the module docstring)."""
    mark = _operator_mark(events)
    version = params.labeler_version
    if task is None:
        return Label(
            "unknown",
            "unknown_task",
            "rule",
            version,
            0.0,
            True,
            f"task not in the catalog; operator mark {mark or 'missing'}",
            mark,
            "task code unknown to the catalog",
        )
    rule = rule_verdict(events, duration_s, hand_state, task, params)
    label = _weigh(mark, rule, params)
    # kept beside the label: a reviewer's alternative when the mark and the rules disagree
    return replace(label, rule_outcome=rule.outcome, rule_failure_reason=rule.failure_reason)


def _weigh(mark: str | None, rule: RuleVerdict, params: LabelingParams) -> Label:
    """The label from the operator's mark and the rules' verdict."""
    version = params.labeler_version
    if mark is None:
        if rule.outcome == "unknown":
            return Label(
                "unknown",
                "data_unusable",
                "rule",
                version,
                0.0,
                True,
                f"no operator mark and {rule.evidence}",
                None,
                rule.evidence,
            )
        review = not rule.hard_fact
        return Label(
            rule.outcome,
            rule.failure_reason,
            "rule",
            version,
            rule.confidence,
            review,
            f"no operator mark; {rule.describe()}: {rule.evidence}" if review else None,
            None,
            rule.evidence,
        )
    if rule.outcome == "unknown":
        return Label(
            mark,  # type: ignore[arg-type]
            "operator_marked_failure" if mark == "failure" else None,
            "operator",
            version,
            params.confidence_operator_only,
            False,
            None,
            mark,
            f"operator marked {mark}; {rule.evidence}",
        )
    if rule.outcome == mark:
        return Label(
            rule.outcome,
            rule.failure_reason,
            "operator",
            version,
            params.confidence_agree,
            False,
            None,
            mark,
            f"operator marked {mark}, agreeing with the rules: {rule.evidence}",
        )
    both_sides = f"operator marked {mark} but {rule.describe()}: {rule.evidence}"
    if rule.marginal:
        return Label(
            mark,  # type: ignore[arg-type]
            "operator_marked_failure" if mark == "failure" else None,
            "operator",
            version,
            params.confidence_disagree,
            True,
            both_sides + " (borderline: the mark stands until reviewed)",
            mark,
            rule.evidence,
        )
    return Label(
        rule.outcome,
        rule.failure_reason,
        "rule",
        version,
        params.confidence_disagree,
        True,
        both_sides,
        mark,
        rule.evidence,
    )
