"""The drop boundary: links, special files and lying sizes are refused before a byte is read.

Each case is a drop a hostile or broken center could deliver; the pull must refuse it with
`unsafe_path`, `size_mismatch` or `file_too_large`, read nothing outside the drop, never block
and never copy more than the manifest declared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import threading
from pathlib import Path

import pytest
from conftest import write_drop_recording

from teleop_lake.config.centers import load_profile
from teleop_lake.lake.storage import Store
from teleop_lake.network.boundary import UnsafeFileError, open_drop_file, read_drop_text
from teleop_lake.network.pull import CenterPull, pull_center

DATE = "2026-11-23"
NOW = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)


def _pull(net: Path, lake: Path, run_id: str = "run1") -> CenterPull:
    """The pull in a thread with a deadline: a blocking read fails the test, not the run."""
    out: list[CenterPull] = []
    t = threading.Thread(
        target=lambda: out.append(
            pull_center(load_profile("beijing"), str(net), Store(str(lake)), run_id, None, NOW)
        ),
        daemon=True,
    )
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "the pull blocked"
    return out[0]


def _codes(res: CenterPull) -> dict[str, list[str]]:
    return {r.recording_id: [x.code for x in r.reasons] for r in res.rejected}


def _line(drop: Path, rid: str, rel: str, size: int, sha: str) -> None:
    """A manifest line for a file placed by hand (a link, a FIFO, ...)."""
    line = {
        "recording_id": rid,
        "format": "ros1-bag",
        "files": [{"path": rel, "size": size, "sha256": sha}],
        "recorded_at": f"{DATE}T09:00:00+08:00",
        "task_code": "pack_parcel",
    }
    with (drop / DATE / "_manifest.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    d = tmp_path / "net" / "beijing"
    write_drop_recording(d, DATE, "good", {"st01/good.bag": b"bag-bytes"})
    return d


def test_links_and_special_files_are_refused_before_reading(drop: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside the drop")
    digest = hashlib.sha256(b"outside the drop").hexdigest()
    st = drop / DATE / "st01"
    (st / "link.bag").symlink_to(secret)
    _line(drop, "file-link", "st01/link.bag", 16, digest)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.bag").write_bytes(b"outside the drop")
    (drop / DATE / "linked").symlink_to(tmp_path / "elsewhere")
    _line(drop, "folder-link", "linked/x.bag", 16, digest)
    (st / "zero.bag").symlink_to("/dev/zero")
    _line(drop, "dev-zero", "st01/zero.bag", 100, "0" * 64)
    os.mkfifo(st / "pipe.bag")
    _line(drop, "fifo", "st01/pipe.bag", 100, "0" * 64)
    sock = socket.socket(socket.AF_UNIX)
    sock_path = st / "s.bag"
    try:
        sock.bind(str(sock_path))
        _line(drop, "socket", "st01/s.bag", 0, "0" * 64)
        (st / "dir.bag").mkdir()
        _line(drop, "folder", "st01/dir.bag", 0, "0" * 64)

        res = _pull(drop.parent, tmp_path / "lake")
    finally:
        sock.close()
    assert [r.recording_id for r in res.new] == ["good"]
    codes = _codes(res)
    assert codes == {
        k: ["unsafe_path"]
        for k in ("file-link", "folder-link", "dev-zero", "fifo", "socket", "folder")
    }
    messages = {r.recording_id: r.reasons[0].message for r in res.rejected}
    assert "symbolic link" in messages["file-link"] and "FIFO" in messages["fifo"]
    assert "folder '2026-11-23/linked' is a symbolic link" in messages["folder-link"]
    # nothing from outside the drop reached the lake, quarantine included
    lake_bytes = b"".join(p.read_bytes() for p in (tmp_path / "lake").rglob("*") if p.is_file())
    assert b"outside the drop" not in lake_bytes


def test_a_symlinked_date_folder_or_manifest_is_reported_not_read(tmp_path: Path) -> None:
    real = tmp_path / "real"
    write_drop_recording(real, DATE, "r", {"st01/r.bag": b"R"})
    drop = tmp_path / "net" / "beijing"
    drop.mkdir(parents=True)
    (drop / DATE).symlink_to(real / DATE)
    res = _pull(drop.parent, tmp_path / "lake")
    assert res.new == [] and res.rejected == []
    assert any("symbolic link" in p.message for p in res.manifest_problems)


def test_a_file_larger_than_declared_is_not_copied(drop: Path, tmp_path: Path) -> None:
    big = drop / DATE / "st01" / "big.bag"
    with big.open("wb") as f:  # 2 GiB, sparse: costs no disk
        f.truncate(2 << 30)
    _line(drop, "liar", "st01/big.bag", 100, "0" * 64)
    res = _pull(drop.parent, tmp_path / "lake")
    assert _codes(res)["liar"] == ["size_mismatch"]
    reason = res.rejected[0].reasons[0]
    assert "2147483648 bytes" in reason.message and "100" in reason.message
    assert res.bytes_copied == len(b"bag-bytes")  # only the good file was copied
    assert sum(p.stat().st_size for p in (tmp_path / "lake").rglob("*.bag")) < 1000


def test_the_per_file_cap_refuses_the_absurd(
    drop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from teleop_lake.network import pull

    monkeypatch.setattr(pull, "max_file_bytes", lambda profile: 5)
    res = _pull(drop.parent, tmp_path / "lake")
    assert _codes(res) == {"good": ["file_too_large"]}
    assert "5 bytes" in res.rejected[0].reasons[0].message


def test_open_drop_file_checks_the_open_descriptor(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.bin").write_bytes(b"12345")
    with open_drop_file(store, "a/f.bin") as (f, size):
        assert (size, f.read()) == (5, b"12345")
    os.mkfifo(tmp_path / "a" / "p")
    with pytest.raises(UnsafeFileError, match="FIFO"), open_drop_file(store, "a/p"):
        pass
    (tmp_path / "a" / "m.txt").write_text("x" * 100)
    with pytest.raises(UnsafeFileError, match="more than"):
        read_drop_text(store, "a/m.txt", limit=10)
