"""Per-channel physical limits from the robot model: positions, velocities, efforts, closures."""

from __future__ import annotations

import numpy as np

from teleop_lake.robots import RobotModel

CLOSURE_LIMITS = (-0.05, 1.05)  # the frames contract's range for hand closures (0..1 + slack)


def channel_limits(robot: RobotModel, channels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` per channel; +-inf for channels the model sets no limit on."""
    by_joint = {j.name: j for j in robot.joints}
    lower = np.full(len(channels), -np.inf)
    upper = np.full(len(channels), np.inf)
    for i, channel in enumerate(channels):
        quantity, _, name = channel.partition(".")
        if quantity == "closure":
            lower[i], upper[i] = CLOSURE_LIMITS
        joint = by_joint.get(name)
        if joint is None:
            continue
        if quantity == "position_rad":
            lower[i], upper[i] = joint.position_min_rad, joint.position_max_rad
        elif quantity == "velocity_rad_s":
            lower[i], upper[i] = -joint.velocity_max_rad_s, joint.velocity_max_rad_s
        elif quantity == "effort_nm":
            lower[i], upper[i] = -joint.effort_max_nm, joint.effort_max_nm
    return lower, upper
