"""Child processes that die with the process that started them.

A night killed with SIGKILL cannot clean up; the kernel can. `die_with_parent` asks it
(``PR_SET_PDEATHSIG``) to SIGKILL the calling process when its parent goes. The signal
follows the *thread* that started the child, so children meant to outlive a worker thread
are started from `spawn_from_long_lived_thread`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PR_SET_PDEATHSIG = 1

# One thread that lives as long as the process: the parent of every long-lived child.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="child-spawner")


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def die_with_parent_in_own_group() -> None:  # a preexec_fn: runs in the child before exec
    die_with_parent()
    os.setsid()  # its own group: a Ctrl-C at the terminal reaches the parent, which stops it


def spawn_from_long_lived_thread(cmd: list[str], **popen_kwargs: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen` from a thread that never exits before the process does."""

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, **popen_kwargs)

    return _SPAWNER.submit(start).result()
