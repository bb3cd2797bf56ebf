"""The ``teleop-lake`` command line: simulate a network, run a night, verify releases.

Exit codes: 0 done; 1 the command ran and found a problem (e.g. a release that
fails verification); 2 bad usage; 3 could not run (missing lake, no reachable
center, orchestration failure). ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from teleop_lake.cli_qa import qa_app

app = typer.Typer(
    name="teleop-lake",
    help="Turn raw teleoperation recordings from the collection network into clean, labeled, "
    "versioned training datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
release_app = typer.Typer(help="Inspect and verify published releases.", no_args_is_help=True)
app.add_typer(release_app, name="release")
keys_app = typer.Typer(help="Keys that sign releases.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
bench_app = typer.Typer(
    help="Benchmarks: measure and print figures and ratios (never pass/fail).",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")
app.add_typer(qa_app, name="qa")
server_app = typer.Typer(
    help="A long-lived local Prefect server that nights, serve and the UI share.",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")

# Flags take no value: typer's help would print every one as `--json <bool>`.
_display_type = typer.core.TyperOption.display_type_rich


def _flags_untyped(self: typer.core.TyperOption, ctx: Any) -> str | None:
    return None if self.is_flag else _display_type(self, ctx)


typer.core.TyperOption.display_type_rich = _flags_untyped  # type: ignore[method-assign]

console = Console(stderr=True)
out = Console() if Console().is_terminal else Console(width=120)

EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_CANNOT_RUN = 3
EXIT_BUSY = 4
EXIT_SIGINT = 130  # 128 + SIGINT, as shells report it
EXIT_SIGTERM = 143  # 128 + SIGTERM
DEMO_MARKER = ".teleop-lake-demo"


def _prepare_prefect_env(home: Path) -> None:
    """Offline, isolated Prefect defaults; must run before prefect is imported."""
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # progress, on stderr
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


def _fail(message: str, code: int = EXIT_CANNOT_RUN) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _check_configuration() -> None:
    """Center profiles, robot models and the task catalog load and agree, before anything
    runs: a broken file is said with its name, not found by the first recording that needs it."""
    from teleop_lake.config import check_configuration

    problems = check_configuration()
    if problems:
        _fail("the configuration is broken: " + "; ".join(problems))


def _check_centers(centers: list[str] | None) -> None:
    """Every ``--center`` names a profile: a typo is bad usage, said before anything runs."""
    from teleop_lake.config.centers import CENTER_NAMES, UnknownCenterError, load_profile

    unknown = []
    for name in centers or ():
        try:
            load_profile(name)
        except UnknownCenterError:
            unknown.append(name)
    if unknown:
        _fail(
            f"--center {unknown[0]!r}: no such center; known centers: "
            f"{', '.join(CENTER_NAMES)} (a new center needs a profile in "
            "src/teleop_lake/config/centers/)",
            EXIT_USAGE,
        )


def _default_date() -> str:
    return dt.date.today().isoformat()


def _check_lake_writable(lake: str) -> None:
    """The lake exists (or is created) and takes a write, before Prefect starts: a read-only
    folder or bucket is said in a second, not after a minute of retries."""
    import uuid

    from teleop_lake.lake.storage import Store

    store = Store(lake)
    probe = f".write-probe-{uuid.uuid4().hex}"
    try:
        store.fs.makedirs(store.root, exist_ok=True)
    except Exception as exc:
        _fail(f"cannot create the lake at {lake}: {exc}; choose a writable --lake")
    try:
        store.write_bytes(probe, b"")
        store.fs.rm(store.full(probe))
    except Exception as exc:
        _fail(
            f"the lake at {lake} is not writable ({type(exc).__name__}: {exc}); fix its "
            "permissions or choose another --lake"
        )


def _check_network(network: str, centers: list[str] | None) -> None:
    """At least one wanted center's drop folder is there, before Prefect starts: a mistyped
    --network, a missing bucket or an endpoint that refuses connections fails in seconds, not
    after a whole night of unreachable centers. One reachable center is enough: the night
    judges the others center by center (unreachable, silent)."""
    from teleop_lake.config.centers import CENTER_NAMES
    from teleop_lake.lake.storage import Store

    wanted = centers or list(CENTER_NAMES)
    found = False
    error: Exception | None = None
    try:
        drops = Store(network)
        if not drops.is_local or drops.isdir(""):
            found = any(drops.isdir(c) for c in wanted)
    except Exception as exc:  # a remote store: no endpoint, no bucket, no credentials
        error = exc
    if error is not None:
        _fail(
            f"no center was reachable under {network} ({type(error).__name__}: {error}); "
            "check --network, the storage endpoint and its credentials"
        )
    if drops.is_local and not drops.isdir(""):
        _fail(f"no center was reachable under {network}: no such folder; check --network")
    if not found:
        _fail(
            f"no center was reachable under {network}: it holds no folder of "
            f"{', '.join(wanted)}; check --network (one drop folder per center)"
        )


def _check_date(date: str) -> str:
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise typer.BadParameter(f"{date!r} is not a date in the form YYYY-MM-DD") from None
    return date


def _check_params(path: Path | None) -> str | None:
    """The parameters file as an absolute path, read and checked before anything runs."""
    if path is None:
        return None
    from teleop_lake.params_file import ParamsFileError, load_params

    try:
        load_params(path)
    except ParamsFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--params") from None
    return str(path.resolve())


def _spike_sigma(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(":"))
    except ValueError:
        low = high = float("nan")
    if not 0.0 < low <= high:
        raise typer.BadParameter(
            f"{text!r}: expected LOW:HIGH with 0 < LOW <= HIGH, for example 5:10",
            param_hint="--spike-sigma",
        )
    return low, high


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the network into.")],
    episodes_per_center: Annotated[int, typer.Option(min=1, help="Recordings per center.")] = 4,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed writes the same bytes.")
    ] = 0,
    date: Annotated[str, typer.Option(help="Upload date folder (YYYY-MM-DD).")] = "2026-11-23",
    profile: Annotated[str, typer.Option(help="default | stress | clean")] = "default",
    duration_scale: Annotated[float, typer.Option(help="Multiply episode durations.")] = 1.0,
    spike_sigma: Annotated[
        str | None,
        typer.Option(
            metavar="LOW:HIGH",
            help="Spike sizes in noise sigmas, uniform in [LOW, HIGH] (profiles: 20:100).",
        ),
    ] = None,
    camera: Annotated[
        str | None,
        typer.Option(
            metavar="WxH",
            help="Camera frame size in pixels (profiles: 640x480, as the rigs record). "
            "Smaller frames simulate faster when pixels do not matter.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write a simulated collection network: one drop per center plus the ground truth."""
    from teleop_lake.simulate import simulate_network
    from teleop_lake.simulate.params import parse_camera_size, simulation_profile

    _check_date(date)
    sizes = _spike_sigma(spike_sigma) if spike_sigma is not None else None
    camera_size = None
    if camera is not None:
        try:
            camera_size = parse_camera_size(camera)
        except ValueError as exc:
            _fail(f"--camera: {exc}", EXIT_USAGE)
    with console.status(f"simulating {episodes_per_center} recordings per center..."):
        summary = simulate_network(
            out_dir,
            episodes_per_center=episodes_per_center,
            seed=seed,
            date=date,
            profile=profile,
            duration_scale=duration_scale,
            spike_sigma=sizes,
            camera_size=camera_size,
        )
    info = {
        "out_dir": str(out_dir),
        "date": date,
        "seed": seed,
        "profile": profile,
        "spike_sigma": list(sizes) if sizes else None,
        "camera": "x".join(map(str, camera_size or simulation_profile(profile).cameras.size_px)),
        "recordings_per_center": summary.recordings_per_center,
        "files_written": summary.files_written,
        "bytes_written": summary.bytes_written,
    }
    if as_json:
        typer.echo(json.dumps(info))
    else:
        out.print(
            f"wrote {sum(summary.recordings_per_center.values())} recordings "
            f"({summary.bytes_written / 1e6:.1f} MB) to {out_dir}; truth in {out_dir}/_truth"
        )


def _run_night(
    network: str,
    lake: str,
    date: str,
    batch_size: int,
    centers: list[str] | None,
    dask_address: str | None = None,
    params_file: str | None = None,
    wait_for_lake: bool = False,
) -> dict[str, Any]:
    from teleop_lake.lake.lease import LakeBusyError

    _check_lake_writable(lake)
    from teleop_lake.local_server import local_prefect_server, running_server, tool_home

    _prepare_prefect_env(tool_home() / "prefect")
    long_lived = None if os.environ.get("PREFECT_API_URL") else running_server()
    if long_lived is not None:
        os.environ["PREFECT_API_URL"] = long_lived.url
        console.print(
            f"using the Prefect server at {long_lived.ui_url} (teleop-lake server status)"
        )
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        # without a server to use, a private one that dies with this process, however it ends
        with local_prefect_server():
            from flows.nightly import flush_prefect, run_nightly

            try:
                summary = run_nightly(
                    network,
                    lake,
                    date,
                    batch_size,
                    centers,
                    dask_address,
                    params_file,
                    wait_for_lake,
                )
            finally:
                flush_prefect()  # before the server stops
    except LakeBusyError:
        raise
    except (NightStopped, KeyboardInterrupt) as exc:
        code = EXIT_SIGTERM if isinstance(exc, NightStopped) else EXIT_SIGINT
        console.print(
            "[red]error:[/] the night was stopped; the lake is consistent: what was published "
            "is complete, and recordings not finished are retried by the next night"
        )
        raise typer.Exit(code) from None
    except Exception as exc:
        _fail(f"the night could not run: {type(exc).__name__}: {exc}")
        raise  # unreachable
    finally:
        signal.signal(signal.SIGTERM, previous)
    return summary


class NightStopped(KeyboardInterrupt):
    """SIGTERM: stop the night the way Ctrl-C does (Prefect and the lease shut down cleanly)."""


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise NightStopped(f"signal {signum}")


ACCOUNTING_COLUMNS = (
    "pulled",
    "retried",
    "published",
    "quarantined",
    "pending",
    "duplicates",
    "balanced",
)


def _print_stage_seconds(stage_seconds: dict[str, Any]) -> None:
    """Where each center's share of the night went, in wall seconds per stage."""
    if not stage_seconds.get("by_center"):
        return
    stages = stage_seconds["stages"]
    t = Table(title="wall seconds per center and stage")
    t.add_column("center")
    for stage in [*stages, "total"]:
        t.add_column(stage, justify="right")
    for center, row in stage_seconds["by_center"].items():
        cells = [f"{row.get(s, 0.0):.1f}" for s in stages]
        t.add_row(center, *cells, f"{sum(row.values()):.1f}")
    out.print(t)


def _print_summary(summary: dict[str, Any]) -> None:
    t = Table(title=f"run {summary['run_id']}")
    t.add_column("center")
    for col in ACCOUNTING_COLUMNS:
        t.add_column(col, justify="right")
    for a in summary["accounting"]:
        t.add_row(a["center"], *(str(a[k]) for k in ACCOUNTING_COLUMNS))
    out.print(t)
    _print_stage_seconds(summary.get("stage_seconds") or {})
    for q in summary["quarantined"]:
        out.print(f"  quarantined {q['center']}/{q['recording_id']}: {q['message']}")
    for u in summary["unreachable_centers"]:
        out.print(f"  [yellow]unreachable[/] {u['center']} ({u['drop_url']}): {u['error']}")
    rel = summary["release"] or {}
    out.print(
        f"release: {rel.get('release_id') or 'no new release'} "
        f"({rel.get('n_episodes', 0)} episodes, {rel.get('n_frames', 0)} frames)"
    )
    for k, v in summary["report_paths"].items():
        out.print(f"{k}: {v}")


@app.command()
def nightly(
    network: Annotated[str, typer.Option(help="Network root URL: one drop folder per center.")],
    lake: Annotated[str, typer.Option(help="Lake URL (local folder, file://, s3://).")],
    date: Annotated[
        str | None,
        typer.Option(
            help="Night date (YYYY-MM-DD); drops up to this date (default: today, local time)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Recordings per processing task.")] = 6,
    center: Annotated[
        list[str] | None, typer.Option(help="Only these centers (repeatable).")
    ] = None,
    dask_address: Annotated[
        str | None,
        typer.Option(help="Run the tasks on this existing Dask cluster (tcp://host:port)."),
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option(
            "--params",
            help="TOML file of processing parameters (thresholds, repair policy, gates); "
            "default: built-in. See README, 'Processing parameters'.",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If another night holds the lake, wait for it instead of exiting 4.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
) -> None:
    """Run one night: pull, decode, clean, align, label, validate, publish, report.

    One night at a time per lake: with another running, exits 4 saying which (or waits,
    --wait). A night that died leaves a lease that expires within 5 minutes.
    """
    from teleop_lake.lake.lease import LakeBusyError, read_lease
    from teleop_lake.lake.storage import Store

    night = _check_date(date or _default_date())
    params_file = _check_params(params)
    _check_centers(center)
    _check_configuration()
    held = read_lease(Store(lake)) if not wait else None
    if held is not None and not held.expired(dt.datetime.now(dt.UTC)):
        _fail(str(LakeBusyError(held, lake)), EXIT_BUSY)  # before starting Prefect
    _check_network(network, center)
    try:
        summary = _run_night(
            network, lake, night, batch_size, center, dask_address, params_file, wait
        )
    except LakeBusyError as exc:
        _fail(str(exc), EXIT_BUSY)
        return
    if as_json:
        typer.echo(json.dumps(summary, default=str))
    else:
        _print_summary(summary)
    if not summary["balanced"]:
        _fail("the accounting does not balance: this is a bug; see the run summary", EXIT_PROBLEM)
    if summary["unreachable_centers"] and len(summary["unreachable_centers"]) == len(
        summary["accounting"]
    ):
        _fail(f"no center was reachable under {network}; check --network", EXIT_CANNOT_RUN)
    if summary.get("silent_centers"):
        _fail("; ".join(a["message"] for a in summary["silent_centers"]), EXIT_PROBLEM)


@app.command("serve")
def serve_cmd(
    network: Annotated[str, typer.Option(help="Network root URL: one drop folder per center.")],
    lake: Annotated[str, typer.Option(help="Lake URL (local folder, file://, s3://).")],
    cron: Annotated[str, typer.Option(help="When to run, as a cron expression.")] = "0 2 * * *",
    timezone: Annotated[str, typer.Option(help="Time zone of the cron schedule.")] = (
        "Asia/Shanghai"
    ),
    batch_size: Annotated[int, typer.Option(min=1)] = 6,
    params: Annotated[
        Path | None, typer.Option("--params", help="TOML file of processing parameters.")
    ] = None,
) -> None:
    """Register the nightly deployment with its schedule on a Prefect server and run it.

    It uses the server `teleop-lake server start` runs (or PREFECT_API_URL); the schedule
    stays active when this process stops.
    """
    from teleop_lake.local_server import running_server

    if not os.environ.get("PREFECT_API_URL"):
        found = running_server()
        if found is None:
            _fail(
                "serve needs a Prefect server: start one with `teleop-lake server start` "
                "(or set PREFECT_API_URL to another server)"
            )
            return
        os.environ["PREFECT_API_URL"] = found.url
        os.environ["PREFECT_HOME"] = found.prefect_home
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.serve import serve_nightly

    serve_nightly(
        network,
        lake,
        cron=cron,
        timezone=timezone,
        batch_size=batch_size,
        params_file=_check_params(params),
    )


@server_app.command("start")
def server_start(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 4200,
    as_json: Annotated[bool, typer.Option("--json", help="Print the server as JSON.")] = False,
) -> None:
    """Start the long-lived Prefect server (with its UI), or say where the running one is.

    Later `nightly` runs use it instead of starting a private server each (about 6 CPU-seconds
    less per night), and their flow runs stay visible in the UI. It runs until `teleop-lake
    server stop`; its state lives under TELEOP_LAKE_HOME (default ~/.teleop-lake).
    """
    from teleop_lake.local_server import ServerError, start_server

    try:
        info, started = start_server(port=port)
    except ServerError as exc:
        _fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps({"started": started, **dataclasses.asdict(info)}))
        return
    verb = "started" if started else "already running:"
    out.print(f"Prefect server {verb} {info.ui_url} (pid {info.pid}, log {info.log})")
    out.print(
        f"  nights use it; to point other Prefect tools at it: export PREFECT_API_URL={info.url}"
    )


@server_app.command("status")
def server_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Whether the long-lived server runs. Exit 0 when it does, 1 when it does not."""
    from teleop_lake.local_server import running_server, tool_home

    info = running_server()
    if as_json:
        body = {"running": info is not None, **(dataclasses.asdict(info) if info else {})}
        typer.echo(json.dumps(body))
    elif info is None:
        out.print(
            f"no Prefect server runs for {tool_home()}; nights start a private one each "
            "(teleop-lake server start runs a long-lived one)"
        )
    else:
        out.print(
            f"running: {info.ui_url} (pid {info.pid}, since {info.started_at}, log {info.log})"
        )
    if info is None:
        raise typer.Exit(EXIT_PROBLEM)


@server_app.command("stop")
def server_stop() -> None:
    """Stop the long-lived server; later nights start a private one each again."""
    from teleop_lake.local_server import stop_server

    info = stop_server()
    out.print(f"stopped the Prefect server (pid {info.pid})" if info else "no server was running")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to put the demo.")] = Path(
        "demo-output"
    ),
    episodes_per_center: Annotated[int, typer.Option(min=1)] = 3,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed 3 delivers a corrupt, a truncated and an "
            "incomplete recording, so the quarantine shows."
        ),
    ] = 3,
    duration_scale: Annotated[
        float,
        typer.Option(
            min=0.05,
            help="Multiply episode durations: the demo records short episodes at the rigs' "
            "real camera size (640x480, 30 Hz) to stay quick.",
        ),
    ] = 0.3,
) -> None:
    """Simulate a small network and run one night on it with embedded defaults."""
    from teleop_lake.simulate import simulate_network

    if out_dir.exists():
        if not (out_dir / DEMO_MARKER).exists():
            _fail(
                f"{out_dir} exists and is not a demo folder; choose another --out", EXIT_CANNOT_RUN
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / DEMO_MARKER).write_text("created by teleop-lake demo\n")
    os.environ.setdefault("TELEOP_LAKE_HOME", str(out_dir.resolve()))
    date = "2026-11-23"
    network = out_dir / "network"
    with console.status("simulating the collection network..."):
        sim = simulate_network(
            network,
            episodes_per_center=episodes_per_center,
            seed=seed,
            date=date,
            duration_scale=duration_scale,
        )
    out.print(
        f"simulated {sum(sim.recordings_per_center.values())} recordings "
        f"({sim.bytes_written / 1e6:.1f} MB) in {network}"
    )
    lake = out_dir / "lake"
    with console.status("running the night (Prefect, ephemeral)..."):
        summary = _run_night(str(network.resolve()), str(lake.resolve()), date, 6, None)
    _print_summary(summary)
    exe = _command_name()
    out.print(f"\nverify it: {exe} release verify --lake {lake}", markup=False)
    out.print(f"export it: {exe} release export --lake {lake} --format lerobot --out exports")
    if exe != "teleop-lake":
        out.print(f"(or `source {Path(exe).parent}/activate` to have `teleop-lake` on PATH)")


def _command_name() -> str:
    """How to call this command again from the user's shell: ``teleop-lake`` when it is on
    PATH, else its path (a fresh `make demo` runs it from .venv/bin without activating)."""
    found = shutil.which("teleop-lake")
    here = Path(sys.argv[0]).resolve()
    if found is not None and Path(found).resolve() == here:
        return "teleop-lake"
    if here.name != "teleop-lake":  # run some other way (python -m, tests)
        return "teleop-lake"
    relative = os.path.relpath(here)
    return str(here) if relative.startswith("..") else relative


@app.command()
def inspect(
    path: Annotated[
        Path,
        typer.Argument(
            help="A recording (.bag, .mcap, rosbag2 folder, .hdf5, Parquet folder or file).",
            exists=True,
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List a recording's streams: message types, counts, rates, time span and longest gap."""
    from teleop_lake.formats.listing import SUPPORTED, list_streams
    from teleop_lake.formats.ros1_bag import BagReadError
    from teleop_lake.rejection import RecordingRejected

    try:
        topics = list_streams(path)
    except (RecordingRejected, BagReadError, ValueError, OSError) as exc:
        said = str(exc)
        hint = "" if SUPPORTED in said else f". Supported: {SUPPORTED}."
        _fail(f"cannot inspect {path}: {said}{hint}", EXIT_PROBLEM)
        return
    rows = [
        {
            "topic": t.topic,
            "type": t.msgtype,
            "count": t.count,
            "rate_hz": round(t.mean_rate_hz, 2),
            "span_s": round((t.last_ns - t.first_ns) / 1e9, 3),
            "max_gap_s": round(t.max_gap_s, 3),
            "first_ns": t.first_ns,
            "last_ns": t.last_ns,
        }
        for t in topics
    ]
    if as_json:
        typer.echo(json.dumps({"path": str(path), "streams": rows}))
        return
    t = Table(title=str(path))
    cols = ("topic", "type", "count", "rate_hz", "span_s", "max_gap_s")
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*(str(r[c]) for c in cols))
    out.print(t)


@bench_app.command("decode")
def bench_decode(
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 1,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Bulk vs per-message decoding of the 500 Hz joint stream, and decode+standardize cost.

    Simulates one fault-free recording per center (full duration) in a temporary folder.
    """
    import tempfile

    from teleop_lake.config.centers import CENTER_NAMES, load_profile
    from teleop_lake.formats.bench import first_recording, measure_recording
    from teleop_lake.simulate import simulate_network

    rows = []
    with tempfile.TemporaryDirectory(prefix="teleop-bench-") as tmp:
        simulate_network(tmp, episodes_per_center=1, seed=seed, date="2026-11-23", profile="clean")
        for center in CENTER_NAMES:
            profile = load_profile(center)
            date_dir, line = first_recording(Path(tmp) / center)
            f = measure_recording(date_dir, line, profile)
            rows.append(
                {
                    "center": center,
                    "format": f.raw_format,
                    "episode_s": round(f.episode_s, 1),
                    "joint_msgs": f.joint_messages,
                    "bulk_ms": round(f.bulk_s * 1e3, 2),
                    "per_msg_ms": round(f.per_message_s * 1e3, 1),
                    "speedup": round(f.speedup, 1),
                    "max_abs_diff": f.max_abs_diff,
                    "core_s_per_60s": round(f.core_s_per_60s, 4),
                }
            )
    if as_json:
        typer.echo(json.dumps({"rows": rows, "targets": {"speedup": 10, "core_s_per_60s": 0.15}}))
        return
    t = Table(title="decode: bulk vs per message (joint_state); decode+standardize per 60 s")
    for c in rows[0]:
        t.add_column(c)
    for r in rows:
        t.add_row(*(str(v) for v in r.values()))
    out.print(t)
    out.print("targets: speedup >= 10x on the 500 Hz joint stream; <= 0.15 core-s per 60 s episode")


@app.command()
def evaluate(
    network: Annotated[
        list[str],
        typer.Option(help="Simulated network root (holds _truth/); repeat with --lake per pair."),
    ],
    lake: Annotated[
        list[str], typer.Option(help="Lake URL the night was processed into (one per --network).")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Write the JSON report here.")],
    run: Annotated[
        str | None, typer.Option("--run", help="Only this run id; default: every run.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Score processed nights against their networks' ground truth (docs/EVALUATION.md).

    One --network/--lake pair: that night's scores. Several pairs (in order): every network's
    report plus the worst value of each score over them, printed next to its target."""
    from teleop_lake.evaluation.night import EvaluationInputError, evaluate_many, evaluate_night
    from teleop_lake.evaluation.scorecard import table_rows
    from teleop_lake.evaluation.targets import merged_table_rows

    if len(network) != len(lake):
        _fail(
            f"{len(network)} --network but {len(lake)} --lake: give one lake per network, "
            "in the same order",
            EXIT_USAGE,
        )
        return
    pairs = list(zip(network, lake, strict=True))
    try:
        report = evaluate_night(*pairs[0], run) if len(pairs) == 1 else evaluate_many(pairs, run)
    except EvaluationInputError as exc:
        _fail(str(exc), EXIT_PROBLEM)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(report, default=str))
        return
    if len(pairs) == 1:
        t = Table(title=f"evaluation of {', '.join(report['scope']['runs'])} against {network[0]}")
        for c in ("metric", "value", "target", ""):
            t.add_column(c)
        for row in table_rows(report):
            t.add_row(*row)
    else:
        t = Table(title=f"worst over {len(pairs)} networks")
        for c in ("metric", "worst", "target", "", "per network"):
            t.add_column(c)
        for merged_row in merged_table_rows(report):
            t.add_row(*merged_row)
    out.print(t)
    out.print(f"report: {out_file}")


@bench_app.command("clean")
def bench_clean(
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 1,
    repeats: Annotated[int, typer.Option(min=1, help="Timed repetitions (median).")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Core-seconds of cleaning + alignment of a 60 s episode, with the per-stage split.

    Simulates one fault-free 60 s recording (500 Hz joints, command, head pose, cameras) in a
    temporary folder, decodes and standardizes it once, then times the stages.
    """
    from teleop_lake.evaluation.bench import CLEAN_BUDGET_CORE_S, bench_cleaning

    res = bench_cleaning(seed=seed, repeats=repeats)
    if as_json:
        typer.echo(json.dumps(res))
        return
    t = Table(title=f"clean + align, {res['episode_s']:.1f} s episode scaled to 60 s (core-s)")
    for c in ("stage", "core_s_per_60s", "share"):
        t.add_column(c)
    for stage, core_s in res["stages_core_s_per_60s"].items():
        t.add_row(stage, f"{core_s:.4f}", f"{core_s / res['total_core_s_per_60s']:.0%}")
    out.print(t)
    out.print(
        f"cleaning + alignment: {res['total_core_s_per_60s']:.4f} core-s per 60 s "
        f"(target <= {CLEAN_BUDGET_CORE_S}); process_recording incl. labeling and scoring: "
        f"{res['process_recording_core_s_per_60s']:.4f}"
    )


@bench_app.command("cameras")
def bench_cameras(
    frames: Annotated[int, typer.Option(min=64, help="Frames to store (30 Hz: 240 = 8 s).")] = 240,
    size: Annotated[str, typer.Option(metavar="WxH", help="Frame size.")] = "640x480",
    repeats: Annotated[int, typer.Option(min=1, help="Timed repetitions (best of).")] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Size and read speed of a release's camera layout against decoded-pixel Zarr arrays.

    Renders the frames with the simulator, stores them each way in a temporary folder and
    reads them back as pixels: all in order, 32 at random, and (JPEG only) at 1/8 scale.
    """
    from teleop_lake.evaluation.camera_layouts import measure_layouts
    from teleop_lake.simulate.params import parse_camera_size

    try:
        size_px = parse_camera_size(size)
    except ValueError as exc:
        _fail(f"--size: {exc}", EXIT_USAGE)
    with console.status(f"storing and reading {frames} frames of {size} three ways..."):
        res = measure_layouts(n_frames=frames, size=size_px, repeats=repeats)
    if as_json:
        typer.echo(json.dumps(res))
        return
    t = Table(
        title=f"{res['frames']} frames {res['size']}, JPEG {res['jpeg_kb_per_frame']:.1f} kB/frame"
        " (CPU ms per frame, best of repeats)"
    )
    cols = ("layout", "MB", "x JPEG", "write", "read all", "read random", "read 1/8 scale")
    for c in cols:
        t.add_column(c)
    for r in res["layouts"]:
        eighth = r["read_all_eighth_scale_s_per_frame"]
        t.add_row(
            r["layout"],
            f"{r['bytes'] / 1e6:.1f}",
            f"{r['bytes_vs_jpeg']:.2f}",
            f"{r['write_s_per_frame'] * 1e3:.2f}",
            f"{r['read_all_s_per_frame'] * 1e3:.2f}",
            f"{r['read_random_s_per_frame'] * 1e3:.2f}",
            "-" if eighth is None else f"{eighth * 1e3:.2f}",
        )
    out.print(t)


@bench_app.command("export")
def bench_export(
    episodes_per_center: Annotated[
        int, typer.Option(min=1, help="Episodes each of the five centers records.")
    ] = 1,
    duration_scale: Annotated[
        float, typer.Option(min=0.05, help="Multiply the tasks' episode durations.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What exporting a release costs per format (LeRobot with videos, LeRobot with JPEG
    images, Zarr 2 replay buffer), at the rigs' camera size: bytes against the release's
    camera bytes, core-seconds per row and per minute of data, peak RSS."""
    from teleop_lake.evaluation.export_bench import measure_exports

    with console.status("simulating a network at real camera size, a night, three exports..."):
        res = measure_exports(episodes_per_center, duration_scale, seed)
    if as_json:
        typer.echo(json.dumps(res))
        return
    t = Table(title=f"exports of {res['episodes']} episodes ({res['cameras']})")
    cols = ("variant", "rows", "MB", "x camera bytes", "core ms/row", "core-s/min", "wall s")
    for c in (*cols, "peak RSS MB"):
        t.add_column(c)
    for r in res["variants"]:
        t.add_row(
            r["variant"],
            str(r["rows"]),
            f"{r['bytes'] / 1e6:.1f}",
            f"{r['bytes_vs_camera']:.2f}",
            f"{r['core_ms_per_row']:.2f}",
            f"{r['core_s_per_minute']:.1f}",
            f"{r['wall_s']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
        )
    out.print(t)


@bench_app.command("night")
def bench_night(
    episodes: Annotated[int, typer.Option(min=1, help="Episodes of the small night (N).")] = 2,
    scale: Annotated[int, typer.Option(min=2, help="The large night has scale x N.")] = 10,
    duration_scale: Annotated[
        float, typer.Option(help="Multiply episode durations (4.0: ~40-80 s episodes).")
    ] = 4.0,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 1,
    prefect: Annotated[
        bool, typer.Option(help="Also run each night through the Prefect flow.")
    ] = True,
    workdir: Annotated[
        Path | None, typer.Option(help="Where to simulate (default: the system temp folder).")
    ] = None,
    dask_workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Also run the large night on a local Dask cluster of 1 and this many "
            "workers (1: skip).",
        ),
    ] = 2,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A night of N and of 10 x N simulated Kuavo episodes at real camera size, against its
    I/O floor measured in the same run: per-stage core-seconds, ratios, peak RSS, throughput.

    Needs about 0.35 GB of disk per minute of recording, twice (drop and lake).
    """
    from teleop_lake.evaluation.night_bench import bench_night as run_bench

    with console.status(f"simulating and running nights of {episodes} and {episodes * scale}..."):
        res = run_bench(
            episodes=episodes,
            scale=scale,
            seed=seed,
            duration_scale=duration_scale,
            prefect=prefect,
            workdir=str(workdir) if workdir else None,
            dask_workers=dask_workers,
        )
    if as_json:
        typer.echo(json.dumps(res))
        return
    runs = res["runs"]
    t = Table(title=f"nights of {res['center']} episodes, cameras {res['camera']}")
    rows = (
        ("episodes / data s", lambda r: f"{r['episodes']} / {r['data_s']:.0f}"),
        ("night CPU s / wall s", lambda r: f"{r['night_cpu_s']:.1f} / {r['night_wall_s']:.1f}"),
        ("I/O floor CPU s / wall s", lambda r: f"{r['floor_cpu_s']:.1f} / {r['floor_wall_s']:.1f}"),
        ("CPU vs floor", lambda r: f"{r['cpu_vs_floor']:.2f}x (target <= 3x)"),
        ("core-s per 60 s episode", lambda r: f"{r['core_s_per_60s']:.2f}"),
        ("episodes per core-s", lambda r: f"{r['episodes_per_core_s']:.3f}"),
        ("peak RSS", lambda r: f"{r['peak_rss_bytes'] / 2**30:.2f} GiB"),
        ("largest recording", lambda r: f"{r['largest_recording_bytes'] / 1e6:.0f} MB"),
        (
            "raw / release MB",
            lambda r: f"{r['raw_bytes'] / 1e6:.0f} / {r['release_bytes'] / 1e6:.0f}",
        ),
        ("release cameras vs bag", lambda r: f"{r['camera_bytes_vs_bag']:.3f} (target <= 1.1)"),
        (
            "night vs copy bandwidth",
            lambda r: (
                f"{r['night_bytes_s'] / 1e6:.0f} / {r['copy_bandwidth_bytes_s'] / 1e6:.0f} "
                f"MB/s = {r['night_bytes_s_vs_copy']:.2f} (target >= 0.8)"
            ),
        ),
        (
            "Dask: wall 1 worker / n workers",
            lambda r: (
                " / ".join(f"{d['wall_s']:.1f} s ({d['workers']})" for d in r["dask"])
                + f" = {r['dask_speedup']:.2f}x"
                if "dask" in r
                else "-"
            ),
        ),
        (
            "orchestration share",
            lambda r: (
                f"{r['orchestration_share']:.0%} of {r['prefect_cpu_s']:.1f} CPU s"
                if "orchestration_share" in r
                else "-"
            ),
        ),
        (
            "cores busy (flow night)",
            lambda r: f"{r['cores_used']:.2f} (target >= 1.8)" if "cores_used" in r else "-",
        ),
        (
            "fixed cost: empty night CPU s",
            lambda r: (
                f"{r['fixed_cpu_s']:.1f} long-lived server / "
                f"{r['fixed_cpu_private_server_s']:.1f} private (target <= 3)"
                if "fixed_cpu_s" in r
                else "-"
            ),
        ),
    )
    t.add_column("")
    for label in runs:
        t.add_column(label)
    for name, fmt in rows:
        t.add_row(name, *(fmt(r) for r in runs.values()))
    out.print(t)
    big = list(runs.values())[-1]
    st = Table(title=f"where the {list(runs)[-1]} night's CPU goes")
    for c in ("stage", "CPU s", "wall s", "share of CPU"):
        st.add_column(c)
    for stage, v in sorted(big["stages"].items(), key=lambda kv: -kv[1]["cpu_s"]):
        st.add_row(
            stage,
            f"{v['cpu_s']:.2f}",
            f"{v['wall_s']:.2f}",
            f"{v['cpu_s'] / big['night_cpu_s']:.0%}",
        )
    out.print(st)
    nn, sp = res["network_night"], res["signal_path"]
    out.print(
        f"peak RSS {list(runs)[-1]} / 1x: {res['rss_ratio']:.2f} (target <= 1.2)\n"
        f"signal path ({', '.join(sp['stages'])}): {sp['core_s_per_added_60s']:.2f} core-s per "
        f"added minute of data; a network night of it: {sp['network_night_cpu_hours']:.1f} CPU h "
        f"= {sp['network_night_hours_on_one_machine']:.2f} h on one 2-core machine "
        "(target <= 1 h)\n"
        f"the whole night of {nn['episodes']:,} one-minute episodes, camera bytes included: "
        f"{nn['cpu_hours']:.1f} CPU h = {nn['hours_on_one_machine']:.1f} h on one 2-core machine; "
        f"its floor is the disk: {nn['bytes'] / 1e12:.1f} TB delivered, {nn['copy_hours']:.1f} h "
        "to copy at this machine's bandwidth"
    )


@bench_app.command("spikes")
def bench_spikes(
    seed: Annotated[int, typer.Option(help="Random seed of the generated signals.")] = 1,
    million_samples: Annotated[
        float, typer.Option(min=0.1, help="Noise-only samples for the false-spike rate.")
    ] = 12.0,
    budget: Annotated[
        float,
        typer.Option(
            min=1e-12, max=0.1, help="False alarms per sample allowed to the best-possible line."
        ),
    ] = 2e-7,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """False spikes on noise, and spike recall by size next to the best any detector could do.

    Generates fast smooth joint motion with Gaussian noise (known answer), counts spike
    findings on noise alone, then injects spikes of 5 to 20 noise sigmas and measures how many
    are found. "best possible" is a detector that knows the true signal and reads one sample,
    with its threshold set so that noise trips it at --budget per sample.
    """
    from teleop_lake.evaluation.spike_bench import bench_spikes as run_bench

    res = run_bench(seed=seed, million_samples=million_samples, budget_per_sample=budget)
    if as_json:
        typer.echo(json.dumps(res))
        return
    t = Table(title="spike recall by size (noise sigmas)")
    for c in ("size", "runs found", "samples found", "best possible"):
        t.add_column(c, justify="right")
    for row in res["by_size"]:
        t.add_row(
            f"{row['size_sigma']:g}x",
            f"{row['recall_runs']:.3f}",
            f"{row['recall_samples']:.3f}",
            f"{row['best_possible']:.3f}",
        )
    out.print(t)
    out.print(
        f"false spikes on noise: {res['false_spikes']} in {res['samples'] / 1e6:.1f} M samples "
        f"({res['false_spikes_per_million']:.3f} per million; best-possible threshold "
        f"{res['best_possible_threshold_sigma']:.2f} sigma at {res['budget_per_sample']:g} "
        f"per sample); detection {res['core_s_per_million']:.3f} core-s per million samples"
    )


@release_app.command("verify")
def release_verify(
    lake: Annotated[str, typer.Option(help="Lake URL.")],
    release_id: Annotated[str | None, typer.Argument(help="Release id; default: latest.")] = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            help="PEM file of the lake's Ed25519 public key: the manifest must carry its "
            "valid signature (`teleop-lake keys new`; publish signs with TELEOP_LAKE_SIGNING_KEY)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute every checksum of a release, flag files it does not list, check its manifest
    against the hash recorded at commit (and its signature, with --public-key); exit 1 on any
    problem."""
    from teleop_lake.lake.layout import BadIdError
    from teleop_lake.release.signing import SignatureError
    from teleop_lake.release.verify import ReleaseNotFoundError, verify_release

    try:
        res = verify_release(lake, release_id, public_key)
    except SignatureError as exc:  # the key file itself is unusable
        _fail(str(exc), EXIT_USAGE)
        return
    except BadIdError as exc:
        _fail(str(exc), EXIT_USAGE)
        return
    except ReleaseNotFoundError as exc:
        _fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(res.to_dict()))
    elif res.ok:
        chained = (
            "its manifest matches the hash recorded at commit"
            if res.manifest_checked
            else "its manifest predates recorded hashes and was not checked"
        )
        signed = "; signature valid" if res.signature_checked else ""
        out.print(
            f"release {res.release_id}: OK, {res.n_files} files, "
            f"{res.n_bytes / 1e6:.1f} MB verified; {chained}{signed}"
        )
    else:
        for p in res.problems:
            out.print(f"[red]{p['problem']}[/] {p['path']}")
        out.print(
            f"release {res.release_id}: {len(res.problems)} problem(s) in {res.n_files} files"
        )
    if not res.ok:
        raise typer.Exit(EXIT_PROBLEM)


@release_app.command("export")
def release_export(
    lake: Annotated[str, typer.Option(help="Lake URL.")],
    out_dir: Annotated[
        str,
        typer.Option(
            "--out",
            help="New or empty folder (or fsspec URL): one dataset per robot model "
            "and end effector goes below it.",
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="lerobot: a LeRobot v3.0 dataset (LeRobotDataset loads it); replay-buffer: a "
            "Zarr format 2 store in the diffusion-policy/UMI layout.",
        ),
    ],
    release_id: Annotated[str | None, typer.Argument(help="Release id; default: latest.")] = None,
    center: Annotated[
        list[str] | None, typer.Option(help="Only this center (repeat for more).")
    ] = None,
    robot_model: Annotated[
        list[str] | None, typer.Option(help="Only this robot model (repeat for more).")
    ] = None,
    task: Annotated[
        list[str] | None, typer.Option(help="Only this task code (repeat for more).")
    ] = None,
    outcome: Annotated[
        list[str] | None,
        typer.Option(help="Only this outcome: success, failure or unknown (repeat for more)."),
    ] = None,
    min_quality: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Only episodes with quality_score >= this.")
    ] = 0.0,
    fps: Annotated[
        int, typer.Option(help="Rows per second: the 50 Hz grid, or every k-th row (25, 10, ...).")
    ] = 50,
    cameras: Annotated[
        str,
        typer.Option(
            help="lerobot only: video (H.264 MP4s encoded from the frames; LeRobot needs "
            "torchcodec and FFmpeg to decode them) or image (the rig's JPEG bytes in the data "
            "files, no re-encode)."
        ),
    ] = "video",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Export a release (default: the latest) for training, filtered by center, robot model,
    task, outcome and quality. Labels are the release's, with QA overrides; camera frames are
    the rig's JPEG bytes; episodes a dataset cannot hold whole are listed with the reason."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from teleop_lake.lake.layout import BadIdError
    from teleop_lake.release.export import (
        ExportFilter,
        ExportTargetError,
        export_release,
    )
    from teleop_lake.release.export.frames import ExportRateError
    from teleop_lake.release.export.selection import EmptySelectionError
    from teleop_lake.release.verify import ReleaseNotFoundError

    selection = ExportFilter(
        centers=tuple(center or ()),
        robot_models=tuple(robot_model or ()),
        tasks=tuple(task or ()),
        outcomes=tuple(outcome or ()),
        min_quality=min_quality,
    )
    if fmt not in ("lerobot", "replay-buffer"):
        _fail(f"--format {fmt!r}: choose lerobot or replay-buffer", EXIT_USAGE)
    if cameras not in ("video", "image"):
        _fail(f"--cameras {cameras!r}: choose video or image", EXIT_USAGE)
    with Progress(
        TextColumn("exporting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
        disable=as_json,
    ) as progress:
        bar = progress.add_task("", total=None)

        def advance(episode_id: str) -> None:
            progress.update(bar, advance=1, description=episode_id)

        try:
            res = export_release(
                lake,
                out_dir,
                fmt,
                release_id,
                selection,
                fps,
                on_episode=advance,
                videos=cameras == "video",
            )
        except (BadIdError, ExportRateError, ExportTargetError) as exc:
            _fail(str(exc), EXIT_USAGE)
            return
        except ReleaseNotFoundError as exc:
            _fail(str(exc))
            return
        except EmptySelectionError as exc:
            _fail(f"{exc}; loosen the filters", EXIT_PROBLEM)
            return
    if as_json:
        typer.echo(json.dumps(res.to_dict()))
        return
    t = Table(title=f"release {res.release_id} -> {res.out} ({res.format})")
    for c in ("dataset", "episodes", "frames", "MB", "skipped"):
        t.add_column(c)
    for d in res.datasets:
        t.add_row(
            d["name"],
            str(d["episodes"]),
            str(d["frames"]),
            f"{d['bytes_written'] / 1e6:.1f}",
            str(len(d["skipped"])),
        )
    out.print(t)
    for d in res.datasets:
        for eid, why in d["skipped"].items():
            out.print(f"  skipped {d['name']}/{eid}: {why}")


@release_app.command("diff")
def release_diff(
    lake: Annotated[str, typer.Option(help="Lake URL.")],
    release_a: Annotated[str, typer.Argument(help="The release to compare from.")],
    release_b: Annotated[str, typer.Argument(help="The release to compare to.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
) -> None:
    """What changed from RELEASE_A to RELEASE_B: episodes added, removed (and why), updated,
    relabeled (old -> new, by whom and why), and schema changes."""
    from teleop_lake.lake.layout import BadIdError
    from teleop_lake.release.lineage import diff_releases
    from teleop_lake.release.verify import ReleaseNotFoundError

    try:
        diff = diff_releases(lake, release_a, release_b)
    except BadIdError as exc:
        _fail(str(exc), EXIT_USAGE)
        return
    except ReleaseNotFoundError as exc:
        _fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(diff.to_dict()))
        return
    out.print(
        f"{diff.a} -> {diff.b}: {len(diff.added)} added, {len(diff.removed)} removed, "
        f"{len(diff.updated)} updated (reprocessed), {len(diff.relabeled)} relabeled"
    )
    for eid in diff.added:
        out.print(f"  added     {eid}")
    for r in diff.removed:
        out.print(f"  removed   {r['episode_id']}: {r['reason']}: {r['detail']}", markup=False)
    for eid in diff.updated:
        out.print(f"  updated   {eid}")
    for r in diff.relabeled:
        old, new = r["old"], r["new"]
        why = f" ({r['why']})" if r["why"] else ""
        out.print(
            f"  relabeled {r['episode_id']}: {old['outcome']}/{old['failure_reason']} -> "
            f"{new['outcome']}/{new['failure_reason']} by {r['by']}{why}",
            markup=False,
        )
    schema = diff.schema
    versions = schema["schema_version"]
    changed = [
        f"{k.replace('_', ' ')}: {', '.join(v)}"
        for k, v in schema.items()
        if k != "schema_version" and v
    ]
    if versions[0] != versions[1] or changed:
        out.print(f"  schema {versions[0]} -> {versions[1]}" + "".join(f"; {c}" for c in changed))


@release_app.command("promote")
def release_promote(
    lake: Annotated[str, typer.Option(help="Lake URL.")],
    release_id: Annotated[str, typer.Argument(help="The release partners should train on.")],
    by: Annotated[
        str | None, typer.Option(help="Who promotes it (default: the login name).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why, for the promotion log.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Point releases/STABLE at RELEASE_ID once it verifies, and log who and why in
    releases/promotions/. Nights never move it; partners read it with
    open_release(lake, "stable"). Exit 1 when the release does not verify."""
    import getpass

    from teleop_lake.lake.layout import BadIdError
    from teleop_lake.release.lineage import PromotionRefusedError, promote_release
    from teleop_lake.release.verify import ReleaseNotFoundError

    try:
        record = promote_release(
            lake, release_id, by or getpass.getuser(), note, dt.datetime.now(dt.UTC)
        )
    except BadIdError as exc:
        _fail(str(exc), EXIT_USAGE)
        return
    except ReleaseNotFoundError as exc:
        _fail(str(exc))
        return
    except PromotionRefusedError as exc:
        _fail(str(exc), EXIT_PROBLEM)
        return
    if as_json:
        typer.echo(json.dumps(record))
        return
    previous = record["previous_stable"] or "none"
    out.print(f"stable: {release_id} (was {previous}), promoted by {record['promoted_by']}")


@keys_app.command("new")
def keys_new(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the key pair (kept private).")],
) -> None:
    """Make an Ed25519 key pair for signing releases: ``release-signing.key`` (private, mode
    0600; point TELEOP_LAKE_SIGNING_KEY at it where nights run, never put it in the lake) and
    ``release-signing.pub`` (give it to partners: `release verify --public-key`)."""
    from teleop_lake.release.signing import new_key_pair

    try:
        private, public = new_key_pair(out_dir)
    except FileExistsError:
        _fail(f"{out_dir}/release-signing.key exists; not overwritten", EXIT_USAGE)
        return
    out.print(f"private key: {private} (keep it secret)\npublic key:  {public}")


@release_app.command("list")
def release_list(
    lake: Annotated[str, typer.Option(help="Lake URL.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List committed releases, oldest first, each with its manifest's sha256 (pin a release
    by it: `release verify` checks the manifest still has it) and whether it is signed."""
    from teleop_lake.lake import layout
    from teleop_lake.lake.storage import Store
    from teleop_lake.release.lineage import stable_release
    from teleop_lake.release.publish import latest_release_id, list_releases, manifest_sha256
    from teleop_lake.release.signing import SIGNATURE_SUFFIX

    store = Store(lake)
    if not store.exists(layout.RELEASES_DIR):
        _fail(f"no releases in {lake}: is it the lake's URL? (a night creates releases/)")
    stable, _ = stable_release(store)
    rows = []
    for rid in list_releases(store):
        mpath = f"{layout.release_dir(rid)}/{layout.RELEASE_MANIFEST_NAME}"
        m = store.read_json(mpath)
        rows.append(
            {
                "release_id": rid,
                "created_at": m["created_at"],
                "episodes": m["counts"]["episodes"],
                "frames": m["counts"]["frames"],
                "parent": m["parent_release_id"],
                "by_outcome": m["counts"].get("by_outcome", {}),
                **{k: m["changelog"][k] for k in ("added", "updated", "removed")},
                "relabeled": m["changelog"].get("relabeled", 0),
                "manifest_sha256": manifest_sha256(store, rid),
                "signed": store.exists(f"{mpath}{SIGNATURE_SUFFIX}"),
            }
        )
    if as_json:
        typer.echo(
            json.dumps({"latest": latest_release_id(store), "stable": stable, "releases": rows})
        )
        return
    t = Table(caption="changes against the parent: +added ~updated -removed, relabeled")
    for c in ("release", "created", "episodes", "frames", "outcomes s/f/u", "changes"):
        t.add_column(c)
    t.add_column("manifest sha256")
    t.add_column("signed")
    for r in rows:
        name = f"{r['release_id']} (stable)" if r["release_id"] == stable else r["release_id"]
        outcomes = "/".join(
            str(r["by_outcome"].get(k, 0)) for k in ("success", "failure", "unknown")
        )
        changes = f"+{r['added']} ~{r['updated']} -{r['removed']}, {r['relabeled']} relabeled"
        t.add_row(
            name,
            str(r["created_at"])[:16].replace("T", " "),
            str(r["episodes"]),
            str(r["frames"]),
            outcomes,
            changes,
            str(r["manifest_sha256"])[:12],
            "yes" if r["signed"] else "",
        )
    out.print(t)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
