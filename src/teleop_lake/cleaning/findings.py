"""Findings: one record per detected problem, the evidence the cleaning stage leaves behind.

A finding names the stream, the channel ("" when it concerns the whole stream), the kind
(`FINDING_KINDS`), the affected time span (``start_ns``..``end_ns`` inclusive, on the stream's
clock until the alignment maps it to the robot clock), whether it was repaired, and a short
human-readable detail. Beside the text it carries the evidence as fields a reviewer (or a
query) can check without decoding the recording again (`Evidence`): the ``rule`` that fired,
the observed ``value`` and the ``expected`` one in the channel's unit, the ``residual_sigma``
(how many noise sigmas apart they are), the channel's ``noise_floor`` (its noise sigma) and
the run length ``n_samples``. Fields that mean nothing for a kind are null.

Kind ``at_stop`` (a joint resting at a mechanical stop, readings within a few noise sigmas past
its nominal limit) is informational: it never counts as a fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

FINDING_KINDS = (
    "spike",
    "dropout",
    "frozen",
    "duplicate",
    "out_of_order",
    "limit_violation",
    "non_physical",
    "frame_drop",
    "frame_repeat",
    "frame_corrupt",
    "frame_black",
    "at_stop",
    "clock_domain_mismatch",
)
INFORMATIONAL_KINDS = frozenset({"at_stop"})
"""Kinds that describe the recording without saying anything is wrong with it."""

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "stream": pl.String(),
    "channel": pl.String(),
    "kind": pl.String(),
    "start_ns": pl.Int64(),
    "end_ns": pl.Int64(),
    "repaired": pl.Boolean(),
    "detail": pl.String(),
    "rule": pl.String(),
    "value": pl.Float64(),
    "expected": pl.Float64(),
    "residual_sigma": pl.Float64(),
    "noise_floor": pl.Float64(),
    "n_samples": pl.Int64(),
}
EVIDENCE_FIELDS = ("rule", "value", "expected", "residual_sigma", "noise_floor", "n_samples")


@dataclass(frozen=True)
class Evidence:
    """The checkable part of a finding (see the module docstring); null where meaningless."""

    rule: str = ""
    value: float | None = None
    expected: float | None = None
    residual_sigma: float | None = None
    noise_floor: float | None = None
    n_samples: int | None = None


@dataclass(frozen=True)
class Finding:
    stream: str
    channel: str
    kind: str
    start_ns: int
    end_ns: int
    repaired: bool
    detail: str
    evidence: Evidence = Evidence()

    def __post_init__(self) -> None:
        if self.kind not in FINDING_KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; expected one of {FINDING_KINDS}")

    @property
    def is_fault(self) -> bool:
        return self.kind not in INFORMATIONAL_KINDS

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def shifted(self, start_ns: int, end_ns: int) -> Finding:
        """The same finding with its span re-expressed (e.g. on the robot clock)."""
        return replace(self, start_ns=int(start_ns), end_ns=int(end_ns))


def _finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def findings_frame(findings: Iterable[Finding]) -> pl.DataFrame:
    """The findings as a polars frame with `FINDINGS_SCHEMA` (empty frame when none)."""
    rows = list(findings)
    return pl.DataFrame(
        {
            "stream": [f.stream for f in rows],
            "channel": [f.channel for f in rows],
            "kind": [f.kind for f in rows],
            "start_ns": [f.start_ns for f in rows],
            "end_ns": [f.end_ns for f in rows],
            "repaired": [f.repaired for f in rows],
            "detail": [f.detail for f in rows],
            "rule": [f.evidence.rule or None for f in rows],
            "value": [_finite(f.evidence.value) for f in rows],
            "expected": [_finite(f.evidence.expected) for f in rows],
            "residual_sigma": [_finite(f.evidence.residual_sigma) for f in rows],
            "noise_floor": [_finite(f.evidence.noise_floor) for f in rows],
            "n_samples": [f.evidence.n_samples for f in rows],
        },
        schema=FINDINGS_SCHEMA,
    )


def runs_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of True in a 2-D boolean mask (samples x channels), column by column.

    Returns ``(channel, first, last)`` index arrays, one entry per run, ``last`` inclusive.
    A 1-D mask is treated as one channel.
    """
    m = mask.reshape(len(mask), -1)
    padded = np.zeros((m.shape[0] + 2, m.shape[1]), dtype=np.int8)
    padded[1:-1] = m
    edges = np.diff(padded, axis=0)
    # Transpose so that np.nonzero walks channel by channel, in time order within a channel.
    start_ch, start_i = np.nonzero(edges.T == 1)
    _, stop_i = np.nonzero(edges.T == -1)
    return start_ch, start_i, stop_i - 1


def covered_s(spans: Iterable[tuple[int, int]]) -> float:
    """Seconds covered by the union of ``(start_ns, end_ns)`` spans (overlaps counted once)."""
    total, reach = 0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total / 1e9
