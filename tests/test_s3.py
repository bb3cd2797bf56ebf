"""Remote drops and lakes over the real S3 protocol, against a local S3-compatible server."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from conftest import write_drop_recording

from teleop_lake.config.centers import load_profile
from teleop_lake.lake.storage import AlreadyExistsError, Store
from teleop_lake.network.pull import pull_center

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }.items():
        monkeypatch.setenv(k, v)
    fsspec.config.conf.pop("s3", None)
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    s3.mkdir("drops")
    s3.mkdir("lake")
    try:
        yield url
    finally:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
        server.stop()
        fsspec.filesystem("s3").clear_instance_cache()


def test_pull_from_an_s3_drop(tmp_path: Path, s3_endpoint: str) -> None:
    local = tmp_path / "net"
    write_drop_recording(local / "beijing", "2026-11-23", "good", {"st01/good.bag": b"G" * 1000})
    write_drop_recording(
        local / "beijing",
        "2026-11-23",
        "bad",
        {"st01/bad.bag": b"B" * 10},
        file_overrides={"st01/bad.bag": {"sha256": "1" * 64}},
    )
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    s3.put(str(local / "beijing"), "drops/network/beijing", recursive=True)

    res = pull_center(
        load_profile("beijing"),
        "s3://drops/network",
        Store(str(tmp_path / "lake")),
        "run1",
        None,
        NOW,
    )
    assert res.reachable, res.error
    assert [r.recording_id for r in res.new] == ["good"]
    assert [r.reasons[0].code for r in res.rejected] == ["checksum_mismatch"]
    bronze = Store(str(tmp_path / "lake"))
    assert bronze.read_bytes(f"{res.new[0].bronze_dir}/st01/good.bag") == b"G" * 1000


def test_lake_store_on_s3(s3_endpoint: str) -> None:
    lake = Store("s3://lake/teleop")
    lake.write_json("releases/x/manifest.json", {"a": 1}, exclusive=True)
    with pytest.raises(AlreadyExistsError):
        lake.write_json("releases/x/manifest.json", {"a": 2}, exclusive=True)
    assert lake.read_json("releases/x/manifest.json") == {"a": 1}
    assert lake.walk_files("releases") == ["releases/x/manifest.json"]
    assert not lake.is_local


def test_release_published_and_verified_on_s3(s3_endpoint: str) -> None:
    from test_release import NOW as T
    from test_release import _segment

    from teleop_lake.release.publish import publish_release
    from teleop_lake.release.reader import open_release
    from teleop_lake.release.verify import verify_release

    lake = Store("s3://lake/teleop")
    _segment(lake, "run1", [("ep-a", 5, 0.1), ("ep-b", 3, 0.2)])
    res = publish_release(lake.url, "run1", "2026-11-23", T)
    assert res.release_id == "2026-11-23-r01"
    check = verify_release(lake.url)
    assert check.ok and check.n_files > 5, check.problems
    frames = open_release(lake.url).scan_frames().collect()
    assert frames.height == 8


def test_a_night_on_an_unreachable_network_stops_before_prefect_starts(
    tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import teleop_lake.cli as cli

    def no_night(*args: object, **kwargs: object) -> None:
        raise AssertionError("the night started on a network with no center")

    monkeypatch.setattr(cli, "_run_night", no_night)
    runner = CliRunner()
    lake = str(tmp_path / "lake")
    # a bucket with no center folder, a bucket that does not exist, no endpoint at all
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    s3.pipe("drops/network/README", b"not a center")
    cases = {
        "s3://drops/network": "holds no folder of beijing",
        "s3://no-such-bucket/network": "no center was reachable under s3://no-such-bucket",
    }
    for network, expected in cases.items():
        res = runner.invoke(
            cli.app, ["nightly", "--network", network, "--lake", lake, "--center", "beijing"]
        )
        assert res.exit_code == cli.EXIT_CANNOT_RUN, res.output
        assert expected in " ".join(res.output.split()), res.output
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fsspec.filesystem("s3").clear_instance_cache()
    res = runner.invoke(
        cli.app,
        ["nightly", "--network", "s3://drops/network", "--lake", lake, "--center", "beijing"],
    )
    assert res.exit_code == cli.EXIT_CANNOT_RUN, res.output
    assert "check --network, the storage endpoint" in " ".join(res.output.split()), res.output
