"""The nightly flow: pull every center -> process in batches -> publish a release -> report.

Tasks pass URLs and small records, never frames; episodes are batched so the
orchestration costs little (a task run costs milliseconds, a subflow a second).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from teleop_lake.config.centers import CENTER_NAMES
from teleop_lake.lake.lease import hold_lease
from teleop_lake.lake.storage import Store
from teleop_lake.params_file import load_params
from teleop_lake.pipeline.isolation import prewarm, process_batch_isolated
from teleop_lake.pipeline.pull import (
    drop_superseded,
    give_up_stuck,
    plan_batches,
    pull_stage,
    retry_stage,
)
from teleop_lake.pipeline.report import report_stage
from teleop_lake.pipeline.silence import silent_centers
from teleop_lake.pipeline.stop import clear_stop, request_stop
from teleop_lake.pipeline.summary import summarize_night
from teleop_lake.processing_params import ProcessingParams
from teleop_lake.release.publish import publish_release
from teleop_lake.transient import is_transient

WORKER_MEMORY_GIB = 1.5  # a batch worker's usual peak with three 640x480 cameras, and margin


def local_workers() -> int:
    """Tasks at a time without a Dask cluster: one per core this process may use, as many as
    the machine's memory holds batch workers (2 on these 2-core, 24 GiB machines)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        by_memory = int(pages * page / 2**30 / WORKER_MEMORY_GIB)
    except (ValueError, OSError):
        by_memory = cores or 1
    return max(1, min(cores or 1, by_memory))


LOCAL_WORKERS = local_workers()
NETWORK_TIMEZONE = "Asia/Shanghai"  # every center of the network keeps China Standard Time


def retry_if_transient(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry a task only when its error can succeed later (a network or object-store error, a
    full disk); a missing folder, a permission, a bad argument or a bug fails at once."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        with contextlib.suppress(Exception):
            exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and is_transient(exc)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@task(
    name="pull-center",
    task_run_name="pull-{center}",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
)
def pull_task(
    network_url: str, lake_url: str, center: str, run_id: str, until_date: str | None
) -> dict[str, Any]:
    return pull_stage(network_url, lake_url, center, run_id, until_date, _now())


@task(
    name="process-batch",
    task_run_name="process-{batch_id}",
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
)
def process_task(
    lake_url: str,
    run_id: str,
    batch_id: str,
    recordings: list[dict[str, Any]],
    params: ProcessingParams,
) -> dict[str, Any]:
    return process_batch_isolated(lake_url, run_id, batch_id, recordings, params, _now()).to_dict()


@task(
    name="publish-release",
    task_run_name="publish-release",
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
)
def publish_task(lake_url: str, run_id: str, date: str) -> dict[str, Any]:
    return publish_release(lake_url, run_id, date, _now()).to_dict()


@task(name="write-report", task_run_name="write-report", cache_policy=NO_CACHE)
def report_task(lake_url: str, summary: dict[str, Any]) -> dict[str, str]:
    return report_stage(lake_url, summary)


def _task_slots() -> int:
    """How many processing tasks run at once: the local workers, or the threads of the Dask
    cluster's workers when the night runs there. A night smaller than one full batch per slot
    is cut into smaller batches (`plan_batches`), so that every slot gets one."""
    ctx = FlowRunContext.get()
    if ctx is None:
        return 1
    if isinstance(ctx.task_runner, ThreadPoolTaskRunner):
        return LOCAL_WORKERS
    from prefect_dask import DaskTaskRunner

    if isinstance(ctx.task_runner, DaskTaskRunner):
        try:
            return max(1, sum(ctx.task_runner.client.nthreads().values()))
        except Exception as exc:  # a cluster that does not answer: batches as --batch-size says
            get_run_logger().warning("cannot count the Dask cluster's workers: %s", exc)
    return 1


def _prewarm_local_workers() -> None:
    """Batches run here (not on a Dask cluster): start a batch worker now, so its start-up
    (about 4 CPU-seconds) overlaps the rest of the pull. Called once a pull found new
    recordings, so a night with nothing new never pays it. One only: a small night has one
    batch; a second worker starts when a second batch runs beside the first."""
    ctx = FlowRunContext.get()
    if ctx is not None and isinstance(ctx.task_runner, ThreadPoolTaskRunner):
        prewarm(1)


@contextlib.contextmanager
def _stop_batches_on_exit() -> Iterator[None]:
    """SIGTERM or Ctrl-C in the flow: tell running batches to stop between recordings, so
    the task runner is not held until they finish."""
    try:
        yield
    except BaseException:
        request_stop()
        raise


def _markdown(summary: dict[str, Any], paths: dict[str, str]) -> str:
    rel = summary["release"] or {}
    t = summary["totals"]
    lines = [
        f"# Night {summary['date']} ({summary['run_id']})",
        "",
        f"- release: **{rel.get('release_id') or 'no new release'}** "
        f"({rel.get('n_episodes', 0)} episodes, {rel.get('n_frames', 0)} frames; "
        f"+{rel.get('added', 0)} added, {rel.get('updated', 0)} updated)",
        f"- pulled {t['pulled']}, retried {t['retried']} -> published {t['published']}, "
        f"quarantined {t['quarantined']}, pending {t['pending']}; "
        f"accounting {'balanced' if summary['balanced'] else '**NOT BALANCED**'}",
        f"- report: [{paths['validation_html']}]({paths['validation_html']})",
        f"- labels needing review tonight: {sum(bool(e['needs_review']) for e in summary['episodes'])}"
        f" (`teleop-lake qa queue --lake {summary['lake_url']}`)",
        "",
        "| reason | recordings |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in summary["quarantine_reason_counts"].items()]
    if summary["unreachable_centers"]:
        lines += [
            "",
            "Unreachable: " + ", ".join(u["center"] for u in summary["unreachable_centers"]),
        ]
    lines += ["", *(f"**Silent:** {a['message']}" for a in summary["silent_centers"])]
    return "\n".join(lines)


def _night_of(date: str | None, timezone: str) -> str:
    """The night's date: as given, else today in the network's local time zone."""
    return date or dt.datetime.now(ZoneInfo(timezone)).date().isoformat()


def _flow_run_name() -> str:
    params = flow_run.get_parameters()
    return f"nightly-{_night_of(params.get('date'), params.get('timezone', NETWORK_TIMEZONE))}"


@flow(
    name="teleop-nightly",
    flow_run_name=_flow_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=LOCAL_WORKERS),  # type: ignore[arg-type]  # generic mismatch in prefect's own types
)
def nightly_flow(
    network_url: str,
    lake_url: str,
    date: str | None = None,
    batch_size: int = 6,
    centers: list[str] | None = None,
    timezone: str = NETWORK_TIMEZONE,
    params_file: str | None = None,
    wait_for_lake: bool = False,
) -> dict[str, Any]:
    """One night: every center's new recordings into a new release and a validation report.

    The night holds the lake's lease (`teleop_lake.lake.lease`) while it runs: with another
    night running, it fails with `LakeBusyError`, or waits for it with ``wait_for_lake``.

    ``date`` bounds the drop folders pulled (default: today in ``timezone``, for schedules).
    ``params_file``: a TOML file of processing parameters (`teleop_lake.params_file`);
    default: the built-in ones.
    """
    log = get_run_logger()
    params = load_params(params_file) if params_file else ProcessingParams()
    date = _night_of(date, timezone)
    started = _now()
    centers = list(centers or CENTER_NAMES)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{str(flow_run.get_id() or 'local')[:8]}"
    log.info(
        "run %s: pulling %d centers from %s into %s", run_id, len(centers), network_url, lake_url
    )
    log.info(
        "processing parameters: %s (hash %s; each episode's param_hash adds its robot model's latency)",
        params_file or "built-in defaults",
        params.param_hash()[:12],
    )

    # One night at a time on a lake: a second one fails fast (or waits, wait_for_lake).
    clear_stop()
    with (
        hold_lease(Store(lake_url), run_id, wait=wait_for_lake, log=log.info) as lease_ok,
        _stop_batches_on_exit(),
    ):
        pull_futures = [pull_task.submit(network_url, lake_url, c, run_id, date) for c in centers]
        for done_pull in as_completed(pull_futures):
            if done_pull.result()["new"]:  # work ahead: warm a batch worker while others pull
                _prewarm_local_workers()
                break
        pulls = [f.result() for f in pull_futures]
        new = [r for p in pulls for r in p["new"]]
        retried = retry_stage(lake_url, centers, {r["content_key"] for r in new})
        retry_now, stuck = give_up_stuck(lake_url, run_id, retried, started)
        for p in pulls:
            if not p["reachable"]:
                log.warning("center %s unreachable: %s", p["center"], p["error"])
        refused = sum(len(p["quarantined"]) for p in pulls)
        log.info(
            "pulled %d new recordings (%d to process, %d refused at the pull), %d to retry",
            len(new) + refused,
            len(new),
            refused,
            len(retried),
        )

        to_process, superseded = drop_superseded(lake_url, run_id, new + retry_now, started)
        batches = plan_batches(to_process, batch_size, _task_slots())
        futures = [
            (f"b{i:03d}", b, process_task.submit(lake_url, run_id, f"b{i:03d}", b, params))
            for i, b in enumerate(batches)
        ]
        done: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for batch_id, recs, fut in futures:
            try:
                res = fut.result()
                done.append(res)
                statuses = [o["status"] for o in res["outcomes"]]
                log.info(
                    "batch %s done (%d/%d): %d published, %d quarantined, %d pending",
                    batch_id,
                    len(done) + len(failed),
                    len(futures),
                    statuses.count("published"),
                    statuses.count("quarantined"),
                    statuses.count("pending"),
                )
            except Exception as exc:  # after its retries: the batch's recordings stay pending
                log.error(
                    "batch %s failed (%s); its %d recordings stay pending", batch_id, exc, len(recs)
                )
                failed.append(
                    {
                        "batch_id": batch_id,
                        "error": f"{type(exc).__name__}: {exc}",
                        "recordings": recs,
                    }
                )

        lease_ok()  # never publish after losing the lake to another night
        publish = publish_task(lake_url, run_id, date)
        summary = summarize_night(
            run_id=run_id,
            date=date,
            network_url=network_url,
            lake_url=lake_url,
            centers=centers,
            pulls=pulls,
            retried=retried,
            superseded=stuck + superseded,
            batches=done,
            failed_batches=failed,
            publish=publish,
            started_at=started,
            finished_at=_now(),
        )
        summary["silent_centers"] = silent_centers(Store(lake_url), summary)
        for alert in summary["silent_centers"]:
            log.warning(alert["message"])
        paths = report_task(lake_url, summary)
        summary["report_paths"] = paths
        create_table_artifact(
            key="nightly-accounting",
            table=summary["accounting"],
            description=f"Per-center accounting of run {run_id}: pulled + retried = published + "
            "quarantined + pending",
        )
        create_markdown_artifact(
            key="nightly-summary", markdown=_markdown(summary, paths), description=f"Night {date}"
        )
        return summary


def run_nightly(
    network_url: str,
    lake_url: str,
    date: str | None,
    batch_size: int = 6,
    centers: list[str] | None = None,
    dask_address: str | None = None,
    params_file: str | None = None,
    wait_for_lake: bool = False,
) -> dict[str, Any]:
    """Run the nightly flow here, or with its tasks on an existing Dask cluster."""
    flow_fn = nightly_flow
    if dask_address:
        from prefect_dask import DaskTaskRunner

        flow_fn = nightly_flow.with_options(
            task_runner=DaskTaskRunner(address=dask_address)  # type: ignore[arg-type]  # prefect's generics
        )
    result: dict[str, Any] = flow_fn(
        network_url=network_url,
        lake_url=lake_url,
        date=date,
        batch_size=batch_size,
        centers=centers,
        params_file=params_file,
        wait_for_lake=wait_for_lake,
    )
    return result


def flush_prefect(timeout_s: float = 10.0) -> None:
    """Send the logs and events still queued to the Prefect server, so it can be stopped
    without the process later failing to reach it at exit."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout_s)
    EventsWorker.drain_all(timeout=timeout_s)
