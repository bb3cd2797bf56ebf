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


DEFAULT_REQUIRED_CHANNELS = (
    "joint_state.position_rad",
    "joint_command.target_rad",
    "arm_target.target_rad",
    "hand_command.closure",
)
"""Channels (``<stream>.<quantity>``) whose faults gate publishing unless a model says others."""


@dataclass(frozen=True)
class RobotModel:
    """Canonical joints of one robot model, in canonical order.

    ``hand_joints`` are the dexterous hands' fingers, ``claw_joints`` the two-finger claws some
    builds carry instead (`end_effector_joints`). ``control_latency_ms`` is the nominal delay
    from a teleop target to the robot's joint command, ``control_latency_spread_ms`` how far a
    robot or session may be from it (the clock estimate's uncertainty covers it).
    ``required_channels`` (``<stream>.<quantity>``) are gated; every other channel is
    flagged when faulty, never gated."""

    name: str
    joints: tuple[Joint, ...]
    hand_joints: tuple[str, ...]
    control_latency_ms: float
    joint_state_rate_hz: float
    control_latency_spread_ms: float = 0.0
    claw_joints: tuple[str, ...] = ()
    required_channels: tuple[str, ...] = DEFAULT_REQUIRED_CHANNELS

    def end_effector_joints(self, kind: str) -> tuple[str, ...]:
        """The closure channels' joints of end-effector ``kind`` (``hand`` or ``claw``)."""
        if kind == "claw":
            return self.claw_joints
        return self.hand_joints

    def is_required(self, stream: str, channel: str) -> bool:
        """True when faults on ``channel`` (``<quantity>.<name>``) of ``stream`` gate publishing."""
        return f"{stream}.{channel.partition('.')[0]}" in self.required_channels

    def latency_fingerprint(self) -> dict[str, float | str]:
        """What of the model a clock estimate depends on (part of the parameter hash)."""
        return {
            "robot_model": self.name,
            "control_latency_ms": self.control_latency_ms,
            "control_latency_spread_ms": self.control_latency_spread_ms,
        }

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
            f"Add src/teleop_lake/config/robots/{name}.toml to define it."
        )
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    joints = tuple(Joint(**j) for j in doc["joints"])
    hands = tuple(h["name"] for h in doc.get("hand_joints", []))
    claws = tuple(h["name"] for h in doc.get("claw_joints", []))
    return RobotModel(
        name=doc["name"],
        joints=joints,
        hand_joints=hands,
        control_latency_ms=float(doc["control_latency_ms"]),
        joint_state_rate_hz=float(doc["joint_state_rate_hz"]),
        control_latency_spread_ms=float(doc.get("control_latency_spread_ms", 0.0)),
        claw_joints=claws,
        required_channels=tuple(doc.get("required_channels", DEFAULT_REQUIRED_CHANNELS)),
    )
