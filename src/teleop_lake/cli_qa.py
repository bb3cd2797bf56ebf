"""``teleop-lake qa``: the QA reviewer's commands (the review queue, label overrides, their log).

Exit codes as for the rest of the CLI: 0 done; 2 refused (bad value, unknown episode id,
empty reviewer: nothing was written); 3 could not run (no lake at the URL, a concurrent
override of the same episode).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

qa_app = typer.Typer(
    help="Review labels: the review queue, QA overrides and their log.", no_args_is_help=True
)
_err = Console(stderr=True)
_out = Console() if Console().is_terminal else Console(width=160)

EXIT_REFUSED = 2
EXIT_CANNOT_RUN = 3

LakeOption = Annotated[str, typer.Option("--lake", help="Lake URL (local folder, file://, s3://).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _fail(message: str, code: int) -> None:
    _err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def _require_lake(lake: str) -> None:
    from teleop_lake.lake.storage import Store

    store = Store(lake)
    if not store.exists(""):
        _fail(f"no lake at {lake}: check --lake (run `teleop-lake nightly` first)", EXIT_CANNOT_RUN)


def _label(outcome: Any, reason: Any) -> str:
    return f"{outcome} ({reason})" if reason else str(outcome)


@qa_app.command("override")
def qa_override(
    episode_id: Annotated[str, typer.Argument(help="The episode to relabel (see `qa queue`).")],
    lake: LakeOption,
    outcome: Annotated[str, typer.Option(help="success | failure | unknown")],
    reviewer: Annotated[str, typer.Option(help="Who decides (recorded in the log).")],
    reason: Annotated[
        str | None, typer.Option(help="Failure reason from the taxonomy (required for failure).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why, in words (recorded in the log).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Override an episode's label: appended to the lake's override log, applied to every later
    release (label_source qa_override), never overwritten by the rules."""
    from teleop_lake.lake.overrides import OverrideConflictError
    from teleop_lake.pipeline.qa import OverrideRefusedError, record_override

    _require_lake(lake)
    try:
        rec = record_override(
            lake,
            episode_id,
            outcome=outcome,
            failure_reason=reason,
            reviewer=reviewer,
            note=note,
            now=dt.datetime.now(dt.UTC),
        )
    except OverrideRefusedError as exc:
        _fail(f"override refused, nothing written: {exc}", EXIT_REFUSED)
        return
    except OverrideConflictError as exc:
        _fail(str(exc), EXIT_CANNOT_RUN)
        return
    if as_json:
        typer.echo(json.dumps({**rec.to_dict(), "path": rec.path}))
        return
    prev = rec.previous
    _out.print(
        f"override {rec.override_id}: {_label(rec.outcome, rec.failure_reason)} "
        f"(was {_label(prev.get('outcome'), prev.get('failure_reason'))} "
        f"[{prev.get('label_source')}], from {prev.get('from')}) by {rec.reviewer}; "
        "applied from the next release on",
        markup=False,
        highlight=False,
    )


@qa_app.command("queue")
def qa_queue(
    lake: LakeOption,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Episodes needing review (latest labels, minus those already overridden), most
    important first, each with the reason it is there and the label the evidence offers
    instead (the operator's mark or the rules' verdict), as a ready `qa override` command."""
    from teleop_lake.labeling.review import hint_text, override_command
    from teleop_lake.pipeline.qa import review_queue

    _require_lake(lake)
    queue = review_queue(lake)
    if as_json:
        typer.echo(json.dumps({"total": len(queue), "queue": queue[:limit]}, default=str))
        return
    t = Table(title=f"review queue: {len(queue)} episode(s)")
    cols = (
        "rank",
        "kind",
        "episode_id",
        "center",
        "recording",
        "task_code",
        "label",
        "operator_mark",
        "why",
        "suggested override",
    )
    for c in cols:
        t.add_column(c, overflow="fold")
    for q in queue[:limit]:
        t.add_row(
            str(q["rank"]),
            q["kind"],
            q["episode_id"],
            str(q["center"]),
            str(q.get("recording_id")),
            str(q["task_code"]),
            _label(q["outcome"], q["failure_reason"]),
            str(q["operator_mark"]),
            str(q["review_reason"]),
            hint_text(q.get("suggested_override")),
        )
    _out.print(t, markup=False, highlight=False)
    if queue:
        _out.print("to relabel the first one:", markup=False)
        _out.print(f"  {override_command(queue[0], lake)}", markup=False, highlight=False)


@qa_app.command("log")
def qa_log(
    lake: LakeOption,
    episode_id: Annotated[str | None, typer.Argument(help="Only this episode's overrides.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The override log, oldest first (every version of every overridden episode)."""
    from teleop_lake.lake.overrides import episode_history, is_valid_episode_id, read_override_log
    from teleop_lake.lake.storage import Store

    _require_lake(lake)
    store = Store(lake)
    if episode_id is not None and not is_valid_episode_id(episode_id):
        _fail(f"{episode_id!r} is not an episode id", EXIT_REFUSED)
    records = episode_history(store, episode_id) if episode_id else read_override_log(store)
    if as_json:
        typer.echo(json.dumps({"overrides": [r.to_dict() for r in records]}))
        return
    t = Table(title=f"override log: {len(records)} entr{'y' if len(records) == 1 else 'ies'}")
    for c in ("override_id", "label", "was", "reviewer", "created_at", "note"):
        t.add_column(c, overflow="fold")
    for r in records:
        t.add_row(
            r.override_id,
            _label(r.outcome, r.failure_reason),
            _label(r.previous.get("outcome"), r.previous.get("failure_reason")),
            r.reviewer,
            r.created_at,
            r.note or "",
        )
    _out.print(t, markup=False, highlight=False)
