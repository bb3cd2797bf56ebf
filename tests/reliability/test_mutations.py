"""A fast slice of the mutation suite (`make reliability` runs 1,000 cases): damaged
recordings of all four formats are refused for the right reason or published flagged; none
crashes the night, hangs, waits as "transient", or costs more than 2x its clean run's memory."""

from __future__ import annotations

from pathlib import Path

from fuzz import FAILURES, run_fuzz, summary_rows
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.pipeline.isolation import Limits


def test_damaged_recordings_are_refused_or_flagged_never_crash_or_hang(tmp_path: Path) -> None:
    # these recordings take under a second: 20 s still leaves a margin of 20x
    quick = Limits(seconds=20, memory_gib=8)
    cases = list(
        run_fuzz(tmp_path, cases=32, seed=5, per_center=1, camera=SMALL_CAMERA, limits=quick)
    )
    assert len(cases) == 32
    assert {c.raw_format for c in cases} == {"ros1-bag", "ros2-mcap", "hdf5", "parquet-dir"}
    failed = [
        (c.case_id, c.raw_format, c.mutation, c.verdict, c.message)
        for c in cases
        if c.verdict in FAILURES
    ]
    assert failed == []
    total = summary_rows(cases)[-1]
    assert total["refused"] + total["flagged"] > len(cases) / 2  # damage is mostly seen
    assert total["peak_rss_ratio_max"] <= 2.0
    assert not any(Path(tmp_path).glob("round*"))  # each round cleans up after itself
