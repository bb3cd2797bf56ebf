"""Robot models as data files: canonical joint names, order and limits.

A robot model is a TOML file in this package (``<name>.toml``). Adding a robot
is adding a file; `load_robot_model` is the only reader.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class Joint:
    name: str
    group: str
    position_min_rad: float
    position_max_rad: float
    velocity_max_rad_s: float
    effort_max_nm: float


@dataclass(frozen=True)
class RobotModel:
    """Canonical joints of one robot model, in canonical order."""

    name: str
    joints: tuple[Joint, ...]
    hand_joints: tuple[str, ...]
    control_latency_ms: float
    joint_state_rate_hz: float

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    def joints_in_group(self, group: str) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints if j.group == group)

    @property
    def arm_joint_names(self) -> tuple[str, ...]:
        return self.joints_in_group("arm")

    def position_limits_rad(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.array([j.position_min_rad for j in self.joints])
        hi = np.array([j.position_max_rad for j in self.joints])
        return lo, hi


class UnknownRobotModelError(LookupError):
    pass


def available_robot_models() -> tuple[str, ...]:
    files = resources.files(__package__)
    return tuple(sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml")))


@cache
def load_robot_model(name: str) -> RobotModel:
    """Load the robot model ``name`` from this package's data files."""
    path = resources.files(__package__) / f"{name}.toml"
    if not path.is_file():
        raise UnknownRobotModelError(
            f"unknown robot model {name!r}; known models: {', '.join(available_robot_models())}. "
            f"Add src/teleop_lake/robots/{name}.toml to define it."
        )
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    joints = tuple(Joint(**j) for j in doc["joints"])
    hands = tuple(h["name"] for h in doc.get("hand_joints", []))
    return RobotModel(
        name=doc["name"],
        joints=joints,
        hand_joints=hands,
        control_latency_ms=float(doc["control_latency_ms"]),
        joint_state_rate_hz=float(doc["joint_state_rate_hz"]),
    )
