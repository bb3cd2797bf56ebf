"""Serving the nightly flow on a Prefect server: a deployment with a cron schedule.

Needs a running server (``prefect server start``; SQLite is fine for one server)
and ``PREFECT_API_URL`` pointing at it. ``serve`` keeps running and executes the
scheduled runs in this process; schedules stay active when it stops.
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.nightly import NETWORK_TIMEZONE, nightly_flow

DEPLOYMENT_NAME = "nightly"


def serve_nightly(
    network_url: str,
    lake_url: str,
    cron: str = "0 2 * * *",
    timezone: str = NETWORK_TIMEZONE,
    batch_size: int = 6,
    params_file: str | None = None,
) -> None:
    deployment: RunnerDeployment = nightly_flow.to_deployment(  # type: ignore[assignment]  # sync call
        name=DEPLOYMENT_NAME,
        schedules=[Cron(cron, timezone=timezone)],
        parameters={
            "network_url": network_url,
            "lake_url": lake_url,
            "batch_size": batch_size,
            "timezone": timezone,
            "params_file": params_file,
        },
        description="Pull every center's new recordings, process them, publish a release.",
        tags=["teleop-lake", "nightly"],
    )
    serve(deployment, pause_on_shutdown=False)
