"""Channel status: what each channel of an episode is worth, in one word a partner can filter on.

- ``measured``: the sensor reported; short faults are repaired or flagged per row.
- ``unpopulated``: constant for the whole recording (a field some firmware never fills, such
  as ``joint_v`` left at zero): not measured, nulled in the frames, never a fault.
- ``faulty``: measured, but carrying a long fault: a frozen stretch over the repair policy's
  ``max_frozen_s`` (alone or in a frozen message), or readings past its limits beyond noise.
- ``absent``: the robot model or the recording's end effector has the channel, the recording
  does not (a rig without hand state, a format without torque).

Gates apply to the channels the robot model declares required; the others are flagged, never
gated (`teleop_lake.config.robots.RobotModel.is_required`). Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from teleop_lake.cleaning.findings import Finding
from teleop_lake.cleaning.params import CleaningParams

CHANNEL_STATUSES = ("measured", "unpopulated", "faulty", "absent")

CHANNELS_SCHEMA: dict[str, pl.DataType] = {
    "stream": pl.String(),
    "channel": pl.String(),
    "status": pl.String(),
    "required": pl.Boolean(),
    "noise_sigma": pl.Float64(),
}


@dataclass(frozen=True)
class ChannelStatus:
    stream: str
    channel: str
    status: str
    required: bool
    noise_sigma: float | None = None


def _faulty(stream: str, findings: Iterable[Finding], cp: CleaningParams) -> set[str]:
    """Channels of ``stream`` with a long frozen stretch or a limit violation ("" = all)."""
    out: set[str] = set()
    for f in findings:
        if f.stream != stream:
            continue
        if (f.kind == "frozen" and f.duration_s > cp.max_frozen_s) or f.kind == "limit_violation":
            out.add(f.channel)
    return out


def channel_statuses(
    streams: Mapping[str, tuple[Sequence[str], np.ndarray, np.ndarray, np.ndarray]],
    expected: Mapping[str, Sequence[str]],
    findings: Sequence[Finding],
    required_of: Callable[[str, str], bool],
    cp: CleaningParams,
) -> list[ChannelStatus]:
    """Status of every channel.

    ``streams``: name -> (channels, noise sigma, unpopulated mask, all-NaN mask) of each stream
    the recording holds; ``expected``: name -> channels the episode should have (absent when
    the recording lacks them); ``required_of(stream, channel) -> bool``."""
    rows: list[ChannelStatus] = []
    for name, (channels, noise, unpopulated, missing) in streams.items():
        faulty = _faulty(name, findings, cp)
        for c, channel in enumerate(channels):
            if missing[c]:
                status = "absent"
            elif unpopulated[c]:
                status = "unpopulated"
            elif channel in faulty or "" in faulty:
                status = "faulty"
            else:
                status = "measured"
            sigma = float(noise[c]) if status in ("measured", "faulty") else None
            rows.append(
                ChannelStatus(name, channel, status, bool(required_of(name, channel)), sigma)
            )
    for name, channels in expected.items():
        have = set(streams[name][0]) if name in streams else set()
        for channel in channels:
            if channel not in have:
                rows.append(
                    ChannelStatus(name, channel, "absent", bool(required_of(name, channel)))
                )
    return rows


def channels_frame(rows: Iterable[ChannelStatus]) -> pl.DataFrame:
    """The statuses as a polars frame with `CHANNELS_SCHEMA`."""
    items = list(rows)
    return pl.DataFrame(
        {
            "stream": [r.stream for r in items],
            "channel": [r.channel for r in items],
            "status": [r.status for r in items],
            "required": [r.required for r in items],
            "noise_sigma": [r.noise_sigma for r in items],
        },
        schema=CHANNELS_SCHEMA,
    )
