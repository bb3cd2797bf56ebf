"""Hostile drops through a whole CLI night, traced: every case refused for its reason, the
clean recordings published, and not one file opened outside the drop and the lake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hostile import build, judge, run_night


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to trace file opens")
def test_hostile_drops_are_refused_and_nothing_outside_is_opened(tmp_path: Path) -> None:
    net, bait, cases = build(tmp_path)
    summary, opens, _ = run_night(tmp_path, net)
    assert summary["balanced"]
    assert len(opens) > 1000  # the trace saw the night (and its workers) open files
    assert any(p.endswith(".bag") and "/lake/bronze/" in p for p, _ in opens)
    rows = judge(cases, summary, opens, bait, tmp_path / "lake")
    wrong = [r for r in rows if not r["right"] or r["unsafe_opens"]]
    assert wrong == []
    assert summary["totals"]["published"] >= 3  # the clean recording of every center


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to trace file opens")
def test_the_trace_shows_a_followed_link_as_the_file_it_reached(tmp_path: Path) -> None:
    """The check above can fail: a process that follows a link in a drop is caught."""
    import subprocess
    import sys

    from hostile import traced_opens

    bait = tmp_path / "bait"
    bait.write_text("outside")
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "r.bag").symlink_to(bait)
    trace = tmp_path / "t.trace"
    subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-y",
            "-e",
            "trace=openat",
            "-o",
            str(trace),
            sys.executable,
            "-c",
            f"open({str(tmp_path / 'drop' / 'r.bag')!r}).read()",
        ],
        check=True,
    )
    assert str(bait) in [p for p, _ in traced_opens(trace)]
