"""One night at a time: the lake's lease is exclusive, renewed while held, taken over when its
night died, and a second `nightly` exits 4 at once, naming the night that holds the lake."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from teleop_lake.lake.lease import (
    LEASE_REL,
    LakeBusyError,
    LeaseLostError,
    hold_lease,
    read_lease,
    release,
    try_acquire,
)
from teleop_lake.lake.storage import Store


def test_the_lease_is_exclusive_until_released(tmp_path: Path) -> None:
    lake = Store(str(tmp_path))
    first = try_acquire(lake, "run-a")
    with pytest.raises(LakeBusyError, match="run run-a") as busy:
        try_acquire(lake, "run-b")
    assert busy.value.lease.token == first.token
    release(lake, first)
    assert read_lease(lake) is None
    assert try_acquire(lake, "run-b").owner == "run-b"


def test_a_dead_nights_lease_expires_and_is_taken_over(tmp_path: Path) -> None:
    lake = Store(str(tmp_path))
    dead = try_acquire(lake, "run-dead", ttl_s=0.05)
    time.sleep(0.1)
    said: list[str] = []
    taken = try_acquire(lake, "run-next", log=said.append)
    assert taken.owner == "run-next" and read_lease(lake) == taken
    assert "took over the expired lease of run run-dead" in said[0]
    assert (tmp_path / "locks" / "expired" / f"{dead.token}.json").exists()


def test_held_leases_are_renewed_and_a_lost_one_is_noticed(tmp_path: Path) -> None:
    lake = Store(str(tmp_path))
    with hold_lease(lake, "run-a", ttl_s=0.3) as still_ours:
        before = read_lease(lake)
        time.sleep(0.5)
        after = read_lease(lake)
        assert before and after and after.token == before.token
        assert after.expires_at > before.expires_at  # the heartbeat moved it
        with pytest.raises(LakeBusyError):
            try_acquire(lake, "run-b")  # renewed: never expired meanwhile
        still_ours()
        # another night took it (our heartbeat had stalled): we must not publish
        doc = json.loads((tmp_path / LEASE_REL).read_text())
        doc["token"] = "someone-else"
        (tmp_path / LEASE_REL).write_text(json.dumps(doc))
        time.sleep(0.3)
        with pytest.raises(LeaseLostError):
            still_ours()
    # only our own lease is released
    assert read_lease(lake) is not None and read_lease(lake).token == "someone-else"  # type: ignore[union-attr]


def test_a_second_nightly_exits_4_at_once(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    held = try_acquire(Store(str(lake)), "20261124T020000Z-other", ttl_s=600)
    env = {**os.environ, "TELEOP_LAKE_HOME": str(tmp_path / "home")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("teleop-lake")),
            "nightly",
            "--network",
            str(tmp_path / "net"),
            "--lake",
            str(lake),
            "--date",
            "2026-11-23",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 4, proc.stderr
    assert "20261124T020000Z-other" in proc.stdout + proc.stderr
    assert time.perf_counter() - t0 < 60  # failed fast: no Prefect server was started
    assert not (tmp_path / "home" / "prefect").exists()
    assert read_lease(Store(str(lake))) == held  # the other night's lease is untouched
    expires = dt.datetime.fromisoformat(held.expires_at)
    assert expires > dt.datetime.now(dt.UTC)
