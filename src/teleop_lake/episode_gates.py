"""Scoring and gating an episode (a processing stage): the quality score and the publishing
gates from the findings on the channels the robot model declares required, the episode summary
(counts, the clock and every candidate, the rig variant), and the spans a ``split`` policy cuts
at. No IO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from teleop_lake.alignment import ClockEstimate
from teleop_lake.alignment.clock_model import CANDIDATE_METHODS
from teleop_lake.canonical import STREAM_JOINT_STATE, Recording
from teleop_lake.cleaning import CleaningParams, Finding, quality_score
from teleop_lake.cleaning.findings import covered_s
from teleop_lake.cleaning.quality import ClockState, QualityInputs, gate_reasons
from teleop_lake.config.robots import RobotModel
from teleop_lake.rejection import Reason

if TYPE_CHECKING:
    from teleop_lake.processing import ProcessingParams


def gates_publishing(finding: Finding, robot: RobotModel) -> bool:
    """True for a fault on a channel the robot model declares required, or on a whole stream
    that carries one (informational findings never gate)."""
    if not finding.is_fault:
        return False
    if finding.channel:
        return robot.is_required(finding.stream, finding.channel)
    return any(r.startswith(f"{finding.stream}.") for r in robot.required_channels)


def _covered_share(findings: list[Finding], kind: str, duration_s: float) -> float:
    spans = [(f.start_ns, f.end_ns) for f in findings if f.kind == kind]
    return min(1.0, covered_s(spans) / duration_s) if duration_s > 0 else 0.0


def assess(
    frames: pl.DataFrame,
    gating: list[Finding],
    findings: list[Finding],
    clock: ClockEstimate,
    state: ClockState,
    params: ProcessingParams,
    recording: Recording,
) -> tuple[dict[str, Any], list[Reason]]:
    """The summary (quality score, counts, clock) and the gate reasons of an episode's frames,
    given the findings inside its span: ``gating`` are those on required channels (they alone
    score and gate), ``findings`` every one (counted)."""
    t = frames["t_ns"]
    duration_s = (int(t[-1]) - int(t[0])) / 1e9
    spikes = [f for f in findings if f.kind == "spike"]
    dropouts = [f for f in findings if f.kind == "dropout"]
    frozen = [f for f in findings if f.kind == "frozen"]
    gates = params.gates
    inputs = QualityInputs(
        dropout_fraction=_covered_share(gating, "dropout", duration_s),
        frozen_fraction=_covered_share(gating, "frozen", duration_s),
        limit_fraction=_covered_share(gating, "limit_violation", duration_s),
        interpolated_fraction=_share(frames, "flag.interpolated"),
        spikes_per_min=sum(f.kind == "spike" for f in gating) / max(duration_s / 60.0, 1e-9),
        clock_uncertainty_ms=clock.uncertainty_ms if state.needed and clock.resolved else None,
        clock_resolved=clock.resolved or not state.needed,
    )
    score = quality_score(inputs, gates.weights)
    reasons = gate_reasons(
        gating, score, state, params.cleaning, gates, recording.meta.recording_id
    )
    operator_known = state.needed and clock.resolved
    summary: dict[str, Any] = {
        "duration_s": duration_s,
        "n_frames": frames.height,
        "start_ns": int(t[0]),
        "end_ns": int(t[-1]),
        "quality_score": score,
        "n_spikes": len(spikes),
        "n_dropouts": len(dropouts),
        "dropout_total_s": covered_s([(f.start_ns, f.end_ns) for f in dropouts]),
        "n_frozen": len(frozen),
        "frozen_total_s": covered_s([(f.start_ns, f.end_ns) for f in frozen]),
        "n_limit_violations": sum(f.kind == "limit_violation" for f in findings),
        "n_at_stop": sum(f.kind == "at_stop" for f in findings),
        "operator_clock_offset_ms": clock.offset_ns / 1e6 if operator_known else None,
        "operator_clock_drift_ppm": clock.drift_ppm if operator_known else None,
        "clock_uncertainty_ms": clock.uncertainty_ms if operator_known else None,
        **clock_summary(clock),
        **recording_variant(recording),
    }
    return summary, reasons


def clock_summary(clock: ClockEstimate) -> dict[str, Any]:
    """The clock's status, reference instant and every candidate, as episode columns."""
    out: dict[str, Any] = {
        "clock_status": clock.status,
        "clock_method": clock.method,
        "clock_reference_ns": int(clock.t_ref_ns),
        "n_clock_domain_mismatches": sum(1 for d in clock.domains if d.mismatch),
    }
    for method in CANDIDATE_METHODS:
        c = clock.candidate(method)
        out[f"clock_{method}_offset_ms"] = c.offset_ns / 1e6 if c else None
        out[f"clock_{method}_drift_ppm"] = c.drift_ppm if c else None
        out[f"clock_{method}_uncertainty_ms"] = c.uncertainty_ms if c else None
        out[f"clock_{method}_streams"] = ",".join(c.streams) if c else None
    return out


def recording_variant(recording: Recording) -> dict[str, Any]:
    """What rig the recording came from, as its adapter read it: the end effector and the
    optional streams it lacks."""
    extra = recording.meta.extra
    return {
        "end_effector": str(extra.get("end_effector", "hand")),
        "eef_type": extra.get("eef_type"),
        "absent_streams": ",".join(
            sorted(str(s) for s in extra.get("absent_optional_streams", []))
        ),
    }


def _share(frames: pl.DataFrame, flag: str) -> float:
    """Share of the rows carrying ``flag``."""
    return float(frames[flag].cast(pl.Float64).to_numpy().mean()) if frames.height else 0.0


def long_fault_spans(findings: list[Finding], cp: CleaningParams) -> list[tuple[int, int]]:
    """Robot-clock spans of the faults a ``split`` policy cuts at: joint_state dropouts over
    ``max_dropout_s`` and frozen segments over ``max_frozen_s`` (the same tests as the gates;
    pass the gating findings)."""
    return sorted(
        (f.start_ns, f.end_ns)
        for f in findings
        if (
            f.kind == "dropout"
            and f.stream == STREAM_JOINT_STATE
            and f.duration_s > cp.max_dropout_s
        )
        or (f.kind == "frozen" and f.duration_s > cp.max_frozen_s)
    )


def piece_rows(t_ns: np.ndarray, cuts: list[tuple[int, int]], min_piece_s: float) -> list[slice]:
    """Row ranges of the grid left between the cuts (a row inside ``[start, end]`` of a cut is
    left out), keeping those covering at least ``min_piece_s``."""
    keep = np.ones(len(t_ns), dtype=bool)
    for start, end in cuts:
        keep &= ~((t_ns >= start) & (t_ns <= end))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if (int(t_ns[b - 1]) - int(t_ns[a])) / 1e9 >= min_piece_s:
            out.append(slice(int(a), int(b)))
    return out
