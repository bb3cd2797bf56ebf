"""Frozen-sensor detection: a channel that repeats its value when its sensor says it should not.

A sensor that stopped (a driver republishing its last reading, a stuck encoder) repeats a value
bit-exactly while the stamps go on. Whether that can be told from a joint simply standing still
depends on the channel, so each channel is judged on its own evidence:

- **noise** (``frozen.noise``): a live sensor whose resolution is fine against its noise almost
  never repeats a value exactly, moving or not. The channel's own repeat rate outside long runs
  (``p``, see `teleop_lake.cleaning.noise.repeat_rates`) says how likely a run of ``L`` repeats
  is by chance: about ``n * p**L`` over ``n`` samples. Below ``frozen_chance`` the run is
  frozen, whether the joint moves or not. A quantised channel (its smallest step at least
  ``frozen_resolution_share`` of its noise: a hand topic of 0..100 integers, an encoder coarser
  than its noise) reads one value whenever it rests, so its repeats are no evidence; nor is a
  value at a channel's own extreme (a saturated reading), nor a channel that holds its value
  most of the time.
- **command** (``frozen.command``): otherwise a repeat counts only while the command says the
  channel should move: a joint's command moves by ``frozen_command_motion_rad``; a hand's
  command asks it to open below the stuck closure (an object can block closing, never opening),
  or to close while it reads open.
- **whole message** (``frozen.message``): when every measured channel of the stream repeats over
  the same stretch, the message froze, not a channel: one stream-wide finding (channel "")
  instead of one per channel.

Channels that are constant for the whole recording are unpopulated, not frozen: the caller
leaves them out (``measured``). The command stream must already be on the state's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from teleop_lake.cleaning.findings import Evidence, Finding, runs_of
from teleop_lake.cleaning.noise import column_blocks, repeat_rates, sample_noise_sigma
from teleop_lake.cleaning.params import CleaningParams

HELD_SHARE_MAX = 0.5
"""A channel with more than this share of its differences inside runs of frozen length holds
its value by nature (quantised, or resting below its resolution): no noise evidence from it."""


@dataclass(frozen=True, eq=False)
class FrozenResult:
    mask: np.ndarray  # (samples x channels) True inside a frozen segment
    findings: tuple[Finding, ...]


@dataclass(frozen=True, eq=False)
class _Channels:
    """Per-channel facts the verdicts need."""

    log_p: np.ndarray  # log10 of the repeat rate outside long runs
    noise_usable: np.ndarray  # the channel gives noise evidence at all
    low: np.ndarray  # the channel's own extremes (saturated readings repeat)
    high: np.ndarray


def _log10_chance(log_p: float, run_diffs: int, n: int) -> float:
    """log10 of the expected number of runs of ``run_diffs`` repeats by chance in ``n``."""
    return float(np.log10(max(n, 1)) + run_diffs * log_p)


def _command_evidence(
    c: int,
    stuck: float,
    t0: int,
    t1: int,
    command_t_ns: np.ndarray,
    command_values: np.ndarray,
    command_column: np.ndarray,
    params: CleaningParams,
    mode: str,
) -> tuple[bool, str, float | None]:
    """(moved, text, command range) of the command of channel ``c`` over ``t0..t1``."""
    if command_column[c] < 0 or len(command_t_ns) == 0:
        return False, "", None
    # The state follows the command late: command motion in the last response time of the run
    # has not reached the sensor yet and is no evidence.
    response_s = params.frozen_joint_response_s if mode == "joint" else params.frozen_response_s
    lo, hi = np.searchsorted(command_t_ns, [t0, t1 - response_s * 1e9], side="left")
    command = command_values[lo : max(hi, lo + 1), command_column[c]]
    command = command[np.isfinite(command)]
    if len(command) == 0:
        return False, "", None
    cmd_min, cmd_max = float(np.min(command)), float(np.max(command))
    if mode == "joint":
        moved = cmd_max - cmd_min >= params.frozen_command_motion_rad
        return moved, f"while the command moved {cmd_max - cmd_min:.3g}", cmd_max - cmd_min
    asks_open = cmd_min < stuck - params.frozen_hand_margin
    asks_close = (
        stuck <= params.frozen_hand_open_max and cmd_max > stuck + params.frozen_hand_margin
    )
    text = f"while the command ranged {cmd_min:.2f}..{cmd_max:.2f}"
    return asks_open or asks_close, text, cmd_max - cmd_min


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
    measured: np.ndarray | None = None,
    noise: np.ndarray | None = None,
) -> FrozenResult:
    """Frozen runs per channel and of whole messages (see the module docstring).

    ``command_column[c]``: the command column of state channel ``c`` (-1: none, so no command
    evidence); ``measured``: channels to judge (default all); ``noise``: per-channel noise
    sigma, reported as evidence."""
    n, m = values.shape
    mask = np.zeros(values.shape, dtype=bool)
    if n < 3:
        return FrozenResult(mask, ())
    judged = np.flatnonzero(measured if measured is not None else np.ones(m, dtype=bool))
    if len(judged) == 0:
        return FrozenResult(mask, ())
    # channel by channel, a block at a time: repeats, the finest step, the range
    repeats = np.empty((n - 1, len(judged)), dtype=bool)
    resolution = np.empty(len(judged))
    low, high = np.empty(len(judged)), np.empty(len(judged))
    for block in column_blocks((n, len(judged))):
        xb = values[:, judged[block]]
        step = np.diff(xb, axis=0)
        np.abs(step, out=step)
        held = step <= params.frozen_tolerance
        repeats[:, block] = held
        step[held] = np.inf
        resolution[block] = step.min(axis=0)
        gaps = np.isnan(xb).any()
        low[block] = np.nanmin(xb, axis=0) if gaps else xb.min(axis=0)
        high[block] = np.nanmax(xb, axis=0) if gaps else xb.max(axis=0)
        del xb, step, held
    period_ns = float(np.median(np.diff(t_ns)))
    long_run = max(int(params.frozen_min_s * 1e9 / max(period_ns, 1.0)), 2)
    rates = repeat_rates(repeats, long_run)
    if noise is None:
        noise = sample_noise_sigma(values, np.full(m, 1e-12))
    sigma = noise[judged]
    info = _Channels(
        log_p=np.log10(rates.share),
        noise_usable=(rates.held_share <= HELD_SHARE_MAX)
        & (resolution < params.frozen_resolution_share * sigma),
        low=low,
        high=high,
    )

    def verdict(j: int, a: int, b: int) -> tuple[str, str, float | None] | None:
        """Why channel ``judged[j]``, repeating over samples a..b, is frozen (None: it is not)."""
        stuck = float(values[a, judged[j]])
        run_diffs = b - a
        chance = _log10_chance(float(info.log_p[j]), run_diffs, n)
        saturated = stuck in (info.low[j], info.high[j]) and info.log_p[j] > -3.0
        if info.noise_usable[j] and not saturated and chance < np.log10(params.frozen_chance):
            return (
                "frozen.noise",
                f"the channel repeats a value {100 * 10 ** info.log_p[j]:.2g}% of the time "
                f"elsewhere: a run this long by chance ~1e{max(chance, -99.0):.0f}",
                None,
            )
        moved, text, span = _command_evidence(
            int(judged[j]),
            stuck,
            int(t_ns[a]),
            int(t_ns[b]),
            command_t_ns,
            command_values,
            command_column,
            params,
            mode,
        )
        return ("frozen.command", text, span) if moved else None

    findings: list[Finding] = []
    message_spans = _message_runs(t_ns, repeats, params) if len(judged) >= 2 else []
    for a, b in message_spans:
        reasons = [verdict(j, a, b) for j in range(len(judged))]
        if not any(reasons):
            continue
        mask[a : b + 1, judged] = True
        findings.append(
            Finding(
                stream,
                "",
                "frozen",
                int(t_ns[a]),
                int(t_ns[b]),
                False,
                f"the whole message repeated for {(t_ns[b] - t_ns[a]) / 1e9:.2f} s "
                f"({b - a + 1} samples, all {len(judged)} measured channels): the sender "
                "republished its last reading",
                Evidence(rule="frozen.message", n_samples=int(b - a + 1)),
            )
        )

    active = np.flatnonzero(repeats.any(axis=0))  # channels with any repeat at all
    col, first, last = runs_of(repeats[:, active])
    col = active[col]
    span_ns = t_ns[last + 1] - t_ns[first]
    for j, a, b_diff in zip(
        col[span_ns >= params.frozen_min_s * 1e9],
        first[span_ns >= params.frozen_min_s * 1e9],
        last[span_ns >= params.frozen_min_s * 1e9],
        strict=True,
    ):
        b = int(b_diff) + 1  # a run of repeats a..b_diff covers samples a..b_diff+1
        c = int(judged[j])
        if any(ma <= a and b <= mb for ma, mb in message_spans if mask[ma, c]):
            continue  # part of a frozen message, reported once for the stream
        why = verdict(int(j), int(a), b)
        if why is None:
            continue
        rule, text, command_range = why
        t0, t1 = int(t_ns[a]), int(t_ns[b])
        mask[a : b + 1, c] = True
        stuck = float(values[a, c])
        findings.append(
            Finding(
                stream,
                channels[c],
                "frozen",
                t0,
                t1,
                False,
                f"value {stuck:.6g} repeated bit-exactly for {(t1 - t0) / 1e9:.2f} s "
                f"({b - a + 1} samples) {text}",
                Evidence(
                    rule=rule,
                    value=stuck,
                    expected=command_range,
                    noise_floor=float(sigma[j]),
                    n_samples=int(b - a + 1),
                ),
            )
        )
    return FrozenResult(mask, tuple(findings))


def _message_runs(
    t_ns: np.ndarray, repeats: np.ndarray, params: CleaningParams
) -> list[tuple[int, int]]:
    """Sample spans (first, last) where every judged channel repeats for ``frozen_min_s``."""
    every = np.asarray(repeats.all(axis=1))
    _, first, last = runs_of(every)
    out = []
    for a, b_diff in zip(first.tolist(), last.tolist(), strict=True):
        b = b_diff + 1
        if t_ns[b] - t_ns[a] >= params.frozen_min_s * 1e9:
            out.append((a, b))
    return out
