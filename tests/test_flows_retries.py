"""The night's tasks retry only what can succeed later: a deterministic error (a missing
folder, a permission, a bad argument, a corrupt file, a bug) fails at once, through Prefect's
own task engine, without the retry delay and the repeated tracebacks."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_LOGGING_TO_API_ENABLED,
    temporary_settings,
)

import flows.nightly as nightly
from teleop_lake.local_server import local_prefect_server
from teleop_lake.transient import is_transient

ERRORS: dict[str, BaseException] = {
    "missing folder": FileNotFoundError(errno.ENOENT, "No such file or directory", "/drop/x"),
    "permission": PermissionError(errno.EACCES, "Permission denied", "/lake"),
    "bad argument": ValueError("unknown center 'shanghai'"),
    "bug": KeyError("recording_id"),
    "connection reset": ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    "object store busy": OSError(errno.EBUSY, "SlowDown"),
    "timeout": TimeoutError("read timed out"),
}
TRANSIENT = {"connection reset", "object store busy", "timeout"}


def test_transient_errors_are_known_through_their_cause() -> None:
    class ClientError(Exception):
        pass

    wrapped = ClientError("listing the drop failed")
    wrapped.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert is_transient(wrapped)
    assert not is_transient(ClientError("access denied"))
    assert is_transient(OSError(errno.EREMOTEIO, "InternalError"))  # an object store's 500


def test_tasks_retry_only_errors_that_can_succeed_later(
    prefect_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, int] = {}

    def failing_pull(network_url: str, *args: Any) -> dict[str, Any]:
        calls[network_url] = calls.get(network_url, 0) + 1
        raise ERRORS[network_url]

    monkeypatch.setattr(nightly, "pull_stage", failing_pull)
    pull = nightly.pull_task.with_options(retry_delay_seconds=0)

    @flow(name="retry-check")
    def check() -> None:
        for case in ERRORS:
            pull(case, "lake", "beijing", "run", None, return_state=True)

    # prefect was imported above: its settings take the server's URL from here, not the env
    with (
        local_prefect_server() as url,
        temporary_settings(updates={PREFECT_API_URL: url, PREFECT_LOGGING_TO_API_ENABLED: False}),
    ):
        check()
    expected_retries = nightly.pull_task.retries
    assert expected_retries >= 1
    for case in ERRORS:
        attempts = 1 + expected_retries if case in TRANSIENT else 1
        assert calls[case] == attempts, (case, calls)
