"""kill -9 at every write point of a night, then the next night: the books and the releases hold.

A write point is a call that writes to the lake (`Store` writes, copies, removals). The night
is first run whole, counting them; then for each point ``k`` a fresh lake sees a night that
SIGKILLs itself right after its ``k``-th write, followed by an ordinary night. After that:

- no lost outcome: every recording the pull ledger holds has a final outcome;
- no duplicate release: exactly one release, with the episodes of the uninterrupted night;
- no partial release visible: every release verifies (checksums, no stray files, manifest
  hash chain).

The nights are the plain stages (`teleop_lake.pipeline.plain_night`), in a child process so
the kill is real; ``python killpoints.py NET LAKE RUN_ID KILL_AT`` is that child.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

DATE = "2026-11-23"
CENTERS = ("beijing", "jinan", "suzhou", "hefei", "zhengzhou")
NOW = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
WRITES = (
    "write_bytes",
    "write_parquet",
    "write_parquet_tables",
    "copy_verified",
    "write_chunks",
    "remove_tree",
)


def night(
    net: Path, lake: Path, run_id: str, now: dt.datetime, kill_at: int = 0
) -> dict[str, Any] | None:
    """A night in a child process; its write count and release (None: it was killed)."""
    done = subprocess.run(
        [sys.executable, __file__, str(net), str(lake), run_id, now.isoformat(), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode == -signal.SIGKILL:
        return None
    if done.returncode != 0:
        raise AssertionError(f"night {run_id} failed: {done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def check_lake(lake: Path, expected_episodes: set[str]) -> list[str]:
    """What is wrong with the lake after a killed night and a normal one ([]: nothing)."""
    from teleop_lake.lake.ledger import unfinished_recordings
    from teleop_lake.lake.storage import Store
    from teleop_lake.release.publish import list_releases
    from teleop_lake.release.reader import open_release
    from teleop_lake.release.verify import verify_release

    store = Store(str(lake))
    problems = []
    lost = unfinished_recordings(store, list(CENTERS))
    if lost:
        problems.append(f"{len(lost)} recording(s) without a final outcome")
    releases = list_releases(store)
    if len(releases) != 1:
        problems.append(f"{len(releases)} releases, expected 1: {releases}")
    for rid in releases:
        res = verify_release(str(lake), rid)
        if not res.ok:
            problems.append(f"release {rid} fails verify: {res.problems[:3]}")
    if releases:
        got = set(open_release(str(lake)).episodes["episode_id"].to_list())
        if got != expected_episodes:
            problems.append(
                f"LATEST holds {len(got)} episodes, expected {len(expected_episodes)} "
                f"(missing {sorted(expected_episodes - got)[:3]}, extra {sorted(got - expected_episodes)[:3]})"
            )
    return problems


def simulate(root: Path) -> Path:
    from teleop_lake.simulate.network import simulate_network

    net = root / "net"
    simulate_network(
        net,
        episodes_per_center=1,
        seed=31,
        date=DATE,
        centers=CENTERS,
        duration_scale=0.1,
        camera_size=(64, 48),
    )
    return net


def reference(root: Path, net: Path) -> tuple[int, set[str]]:
    """The uninterrupted night: how many writes it makes, and the episodes it publishes."""
    from teleop_lake.release.reader import open_release

    lake = root / "reference-lake"
    out = night(net, lake, "20261124T020000Z-ref", NOW)
    assert out is not None and out["release_id"]
    episodes = set(open_release(str(lake)).episodes["episode_id"].to_list())
    shutil.rmtree(lake)
    return int(out["writes"]), episodes


def kill_at(root: Path, net: Path, k: int, episodes: set[str]) -> dict[str, Any]:
    """Kill a night after its ``k``-th write, run the next night, check the lake."""
    lake = root / f"lake-k{k:04d}"
    killed = night(net, lake, "20261124T020000Z-kill", NOW, kill_at=k) is None
    after = night(net, lake, "20261124T030000Z-next", NOW + dt.timedelta(hours=1))
    problems = check_lake(lake, episodes)
    shutil.rmtree(lake)
    return {
        "kill_at": k,
        "killed": killed,
        "next_release": (after or {}).get("release_id"),
        "problems": problems,
    }


def _child() -> None:
    net, lake, run_id = sys.argv[1], sys.argv[2], sys.argv[3]
    now, kill_at = dt.datetime.fromisoformat(sys.argv[4]), int(sys.argv[5])
    from teleop_lake.lake.storage import Store
    from teleop_lake.pipeline.plain_night import run_plain_night

    count = [0]
    for name in WRITES:
        real = getattr(Store, name)

        def hooked(self: Store, *a: Any, _real: Any = real, **k: Any) -> Any:
            out = _real(self, *a, **k)
            count[0] += 1
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        setattr(Store, name, hooked)
    summary = run_plain_night(net, lake, CENTERS, DATE, run_id, now)
    rel = summary["release"] or {}
    print(json.dumps({"writes": count[0], "release_id": rel.get("release_id")}))


if __name__ == "__main__":
    _child()
