"""The task catalog (a data file): task codes, expected durations, grasp facts and the success
predicate of each task. Nothing here computes; the labeler evaluates the predicates."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

SUCCESS_PREDICATES = ("grasp_hold_release",)
"""Predicate kinds the labeler knows (`teleop_lake.labeling.grasp` evaluates them)."""


@dataclass(frozen=True)
class SuccessPredicate:
    """When the signals show a task done: declared per task in ``catalog.toml`` (``success``).

    ``grasp_hold_release``: the grasp hand(s) close on the object and stop short inside
    ``closure_band`` (fingers blocked by the object), stay there at least the task's
    ``hold_min_s``, and then open again below ``open_below`` before the recording ends
    (when ``release_required``). A hand reaching ``full_closure`` closed on nothing.
    Defaults are the network SOP values for the Kuavo dexterous hand (0 open .. 1 fist).
    """

    predicate: str = "grasp_hold_release"
    closure_band: tuple[float, float] = (0.45, 0.85)
    """Closure of fingers stopped by a held object (SOP objects stop the hand at 0.55-0.75)."""
    full_closure: float = 0.90
    """An empty hand closes past this (a commanded fist reaches 0.92-1.0)."""
    open_below: float = 0.30
    """A hand below this closure has let go (the open hand rests at ~0.03)."""
    release_required: bool = True
    """The object must be put down: a recording that stops while holding it is incomplete."""

    def __post_init__(self) -> None:
        lo, hi = self.closure_band
        if self.predicate not in SUCCESS_PREDICATES:
            raise ValueError(
                f"unknown success predicate {self.predicate!r}; known: {SUCCESS_PREDICATES}"
            )
        if not 0.0 <= self.open_below < lo < hi < self.full_closure <= 1.0:
            raise ValueError(
                "success predicate needs 0 <= open_below < closure_band < full_closure <= 1, "
                f"got open_below {self.open_below}, band {self.closure_band}, "
                f"full {self.full_closure}"
            )


@dataclass(frozen=True)
class TaskSpec:
    code: str
    name: str
    expected_duration_s: float
    timeout_s: float
    grasp_hand: str
    hold_min_s: float
    success: SuccessPredicate = field(default_factory=SuccessPredicate)


@dataclass(frozen=True)
class TaskCatalog:
    tasks: tuple[TaskSpec, ...]

    def get(self, code: str | None) -> TaskSpec | None:
        for t in self.tasks:
            if t.code == code:
                return t
        return None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.tasks)


def _task(entry: dict[str, Any]) -> TaskSpec:
    entry = dict(entry)
    success = dict(entry.pop("success", {}))
    if "closure_band" in success:
        success["closure_band"] = tuple(success["closure_band"])
    return TaskSpec(**entry, success=SuccessPredicate(**success))


@cache
def load_task_catalog() -> TaskCatalog:
    text = (resources.files(__package__) / "catalog.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    return TaskCatalog(tasks=tuple(_task(t) for t in doc["tasks"]))
