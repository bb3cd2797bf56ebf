"""Signal faults injected into the recorded streams: spikes, dropouts, frozen sensors.

Each injection returns the changed streams and a `FaultRecord` per fault, which is exactly
what the ground truth lists. A fault's interval ``[start_ns, end_ns)`` is on the robot
clock and spans the affected samples' true times widened by half a nominal period on each
side, so a sample is affected iff its robot-clock time falls inside, whatever the stamp
jitter. Faults on one stream never overlap each other. A frozen sensor stalls whether its
joint moves or not: one joint's channels on a moving or a still joint, or the driver
republishing its whole last message. Pure: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from teleop_lake.canonical import (
    CAMERA_STREAMS,
    STREAM_ARM_TARGET,
    STREAM_HEAD_POSE,
    STREAM_JOINT_STATE,
)
from teleop_lake.simulate.params import FaultRates
from teleop_lake.simulate.streams import SimStream

# Where dropouts happen, with relative weights (joint bus, operator link, VR, cameras).
DROPOUT_STREAM_WEIGHTS = {
    STREAM_JOINT_STATE: 0.3,
    STREAM_ARM_TARGET: 0.25,
    STREAM_HEAD_POSE: 0.2,
    **{cam: 0.25 / len(CAMERA_STREAMS) for cam in CAMERA_STREAMS},
}
DROPOUT_PERIODS = (3, 300)  # nominal periods with no message
DROPOUT_MAX_FRACTION = 0.2  # a dropout never removes more than this share of a stream
# A frozen fault on a moving joint is placed where its true position travels at least this
# many noise sigmas over the span, one on a still joint where it travels less than
# `STILL_MAX_TRAVEL_SIGMAS`; the truth calls a frozen fault moving above
# `MOVING_TRUTH_TRAVEL_SIGMAS` (for a whole message: any arm joint).
FROZEN_MIN_TRAVEL_SIGMAS = 50.0
STILL_MAX_TRAVEL_SIGMAS = 5.0
MOVING_TRUTH_TRAVEL_SIGMAS = 10.0
FROZEN_QUANTITIES = ("position_rad", "velocity_rad_s", "effort_n_m")
EDGE_FRACTION = 0.03  # no fault in the first/last 3% of a stream
GAP_SAMPLES = 10  # free samples kept between two faults of one stream
MAX_TRIES = 50


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault. ``scope``: ``channel`` (the ``channels``), ``stream`` (a dropout:
    the whole stream) or ``message`` (a frozen whole message: every channel; ``channels``
    empty). ``moving``: frozen faults only, whether the frozen joint (any arm joint for a
    whole message) really moved over the span."""

    kind: str  # "spike" | "dropout" | "frozen"
    stream: str
    channels: tuple[str, ...]  # empty: the whole stream or message
    start_ns: int
    end_ns: int
    magnitude_rad: float | None = None
    scope: str = "channel"
    moving: bool | None = None


class _Occupancy:
    """Sample-index intervals already used by faults, per stream."""

    def __init__(self) -> None:
        self._spans: dict[str, list[tuple[int, int]]] = {}

    def free(self, stream: str, lo: int, hi: int) -> bool:
        return all(
            hi + GAP_SAMPLES <= a or lo >= b + GAP_SAMPLES for a, b in self._spans.get(stream, [])
        )

    def take(self, stream: str, lo: int, hi: int) -> None:
        self._spans.setdefault(stream, []).append((lo, hi))


def _interval(stream: SimStream, lo: int, hi: int) -> tuple[int, int]:
    half = stream.period_ns // 2
    return int(stream.t_true_ns[lo]) - half, int(stream.t_true_ns[hi - 1]) + half


def _place(
    stream: SimStream, length: int, occ: _Occupancy, rng: np.random.Generator
) -> tuple[int, int] | None:
    n = stream.n_samples
    first, last = int(EDGE_FRACTION * n), int((1.0 - EDGE_FRACTION) * n) - length
    if last <= first:
        return None
    for _ in range(MAX_TRIES):
        lo = int(rng.integers(first, last))
        if occ.free(stream.name, lo, lo + length):
            return lo, lo + length
    return None


def inject_faults(
    streams: dict[str, SimStream],
    rates: FaultRates,
    position_noise_rad: float,
    rng: np.random.Generator,
    true_position_rad: np.ndarray | None = None,
    arm_joints: tuple[str, ...] = (),
) -> tuple[dict[str, SimStream], list[FaultRecord]]:
    """Inject signal faults at ``rates`` into the streams present; return streams and records.

    ``true_position_rad`` (joint-state rows x joints, in the stream's position-channel order)
    is the noise-free position that decides which joints move; without it the recorded
    positions do (noise makes every joint look a little moving then). ``arm_joints`` are the
    joints whose travel makes a frozen whole message ``moving`` (all joints when empty).
    """
    out = dict(streams)
    records: list[FaultRecord] = []
    occ = _Occupancy()
    duration_min = _duration_min(streams)
    n_dropouts = rng.poisson(rates.dropouts_per_min * duration_min)
    n_frozen = rng.poisson(rates.frozen_per_min * duration_min)
    n_spikes = rng.poisson(rates.spikes_per_min * duration_min)

    # Dropouts: remember the rows to delete; delete after every fault is placed.
    drop_masks: dict[str, np.ndarray] = {}
    candidates = [s for s in DROPOUT_STREAM_WEIGHTS if s in out]
    if candidates:
        w = np.array([DROPOUT_STREAM_WEIGHTS[s] for s in candidates])
        for _ in range(n_dropouts):
            name = str(rng.choice(candidates, p=w / w.sum()))
            s = out[name]
            lo_p, hi_p = DROPOUT_PERIODS
            length = round(np.exp(rng.uniform(np.log(lo_p), np.log(hi_p + 1))))
            length = max(lo_p, min(hi_p, length, int(DROPOUT_MAX_FRACTION * s.n_samples)))
            span = _place(s, length, occ, rng)
            if span is None:
                continue
            occ.take(name, *span)
            mask = drop_masks.setdefault(name, np.ones(s.n_samples, dtype=bool))
            mask[span[0] : span[1]] = False
            records.append(FaultRecord("dropout", name, (), *_interval(s, *span), scope="stream"))

    js = out.get(STREAM_JOINT_STATE)
    if js is not None:
        values = js.values.copy()
        positions = [i for i, c in enumerate(js.channels) if c.startswith("position_rad.")]
        truth = values[:, positions] if true_position_rad is None else true_position_rad
        for _ in range(n_frozen):
            rec = _freeze(js, values, truth, occ, position_noise_rad, rates, arm_joints, rng)
            if rec is not None:
                records.append(rec)
        for _ in range(n_spikes):
            length = int(rng.choice([1, 1, 1, 2, 3]))
            span = _place(js, length, occ, rng)
            if span is None:
                continue
            occ.take(js.name, *span)
            col = int(rng.choice(positions))
            size = rng.uniform(*rates.spike_sigma) * position_noise_rad
            values[span[0] : span[1], col] += size if rng.random() < 0.5 else -size
            records.append(
                FaultRecord("spike", js.name, (js.channels[col],), *_interval(js, *span), size)
            )
        out[js.name] = replace(js, values=values)

    for name, mask in drop_masks.items():
        out[name] = out[name].keep(mask)
    records.sort(key=lambda r: (r.start_ns, r.stream, r.kind))
    return out, records


def _duration_min(streams: dict[str, SimStream]) -> float:
    spans = [int(s.t_true_ns[-1] - s.t_true_ns[0]) for s in streams.values() if s.n_samples > 1]
    return max(spans, default=0) / 60e9


def _freeze(
    js: SimStream,
    values: np.ndarray,
    true_position_rad: np.ndarray,
    occ: _Occupancy,
    position_noise_rad: float,
    rates: FaultRates,
    arm_joints: tuple[str, ...],
    rng: np.random.Generator,
) -> FaultRecord | None:
    """One frozen fault: the whole message, or 1-3 channels (position, then velocity, effort,
    skipping unpopulated all-zero ones) of a moving or a still joint; every frozen value
    repeats the sample before the span bit-exactly."""
    rate_hz = 1e9 / js.period_ns
    length = int(rng.uniform(*rates.frozen_s) * rate_hz)
    joints = [c.split(".", 1)[1] for c in js.channels if c.startswith("position_rad.")]
    whole_message = rng.random() < rates.frozen_message_fraction
    want_still = rng.random() < rates.frozen_still_fraction
    n_channels = int(rng.integers(1, 4))
    for _ in range(MAX_TRIES):
        span = _place(js, length, occ, rng)
        if span is None:
            return None
        lo, hi = span
        travel = np.ptp(true_position_rad[lo:hi], axis=0) / position_noise_rad
        if whole_message:
            arm = [joints.index(j) for j in arm_joints if j in joints] or list(range(len(joints)))
            values[lo:hi] = values[lo - 1]
            occ.take(js.name, lo, hi)
            moving = bool((travel[arm] > MOVING_TRUTH_TRAVEL_SIGMAS).any())
            return FaultRecord(
                "frozen", js.name, (), *_interval(js, lo, hi), scope="message", moving=moving
            )
        if want_still:
            candidates = np.flatnonzero(travel < STILL_MAX_TRAVEL_SIGMAS)
        else:
            candidates = np.flatnonzero(travel > FROZEN_MIN_TRAVEL_SIGMAS)
        if len(candidates) == 0:
            continue
        k = int(rng.choice(candidates))
        joint = joints[k]
        populated = [
            q
            for q in FROZEN_QUANTITIES
            if f"{q}.{joint}" in js.channels
            and (q == "position_rad" or values[:, js.channels.index(f"{q}.{joint}")].any())
        ]
        channels = tuple(f"{q}.{joint}" for q in populated[:n_channels])
        for ch in channels:
            col = js.channels.index(ch)
            values[lo:hi, col] = values[lo - 1, col]
        occ.take(js.name, lo, hi)
        moving = bool(travel[k] > MOVING_TRUTH_TRAVEL_SIGMAS)
        return FaultRecord(
            "frozen", js.name, channels, *_interval(js, lo, hi), scope="channel", moving=moving
        )
    return None
