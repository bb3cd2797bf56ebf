"""The episode quality score (0..1) and the publishing gates.

The score starts at 1 and loses a weighted share for each kind of damage, each measured as a
fraction so that episodes of different lengths compare:

    score = 1 - 1.0 * dropout_fraction - 0.5 * frozen_fraction - 1.0 * limit_fraction
              - 0.25 * interpolated_fraction - 0.2 * min(1, spikes_per_min / 100)
              - 0.3 * min(1, (clock_uncertainty_ms / 20) ** 2)   (clipped to 0..1)

Only faults on the channels the robot model declares required count (optional channels such
as joint velocity, torque or hand state are flagged, never scored): dropout, frozen and limit
fractions are the shares of the episode's time those findings cover; the interpolated fraction
is the share of grid rows carrying the flag. The weights say that a quarter of the episode in
a dropout costs a quarter of the score; that a frozen stretch (usually one joint of 28, and
each segment bounded by the repair policy's ``max_frozen_s``) costs half as much; that
repaired spikes cost little (they were repaired) unless they are everywhere; and that an
operator clock known only to +-20 ms (a 95% bound) costs 0.3: one grid period at 50 Hz is
20 ms, the actions could be a frame off. The clock term is quadratic because a fraction of a
period hardly moves an action: the +-5 ms that the robot's own latency spread leaves on a good
estimate costs 0.02. Measured on the default simulated profile, a fault-free episode scores
~0.97-0.99 and episodes with the usual one or two short frozen or dropout segments 0.75-0.95;
episodes below the 0.5 gate are mostly damage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from teleop_lake.cleaning.findings import Finding
from teleop_lake.cleaning.params import CleaningParams
from teleop_lake.rejection import Reason


@dataclass(frozen=True)
class QualityWeights:
    dropout: float = 1.0
    frozen: float = 0.5
    limit: float = 1.0
    interpolated: float = 0.25
    spikes: float = 0.2
    spikes_full_per_min: float = 100.0
    clock: float = 0.3
    clock_full_ms: float = 20.0


LONG_FAULT_POLICIES = ("quarantine", "split")
CLOCK_DISAGREEMENT_POLICIES = ("review", "quarantine")
LONG_FAULT_CODES = frozenset({"long_dropout", "long_frozen"})
"""Gate reasons a ``split`` policy answers by cutting the episode instead."""


@dataclass(frozen=True)
class QualityGates:
    """An episode is publishable unless one of these fails (the repair-policy limits on dropout
    and frozen length live in `CleaningParams`)."""

    min_quality_score: float = 0.5
    """Below this the episode is mostly damage (see the module docstring for the score)."""
    max_clock_uncertainty_ms: float = 20.0
    """One 50 Hz grid period: beyond it the operator actions may sit on the wrong frame."""
    weights: QualityWeights = field(default_factory=QualityWeights)
    long_fault_policy: str = "quarantine"
    """What a long fault (a joint_state dropout over ``max_dropout_s``, a frozen segment over
    ``max_frozen_s``) does to its episode. ``quarantine``: the episode is unpublishable
    (long_dropout, long_frozen). ``split``: the frames either side of every long fault become
    episodes of their own (``<episode_id>-p1``, ``-p2``, ...; ``split_from`` names the whole
    recording's episode), each gated on its own; pieces under ``min_piece_s`` are left out. A
    long fault next to any other gate failure still quarantines the recording."""
    min_piece_s: float = 5.0
    """Shortest piece of a split episode that is published (a few seconds of manipulation)."""
    clock_disagreement_policy: str = "review"
    """What an operator clock whose candidates disagree does to its episode (its uncertainty
    already covers every candidate). ``review``: published if that uncertainty passes
    ``max_clock_uncertainty_ms``, marked needs_review; ``quarantine``: not published
    (clock_unresolved)."""

    def __post_init__(self) -> None:
        if self.long_fault_policy not in LONG_FAULT_POLICIES:
            raise ValueError(
                f"long_fault_policy must be one of {', '.join(LONG_FAULT_POLICIES)}, "
                f"got {self.long_fault_policy!r}"
            )
        if self.min_piece_s <= 0:
            raise ValueError(f"min_piece_s must be > 0, got {self.min_piece_s}")
        if self.clock_disagreement_policy not in CLOCK_DISAGREEMENT_POLICIES:
            raise ValueError(
                "clock_disagreement_policy must be one of "
                f"{', '.join(CLOCK_DISAGREEMENT_POLICIES)}, got {self.clock_disagreement_policy!r}"
            )


@dataclass(frozen=True)
class QualityInputs:
    dropout_fraction: float
    frozen_fraction: float
    limit_fraction: float
    interpolated_fraction: float
    spikes_per_min: float
    clock_uncertainty_ms: float | None  # None: no operator stream needed a clock estimate
    clock_resolved: bool = True


def quality_score(inputs: QualityInputs, weights: QualityWeights) -> float:
    """The documented 0..1 score (see the module docstring)."""
    if not inputs.clock_resolved:
        clock_penalty = weights.clock
    elif inputs.clock_uncertainty_ms is None:
        clock_penalty = 0.0
    else:
        clock_penalty = weights.clock * min(
            1.0, (inputs.clock_uncertainty_ms / weights.clock_full_ms) ** 2
        )
    score = (
        1.0
        - weights.dropout * inputs.dropout_fraction
        - weights.frozen * inputs.frozen_fraction
        - weights.limit * inputs.limit_fraction
        - weights.interpolated * inputs.interpolated_fraction
        - weights.spikes * min(1.0, inputs.spikes_per_min / weights.spikes_full_per_min)
        - clock_penalty
    )
    return float(min(1.0, max(0.0, score)))


@dataclass(frozen=True)
class ClockState:
    """What the gates need to know of the operator clock estimate."""

    needed: bool  # some stream is stamped on the operator clock
    resolved: bool
    uncertainty_ms: float
    method: str
    status: str = "resolved"  # teleop_lake.alignment.clock_model.CLOCK_STATUSES


def gate_reasons(
    findings: Sequence[Finding],
    score: float,
    clock: ClockState,
    cp: CleaningParams,
    gates: QualityGates,
    file: str | None,
) -> list[Reason]:
    """Why the episode is not publishable (empty: publishable): a joint_state dropout over
    ``max_dropout_s``, a frozen segment over ``max_frozen_s``, an unresolved or too uncertain
    operator clock, a quality score under the gate."""
    dropouts = [f for f in findings if f.kind == "dropout"]
    frozen = [f for f in findings if f.kind == "frozen"]
    reasons: list[Reason] = []
    long_drop = [
        f for f in dropouts if f.stream == "joint_state" and f.duration_s > cp.max_dropout_s
    ]
    if long_drop:
        worst = max(f.duration_s for f in long_drop)
        reasons.append(
            Reason(
                "long_dropout",
                f"joint_state dropout of {worst:.2f} s exceeds {cp.max_dropout_s:.1f} s",
                file,
                "joint_state",
            )
        )
    long_frozen = [f for f in frozen if f.duration_s > cp.max_frozen_s]
    if long_frozen:
        worst_f = max(long_frozen, key=lambda f: f.duration_s)
        reasons.append(
            Reason(
                "long_frozen",
                f"{worst_f.channel} frozen for "
                f"{worst_f.duration_s:.2f} s (limit {cp.max_frozen_s:.1f} s)",
                file,
                worst_f.stream,
            )
        )
    if clock.needed and not clock.resolved:
        reasons.append(
            Reason(
                "clock_unresolved",
                f"operator clock {clock.method}; operator streams left out of the frames",
                file,
                "arm_target",
            )
        )
    elif clock.status == "disagreement" and gates.clock_disagreement_policy == "quarantine":
        reasons.append(
            Reason(
                "clock_unresolved",
                f"operator clock candidates disagree ({clock.method}); the policy quarantines",
                file,
                "arm_target",
            )
        )
    elif clock.needed and clock.uncertainty_ms > gates.max_clock_uncertainty_ms:
        reasons.append(
            Reason(
                "clock_unresolved",
                f"operator clock uncertain to "
                f"{clock.uncertainty_ms:.1f} ms (> {gates.max_clock_uncertainty_ms:.0f}"
                " ms)",
                file,
                "arm_target",
            )
        )
    if score < gates.min_quality_score:
        reasons.append(
            Reason(
                "low_quality", f"quality score {score:.2f} < {gates.min_quality_score:.2f}", file
            )
        )
    return reasons
