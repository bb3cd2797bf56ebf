"""Labeling known answers: one case per rule, and the operator-mark combinations."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_teleop import hand_profile

from datalake_schemas.episodes import FAILURE_REASONS as CONTRACT_REASONS
from teleop_lake.canonical import Event, SignalStream
from teleop_lake.labeling import (
    FAILURE_REASONS,
    GraspParams,
    LabelingParams,
    grasp_evidence,
    label_episode,
)
from teleop_lake.robots import load_robot_model
from teleop_lake.tasks import load_task_catalog

ROBOT = load_robot_model("kuavo_4pro")
TASK = load_task_catalog().get("open_microwave_door")  # right hand, hold_min_s 2.0
BOTH = load_task_catalog().get("fold_towel")  # both hands, hold_min_s 3.0
PARAMS = LabelingParams()
T0 = 1_700_000_000_000_000_000


def hands(right: np.ndarray, left: np.ndarray | None = None) -> SignalStream:
    n = len(right)
    t = T0 + np.arange(n, dtype=np.int64) * 10_000_000
    left = np.zeros(n) if left is None else left
    cols = [right if h.startswith("r_") else left for h in ROBOT.hand_joints]
    return SignalStream(
        "hand_state",
        "robot",
        t,
        tuple(f"closure.{h}" for h in ROBOT.hand_joints),
        np.stack(cols, axis=1),
    )


T_S = np.arange(1500) / 100.0  # 15 s at 100 Hz
HELD = hand_profile(T_S, 3.0, 0.6, 4.0)  # stops at 0.6 for 4 s
MISSED = hand_profile(T_S, 3.0, 1.0, 4.0)  # closes fully
DROPPED = np.where(T_S < 4.4, hand_profile(T_S, 3.0, 0.6, 10.0), 1.0)  # 1 s stop, then a fist
BRIEF = hand_profile(T_S, 3.0, 0.6, 1.0)  # stops 1 s then opens: released too early
NEVER = np.zeros_like(T_S)


def mark(value: str) -> Event:
    return Event(T0, "operator", "operator_mark", value)


def test_taxonomy_matches_the_data_contract() -> None:
    assert set(FAILURE_REASONS) == set(CONTRACT_REASONS)


@pytest.mark.parametrize(
    ("closure", "outcome"),
    [
        (HELD, "held"),
        (MISSED, "missed"),
        (DROPPED, "dropped"),
        (BRIEF, "no_grasp"),
        (NEVER, "no_grasp"),
    ],
)
def test_grasp_predicate(closure: np.ndarray, outcome: str) -> None:
    t = T0 + (T_S * 1e9).astype(np.int64)
    ev = grasp_evidence(t, closure, 2.0, GraspParams())
    assert ev.outcome == outcome


def test_grasp_hold_duration_is_measured() -> None:
    t = T0 + (T_S * 1e9).astype(np.int64)
    ev = grasp_evidence(t, HELD, 2.0, GraspParams())
    # in band from closure 0.45 (0.3 s into the 0.4 s ramp) through the 4 s hold and the
    # release down to 0.45 (0.1 s): ~4.2 s
    assert ev.longest_hold_s == pytest.approx(4.2, abs=0.03)
    assert ev.max_closure == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("closure", "events", "outcome", "reason"),
    [
        (HELD, (), "success", None),
        (MISSED, (), "failure", "grasp_missed"),
        (DROPPED, (), "failure", "object_dropped"),
        (BRIEF, (), "failure", "task_incomplete"),
        (HELD, (Event(T0, "robot", "emergency_stop"),), "failure", "emergency_stop"),
        (HELD, (Event(T0, "robot", "robot_fault"),), "failure", "robot_fault"),
        (HELD, (Event(T0, "robot", "abort"),), "failure", "task_incomplete"),
    ],
)
def test_rules_agreeing_with_the_operator(closure, events, outcome, reason) -> None:
    label = label_episode((*events, mark(outcome)), 15.0, hands(closure), TASK, PARAMS)
    assert (label.outcome, label.failure_reason, label.source) == (outcome, reason, "operator")
    assert label.confidence == PARAMS.confidence_agree and not label.needs_review
    assert label.operator_mark == outcome and label.labeler_version == "rules-1"


def test_timeout() -> None:
    label = label_episode((mark("failure"),), 31.0, hands(HELD), TASK, PARAMS)
    assert (label.outcome, label.failure_reason, label.source) == ("failure", "timeout", "operator")


def test_disagreement_keeps_the_rule_and_asks_for_review() -> None:
    label = label_episode((mark("success"),), 15.0, hands(MISSED), TASK, PARAMS)
    assert (label.outcome, label.failure_reason, label.source) == (
        "failure",
        "grasp_missed",
        "rule",
    )
    assert label.needs_review and label.confidence == PARAMS.confidence_disagree
    assert "operator marked success" in label.review_reason
    assert "grasp_missed" in label.review_reason


def test_missing_mark_uses_the_rule_with_review() -> None:
    label = label_episode((), 15.0, hands(HELD), TASK, PARAMS)
    assert (label.outcome, label.source, label.operator_mark) == ("success", "rule", None)
    assert label.needs_review and "no operator mark" in label.review_reason


def test_unknown_task() -> None:
    label = label_episode((mark("success"),), 15.0, hands(HELD), None, PARAMS)
    assert (label.outcome, label.failure_reason) == ("unknown", "unknown_task")
    assert label.needs_review and label.operator_mark == "success"


def test_no_hand_data_falls_back_to_the_operator() -> None:
    label = label_episode((mark("failure"),), 15.0, None, TASK, PARAMS)
    assert (label.outcome, label.failure_reason, label.source) == (
        "failure",
        "operator_marked_failure",
        "operator",
    )
    assert not label.needs_review and label.confidence == PARAMS.confidence_operator_only
    nothing = label_episode((), 15.0, None, TASK, PARAMS)
    assert nothing.outcome == "unknown" and nothing.needs_review


def test_both_hands_must_hold() -> None:
    ok = label_episode((mark("success"),), 15.0, hands(HELD, HELD), BOTH, PARAMS)
    assert ok.outcome == "success"
    one_missed = label_episode((mark("success"),), 15.0, hands(HELD, MISSED), BOTH, PARAMS)
    assert (one_missed.outcome, one_missed.failure_reason) == ("failure", "grasp_missed")


def test_last_operator_mark_wins() -> None:
    events = (mark("failure"), Event(T0 + 10, "operator", "operator_mark", "success"))
    assert label_episode(events, 15.0, hands(HELD), TASK, PARAMS).source == "operator"
