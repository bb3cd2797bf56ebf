"""Signed releases: with a signing key, every committed manifest carries an Ed25519
signature; a partner holding the public key detects a release rewritten by anyone who could
write to the lake, even one who also rewrote the hash chain."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.lake import layout
from teleop_lake.pipeline.plain_night import run_plain_night
from teleop_lake.release.reader import open_release
from teleop_lake.release.signing import SIGNING_KEY_ENV, SignatureError, new_key_pair
from teleop_lake.release.verify import verify_release
from teleop_lake.simulate.network import simulate_network

NOW = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("signing")
    simulate_network(
        root / "net",
        episodes_per_center=1,
        seed=3,
        date="2026-11-23",
        centers=["beijing", "hefei"],
        duration_scale=0.1,
        camera_size=SMALL_CAMERA,
    )
    return root / "net"


def _night(net: Path, lake: Path) -> str:
    s = run_plain_night(
        str(net), str(lake), ["beijing", "hefei"], "2026-11-23", "20261124T020000Z-s", NOW
    )
    rid = s["release"]["release_id"]
    assert rid
    return str(rid)


def test_keys_new_makes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).with_name("teleop-lake"))
    done = subprocess.run(
        [exe, "keys", "new", "--out", str(tmp_path / "k")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "k" / "release-signing.pub").read_text().startswith("-----BEGIN PUBLIC KEY")
    assert os.stat(tmp_path / "k" / "release-signing.key").st_mode & 0o777 == 0o600
    again = subprocess.run(
        [exe, "keys", "new", "--out", str(tmp_path / "k")], capture_output=True, text=True
    )
    assert again.returncode == 2 and "not overwritten" in again.stderr + again.stdout


def test_a_signed_release_verifies_with_its_key_and_not_with_another(
    net: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, pub = new_key_pair(tmp_path / "ours")
    _, other = new_key_pair(tmp_path / "theirs")
    monkeypatch.setenv(SIGNING_KEY_ENV, str(key))
    lake = tmp_path / "lake"
    rid = _night(net, lake)
    mpath = lake / layout.release_dir(rid) / layout.RELEASE_MANIFEST_NAME
    assert Path(f"{mpath}.sig").stat().st_size == 64  # an Ed25519 signature
    plain = verify_release(str(lake))
    assert plain.ok and not plain.signature_checked  # the .sig is not an unexpected file
    signed = verify_release(str(lake), public_key=str(pub))
    assert signed.ok and signed.signature_checked
    assert open_release(str(lake), public_key=str(pub)).release_id == rid
    exe = str(Path(sys.executable).with_name("teleop-lake"))
    listed = subprocess.run(
        [exe, "release", "list", "--lake", str(lake), "--json"], capture_output=True, text=True
    )
    row = json.loads(listed.stdout)["releases"][0]
    assert (
        row["signed"] and row["manifest_sha256"] == hashlib.sha256(mpath.read_bytes()).hexdigest()
    )
    wrong = verify_release(str(lake), public_key=str(other))
    assert [p["problem"][:13] for p in wrong.problems] == ["bad_signature"]
    with pytest.raises(SignatureError, match="does not match"):
        open_release(str(lake), public_key=str(other))

    # someone with write access rewrites the manifest and the hash chain consistently: the
    # chain no longer tells, the signature does
    manifest = json.loads(mpath.read_text())
    manifest["counts"]["episodes"] += 1
    mpath.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (lake / layout.LATEST_POINTER).write_text(
        f"{rid} {hashlib.sha256(mpath.read_bytes()).hexdigest()}\n"
    )
    assert verify_release(str(lake)).ok  # without the key, the rewrite passes
    forged = verify_release(str(lake), public_key=str(pub))
    assert not forged.ok and "bad_signature" in forged.problems[0]["problem"]


def test_an_unsigned_release_fails_when_a_signature_is_required(
    net: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    _, pub = new_key_pair(tmp_path / "ours")
    lake = tmp_path / "lake"
    _night(net, lake)
    res = verify_release(str(lake), public_key=str(pub))
    assert not res.ok and "not signed" in res.problems[0]["problem"]
    with pytest.raises(SignatureError, match="not signed"):
        open_release(str(lake), public_key=str(pub))
