"""Frozen-sensor detection: a channel repeating exactly while its command says it should move.

A live sensor always carries noise, but a joint that is commanded to stay still may legitimately
report the same quantised value for a while; so a repeat only counts as frozen when there is
evidence of commanded motion over the same span:

- joints (``mode="joint"``): the joint's command moves by at least ``frozen_command_motion_rad``;
- hands (``mode="hand"``): the command asks the hand to open below the stuck closure (an object
  in the hand can block closing, never opening), or to close while the stuck hand reads open.

The command stream must already be on the same clock as the state stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from teleop_lake.cleaning.findings import Finding, runs_of
from teleop_lake.cleaning.params import CleaningParams


@dataclass(frozen=True, eq=False)
class FrozenResult:
    mask: np.ndarray  # (samples x channels) True inside a frozen segment
    findings: tuple[Finding, ...]


def detect_frozen(
    stream: str,
    t_ns: np.ndarray,
    values: np.ndarray,
    channels: tuple[str, ...],
    command_t_ns: np.ndarray,
    command_values: np.ndarray,
    command_column: np.ndarray,
    params: CleaningParams,
    mode: Literal["joint", "hand"] = "joint",
) -> FrozenResult:
    """Frozen runs per channel. ``command_column[c]`` is the command column of state channel
    ``c`` (-1: no command, the channel is never judged frozen)."""
    n = len(t_ns)
    mask = np.zeros(values.shape, dtype=bool)
    findings: list[Finding] = []
    if n < 2 or len(command_t_ns) == 0:
        return FrozenResult(mask, ())
    judged = np.flatnonzero(command_column >= 0)
    repeats = np.abs(np.diff(values[:, judged], axis=0)) <= params.frozen_tolerance
    active = np.flatnonzero(repeats.any(axis=0))
    if len(active) == 0:
        return FrozenResult(mask, ())
    col, first, last = runs_of(repeats[:, active])
    response_s = params.frozen_joint_response_s if mode == "joint" else params.frozen_response_s
    # A run of repeats first..last (diff indices) covers samples first..last+1.
    start_ns = t_ns[first]
    end_ns = t_ns[last + 1]
    long_enough = (end_ns - start_ns) >= params.frozen_min_s * 1e9
    for c_local, a, b, t0, t1 in zip(
        col[long_enough],
        first[long_enough],
        last[long_enough] + 1,
        start_ns[long_enough],
        end_ns[long_enough],
        strict=True,
    ):
        c = int(judged[active[c_local]])
        # The state follows the command late: command motion in the last response_s of the
        # run has not reached the sensor yet and is no evidence.
        lo, hi = np.searchsorted(command_t_ns, [t0, t1 - response_s * 1e9], side="left")
        hi = max(hi, lo + 1)
        command = command_values[lo:hi, command_column[c]]
        if len(command) == 0:
            continue
        stuck = float(values[a, c])
        cmd_min, cmd_max = float(np.min(command)), float(np.max(command))
        if mode == "joint":
            moved = cmd_max - cmd_min >= params.frozen_command_motion_rad
            evidence = f"while the command moved {cmd_max - cmd_min:.3g}"
        else:
            asks_open = cmd_min < stuck - params.frozen_hand_margin
            asks_close = (
                stuck <= params.frozen_hand_open_max and cmd_max > stuck + params.frozen_hand_margin
            )
            moved = asks_open or asks_close
            evidence = f"while the command ranged {cmd_min:.2f}..{cmd_max:.2f}"
        if not moved:
            continue
        mask[a : b + 1, c] = True
        findings.append(
            Finding(
                stream,
                channels[c],
                "frozen",
                int(t0),
                int(t1),
                False,
                f"value {stuck:.6g} repeated for {(t1 - t0) / 1e9:.2f} s {evidence}",
            )
        )
    return FrozenResult(mask, tuple(findings))
