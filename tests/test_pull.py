"""The pull trusts nothing: checksums, sizes, paths, formats, re-deliveries, unreachable drops."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_drop_recording

from teleop_lake.config.centers import load_profile
from teleop_lake.lake.storage import Store
from teleop_lake.network.drop import UnsafePathError, check_relative_path, parse_manifest_line
from teleop_lake.network.pull import pull_center

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def _pull(network: Path, lake: Path, run: str, until: str | None = None):
    return pull_center(load_profile("beijing"), str(network), Store(str(lake)), run, until, NOW)


@pytest.mark.parametrize(
    "bad", ["/etc/passwd", "../x.bag", "a/../../x.bag", "C:/x.bag", "s3://bucket/x", "a\\..\\x"]
)
def test_unsafe_paths_are_refused(bad: str) -> None:
    with pytest.raises(UnsafePathError):
        check_relative_path(bad)


def test_safe_paths_are_normalised() -> None:
    assert check_relative_path("st01/./a.bag") == "st01/a.bag"


def test_manifest_line_problems_are_reported_not_raised() -> None:
    assert parse_manifest_line("beijing", "2026-11-23", 1, "{not json").message.startswith(
        "not JSON"
    )
    p = parse_manifest_line("beijing", "2026-11-23", 2, '{"recording_id": "r", "files": []}')
    assert "non-empty list" in p.message
    e = parse_manifest_line(
        "beijing",
        "2026-11-23",
        3,
        '{"recording_id": "r", "format": "ros1-bag", "files": [{"path": "a", "size": 1, '
        '"sha256": "' + "a" * 64 + '"}], "uploader_version": "2.1"}',
    )
    assert e.extra == {"uploader_version": "2.1"}  # unknown keys are kept


def test_pull_copies_verifies_and_quarantines(tmp_path: Path) -> None:
    net, lake = tmp_path / "net", tmp_path / "lake"
    drop = net / "beijing"
    write_drop_recording(
        drop,
        "2026-11-23",
        "good",
        {"st01/good.bag": b"bag-bytes", "st01/good.metadata.json": b"{}"},
    )
    write_drop_recording(
        drop,
        "2026-11-23",
        "corrupt",
        {"st01/corrupt.bag": b"xxxx"},
        file_overrides={"st01/corrupt.bag": {"sha256": "0" * 64}},
    )
    write_drop_recording(
        drop,
        "2026-11-23",
        "escape",
        {"st01/e.bag": b"e"},
        file_overrides={"st01/e.bag": {"path": "../../outside.bag"}},
    )
    write_drop_recording(drop, "2026-11-23", "weird", {"st01/w.xyz": b"w"}, fmt="tarball")
    write_drop_recording(drop, "2026-11-23", "gone", {"st01/gone.bag": b"g"})
    (drop / "2026-11-23" / "st01" / "gone.bag").unlink()
    # a file nobody listed yet (upload in progress) is ignored
    (drop / "2026-11-23" / "st01" / "partial.bag").write_bytes(b"half")

    res = _pull(net, lake, "run1")
    assert res.reachable
    assert [r.recording_id for r in res.new] == ["good"]
    reasons = {r.recording_id: [x.code for x in r.reasons] for r in res.rejected}
    assert reasons == {
        "corrupt": ["checksum_mismatch"],
        "escape": ["unsafe_path"],
        "weird": ["unknown_format"],
        "gone": ["file_missing"],
    }
    good = res.new[0]
    store = Store(str(lake))
    assert store.read_bytes(f"{good.bronze_dir}/st01/good.bag") == b"bag-bytes"
    # nothing is lost: the corrupt bytes are kept in the quarantine, not in bronze
    corrupt = next(r for r in res.rejected if r.recording_id == "corrupt")
    assert (
        store.read_bytes(f"quarantine/beijing/{corrupt.content_key}/files/st01/corrupt.bag")
        == b"xxxx"
    )
    assert not (lake / "outside.bag").exists() and not (net / "outside.bag").exists()


def test_pull_is_incremental_and_dedupes_redeliveries(tmp_path: Path) -> None:
    net, lake = tmp_path / "net", tmp_path / "lake"
    drop = net / "beijing"
    write_drop_recording(drop, "2026-11-23", "a", {"st01/a.bag": b"A"})
    assert len(_pull(net, lake, "run1").new) == 1
    # same night again: nothing new
    again = _pull(net, lake, "run2")
    assert (len(again.new), again.already_pulled) == (0, 1)
    # a late line appended to the same manifest, and a re-delivery of "a" in a later folder
    write_drop_recording(drop, "2026-11-23", "late", {"st01/late.bag": b"L"})
    write_drop_recording(drop, "2026-11-24", "a", {"st01/a.bag": b"A"})
    third = _pull(net, lake, "run3")
    assert [r.recording_id for r in third.new] == ["late"]
    assert third.duplicates == 1
    # --date bounds what is pulled
    write_drop_recording(drop, "2026-11-26", "future", {"st01/f.bag": b"F"})
    assert _pull(net, lake, "run4", until="2026-11-25").new == []


def test_one_content_delivered_twice_in_a_night_is_copied_once(tmp_path: Path) -> None:
    """Recordings are copied in parallel; deliveries of one content still resolve in manifest
    order: the first copy wins and the later one is a duplicate, unless the first was refused,
    and then the later one gets its own try."""
    import hashlib

    net, lake = tmp_path / "net", tmp_path / "lake"
    drop = net / "beijing"
    for i in range(4):  # enough recordings for both copy threads
        write_drop_recording(drop, "2026-11-22", f"r{i}", {f"st01/r{i}.bag": bytes([i]) * 100})
    write_drop_recording(drop, "2026-11-22", "a", {"st01/a.bag": b"A"})
    write_drop_recording(drop, "2026-11-23", "a", {"st01/a.bag": b"A"})
    # "b": the first delivery's bytes were damaged in transit (the manifest's sha256 is the
    # content's), the second delivery of the same content is whole
    sha_b = hashlib.sha256(b"B").hexdigest()
    write_drop_recording(
        drop,
        "2026-11-22",
        "b",
        {"st01/b.bag": b"X"},
        file_overrides={"st01/b.bag": {"sha256": sha_b}},
    )
    write_drop_recording(drop, "2026-11-23", "b", {"st01/b.bag": b"B"})
    res = _pull(net, lake, "run1")
    new = sorted((r.recording_id, r.date_folder) for r in res.new)
    assert new == [("a", "2026-11-22"), ("b", "2026-11-23")] + [
        (f"r{i}", "2026-11-22") for i in range(4)
    ]
    assert res.duplicates == 1
    assert [(r.recording_id, r.date_folder) for r in res.rejected] == [("b", "2026-11-22")]
    assert (
        Store(str(lake)).read_bytes(
            f"{next(r for r in res.new if r.recording_id == 'b').bronze_dir}/st01/b.bag"
        )
        == b"B"
    )


def test_unreachable_center_is_reported(tmp_path: Path) -> None:
    res = _pull(tmp_path / "no-such-network", tmp_path / "lake", "run1")
    assert not res.reachable
    assert "does not exist" in (res.error or "")


def test_batches_never_mix_robot_models(monkeypatch: pytest.MonkeyPatch) -> None:
    import teleop_lake.pipeline.pull as stage

    real = stage.load_profile

    class _Other:
        robot_model = "other_robot"

    monkeypatch.setattr(stage, "load_profile", lambda c: _Other() if c == "hefei" else real(c))
    recs = [
        {"center": c, "recording_id": f"{c}-{i}"}
        for c in ("beijing", "hefei", "jinan")
        for i in range(3)
    ]
    batches = stage.plan_batches(recs, batch_size=4)
    for b in batches:
        assert len({stage.load_profile(r["center"]).robot_model for r in b}) == 1
        assert len(b) <= 4
    assert sorted(r["recording_id"] for b in batches for r in b) == sorted(
        r["recording_id"] for r in recs
    )


def test_older_delivery_of_the_same_night_is_superseded(tmp_path: Path) -> None:
    from teleop_lake.pipeline.pull import drop_superseded

    def rec(day: str, line: int, key: str, rid: str = "r1") -> dict[str, object]:
        return {
            "center": "beijing",
            "recording_id": rid,
            "episode_id": f"e-{rid}",
            "content_key": key,
            "date_folder": day,
            "manifest": {"line_no": line},
        }

    recs = [
        rec("2026-11-24", 1, "new"),
        rec("2026-11-23", 4, "old"),
        rec("2026-11-23", 1, "x", "r2"),
        rec("2026-11-23", 2, "older"),
    ]
    keep, superseded = drop_superseded(str(tmp_path / "lake"), "run1", recs, NOW)
    assert sorted(r["content_key"] for r in keep) == ["new", "x"]
    assert sorted(o["content_key"] for o in superseded) == ["old", "older"]
    assert all(o["reason_codes"] == ["superseded"] for o in superseded)
    assert (tmp_path / "lake" / "quarantine" / "beijing" / "old" / "reasons.json").exists()


def test_a_small_night_is_cut_so_that_every_worker_gets_a_batch() -> None:
    from teleop_lake.pipeline.pull import plan_batches

    recs = [{"center": "beijing", "recording_id": f"r{i}"} for i in range(6)]
    assert [len(b) for b in plan_batches(recs, 6, workers=2)] == [3, 3]
    assert [len(b) for b in plan_batches(recs, 6, workers=1)] == [6]
    assert [len(b) for b in plan_batches(recs[:1], 6, workers=2)] == [1]
    many = [{"center": "beijing", "recording_id": f"r{i:03d}"} for i in range(100)]
    sizes = [len(b) for b in plan_batches(many, 6, workers=2)]
    assert max(sizes) == 6 and sum(sizes) == 100


def _kernel_clone(calls: list[int]) -> Callable[[int, int], None]:
    """A stand-in for FICLONE where the filesystem has no reflinks (this machine's ext4): the
    destination gets the source's bytes, whole, as a clone would share them."""

    def clone(dst_fd: int, src_fd: int) -> None:
        calls.append(src_fd)
        size = os.fstat(src_fd).st_size
        done = 0
        while done < size:
            done += os.copy_file_range(src_fd, dst_fd, size - done, done, done)

    return clone


def _no_temp_left(lake: Path) -> bool:
    return not [p for p in lake.rglob(".tmp-*")]


def test_a_filesystem_without_reflinks_gets_copies(tmp_path: Path) -> None:
    """The real ioctl on this machine's filesystem: refused, so the pull copies (and counts
    it), leaving no trace of the attempt."""
    net, lake = tmp_path / "net", tmp_path / "lake"
    write_drop_recording(net / "beijing", "2026-11-23", "r", {"st01/r.bag": b"bag" * 1000})
    src = net / "beijing" / "2026-11-23" / "st01" / "r.bag"
    with src.open("rb") as f:
        cloned = Store(str(lake)).clone_file("x/r.bag", f, 10_000)
    if cloned is not None:  # a machine whose filesystem has reflinks
        assert cloned[0] == 3000
        pytest.skip("this filesystem has reflinks: the fallback is not reached here")
    res = _pull(net, lake, "run1")
    assert [r.recording_id for r in res.new] == ["r"]
    assert (res.bytes_copied, res.bytes_cloned) == (3000, 0)
    assert _no_temp_left(lake)


def test_where_the_drop_can_be_cloned_bronze_is_a_verified_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drop and lake on one filesystem with reflinks: bronze is a clone, hashed from the clone,
    checked against the manifest like a copy; a clone of damaged bytes goes to the quarantine."""
    from teleop_lake.lake import storage

    calls: list[int] = []
    monkeypatch.setattr(storage, "_ficlone", _kernel_clone(calls))
    net, lake = tmp_path / "net", tmp_path / "lake"
    drop = net / "beijing"
    write_drop_recording(drop, "2026-11-23", "good", {"st01/good.bag": b"bag-bytes" * 100})
    write_drop_recording(
        drop,
        "2026-11-23",
        "corrupt",
        {"st01/corrupt.bag": b"xxxx"},
        file_overrides={"st01/corrupt.bag": {"sha256": "0" * 64}},
    )
    res = _pull(net, lake, "run1")
    assert len(calls) == 2
    assert [r.recording_id for r in res.new] == ["good"]
    assert [[x.code for x in r.reasons] for r in res.rejected] == [["checksum_mismatch"]]
    assert (res.bytes_copied, res.bytes_cloned) == (0, 900 + 4)
    store = Store(str(lake))
    assert store.read_bytes(f"{res.new[0].bronze_dir}/st01/good.bag") == b"bag-bytes" * 100
    corrupt = res.rejected[0]
    quarantined = f"quarantine/beijing/{corrupt.content_key}/files/st01/corrupt.bag"
    assert store.read_bytes(quarantined) == b"xxxx"
    assert _no_temp_left(lake)


def test_a_clone_stops_where_a_copy_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file grown past its declared size after the pull looked at it: the clone is cut one
    byte past the declared size, so the pull sees the mismatch as it does when copying."""
    from teleop_lake.lake import storage

    monkeypatch.setattr(storage, "_ficlone", _kernel_clone([]))
    src = tmp_path / "grown.bag"
    src.write_bytes(b"a" * 5000)
    lake = Store(str(tmp_path / "lake"))
    with src.open("rb") as f:
        size, sha = lake.clone_file("b/grown.bag", f, 101) or (0, "")
    assert size == 101 and lake.read_bytes("b/grown.bag") == b"a" * 101
    assert sha == hashlib.sha256(b"a" * 101).hexdigest()


@pytest.mark.parametrize(
    ("error", "copied"), [(errno.EXDEV, True), (errno.EOPNOTSUPP, True), (errno.EIO, False)]
)
def test_a_clone_refused_falls_back_to_a_copy_and_a_failing_disk_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int, copied: bool
) -> None:
    from teleop_lake.lake import storage

    def refuse(dst_fd: int, src_fd: int) -> None:
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(storage, "_ficlone", refuse)
    src = tmp_path / "r.bag"
    src.write_bytes(b"r" * 10)
    lake = Store(str(tmp_path / "lake"))
    with src.open("rb") as f:
        if copied:
            assert lake.clone_file("c/r.bag", f, 11) is None  # the caller copies
        else:
            with pytest.raises(OSError, match="Input/output"):
                lake.clone_file("c/r.bag", f, 11)
    assert _no_temp_left(tmp_path / "lake") and not (tmp_path / "lake" / "c" / "r.bag").exists()
