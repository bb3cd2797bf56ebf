"""Plot data for the validation report: one flagged signal of one episode, small enough for JSON.

`signal_plot` turns a frames column and the findings of its stream into a plain dict (time in
seconds from the episode's first frame, a min/max-decimated trace that keeps spikes visible,
and the flagged spans); `teleop_lake.reports.svg` draws it. Pure: arrays in, dict out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_POINTS = 400
"""Points per trace after decimation: ~2 per pixel of a 720 px wide plot (min and max)."""

# stream -> (channel quantity prefix, frames column prefix)
_FRAME_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "joint_state": (
        ("position_rad.", "obs.position_rad."),
        ("velocity_rad_s.", "obs.velocity_rad_s."),
        ("effort_n_m.", "obs.effort_n_m."),
    ),
    "hand_state": (("closure.", "obs.hand_closure."),),
    "head_pose": (
        ("position_m.", "obs.head_position_m."),
        ("orientation.", "obs.head_orientation."),
    ),
    "joint_command": (("target_rad.", "action.target_rad."),),
    "arm_target": (("target_rad.", "action.arm_target_rad."),),
    "hand_command": (("closure.", "action.hand_closure."),),
}


def frame_column(stream: str, channel: str) -> str | None:
    """The frames-table column of a stream's channel (None when it has none, e.g. cameras)."""
    for prefix, column_prefix in _FRAME_COLUMNS.get(stream, ()):
        if channel.startswith(prefix):
            return column_prefix + channel[len(prefix) :]
    return None


def stream_of_column(column: str | None) -> str | None:
    """The stream a frames-table column comes from (None for grid columns such as t_ns)."""
    if not column:
        return None
    for stream, pairs in _FRAME_COLUMNS.items():
        for _, column_prefix in pairs:
            if column.startswith(column_prefix):
                return stream
    if column.startswith("camera."):
        return column.split(".")[1]
    return None


def decimate_min_max(
    t_s: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: per bucket the min and the max, in time order (NaN kept
    as a gap marker when a bucket holds no finite value)."""
    n = len(t_s)
    if n <= max_points:
        return t_s, values
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(int)
    out_t, out_v = [], []
    for a, b in itertools.pairwise(edges.tolist()):
        seg = values[a:b]
        finite = np.isfinite(seg)
        if not finite.any():
            out_t.append(t_s[a])
            out_v.append(np.nan)
            continue
        idx = np.flatnonzero(finite)
        i_min = a + idx[np.argmin(seg[finite])]
        i_max = a + idx[np.argmax(seg[finite])]
        for i in sorted({int(i_min), int(i_max)}):
            out_t.append(t_s[i])
            out_v.append(values[i])
    return np.asarray(out_t, dtype=float), np.asarray(out_v, dtype=float)


def signal_plot(
    *,
    episode_id: str,
    center: str,
    recording_id: str,
    stream: str,
    column: str,
    t_ns: np.ndarray,
    values: np.ndarray,
    spans: Sequence[tuple[str, int, int, str]],
    max_points: int = MAX_POINTS,
    evidence: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One plot: the trace (decimated) and the flagged spans ``(kind, start_ns, end_ns,
    detail)``, times in seconds from the first frame; ``evidence``: per span, the finding's
    structured fields (rule, value, expected, residual_sigma, noise_floor, n_samples)."""
    evidence = list(evidence) if evidence is not None else [{} for _ in spans]
    t_ns = np.asarray(t_ns, dtype=np.int64)
    v = np.asarray(values, dtype=float)
    t0 = int(t_ns[0]) if len(t_ns) else 0
    t_s = (t_ns - t0) / 1e9
    dt_s, dv = decimate_min_max(t_s, v, max_points)
    return {
        "episode_id": episode_id,
        "center": center,
        "recording_id": recording_id,
        "stream": stream,
        "column": column,
        "duration_s": float(t_s[-1]) if len(t_s) else 0.0,
        "t_s": [round(float(x), 4) for x in dt_s],
        "values": [None if not np.isfinite(x) else float(f"{x:.6g}") for x in dv],
        "spans": [
            {
                "kind": kind,
                "start_s": round((int(start) - t0) / 1e9, 4),
                "end_s": round((int(end) - t0) / 1e9, 4),
                "detail": detail,
                **{k: _finite_or_none(v) for k, v in ev.items()},
            }
            for (kind, start, end, detail), ev in zip(spans, evidence, strict=True)
        ],
    }


def _finite_or_none(v: Any) -> Any:
    """JSON-ready: non-finite floats become None, other values pass."""
    if isinstance(v, float):
        return float(f"{v:.6g}") if np.isfinite(v) else None
    return v
