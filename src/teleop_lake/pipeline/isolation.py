"""Batches run in worker processes the night can kill: no recording hangs or balloons a night.

A C library stuck on a damaged file (an HDF5 chunk, a JPEG, a compressed chunk) cannot be
interrupted from Python, and a recording that decodes to far more than its size can take the
machine's memory. So `process_batch_isolated` hands the batch to a worker process
(`teleop_lake.pipeline.batch_worker`) and watches it:

- before each recording the worker says which one it starts. The recording may take a
  wall time that grows with its size, up to its center's ``[limits] recording_seconds``
  (`CenterProfile.recording_seconds`), and the worker may grow to ``recording_memory_gib``
  (resident memory, checked ten times a second);
- past either, or if the worker dies on it (a crash in a library), the worker is killed, the
  recording is quarantined as ``resource_limit`` with the limit and its files named, and the
  rest of the batch runs again in a fresh worker. A killed worker wrote no segment (a segment
  without its manifest is never published), so what it had done is simply done again;
- lost in the batch's own steps (validating, writing the segment), the batch's recordings
  run again one per batch to find the one at fault; that one stays pending, retried next
  night, and becomes ``stuck_pending`` after `MAX_PENDING_NIGHTS`;
- before a worker is killed for a limit it prints the Python stack of every thread to the
  night's stderr (``faulthandler``), so what was stuck is on record;
- a night asked to stop (`stop_requested`) kills its worker at once: the batch's
  recordings get no outcome and the next night processes them.

Workers import the pipeline once (about 4 s), are reused from batch to batch and die with
the process that started them (`teleop_lake.child_process`); `prewarm` starts them while the
night is still pulling.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from teleop_lake.child_process import spawn_from_long_lived_thread
from teleop_lake.config.centers import load_profile
from teleop_lake.lake.ledger import Outcome, write_outcomes
from teleop_lake.lake.quarantine import quarantine
from teleop_lake.lake.storage import Store
from teleop_lake.network.pull import BronzeRecording
from teleop_lake.pipeline import stage_clock
from teleop_lake.pipeline.batch_result import BatchResult
from teleop_lake.pipeline.heap import batch_process_env
from teleop_lake.pipeline.pull import MAX_PENDING_NIGHTS
from teleop_lake.pipeline.stage_clock import add_center_seconds
from teleop_lake.pipeline.stop import stop_requested
from teleop_lake.processing_params import ProcessingParams
from teleop_lake.rejection import Reason

WORKER_MODULE = "teleop_lake.pipeline.batch_worker"
POLL_S = 0.1
STACK_DUMP_WAIT_S = 0.5
STARTUP_SECONDS = 300.0  # a worker that has not begun its batch by then is broken, not slow
RECYCLE_RSS_BYTES = 2 * 2**30  # a worker left this large after a batch is not reused
_HEADER = struct.Struct("<Q")


@dataclass(frozen=True)
class Limits:
    """What one recording may cost: wall seconds, and the worker's resident memory."""

    seconds: float
    memory_gib: float

    @classmethod
    def of_center(cls, center: str) -> Limits:
        """The most a recording of ``center`` may cost."""
        p = load_profile(center)
        return cls(p.max_recording_seconds, p.max_recording_memory_gib)

    @classmethod
    def of_recording(cls, rec: dict[str, Any]) -> Limits:
        """What this recording may cost: its center's limits, the time scaled by its size."""
        p = load_profile(rec["center"])
        files = (rec.get("manifest") or {}).get("files") or []
        size = sum(int(f.get("size") or 0) for f in files)
        seconds = p.recording_seconds(size) if files else p.max_recording_seconds
        return cls(seconds, p.max_recording_memory_gib)

    @classmethod
    def widest(cls, centers: set[str]) -> Limits:
        """For the batch's own steps: the most any of its centers allows."""
        each = [cls.of_center(c) for c in sorted(centers)] or [cls(900.0, 8.0)]
        return cls(max(x.seconds for x in each), max(x.memory_gib for x in each))


class BatchWorkerError(RuntimeError):
    """The batch raised in its worker (not a recording's fault: the lake, a bug); the worker's
    traceback is the message. The orchestrator's retry runs the batch again."""


class WorkerDied(Exception):
    pass


def send_message(out: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(data)) + data)
    out.flush()


def read_message(inp: IO[bytes]) -> Any:
    """The next message, or None at end of file."""
    head = inp.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (n,) = _HEADER.unpack(head)
    data = inp.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)  # our own worker, over a pipe only we hold


class Worker:
    """One worker process and the messages it sends."""

    def __init__(self) -> None:
        self.proc = spawn_from_long_lived_thread(
            [sys.executable, "-m", WORKER_MODULE, str(os.getpid())],
            env=batch_process_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self._buf = bytearray()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        try:
            send_message(self.proc.stdin, obj)
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(f"could not send it work: {exc}") from exc

    def next_message(self, timeout_s: float) -> Any:
        """A whole message, or None if none arrived within ``timeout_s``; `WorkerDied` at EOF."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self._take()
            if msg is not None:
                return msg
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                self.proc.wait()
                raise WorkerDied(_exit_description(self.proc.returncode))
            self._buf += chunk

    def _take(self) -> Any:
        if len(self._buf) < _HEADER.size:
            return None
        (n,) = _HEADER.unpack_from(self._buf)
        if len(self._buf) < _HEADER.size + n:
            return None
        data = bytes(self._buf[_HEADER.size : _HEADER.size + n])
        del self._buf[: _HEADER.size + n]
        return pickle.loads(data)  # our own worker, over a pipe only we hold

    def rss_bytes(self, field: str = "VmRSS") -> int:
        """Resident memory now (``VmHWM``: its peak; 0 where ``/proc`` is not there)."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(f"{field}:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def reset_peak_rss(self) -> None:
        """Start the ``VmHWM`` peak afresh (Linux 4.0+), so it measures one batch."""
        with contextlib.suppress(OSError), open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5")

    def dump_stack_and_kill(self) -> None:
        """Have the worker print where it is stuck (its SIGUSR1 handler works even inside
        native code), then kill it."""
        if self.alive():
            with contextlib.suppress(OSError):
                os.kill(self.proc.pid, signal.SIGUSR1)
            time.sleep(STACK_DUMP_WAIT_S)
        self.kill()

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    return f"exited with status {code}"


_IDLE: list[Worker] = []
_LOCK = threading.Lock()


def _acquire() -> Worker:
    with _LOCK:
        while _IDLE:
            w = _IDLE.pop()
            if w.alive():
                return w
            w.kill()
    return Worker()


def _release(w: Worker) -> None:
    if w.alive() and w.rss_bytes() < RECYCLE_RSS_BYTES:
        with _LOCK:
            _IDLE.append(w)
    else:
        w.kill()


def prewarm(n: int) -> None:
    """Start ``n`` idle workers now (they import while the night does other work)."""
    with _LOCK:
        missing = n - len(_IDLE)
    for _ in range(max(0, missing)):
        w = Worker()
        with _LOCK:
            _IDLE.append(w)


@atexit.register
def shutdown_workers() -> None:
    """Stop the idle workers (they would also stop on their own at the end of their input)."""
    with _LOCK:
        idle = list(_IDLE)
        _IDLE.clear()
    for w in idle:
        w.kill()


@dataclass
class _Run:
    result: BatchResult | None = None
    stopped: bool = False
    recording: dict[str, Any] | None = None  # what the worker was on when it was lost
    step: str = ""
    why: str = ""


def _run_in_worker(job: dict[str, Any], limits: Limits | None) -> _Run:
    """Run one batch in a worker and watch it until it is done, stopped or lost."""
    centers = {r["center"] for r in job["recordings"]}
    batch_limits = limits or Limits.widest(centers)
    worker = _acquire()
    step, current, lim = "start", None, Limits(STARTUP_SECONDS, batch_limits.memory_gib)
    started = time.monotonic()
    try:
        worker.reset_peak_rss()
        worker.send(job)
        while True:
            if stop_requested():
                worker.kill()
                return _Run(stopped=True)
            msg = worker.next_message(POLL_S)
            if msg is not None:
                kind = msg[0]
                if kind == "step":
                    step, current = msg[1], msg[2]
                    lim = limits or (Limits.of_recording(current) if current else batch_limits)
                    started = time.monotonic()
                elif kind == "done":
                    stage_clock.add(msg[2])
                    result = msg[1]
                    result.worker_peak_rss_bytes = worker.rss_bytes("VmHWM")
                    _release(worker)
                    return _Run(result=result)
                elif kind == "error":
                    _release(worker)
                    raise BatchWorkerError(msg[1])
            elapsed = time.monotonic() - started
            if elapsed > lim.seconds:
                worker.dump_stack_and_kill()
                if step == "start":
                    raise BatchWorkerError(
                        f"the batch worker did not start within {lim.seconds:g} s"
                    )
                return _Run(
                    recording=current,
                    step=step,
                    why=f"still running after {elapsed:.0f} s, past the limit of {lim.seconds:g} s "
                    "(profile [limits] recording_seconds, recording_seconds_per_gib)",
                )
            rss = worker.rss_bytes() if step != "start" else 0  # imports are not the batch's
            if rss > lim.memory_gib * 2**30:
                worker.dump_stack_and_kill()
                return _Run(
                    recording=current,
                    step=step,
                    why=f"its worker grew to {rss / 2**30:.2f} GiB, past the limit of "
                    f"{lim.memory_gib:g} GiB (profile [limits] recording_memory_gib)",
                )
    except WorkerDied as exc:
        worker.kill()
        time.sleep(POLL_S)  # a signal that killed the worker may be stopping the night too
        if stop_requested():
            return _Run(stopped=True)
        return _Run(recording=current, step=step, why=f"its worker process {exc}")
    except BaseException:
        worker.kill()
        raise


def process_batch_isolated(
    lake_url: str,
    run_id: str,
    batch_id: str,
    recordings: list[dict[str, Any]],
    params: ProcessingParams,
    now: dt.datetime,
    *,
    limits: Limits | None = None,
) -> BatchResult:
    """`process_batch` in a worker process under limits (``limits``: instead of the centers'
    profiles). Refusals for a limit are quarantined and written to the ledger here.

    A worker lost on a recording: that recording is quarantined and the rest run again. Lost
    in the batch's own steps (validating, writing): the recordings run again one per batch,
    so the one that cannot be written is found; alone, it stays pending."""
    lake = Store(lake_url)
    result = BatchResult(batch_id=batch_id)
    todo: list[list[dict[str, Any]]] = [list(recordings)]
    attempt = 0
    while todo:
        batch = todo.pop(0)
        part = batch_id if attempt == 0 else f"{batch_id}-r{attempt}"
        attempt += 1
        job = {"lake_url": lake_url, "run_id": run_id, "batch_id": part, "recordings": batch}
        run = _run_in_worker({**job, "params": params, "now": now}, limits)
        if run.stopped:
            return BatchResult(batch_id=batch_id, outcomes=result.outcomes)
        if run.result is not None:
            _merge(result, run.result)
            continue
        if run.recording is None and len(batch) > 1:  # one of them: find it, one at a time
            todo[:0] = [[r] for r in batch]
            continue
        culprit = run.recording or batch[0]
        rest = [r for r in batch if r["content_key"] != culprit["content_key"]]
        outcome = _refuse_for_limit(lake, run_id, part, culprit, run, now)
        result.outcomes.append(outcome.row())
        if rest:
            todo.insert(0, rest)
    return result


def _merge(into: BatchResult, part: BatchResult) -> None:
    into.segment_id = into.segment_id or part.segment_id
    into.outcomes += part.outcomes
    into.validation_failures += part.validation_failures
    into.episodes += part.episodes
    into.worker_peak_rss_bytes = max(into.worker_peak_rss_bytes, part.worker_peak_rss_bytes)
    add_center_seconds(into.seconds_by_center, part.seconds_by_center)


def _refuse_for_limit(
    lake: Store, run_id: str, part: str, recording: dict[str, Any], run: _Run, now: dt.datetime
) -> Outcome:
    """The outcome of a recording its worker was lost on: quarantined (``resource_limit``)
    when it was being decoded or processed; pending when it was being validated or written
    alone (an I/O stall may pass; after `MAX_PENDING_NIGHTS` it is ``stuck_pending``)."""
    rec = BronzeRecording.from_dict(recording)
    files = ", ".join(rec.files)
    if run.recording is None:
        reason = Reason(
            "processing_error",
            f"writing its segment ({run.step} step) was stopped: {run.why}; retried next night "
            f"(at most {MAX_PENDING_NIGHTS} nights)",
        )
        outcome = Outcome.of(rec, run_id, run.step, "pending", (reason,))
    else:
        outcome = quarantine(
            lake,
            rec,
            run_id=run_id,
            stage="process",
            reasons=(
                Reason(
                    "resource_limit",
                    f"decoding and processing {files} was stopped: {run.why}. Check the file "
                    "(a damaged region can make a decoder loop or balloon); if it is sound "
                    "and just large, raise the limit in the center's profile and reprocess",
                    file=files,
                ),
            ),
            now=now,
        )
    write_outcomes(lake, run_id, f"{part}-lost", [outcome])
    return outcome
