"""The ``teleop-lake qa`` commands (queue, override, log) and the QA notebook, on a small lake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qa_lake import qa_lake
from typer.testing import CliRunner

from teleop_lake.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def lake_root(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return qa_lake(tmp_path_factory, tmp_path)


def _queue(lake: str) -> dict[str, object]:
    res = runner.invoke(app, ["qa", "queue", "--lake", lake, "--json"])
    assert res.exit_code == 0, res.output
    parsed: dict[str, object] = json.loads(res.stdout)
    return parsed


def test_queue_override_log(lake_root: Path) -> None:
    lake = str(lake_root / "lake")
    before = _queue(lake)
    queue = before["queue"]
    assert isinstance(queue, list) and before["total"] == len(queue) > 0
    assert queue[0]["kind"] == "disagreement" and queue[0]["rank"] == 1
    eid = queue[0]["episode_id"]
    table = runner.invoke(app, ["qa", "queue", "--lake", lake])
    assert table.exit_code == 0 and "recording" in table.output
    assert str(queue[0]["recording_id"])[:8] in table.output  # the recording to open
    hint = queue[0]["suggested_override"]  # a disagreement: the other side of the evidence
    assert hint and hint["outcome"] != queue[0]["outcome"], queue[0]
    assert f"teleop-lake qa override {eid} --lake {lake} --outcome {hint['outcome']}" in (
        " ".join(table.output.split())
    )

    res = runner.invoke(
        app,
        [
            "qa", "override", eid, "--lake", lake, "--outcome", "failure", "--reason",
            "timeout", "--reviewer", "ann", "--note", "two detours", "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert (rec["override_id"], rec["outcome"], rec["failure_reason"]) == (
        f"{eid}/v000001",
        "failure",
        "timeout",
    )
    assert rec["previous"]["outcome"] == queue[0]["outcome"]
    assert (lake_root / "lake" / rec["path"]).is_file()

    after = _queue(lake)
    assert after["total"] == before["total"] - 1
    assert eid not in {q["episode_id"] for q in after["queue"]}

    log = runner.invoke(app, ["qa", "log", "--lake", lake, eid, "--json"])
    assert log.exit_code == 0
    assert [o["note"] for o in json.loads(log.stdout)["overrides"]] == ["two detours"]
    text = runner.invoke(app, ["qa", "log", "--lake", lake])
    assert text.exit_code == 0 and f"{eid}/v000001" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope-1", "--outcome", "success"], "unknown episode id 'nope-1'"),
        (["EID", "--outcome", "sucess"], "unknown outcome 'sucess'"),
        (["EID", "--outcome", "failure", "--reason", "gremlins"], "unknown reason 'gremlins'"),
    ],
)
def test_refused_overrides_exit_2_and_write_nothing(
    lake_root: Path, args: list[str], message: str
) -> None:
    lake = str(lake_root / "lake")
    eid = _queue(lake)["queue"][0]["episode_id"]  # type: ignore[index]
    args = [eid if a == "EID" else a for a in args]
    res = runner.invoke(app, ["qa", "override", *args, "--lake", lake, "--reviewer", "ann"])
    assert res.exit_code == 2
    assert message in " ".join(res.stderr.split()) and "nothing written" in res.stderr
    assert not (lake_root / "lake" / "overrides").exists()
    empty = runner.invoke(
        app, ["qa", "override", eid, "--lake", lake, "--outcome", "success", "--reviewer", " "]
    )
    assert empty.exit_code == 2 and "reviewer name is empty" in " ".join(empty.stderr.split())
    assert not (lake_root / "lake" / "overrides").exists()


def test_missing_lake_cannot_run(tmp_path: Path) -> None:
    res = runner.invoke(app, ["qa", "queue", "--lake", str(tmp_path / "nowhere")])
    assert res.exit_code == 3 and "no lake at" in res.stderr


def test_qa_notebook_runs(lake_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The QA notebook executes top to bottom on the lake and plots one flagged episode."""
    import nbformat
    from nbclient import NotebookClient

    nb_path = Path(__file__).resolve().parents[1] / "notebooks" / "qa_review.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    monkeypatch.setenv("TELEOP_LAKE", str(lake_root / "lake"))
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs)
    assert "report of run 20261124T020000Z-night1" in printed
    assert "episode(s) need review" in printed and "disagreement" in printed
    svgs = [o["data"]["image/svg+xml"] for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) == 1 and "<polyline" in svgs[0]
    assert "teleop-lake qa override" in printed


def test_every_center_with_flagged_signals_gets_a_plot(lake_root: Path) -> None:
    from teleop_lake.lake.storage import Store
    from teleop_lake.pipeline.qa import flagged_signal_plots
    from teleop_lake.release.reader import open_release

    episodes = open_release(str(lake_root / "lake")).episodes.to_dicts()
    flagged = {
        e["center"]
        for e in episodes
        if (e["n_spikes"] or 0) + (e["n_dropouts"] or 0) + (e["n_frozen"] or 0) > 0
    }
    assert len(flagged) >= 2
    plots = flagged_signal_plots(Store(str(lake_root / "lake")), episodes, max_episodes=1)
    assert {p["center"] for p in plots} == flagged
