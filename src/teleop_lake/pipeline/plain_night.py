"""One night through the plain stages, in this process, without Prefect.

The same stages the nightly flow runs as tasks (pull, retry, process in batches, publish,
report), one after the other. Used where orchestration would blur what is measured or is
not wanted: `teleop-lake bench night` and tests that check the stages themselves. Every stage
runs under `stage_clock.timed`, so its CPU and wall seconds can be read afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from teleop_lake.lake.storage import Store
from teleop_lake.pipeline.process import process_batch
from teleop_lake.pipeline.pull import (
    drop_superseded,
    give_up_stuck,
    plan_batches,
    pull_stage,
    retry_stage,
)
from teleop_lake.pipeline.report import report_stage
from teleop_lake.pipeline.silence import silent_centers
from teleop_lake.pipeline.stage_clock import timed
from teleop_lake.pipeline.summary import summarize_night
from teleop_lake.processing import ProcessingParams
from teleop_lake.release.publish import publish_release


def run_plain_night(
    network_url: str,
    lake_url: str,
    centers: Sequence[str],
    date: str,
    run_id: str,
    now: dt.datetime,
    *,
    batch_size: int = 6,
    params: ProcessingParams | None = None,
) -> dict[str, Any]:
    """Run one night; returns the run summary with its report paths."""
    params = params or ProcessingParams()
    with timed("pull"):
        pulls = [pull_stage(network_url, lake_url, c, run_id, date, now) for c in centers]
        new = [r for p in pulls for r in p["new"]]
        retried = retry_stage(lake_url, list(centers), {r["content_key"] for r in new})
        retry_now, stuck = give_up_stuck(lake_url, run_id, retried, now)
        to_process, superseded = drop_superseded(lake_url, run_id, new + retry_now, now)
    done = [
        process_batch(lake_url, run_id, f"b{i:03d}", batch, params, now).to_dict()
        for i, batch in enumerate(plan_batches(to_process, batch_size))
    ]
    with timed("publish release"):
        publish = publish_release(lake_url, run_id, date, now).to_dict()
    with timed("report"):
        summary = summarize_night(
            run_id=run_id,
            date=date,
            network_url=network_url,
            lake_url=lake_url,
            centers=list(centers),
            pulls=pulls,
            retried=retried,
            superseded=stuck + superseded,
            batches=done,
            failed_batches=[],
            publish=publish,
            started_at=now,
            finished_at=now,
        )
        summary["silent_centers"] = silent_centers(Store(lake_url), summary)
        summary["report_paths"] = report_stage(lake_url, summary)
    return summary
