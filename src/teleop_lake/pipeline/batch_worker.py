"""The worker process of `teleop_lake.pipeline.isolation`: runs batches it reads from stdin.

``python -m teleop_lake.pipeline.batch_worker <parent pid>``. Messages are length-prefixed
pickles on the process's own stdin and stdout (anything a library prints goes to stderr):

- in: a batch job, the keyword arguments of `process_batch`;
- out: ``("step", step, recording)`` before each recording and batch step,
  ``("done", BatchResult, stage seconds)`` or ``("error", traceback)`` after each job.

It exits at the end of its input, and the kernel kills it if its parent dies.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import traceback
from typing import IO, Any

from teleop_lake.child_process import die_with_parent


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    from teleop_lake.pipeline import stage_clock
    from teleop_lake.pipeline.isolation import read_message, send_message
    from teleop_lake.pipeline.process import process_batch

    def progress(step: str, recording: dict[str, Any] | None) -> None:
        send_message(out, ("step", step, recording))

    while (job := read_message(inp)) is not None:
        stage_clock.reset()
        try:
            result = process_batch(**job, progress=progress)
        except Exception:
            send_message(out, ("error", traceback.format_exc()))
            continue
        send_message(out, ("done", result, stage_clock.totals()))


def main() -> None:
    die_with_parent()  # first: the pipeline's imports take seconds
    # Ctrl-C and a SIGTERM to the whole group are for the night, which then kills its workers:
    # a worker dying on its own would look like its recording's fault.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # the night asks where a worker is stuck before killing it (`Worker.dump_stack_and_kill`)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if len(sys.argv) > 1 and os.getppid() != int(sys.argv[1]):
        return  # the parent died before the kernel was told
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # prints of any library go to stderr, not into the messages
    inp = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    serve(inp, out)


if __name__ == "__main__":
    main()
