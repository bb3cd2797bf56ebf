"""The night benchmark's arithmetic: what it extrapolates to a network night."""

from __future__ import annotations

import pytest

from teleop_lake.evaluation.night_bench import SIGNAL_STAGES, _signal_path


def _run(data_s: float, **cpu: float) -> dict:
    return {"data_s": data_s, "stages": {k.replace("_", " "): {"cpu_s": v} for k, v in cpu.items()}}


def test_the_signal_path_is_priced_per_added_minute_without_bytes_or_fixed_costs() -> None:
    # 3 s of imports and first calls in both nights; 0.5 core-s per minute on top; the pull
    # and the segment's camera tables move bytes and do not count
    one = _run(60.0, decode=2.0, validate=1.5, pull=40.0, write_segment=30.0)
    many = _run(660.0, decode=4.5, validate=4.0, pull=400.0, write_segment=300.0)
    sp = _signal_path(one, many)
    assert "pull" not in sp["stages"] and "write segment" not in sp["stages"]
    assert set(sp["stages"]) == set(SIGNAL_STAGES)
    assert sp["core_s_per_added_60s"] == pytest.approx(0.5)
    # 14,000 one-minute episodes at 0.5 core-s each: 1.94 CPU h, 0.97 h on two cores
    assert sp["network_night_cpu_hours"] == pytest.approx(14_000 * 0.5 / 3600)
    assert sp["network_night_hours_on_one_machine"] == pytest.approx(14_000 * 0.5 / 7200)
