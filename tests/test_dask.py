"""Scale-out: the same night with its tasks on a real Dask cluster (worker processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.simulate import simulate_network

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DATE = "2026-11-23"


def test_night_on_a_dask_cluster(tmp_path: Path, prefect_home: Path) -> None:
    from distributed import LocalCluster

    net, lake = tmp_path / "net", tmp_path / "lake"
    simulate_network(
        net,
        episodes_per_center=2,
        seed=8,
        date=DATE,
        duration_scale=0.3,
        camera_size=SMALL_CAMERA,
        centers=["beijing", "zhengzhou"],
        profile="clean",
    )
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    ) as cluster:
        env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "teleop-lake"),
                "nightly",
                "--network",
                str(net),
                "--lake",
                str(lake),
                "--date",
                DATE,
                "--center",
                "beijing",
                "--center",
                "zhengzhou",
                "--dask-address",
                cluster.scheduler_address,
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        summary = json.loads(proc.stdout)
        assert summary["balanced"] and summary["totals"]["pulled"] == 4
        # 4 recordings of one robot model and 2 worker threads: 2 batches of 2 (one full
        # batch of the default size 6 would leave a worker idle)
        assert summary["totals"]["published"] == 4
        assert len({e["segment_id"] for e in summary["episodes"]}) == 2, summary["episodes"]
        # the work really ran on the cluster
        with cluster.get_client() as client:
            prefixes = client.run_on_scheduler(
                lambda dask_scheduler: sorted(dask_scheduler.task_prefixes)
            )
        print(prefixes)
        assert any("process" in p for p in prefixes), prefixes
    assert (lake / "releases" / "LATEST").exists()
