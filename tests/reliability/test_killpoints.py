"""A slice of the kill-point suite (`make reliability` kills every write point): a night
killed with SIGKILL right after a write, then the next night, leaves no recording without an
outcome, exactly one release with the uninterrupted night's episodes, and every release
verifying."""

from __future__ import annotations

from pathlib import Path

from killpoints import kill_at, reference, simulate


def test_a_night_killed_at_a_write_point_is_finished_by_the_next(tmp_path: Path) -> None:
    net = simulate(tmp_path)
    n, episodes = reference(tmp_path, net)
    assert n > 50 and episodes
    # the first write (the pull), one in the middle (processing), one near the end (publish)
    for k in (1, n // 2, n - 2):
        row = kill_at(tmp_path, net, k, episodes)
        assert row["killed"], f"the night was not killed at write {k}"
        assert row["problems"] == [], row
