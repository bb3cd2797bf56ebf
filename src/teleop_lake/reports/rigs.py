"""What each rig delivered: end effector, streams it lacks, channels it never fills, clocks it
stamps wrongly. One row per center and robot (serial), so a data engineer sees at a glance
that, say, station 3's robot leaves ``joint_v`` at zero (a firmware setting, not a fault) or
stamps its hand command on the robot clock (a configuration to fix). Pure: no IO.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import polars as pl

MAX_RIGS = 200
"""Most rigs a report lists (the JSON says how many there were)."""


def _quantities(channels: pl.DataFrame, status: str) -> dict[str, int]:
    """``stream.quantity`` -> number of channels with ``status`` (over the rig's episodes,
    counted once per channel name)."""
    rows = channels.filter(pl.col("status") == status).select("stream", "channel").unique()
    counts: Counter[str] = Counter(f"{s}.{c.partition('.')[0]}" for s, c in rows.iter_rows())
    return dict(sorted(counts.items()))


def rig_rows(processed: pl.DataFrame, channels: pl.DataFrame) -> list[dict[str, Any]]:
    """Per (center, robot_serial): episodes processed, end effectors, absent streams, the
    unpopulated and faulty channels by ``stream.quantity``, clock-domain mismatches.

    ``processed``: evidence rows (`teleop_lake.pipeline.process.write_evidence`);
    ``channels``: their channel statuses, keyed by ``episode_id``."""
    if processed.is_empty():
        return []
    need = {"center", "robot_serial", "episode_id"}
    if not need <= set(processed.columns):
        return []
    rows = []
    keys = processed.select("center", "robot_serial").unique().sort("center", "robot_serial")
    for center, serial in keys.iter_rows():
        eps = processed.filter(
            (pl.col("center") == center)
            & (
                pl.col("robot_serial").is_null()
                if serial is None
                else pl.col("robot_serial") == serial
            )
        )
        ids = eps["episode_id"].to_list()
        mine = (
            channels.filter(pl.col("episode_id").is_in(ids))
            if "episode_id" in channels.columns
            else pl.DataFrame(
                schema={"stream": pl.String, "channel": pl.String, "status": pl.String}
            )
        )
        absent: Counter[str] = Counter()
        if "absent_streams" in eps.columns:
            for streams in eps["absent_streams"].drop_nulls().to_list():
                absent.update(s for s in str(streams).split(",") if s)
        mismatches = (
            int(eps["n_clock_domain_mismatches"].fill_null(0).sum())
            if "n_clock_domain_mismatches" in eps.columns
            else 0
        )
        rows.append(
            {
                "center": center,
                "robot_serial": serial,
                "episodes": eps.height,
                "end_effectors": sorted(
                    {str(x) for x in eps["end_effector"].drop_nulls().to_list()}
                )
                if "end_effector" in eps.columns
                else [],
                "absent_streams": dict(sorted(absent.items())),
                "unpopulated": _quantities(mine, "unpopulated"),
                "faulty": _quantities(mine, "faulty"),
                "clock_domain_mismatches": mismatches,
            }
        )
    return rows[:MAX_RIGS]
