"""What the Leju claw reports about itself besides its position: state codes, speed, current.

The claw's state message (kuavo_msgs/lejuClawState, KUAVO.md) carries one int8 code per
claw: -1 error, 0 unknown, 1 moving, 2 reached, 3 grabbed. Here the codes are read off the
noise-free physics: unknown until the first command reaches the claw, moving while the
closure changes or the command asks it to open further, reached when it stopped at the
commanded closure, grabbed when it stopped short of it on an object, error from a robot
fault on. The motor current rises with how
hard the claw squeezes. Pure: no IO.
"""

from __future__ import annotations

import numpy as np

CLAW_ERROR = -1
CLAW_UNKNOWN = 0
CLAW_MOVING = 1
CLAW_REACHED = 2
CLAW_GRABBED = 3
# The claw counts as moving while its closure changes faster than this (closure 0..1 per s:
# 5 of the message's 0..100 per second, about the controller's in-position window).
MOVING_MIN_PER_S = 0.05
# It has reached the command when it stopped within this closure of where it was sent.
REACHED_TOLERANCE = 0.02
# Motor current: an idle draw plus a grip current per unit closure short of the command
# (a claw stopped 0.3 short on an object draws ~0.7 A: a few tenths of its 2 A stall).
IDLE_CURRENT_A = 0.1
GRIP_CURRENT_A_PER_CLOSURE = 2.0


def claw_state_codes(
    t_s: np.ndarray,
    closure: np.ndarray,
    commanded_closure: np.ndarray,
    first_command_s: float,
    error_from_s: float | None,
) -> np.ndarray:
    """State codes (n, claws) int8 on the grid ``t_s`` from the noise-free ``closure`` and the
    closure the command drives the claw to without an object (``commanded_closure``)."""
    dt_s = float(t_s[1] - t_s[0]) if len(t_s) > 1 else 1.0
    rate = np.abs(np.gradient(closure, dt_s, axis=0)) if len(t_s) > 1 else np.zeros_like(closure)
    short_of = commanded_closure - closure
    codes = np.full(closure.shape, CLAW_MOVING)  # closing or opening towards the command
    resting = rate <= MOVING_MIN_PER_S
    codes[resting & (np.abs(short_of) <= REACHED_TOLERANCE)] = CLAW_REACHED
    codes[resting & (short_of > REACHED_TOLERANCE)] = CLAW_GRABBED
    codes[t_s < first_command_s] = CLAW_UNKNOWN
    if error_from_s is not None:
        codes[t_s >= error_from_s] = CLAW_ERROR
    return codes.astype(np.int8)


def claw_current_a(closure: np.ndarray, commanded_closure: np.ndarray) -> np.ndarray:
    """Motor current (A): idle draw plus the grip current of a claw held short of its command."""
    squeeze = np.clip(commanded_closure - closure, 0.0, None)
    return IDLE_CURRENT_A + GRIP_CURRENT_A_PER_CLOSURE * squeeze
