"""Centers that have gone quiet: unreachable, or delivering nothing new, night after night.

One quiet night is normal (a holiday, a rig in repair); several in a row usually mean a broken
sync job or a full disk at the center, which nobody notices while the other centers deliver.
`silent_centers` counts, per center, the nights (dates) in a row, tonight included, on which
the center was unreachable or pulled nothing new, from the run summaries the lake keeps; a
center at its profile's ``[alerts] silent_nights`` is named, and the night exits 1.

Several runs of one date count as one night, quiet only if none of them pulled anything; a
run that did not cover the center (``--center`` others) neither counts nor breaks the streak.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from teleop_lake.config.centers import UnknownCenterError, load_profile
from teleop_lake.lake import layout
from teleop_lake.lake.storage import Store

MAX_RUNS_READ = 120  # the streak is counted over at most this many earlier runs


def _quiet_by_center(summary: dict[str, Any]) -> dict[str, tuple[bool, bool]]:
    """Per center the run covered: (quiet, unreachable)."""
    unreachable = {u["center"] for u in summary.get("unreachable_centers", [])}
    return {
        a["center"]: (a["center"] in unreachable or a["pulled"] == 0, a["center"] in unreachable)
        for a in summary.get("accounting", [])
    }


def _earlier_summaries(lake: Store, run_id: str) -> Iterator[dict[str, Any]]:
    """The lake's run summaries before ``run_id``, newest first (at most `MAX_RUNS_READ`),
    read one at a time: most nights stop at the first summary of a delivering night."""
    runs = sorted((r for r in lake.ls_names("runs") if r < run_id), reverse=True)
    for r in runs[:MAX_RUNS_READ]:
        path = layout.run_summary_file(r)
        if lake.exists(path):
            yield lake.read_json(path)


def silent_centers(lake: Store, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The centers of tonight's ``summary`` quiet for at least their alert's number of nights:
    center, nights in a row, how many of them unreachable, the alert's threshold, the last
    night it delivered (None: not within the runs read) and the message for operators."""
    tonight = _quiet_by_center(summary)
    thresholds: dict[str, int] = {}
    for center, (quiet, _) in tonight.items():
        try:
            threshold = load_profile(center).silent_nights_alert
        except UnknownCenterError:
            continue
        if quiet and threshold > 0:
            thresholds[center] = threshold
    if not thresholds:
        return []
    # per center: date -> unreachable on every run of it; the last night it delivered
    quiet_dates: dict[str, dict[str, bool]] = {c: {} for c in thresholds}
    last_delivery: dict[str, str | None] = dict.fromkeys(thresholds)
    open_centers = set(thresholds)  # still counting back
    for run in itertools.chain([summary], _earlier_summaries(lake, summary["run_id"])):
        date = str(run.get("date") or run["run_id"])
        for center, (quiet, unreachable) in _quiet_by_center(run).items():
            if center not in open_centers:
                continue
            dates = quiet_dates[center]
            if not quiet:
                last_delivery[center] = date
                dates.pop(date, None)  # a delivering run makes its date not quiet
                open_centers.discard(center)
            else:
                dates[date] = dates.get(date, True) and unreachable
        if not open_centers:
            break
    alerts = []
    for center, threshold in thresholds.items():
        dates = quiet_dates[center]
        if len(dates) >= threshold:
            alert: dict[str, Any] = {
                "center": center,
                "nights": len(dates),
                "unreachable_nights": sum(dates.values()),
                "threshold": threshold,
                "last_delivery": last_delivery[center],
            }
            alert["message"] = silence_message(alert)
            alerts.append(alert)
    return alerts


def silence_message(alert: dict[str, Any]) -> str:
    """One line an operator acts on."""
    how = (
        "unreachable"
        if alert["unreachable_nights"] == alert["nights"]
        else "unreachable or without new recordings"
    )
    since = (
        f"last delivery on the night of {alert['last_delivery']}"
        if alert["last_delivery"]
        else "no delivery in the runs kept"
    )
    return (
        f"center {alert['center']} has been {how} for {alert['nights']} nights in a row "
        f"({since}; alert at {alert['threshold']}, [alerts] silent_nights in its profile): "
        "check its drop and its sync job"
    )
