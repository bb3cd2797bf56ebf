"""Camera checks: frame order, duplicate stamps, dropped frames (stamp gaps) and repeated frames
(identical encoded bytes in consecutive frames: a stale image re-sent)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teleop_lake.canonical import CameraStream
from teleop_lake.cleaning.findings import Finding, runs_of
from teleop_lake.cleaning.params import CleaningParams
from teleop_lake.cleaning.timestamps import nominal_period_ns, order_and_deduplicate


@dataclass(frozen=True, eq=False)
class CameraCheck:
    """The usable frames of one camera in stamp order.

    ``frame_index`` indexes the original ``CameraStream.frames``; ``repeat`` marks frames whose
    bytes equal the previous frame's.
    """

    name: str
    t_ns: np.ndarray
    frame_index: np.ndarray
    repeat: np.ndarray
    period_ns: float
    findings: tuple[Finding, ...]


def check_camera_stream(camera: CameraStream, params: CleaningParams) -> CameraCheck:
    ordered = order_and_deduplicate(camera.name, camera.t_ns)
    t = ordered.t_ns
    kept = ordered.kept
    findings = list(ordered.findings)
    repeat = np.zeros(len(kept), dtype=bool)
    frames = camera.frames
    for i in range(1, len(kept)):
        repeat[i] = frames[kept[i]] == frames[kept[i - 1]]
    if repeat.any():
        _, first, last = runs_of(repeat)
        for a, b in zip(first, last, strict=True):
            findings.append(
                Finding(
                    camera.name,
                    "",
                    "frame_repeat",
                    int(t[a]),
                    int(t[b]),
                    False,
                    f"{b - a + 1} frame(s) with the same bytes as the frame before",
                )
            )
    period = nominal_period_ns(t)
    if np.isfinite(period) and period > 0:
        steps = np.diff(t)
        for gap_at in np.flatnonzero(steps > params.camera_drop_min_periods * period):
            missing = round(float(steps[gap_at]) / period) - 1
            findings.append(
                Finding(
                    camera.name,
                    "",
                    "frame_drop",
                    int(t[gap_at]),
                    int(t[gap_at + 1]),
                    False,
                    f"{steps[gap_at] / 1e6:.1f} ms between frames (~{missing} frame(s) missing at "
                    f"{1e9 / period:.1f} Hz)",
                )
            )
    return CameraCheck(
        name=camera.name,
        t_ns=t,
        frame_index=kept.astype(np.int64),
        repeat=repeat,
        period_ns=period,
        findings=tuple(findings),
    )
