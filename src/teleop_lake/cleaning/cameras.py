"""Camera checks: frame order, duplicate stamps, dropped frames (stamp gaps) and repeated frames
(identical encoded bytes in consecutive frames: a stale image re-sent); corrupt and black frames
from the frames' own headers and a sample decoded at an eighth of its scale (no frame is fully
decoded); and the frames' capture instants on the camera's steady tick.

A camera exposes on its own steady tick; its stamps carry the driver's jitter (~1 ms, more on a
busy USB bus). Matching grid rows to frames by jittered stamps picks the second-nearest frame
whenever a row lies within the jitter of the midpoint between two frames (~3% of rows at 1 ms
and 30 Hz). `steady_tick_times` recovers the tick: first tick numbers from the stamp steps
(a step of ``round(step / period)`` ticks, so drops are counted), then a robust straight line
through (tick number, stamp), whose slope absorbs the camera's clock rate, and each frame's tick
number again from that line (twice). It declines (None) when the stamps are too jittery to
count ticks or do not sit on one line; the stamps are used then.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from teleop_lake.canonical import CameraStream, all_frame_ends, frame_lengths
from teleop_lake.cleaning.findings import Evidence, Finding, runs_of
from teleop_lake.cleaning.jpeg import EOI, SOI, TAIL_SLACK, jpeg_info
from teleop_lake.cleaning.params import CleaningParams
from teleop_lake.cleaning.timestamps import (
    nominal_period_ns,
    order_and_deduplicate,
    stamp_jitter_ns,
)


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
    t_capture_ns: np.ndarray
    """Capture instants on the fitted steady tick (the stamps when no tick could be fitted)."""
    width: int = 0
    height: int = 0
    """Frame size from the frames' own headers (0: unknown, a format other than JPEG)."""


def _frame_facts(
    camera: CameraStream, t: np.ndarray, kept: np.ndarray, params: CleaningParams
) -> tuple[np.ndarray, list[Finding], int, int]:
    """(usable mask over ``kept``, findings, width, height) from the frames themselves, without
    a full decode: every JPEG must start and end with its markers (a frame cut in transfer
    does not); about ``pixel_check_hz`` frames a second have their headers read (size) and are
    decoded at an eighth of their scale (libjpeg's DCT scaling) to find black frames, and the
    two ends of a black stretch are then narrowed to the frame by bisection between the
    samples (`_black_runs`). A frame that does not decode is corrupt: a finding, never a
    crash."""
    n = len(kept)
    usable = np.ones(n, dtype=bool)
    findings: list[Finding] = []
    if camera.encoding != "jpeg" or n == 0:
        return usable, findings, 0, 0
    frames = camera.frames
    heads, tails = all_frame_ends(frames, len(SOI), TAIL_SLACK)
    heads, tails = heads[kept], tails[kept]
    whole = (heads[:, 0] == SOI[0]) & (heads[:, 1] == SOI[1])
    whole &= ((tails[:, :-1] == EOI[0]) & (tails[:, 1:] == EOI[1])).any(axis=1)
    problems: dict[int, str] = {}
    for k in np.flatnonzero(~whole).tolist():
        problems[k] = jpeg_info(frames[kept[k]]).problem or "unreadable frame"
    period = nominal_period_ns(t) if n > 1 else float("nan")
    step = max(1, round(1e9 / params.pixel_check_hz / period)) if np.isfinite(period) else 1
    size = [0, 0]  # the camera's width and height, from the first frame looked at

    def is_black(k: int) -> bool:
        """Whether frame ``k`` (of ``kept``) is black; a frame that is not a whole JPEG of
        the camera's size is recorded as a problem instead (and is not black)."""
        if k in problems:
            return False
        data = frames[kept[k]]  # read once (a file-backed frame is a read) for both checks
        info = jpeg_info(data)
        if info.problem is not None:
            problems[k] = info.problem
            return False
        if size[0] == 0:
            size[:] = info.width, info.height
        elif [info.width, info.height] != size:
            problems[k] = (
                f"frame size {info.width}x{info.height}, the camera's is {size[0]}x{size[1]}"
            )
            return False
        mean = _thumbnail_mean(data)
        if mean is None:
            problems[k] = "the frame does not decode"
            return False
        return mean < params.black_frame_level

    black_runs = _black_runs(n, step, is_black)
    for k, why in sorted(problems.items()):
        usable[k] = False
        findings.append(
            corrupt_frame(
                camera.name, int(kept[k]), int(t[k]), f"{why}; left out of the frames", "markers"
            )
        )
    for a, b in black_runs:
        findings.append(
            Finding(
                camera.name,
                "",
                "frame_black",
                int(t[a]),
                int(t[b]),
                False,
                f"frames {int(kept[a])}..{int(kept[b])} are black (mean level under "
                f"{params.black_frame_level:g} of 255; sampled every {step} frame(s), the ends "
                "found to the frame): a covered lens or a camera that lost its image",
                Evidence(
                    rule="camera.thumbnail_level",
                    expected=params.black_frame_level,
                    n_samples=b - a + 1,
                ),
            )
        )
    return usable, findings, size[0], size[1]


def corrupt_frame(camera: str, frame: int, t_ns: int, why: str, check: str) -> Finding:
    """A ``frame_corrupt`` finding on frame number ``frame`` of ``camera`` at ``t_ns``, from
    rule ``camera.jpeg_<check>``."""
    return Finding(
        camera,
        "",
        "frame_corrupt",
        t_ns,
        t_ns,
        False,
        f"frame {frame}: {why}",
        Evidence(rule=f"camera.jpeg_{check}", n_samples=1),
    )


def _black_runs(n: int, step: int, is_black: Callable[[int], bool]) -> list[tuple[int, int]]:
    """(first, last) frames of each black stretch among frames 0..n-1, looking at every
    ``step``-th frame, then narrowing each end of a stretch of black samples by bisection
    between its outermost black sample and the sample beyond it (about log2(step) more looks
    per end). Frames between two black samples count as black. A stretch shorter than
    ``step`` frames is found when a sample falls in it (a chance of its length over
    ``step``); a longer one always, with both ends to the frame, provided the level changes
    once between two samples. A frame that cannot be looked at (``is_black`` records it as
    corrupt) counts as not black: a corrupt frame inside a black stretch ends it early, and
    a stretch whose only sample is corrupt is not found."""
    samples = list(range(0, n, step))
    black = [is_black(k) for k in samples]
    runs: list[tuple[int, int]] = []
    j = 0
    while j < len(samples):
        if not black[j]:
            j += 1
            continue
        first = j
        while j + 1 < len(samples) and black[j + 1]:
            j += 1
        # the first black frame lies in (outside, inside]; the last in [inside, outside)
        outside, inside = (samples[first - 1] if first else -1), samples[first]
        while inside - outside > 1:
            mid = (outside + inside) // 2
            outside, inside = (outside, mid) if is_black(mid) else (mid, inside)
        start = inside
        inside, outside = samples[j], (samples[j + 1] if j + 1 < len(samples) else n)
        while outside - inside > 1:
            mid = (inside + outside) // 2
            inside, outside = (mid, outside) if is_black(mid) else (inside, mid)
        runs.append((start, inside))
        j += 1
    return runs


def _thumbnail_mean(data: bytes) -> float | None:
    """Mean grey level of the frame decoded at an eighth of its scale; None if it will not
    decode."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("L", (max(img.width // 8, 1), max(img.height // 8, 1)))
            small = np.asarray(img.convert("L"), dtype=np.float32)
    except (OSError, ValueError, SyntaxError):
        return None
    return float(small.mean()) if small.size else None


def check_camera_stream(camera: CameraStream, params: CleaningParams) -> CameraCheck:
    ordered = order_and_deduplicate(camera.name, camera.t_ns)
    t = ordered.t_ns
    kept = ordered.kept
    findings = list(ordered.findings)
    repeat = np.zeros(len(kept), dtype=bool)
    frames = camera.frames
    # Only frames of equal length can repeat; with sensor noise a JPEG's length changes with
    # every frame, so almost no frame is read here.
    lengths = frame_lengths(frames)[kept] if len(kept) else np.zeros(0, dtype=np.int64)
    for i in np.flatnonzero(lengths[1:] == lengths[:-1]) + 1:
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
    fit = _fit_tick(t, params)
    period = nominal_period_ns(t) if fit is None else fit.period_ns
    if fit is not None:
        # Dropped frames counted on the fitted tick: a stamp step counts two stamps' jitter
        # (a 3 ms jitter puts ~1 step in 20 000 beyond 1.5 periods), a tick number one
        # stamp's jitter against half a period.
        missing_after = np.diff(fit.ticks).astype(np.int64) - 1
    elif np.isfinite(period) and period > 0:
        # No tick fitted (jitter too large for it): a step must also outgrow what two stamps'
        # jitter stretches it to, as for signal dropouts.
        jitter_step = params.dropout_jitter_sigmas * np.sqrt(2.0) * stamp_jitter_ns(t)
        threshold = max(params.camera_drop_min_periods * period, period + jitter_step)
        missing_after = np.where(
            np.diff(t) > threshold,
            np.maximum(1, np.rint(np.diff(t) / period).astype(np.int64) - 1),
            0,
        )
    else:
        missing_after = np.zeros(max(len(t) - 1, 0), dtype=np.int64)
    steps = np.diff(t)
    for gap_at in np.flatnonzero(missing_after > 0):
        findings.append(
            Finding(
                camera.name,
                "",
                "frame_drop",
                int(t[gap_at]),
                int(t[gap_at + 1]),
                False,
                f"{steps[gap_at] / 1e6:.1f} ms between frames (~{missing_after[gap_at]} "
                f"frame(s) missing at {1e9 / period:.1f} Hz)",
            )
        )
    usable, frame_findings, width, height = _frame_facts(camera, t, kept, params)
    findings.extend(frame_findings)
    capture = t if fit is None else fit.t_ns
    return CameraCheck(
        name=camera.name,
        t_ns=t[usable],
        frame_index=kept[usable].astype(np.int64),
        repeat=repeat[usable],
        period_ns=period,
        findings=tuple(findings),
        t_capture_ns=capture[usable],
        width=width,
        height=height,
    )


@dataclass(frozen=True, eq=False)
class TickFit:
    """Frames on a fitted steady tick: capture instants, tick numbers (0 = first frame) and
    the tick period (ns, on the stamps' clock)."""

    t_ns: np.ndarray
    ticks: np.ndarray
    period_ns: float


def steady_tick_times(t_ns: np.ndarray, params: CleaningParams) -> np.ndarray | None:
    """Stamps (sorted, unique) moved onto the fitted steady tick; None when the stamps are too
    jittery to count ticks (robust step spread above ``tick_max_step_jitter`` periods) or the
    fit leaves residuals above ``tick_max_residual`` periods (a restart, a changed rate)."""
    fit = _fit_tick(t_ns, params)
    return None if fit is None else fit.t_ns


def _count_ticks(t_rel: np.ndarray, period: float) -> np.ndarray:
    """First tick numbers of stamps ``t_rel`` (sorted, relative to the first, float ns).

    Within a run of single-tick steps the count is plain. Where a step counts several ticks
    (dropped frames, or two stamps jittered apart by more than half a period), the count is
    not taken from the two stamps at either side, whose jitter adds up, nor from the median
    step, whose error adds up over a long gap: every run gets its own line with a slope common
    to all runs, and the ticks between two runs are counted between those lines."""
    steps = np.diff(t_rel)
    n = np.maximum(1.0, np.rint(steps / period))
    ticks = np.concatenate([[0.0], np.cumsum(n)])
    breaks = np.flatnonzero(n > 1) + 1
    if len(breaks) == 0:
        return ticks
    run = np.zeros(len(t_rel), dtype=np.int64)
    run[breaks] = 1
    run = np.cumsum(run)
    starts = np.concatenate([[0], breaks])
    local = ticks - ticks[starts][run]
    count = np.bincount(run).astype(np.float64)
    k_mean = np.bincount(run, local) / count
    t_mean = np.bincount(run, t_rel) / count
    dk = local - k_mean[run]
    spread = float(np.sum(dk * dk))
    slope = float(np.sum(dk * (t_rel - t_mean[run])) / spread) if spread > 0 else period
    if not slope > 0:
        return ticks
    first = t_mean - slope * k_mean  # each run's first tick on its line
    between = np.maximum(1.0, np.rint(np.diff(first) / slope))
    return np.concatenate([[0.0], np.cumsum(between)])[run] + local


def _fit_tick(t_ns: np.ndarray, params: CleaningParams) -> TickFit | None:
    if len(t_ns) < params.tick_min_frames:
        return None
    steps = np.diff(t_ns).astype(np.float64)
    period = float(np.median(steps))
    if period <= 0:
        return None
    spread = 1.4826 * float(np.median(np.abs(steps - period)))
    if spread > params.tick_max_step_jitter * period:
        return None
    t_rel = (t_ns - t_ns[0]).astype(np.float64)
    ticks = _count_ticks(t_rel, period)
    slope, intercept = period, 0.0
    for _ in range(3):
        # Robust least squares (again without stamps far off the line), then every frame's
        # tick number afresh from the line: one stamp's jitter against half a period, where
        # the counted steps carried two stamps' jitter and any miscount onwards.
        keep = np.ones(len(t_ns), dtype=bool)
        for _ in range(2):
            slope, intercept = np.polyfit(ticks[keep], t_rel[keep], 1)
            residual = t_rel - (intercept + slope * ticks)
            sigma = 1.4826 * float(np.median(np.abs(residual[keep]))) + 1.0
            keep = np.abs(residual) <= 4.0 * sigma
        if slope <= 0:
            return None
        ticks = np.rint((t_rel - intercept) / slope)
    residual = t_rel - (intercept + slope * ticks)
    if float(np.max(np.abs(residual))) > params.tick_max_residual * period:
        return None
    fitted = t_ns[0] + np.rint(intercept + slope * ticks).astype(np.int64)
    if np.any(np.diff(fitted) <= 0):
        return None
    return TickFit(t_ns=fitted, ticks=ticks - ticks[0], period_ns=float(slope))
