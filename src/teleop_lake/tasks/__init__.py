"""The task catalog (a data file): task codes, expected durations, grasp facts."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class TaskSpec:
    code: str
    name: str
    expected_duration_s: float
    timeout_s: float
    grasp_hand: str
    hold_min_s: float


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


@cache
def load_task_catalog() -> TaskCatalog:
    text = (resources.files(__package__) / "catalog.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    return TaskCatalog(tasks=tuple(TaskSpec(**t) for t in doc["tasks"]))
