"""What a channel's own samples say about its sensor: noise level, repeat rate, whether it was
populated at all. The detectors judge every reading against these, never against one global
number, because rigs differ (KUAVO.md): encoder noise varies by build, some firmware leaves a
field at zero for the whole recording, hand topics carry 0..100 integers.

Pure functions over (samples x channels) arrays: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826  # MAD of a Gaussian times this is its standard deviation
SECOND_DIFFERENCE_GAIN = float(np.sqrt(6.0))
"""White noise of sigma gives second differences of sigma * sqrt(6) (weights 1, -2, 1)."""
HELD_MAJORITY = 0.5
"""A channel whose held values (three equal in a row) are more than this share of its second
differences is flat or quantised: its noise is below its resolution and the floor is its
scale."""


def robust_scale(residual: np.ndarray, stride: int, floors: np.ndarray) -> np.ndarray:
    """Per-column MAD-based sigma of ``residual`` (every ``stride``-th row), floored."""
    sample = residual[::stride] if len(residual) > 20 * stride else residual
    if len(sample) == 0:
        return floors.copy()
    return np.maximum(MAD_TO_SIGMA * np.median(np.abs(sample), axis=0), floors)


BLOCK_BYTES = 4 << 20
"""Size of the channel blocks that per-channel tests work through (`column_blocks`)."""


def differences32(x: np.ndarray) -> np.ndarray:
    """First differences along the rows as float32, computed in float64 and rounded once,
    without a float64 copy of them all (each large temporary is a fresh mapping in a batch
    process, `teleop_lake.pipeline.heap`)."""
    out = np.empty((max(len(x) - 1, 0), *x.shape[1:]), dtype=np.float32)
    np.subtract(x[1:], x[:-1], out=out)
    return out


SCRATCH_BYTES = 64 << 10
"""Rows of a stream a row-wise pass takes at once (`row_blocks`): its scratch arrays stay in
the heap, below glibc's mmap threshold, where a whole-length temporary would be a fresh
mapping in a batch process (`teleop_lake.pipeline.heap`)."""


def row_blocks(x: np.ndarray, overlap: int = 0) -> list[slice]:
    """Slices of rows of ``x`` about `SCRATCH_BYTES` each; with ``overlap``, each slice's
    start only advances by that many rows less than its length (windows of ``overlap + 1``
    rows starting in the block stay inside it)."""
    n = len(x)
    step = max(1, SCRATCH_BYTES // max(x[0].nbytes if n else 1, 1))
    return [slice(i, min(i + step, n - overlap)) for i in range(0, max(n - overlap, 0), step)]


def column_blocks(shape: tuple[int, ...]) -> list[slice]:
    """Slices of columns whose (rows x columns) float64 block stays near `BLOCK_BYTES`: a test
    that judges each channel on its own goes a block at a time, so its temporaries stay a
    block's size however long the stream."""
    n, width = shape
    step = max(1, min(width, BLOCK_BYTES // max(8 * n, 1)))
    return [slice(c, min(c + step, width)) for c in range(0, width, step)]


def second_difference_scale(d: np.ndarray, stride: int, floors: np.ndarray) -> np.ndarray:
    """Per-channel robust sigma of the second differences (from first differences ``d``).

    A second difference whose two first differences are both exactly zero (three equal values
    in a row) is a value held, not noise: a frozen segment. When held values are a minority of
    a channel they are left out, else a frozen segment over a fifth of a live channel pulls the
    MAD, and every threshold of that channel with it, down by a quarter (noise passes as 6
    sigma spikes at ~4.5 true sigmas). When they are most of it the channel is flat or
    quantised; its median is zero as before and its floor is the scale."""
    before, after = d[:-1][::stride], d[1:][::stride]  # only the rows the estimate uses
    second = after - before
    held = (before == 0) & (after == 0)
    scale = robust_scale(second, 1, floors)
    share = held.mean(axis=0) if len(held) else np.zeros(d.shape[1])
    for c in np.flatnonzero((share > 0) & (share < HELD_MAJORITY)):
        live = second[~held[:, c], c]
        scale[c] = max(MAD_TO_SIGMA * float(np.median(np.abs(live))), float(floors[c]))
    return scale


def sample_noise_sigma(values: np.ndarray, floors: np.ndarray, stride: int = 3) -> np.ndarray:
    """Per-channel noise sigma of single samples (the channel's unit), from the robust spread of
    second differences: motion at the sensor's rate hardly bends three consecutive samples, so
    what bends them is noise. Floored per channel (see `CleaningParams.scale_floors`)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 4:
        return floors.copy()
    d = np.diff(np.where(np.isfinite(x), x, 0.0), axis=0)
    return np.maximum(second_difference_scale(d, stride, floors) / SECOND_DIFFERENCE_GAIN, floors)


def unpopulated_channels(values: np.ndarray) -> np.ndarray:
    """True per channel whose finite values are all equal (or that has none) over the whole
    recording: a field the firmware never filled (``joint_v`` left at zero), not a sensor that
    froze. Needs at least two samples."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return np.zeros(x.shape[1] if x.ndim == 2 else 0, dtype=bool)
    out = x.min(axis=0) == x.max(axis=0)  # NaN where a channel has a non-finite value
    odd = np.flatnonzero(~np.isfinite(x.sum(axis=0)))
    for c in odd:  # rare: judged on the finite values alone
        finite = x[np.isfinite(x[:, c]), c]
        out[c] = len(finite) == 0 or finite.min() == finite.max()
    return out


@dataclass(frozen=True, eq=False)
class RepeatRates:
    """How often a channel repeats its previous value exactly, outside long held runs.

    ``share`` per channel: repeats / differences, counted outside runs of at least
    ``long_run`` repeats (+1 / +2: never exactly 0 or 1); ``held_share``: the share of
    differences inside such long runs."""

    share: np.ndarray
    held_share: np.ndarray


def repeat_rates(repeats: np.ndarray, long_run: int) -> RepeatRates:
    """Repeat rates of a (differences x channels) boolean ``repeats`` mask."""
    n, m = repeats.shape
    share = np.full(m, 1.0 / (n + 2.0))  # a channel that never repeats
    held_share = np.zeros(m)
    if n == 0:
        return RepeatRates(np.full(m, 0.5), held_share)
    active = np.flatnonzero(repeats.any(axis=0))  # live float channels never repeat: skipped
    if len(active) == 0:
        return RepeatRates(share, held_share)
    sub = repeats[:, active]
    padded = np.zeros((n + 2, len(active)), dtype=np.int8)
    padded[1:-1] = sub
    edges = np.diff(padded, axis=0)
    in_long = np.zeros(sub.shape, dtype=bool)
    start_ch, start_i = np.nonzero(edges.T == 1)
    _, stop_i = np.nonzero(edges.T == -1)
    long = stop_i - start_i >= long_run
    for c, a, b in zip(start_ch[long], start_i[long], stop_i[long], strict=True):
        in_long[a:b, c] = True
    outside = (~in_long).sum(axis=0)
    share[active] = ((sub & ~in_long).sum(axis=0) + 1.0) / (outside + 2.0)
    held_share[active] = in_long.mean(axis=0)
    return RepeatRates(share=share, held_share=held_share)
