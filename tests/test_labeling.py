"""Labeling known answers: the success predicate per case, each rule, the operator-mark
combinations, the review ranking, and applying QA overrides."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datalake_schemas.episodes import FAILURE_REASONS as CONTRACT_REASONS
from datalake_schemas.episodes import OUTCOMES as CONTRACT_OUTCOMES
from teleop_lake.canonical import Event, SignalStream
from teleop_lake.config.robots import load_robot_model
from teleop_lake.config.tasks import SuccessPredicate, load_task_catalog
from teleop_lake.labeling import (
    FAILURE_REASONS,
    OUTCOMES,
    GraspParams,
    LabelingParams,
    apply_overrides,
    grasp_evidence,
    label_episode,
    override_problems,
    rank_review_queue,
)
from teleop_lake.labeling.review import override_command
from teleop_lake.labeling.rules import Label

ROBOT = load_robot_model("kuavo_4pro")
TASK = load_task_catalog().get("open_microwave_door")  # right hand, hold_min_s 2.0
BOTH = load_task_catalog().get("fold_towel")  # both hands, hold_min_s 3.0
PARAMS = LabelingParams()
PRED = SuccessPredicate()
T0 = 1_700_000_000_000_000_000
T_S = np.arange(1500) / 100.0  # 15 s at 100 Hz


def trace(*knots: tuple[float, float]) -> np.ndarray:
    """Closure over T_S, piecewise linear through (t_s, closure) knots."""
    t, v = zip(*knots, strict=True)
    return np.interp(T_S, t, v)


# open until 3 s, closes over 0.4 s, stops at 0.6 ...
HELD = trace((0, 0.03), (3, 0.03), (3.4, 0.6), (7.4, 0.6), (7.8, 0.03))  # 4 s, then opens
MISSED = trace((0, 0.03), (3, 0.03), (3.4, 0.97), (4.2, 0.97), (4.6, 0.03))  # a fist
NEAR_FIST = trace((0, 0.03), (3, 0.03), (3.4, 0.93), (4.2, 0.93), (4.6, 0.03))
SNAPPED = trace((0, 0.03), (3, 0.03), (3.4, 0.6), (4.4, 0.6), (4.5, 0.97), (5, 0.97), (5.4, 0.03))
# slips, fingers close on the empty space to 0.9 while the operator already opens
SLIPPED_OPENED = trace((0, 0.03), (3, 0.03), (3.4, 0.6), (4.4, 0.6), (4.55, 0.9), (5.0, 0.03))
LET_GO = trace((0, 0.03), (3, 0.03), (3.4, 0.6), (4.4, 0.6), (4.8, 0.03))  # 1 s < hold_min
CUT_SHORT = trace((0, 0.03), (3, 0.03), (3.4, 0.6), (15, 0.6))  # still holding at the end
NEVER = np.full_like(T_S, 0.03)


def hands(right: np.ndarray, left: np.ndarray | None = None) -> SignalStream:
    t = T0 + np.arange(len(right), dtype=np.int64) * 10_000_000
    left = np.full_like(right, 0.03) if left is None else left
    cols = [right if h.startswith("r_") else left for h in ROBOT.hand_joints]
    return SignalStream(
        "hand_state",
        "robot",
        t,
        tuple(f"closure.{h}" for h in ROBOT.hand_joints),
        np.stack(cols, axis=1),
    )


def mark(value: str) -> Event:
    return Event(T0, "operator", "operator_mark", value)


def test_taxonomy_matches_the_data_contract() -> None:
    assert set(FAILURE_REASONS) == set(CONTRACT_REASONS)
    assert set(OUTCOMES) == set(CONTRACT_OUTCOMES)


def test_every_catalog_task_declares_its_success_predicate() -> None:
    for task in load_task_catalog().tasks:
        assert task.success.predicate == "grasp_hold_release"
        lo, hi = task.success.closure_band
        assert task.success.open_below < lo < hi < task.success.full_closure
    with pytest.raises(ValueError, match="open_below < closure_band < full_closure"):
        SuccessPredicate(closure_band=(0.5, 0.95), full_closure=0.9)
    with pytest.raises(ValueError, match="unknown success predicate"):
        SuccessPredicate(predicate="looks_fine")


@pytest.mark.parametrize(
    ("closure", "outcome", "hold_s"),
    [
        (HELD, "held", 4.2),  # 0.45 is reached 0.3 s into the ramp, left 0.1 s into the opening
        (MISSED, "missed", 0.17),  # crosses the band in 0.17 s: no stop (< 0.2 s)
        (NEAR_FIST, "missed", 0.18),
        (SNAPPED, "dropped", 1.17),  # 3.3 s .. 4.47 s, the rise leaves the band top
        (SLIPPED_OPENED, "dropped", 1.23),
        (LET_GO, "dropped", 1.2),
        (CUT_SHORT, "not_released", 11.69),  # 3.3 s to the last sample at 14.99 s
        (NEVER, "no_grasp", 0.0),
    ],
)
def test_grasp_predicate(closure: np.ndarray, outcome: str, hold_s: float) -> None:
    t = T0 + (T_S * 1e9).astype(np.int64)
    ev = grasp_evidence(t, closure, 2.0, PRED, GraspParams())
    assert ev.outcome == outcome
    assert ev.longest_hold_s == pytest.approx(hold_s, abs=0.03)


def test_release_not_required_counts_a_long_hold_to_the_end() -> None:
    t = T0 + (T_S * 1e9).astype(np.int64)
    no_release = SuccessPredicate(release_required=False)
    assert grasp_evidence(t, CUT_SHORT, 2.0, no_release, GraspParams()).outcome == "held"


def test_gaps_in_the_hand_state_are_skipped() -> None:
    t = T0 + (T_S * 1e9).astype(np.int64)
    holed = HELD.copy()
    holed[500:520] = np.nan
    assert grasp_evidence(t, holed, 2.0, PRED, GraspParams()).outcome == "held"


@pytest.mark.parametrize(
    ("closure", "events", "outcome", "reason"),
    [
        (HELD, (), "success", None),
        (MISSED, (), "failure", "grasp_missed"),
        (SNAPPED, (), "failure", "object_dropped"),
        (SLIPPED_OPENED, (), "failure", "object_dropped"),
        (LET_GO, (), "failure", "object_dropped"),
        (CUT_SHORT, (), "failure", "task_incomplete"),
        (NEVER, (), "failure", "task_incomplete"),
        (HELD, (Event(T0, "robot", "emergency_stop"),), "failure", "emergency_stop"),
        (HELD, (Event(T0, "robot", "robot_fault"),), "failure", "robot_fault"),
        (HELD, (Event(T0, "robot", "abort"),), "failure", "task_incomplete"),
    ],
)
def test_rules_agreeing_with_the_operator(closure, events, outcome, reason) -> None:
    label = label_episode((*events, mark(outcome)), 15.0, hands(closure), TASK, PARAMS)
    assert (label.outcome, label.failure_reason, label.source) == (outcome, reason, "operator")
    assert label.confidence == PARAMS.confidence_agree and not label.needs_review
    assert label.operator_mark == outcome and label.labeler_version == "rules-2"


def test_emergency_stop_wins_over_a_robot_fault() -> None:
    events = (Event(T0, "robot", "robot_fault"), Event(T0 + 1, "robot", "emergency_stop"))
    label = label_episode(events, 15.0, hands(HELD), TASK, PARAMS)
    assert (label.outcome, label.failure_reason) == ("failure", "emergency_stop")
    assert not label.needs_review  # a hard fact needs no mark to be trusted


def test_timeout() -> None:
    label = label_episode((mark("failure"),), 31.0, hands(HELD), TASK, PARAMS)
    assert (label.outcome, label.failure_reason, label.source) == ("failure", "timeout", "operator")


def test_disagreement_keeps_the_rule_and_shows_both_sides() -> None:
    label = label_episode((mark("success"),), 15.0, hands(MISSED), TASK, PARAMS)
    assert (label.outcome, label.failure_reason, label.source) == (
        "failure",
        "grasp_missed",
        "rule",
    )
    assert label.needs_review and label.confidence == PARAMS.confidence_disagree
    assert "operator marked success" in label.review_reason
    assert "rules say failure (grasp_missed)" in label.review_reason
    assert "max closure 0.97" in label.review_reason  # the measurement, not just the verdict


def test_a_borderline_measurement_leaves_the_mark_standing() -> None:
    # stop of 2.02 s (in band 3.3 .. 5.32 s) against hold_min 2.0: within 3% of the threshold
    borderline = trace((0, 0.03), (3, 0.03), (3.4, 0.6), (5.22, 0.6), (5.62, 0.03))
    label = label_episode((mark("failure"),), 15.0, hands(borderline), TASK, PARAMS)
    assert (label.outcome, label.failure_reason, label.source) == (
        "failure",
        "operator_marked_failure",
        "operator",
    )
    assert label.needs_review and "borderline" in label.review_reason
    assert "rules say success" in label.review_reason


def _queue_item(label: Label) -> dict[str, object]:
    row = {
        "episode_id": "ep-1",
        "needs_review": label.needs_review,
        "outcome": label.outcome,
        "failure_reason": label.failure_reason,
        "operator_mark": label.operator_mark,
        "label_confidence": label.confidence,
        "review_reason": label.review_reason,
        "rule_outcome": label.rule_outcome,
        "rule_failure_reason": label.rule_failure_reason,
    }
    (item,) = rank_review_queue([row])
    return item


def test_the_suggested_override_is_the_other_side_of_the_evidence() -> None:
    # the rules overruled the mark: the suggestion is the operator's side
    overruled = label_episode((mark("success"),), 15.0, hands(MISSED), TASK, PARAMS)
    assert _queue_item(overruled)["suggested_override"] == {
        "outcome": "success",
        "failure_reason": None,
        "from": "the operator's mark",
    }
    # a borderline mark stood: the suggestion is the rules' verdict, not a fixed reason
    borderline = trace((0, 0.03), (3, 0.03), (3.4, 0.6), (5.22, 0.6), (5.62, 0.03))
    stood = label_episode((mark("failure"),), 15.0, hands(borderline), TASK, PARAMS)
    assert _queue_item(stood)["suggested_override"]["outcome"] == "success"
    # the rules alone say a grasp was missed on an unmarked episode: no other side to offer
    unmarked = label_episode((), 15.0, hands(MISSED), TASK, PARAMS)
    item = _queue_item(unmarked)
    assert item["suggested_override"] is None
    assert "--outcome success|failure" in override_command(item, "lake")
    marked = override_command(_queue_item(overruled), "lake")
    assert marked.startswith("teleop-lake qa override ep-1 --lake lake --outcome success ")


def test_missing_mark_uses_the_rule_and_asks_for_review_of_proxies_only() -> None:
    label = label_episode((), 15.0, hands(HELD), TASK, PARAMS)
    assert (label.outcome, label.source, label.operator_mark) == ("success", "rule", None)
    assert label.needs_review and "no operator mark" in label.review_reason
    assert label.confidence == PARAMS.confidence_grasp_rule
    hard = label_episode((Event(T0, "robot", "abort"),), 15.0, hands(HELD), TASK, PARAMS)
    assert (hard.outcome, hard.failure_reason, hard.needs_review) == (
        "failure",
        "task_incomplete",
        False,
    )


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
    assert (nothing.outcome, nothing.failure_reason) == ("unknown", "data_unusable")
    assert nothing.needs_review


def test_both_hands_must_hold() -> None:
    ok = label_episode((mark("success"),), 15.0, hands(HELD, HELD), BOTH, PARAMS)
    assert ok.outcome == "success"
    one_missed = label_episode((mark("success"),), 15.0, hands(HELD, MISSED), BOTH, PARAMS)
    assert (one_missed.outcome, one_missed.failure_reason) == ("failure", "grasp_missed")
    dropped_and_cut = label_episode((), 15.0, hands(SNAPPED, CUT_SHORT), BOTH, PARAMS)
    assert dropped_and_cut.failure_reason == "task_incomplete"  # the more telling of the two


def test_last_operator_mark_wins() -> None:
    events = (mark("failure"), Event(T0 + 10, "operator", "operator_mark", "success"))
    assert label_episode(events, 15.0, hands(HELD), TASK, PARAMS).source == "operator"


def _row(eid: str, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "episode_id": eid,
        "center": "beijing",
        "outcome": "success",
        "failure_reason": None,
        "label_source": "operator",
        "operator_mark": "success",
        "label_confidence": 0.95,
        "needs_review": True,
        "review_reason": "x",
        "publishable": True,
    }
    return {**base, **kw}


def test_review_queue_ranks_disagreements_first() -> None:
    rows = [
        _row("no-mark", operator_mark=None, label_source="rule", label_confidence=0.5),
        _row("fine", needs_review=False),
        _row("unknown", outcome="unknown", failure_reason="unknown_task", label_confidence=0.0),
        _row("gated-dis", outcome="failure", label_source="rule", publishable=False),
        _row("dis-low", outcome="failure", label_source="rule", label_confidence=0.4),
        _row("dis-high", outcome="failure", label_source="rule", label_confidence=0.6),
        _row("overridden", outcome="failure", label_source="rule"),
    ]
    queue = rank_review_queue(rows, exclude_episode_ids=["overridden"])
    assert [q["episode_id"] for q in queue] == [
        "dis-low",
        "dis-high",
        "gated-dis",
        "unknown",
        "no-mark",
    ]
    assert [q["kind"] for q in queue] == [
        "disagreement",
        "disagreement",
        "disagreement",
        "unknown",
        "no_mark",
    ]
    assert [q["rank"] for q in queue] == [1, 2, 3, 4, 5]


def test_apply_overrides_replaces_only_overridden_labels() -> None:
    eps = pl.DataFrame(
        [
            _row("a", outcome="success", label_source="rule", label_confidence=0.4),
            _row("b", outcome="failure", failure_reason="grasp_missed", needs_review=False),
        ]
    )
    ov = pl.DataFrame(
        {
            "episode_id": ["a", "zzz"],
            "override_id": ["a/v000002", "zzz/v000001"],
            "outcome": ["failure", "success"],
            "failure_reason": ["object_dropped", None],
        }
    )
    out = apply_overrides(eps, ov)
    assert out.columns == eps.columns and out.height == 2
    a, b = out.rows(named=True)
    assert (a["outcome"], a["failure_reason"], a["label_source"]) == (
        "failure",
        "object_dropped",
        "qa_override",
    )
    assert a["label_confidence"] == 1.0 and not a["needs_review"] and a["review_reason"] is None
    assert b == eps.row(1, named=True)


@pytest.mark.parametrize(
    ("outcome", "reason", "reviewer", "fragment"),
    [
        ("maybe", None, "ann", "unknown outcome 'maybe'"),
        ("failure", "gremlins", "ann", "unknown reason 'gremlins'"),
        ("failure", None, "ann", "a failure needs --reason"),
        ("success", "timeout", "ann", "a success has no failure reason"),
        ("success", None, "  ", "reviewer name is empty"),
    ],
)
def test_override_problems(outcome: str, reason: str | None, reviewer: str, fragment: str) -> None:
    problems = override_problems(outcome, reason, reviewer)
    assert len(problems) == 1 and fragment in problems[0]
    assert override_problems("failure", "object_dropped", "ann") == []
