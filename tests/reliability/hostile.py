"""Hostile drops through a whole CLI night, with every file the night opens traced by strace.

Each case is one recording a hostile or broken center could deliver, next to clean ones. The
night must refuse each for its reason, publish the clean ones, and open nothing outside the
drop and the lake: checked on the trace of ``open``/``openat``/``openat2`` of the night and
every process it starts, not by trusting the code. Bait files outside the drop are valid
recordings, so following a link would publish them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import polars as pl

from teleop_lake.simulate.network import simulate_network

DATE = "2026-11-23"
CENTERS = ("beijing", "suzhou", "hefei")
NIGHT_SECONDS = 600


@dataclass
class HostileCase:
    recording_id: str
    center: str
    what: str
    expect: frozenset[str]  # acceptable outcomes: reason codes, or "flagged" (published, flagged)
    # paths in the drop that may only be opened without following a link (O_NOFOLLOW) or
    # without blocking (O_NONBLOCK), and folders under which nothing may be opened at all
    nofollow: list[str] = field(default_factory=list)
    nonblock: list[str] = field(default_factory=list)
    never_under: list[str] = field(default_factory=list)


def _line(folder: Path, rid: str, files: list[tuple[str, int, str]], fmt: str) -> None:
    entry = {
        "recording_id": rid,
        "format": fmt,
        "files": [{"path": p, "size": n, "sha256": h} for p, n, h in files],
        "recorded_at": f"{DATE}T09:00:00+08:00",
        "station": "st01",
        "robot_serial": "X-1",
        "operator_id": "op-1",
        "task_code": "pack_parcel",
    }
    with (folder / "_manifest.jsonl").open("a") as m:
        m.write(json.dumps(entry) + "\n")


def _digest(p: Path) -> tuple[int, str]:
    data = p.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


def build(root: Path) -> tuple[Path, Path, list[HostileCase]]:
    """A network with one clean recording per center plus the hostile cases; returns the
    network, the bait folder outside it, and the cases."""
    clean = root / "clean"
    simulate_network(
        clean,
        episodes_per_center=1,
        seed=21,
        date=DATE,
        centers=CENTERS,
        duration_scale=0.1,
        camera_size=(64, 48),
    )
    net = root / "net"
    shutil.copytree(clean, net, ignore=shutil.ignore_patterns("_truth"))
    bait = root / "bait-outside-the-drop"
    bait.mkdir()
    cases: list[HostileCase] = []
    lines = {c: json.loads((clean / c / DATE / "_manifest.jsonl").read_text()) for c in CENTERS}

    # beijing: a Kuavo bag and its metadata
    bj = net / "beijing" / DATE
    bj_line = lines["beijing"]
    bag_rel = next(f["path"] for f in bj_line["files"] if f["path"].endswith(".bag"))
    meta_rel = next(f["path"] for f in bj_line["files"] if f["path"].endswith(".json"))
    bag, meta = clean / "beijing" / DATE / bag_rel, clean / "beijing" / DATE / meta_rel
    shutil.copy(bag, bait / "bait.bag")
    size, sha = _digest(bag)

    def bag_case(rid: str, what: str, bag_path: str, expect: str, **kw: Any) -> None:
        folder = bj / rid
        folder.mkdir(exist_ok=True)
        # each case its own content, so none is taken for a re-delivery of another
        doc = json.loads(meta.read_text())
        doc["case"] = rid
        (folder / Path(meta_rel).name).write_text(json.dumps(doc))
        msize, msha = _digest(folder / Path(meta_rel).name)
        files = [(bag_path, size, sha), (f"{rid}/{Path(meta_rel).name}", msize, msha)]
        _line(bj, rid, files, "ros1-bag")
        cases.append(HostileCase(rid, "beijing", what, frozenset({expect}), **kw))

    (bj / "link-file").mkdir()
    (bj / "link-file" / "r.bag").symlink_to(bait / "bait.bag")
    bag_case(
        "link-file",
        "a symlinked file",
        "link-file/r.bag",
        "unsafe_path",
        nofollow=[str(bj / "link-file" / "r.bag")],
    )
    (bj / "link-folder").mkdir()
    (bj / "link-folder" / "st").symlink_to(bait)
    bag_case(
        "link-folder",
        "a symlinked folder",
        "link-folder/st/bait.bag",
        "unsafe_path",
        never_under=[str(bj / "link-folder" / "st")],
        nofollow=[str(bj / "link-folder" / "st")],
    )
    (bj / "dev-zero").mkdir()
    (bj / "dev-zero" / "r.bag").symlink_to("/dev/zero")
    bag_case(
        "dev-zero",
        "a symlink to /dev/zero",
        "dev-zero/r.bag",
        "unsafe_path",
        nofollow=[str(bj / "dev-zero" / "r.bag")],
    )
    (bj / "fifo").mkdir()
    os.mkfifo(bj / "fifo" / "r.bag")
    bag_case(
        "fifo",
        "a FIFO",
        "fifo/r.bag",
        "unsafe_path",
        nonblock=[str(bj / "fifo" / "r.bag")],
    )
    (bj / "sock").mkdir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(bj / "sock" / "r.bag"))
    bag_case("sock", "a unix socket", "sock/r.bag", "unsafe_path")
    bag_case("dotdot", "a path with ..", f"../../../{bait.name}/bait.bag", "unsafe_path")
    bag_case("absolute", "an absolute path", str(bait / "bait.bag"), "unsafe_path")
    bag_case("file-url", "a file:// URL", f"file://{bait / 'bait.bag'}", "unsafe_path")
    (bj / "huge").mkdir()
    with (bj / "huge" / "r.bag").open("wb") as f:  # sparse: 2 GiB on paper, nothing on disk
        f.truncate(2 * 2**30)
    bag_case("huge", "a 2 GiB file declared at the bag's size", "huge/r.bag", "size_mismatch")

    # suzhou: HDF5 files that point outside themselves
    sz = net / "suzhou" / DATE
    sz_line = lines["suzhou"]
    h5_rel = next(f["path"] for f in sz_line["files"] if f["path"].endswith(".hdf5"))
    sz_meta_rel = next(f["path"] for f in sz_line["files"] if f["path"].endswith(".json"))
    with h5py.File(bait / "bait.h5", "w") as f:
        f["x"] = np.arange(64, dtype="u1")
    (bait / "bait.raw").write_bytes(bytes(range(64)))
    for rid, what in (
        ("h5-external-link", "an HDF5 external link"),
        ("h5-external-storage", "an HDF5 dataset stored in an outside file"),
        ("h5-virtual", "an HDF5 virtual dataset over an outside file"),
    ):
        folder = sz / rid
        folder.mkdir()
        h5 = folder / Path(h5_rel).name
        shutil.copy(clean / "suzhou" / DATE / h5_rel, h5)
        shutil.copy(clean / "suzhou" / DATE / sz_meta_rel, folder / Path(sz_meta_rel).name)
        with h5py.File(h5, "a") as f:
            if rid == "h5-external-link":
                f["evil"] = h5py.ExternalLink(str(bait / "bait.h5"), "/x")
            elif rid == "h5-external-storage":
                f.create_dataset(
                    "evil", shape=(64,), dtype="u1", external=[(str(bait / "bait.raw"), 0, 64)]
                )
            else:
                layout = h5py.VirtualLayout(shape=(64,), dtype="u1")
                layout[:] = h5py.VirtualSource(str(bait / "bait.h5"), "x", shape=(64,))
                f.create_virtual_dataset("evil", layout)
        files = [(f"{rid}/{p.name}", *_digest(p)) for p in (h5, folder / Path(sz_meta_rel).name)]
        _line(sz, rid, files, "hdf5")
        cases.append(HostileCase(rid, "suzhou", what, frozenset({"unsafe_path"})))

    # hefei: non-finite and absurd values in a required stream
    hf = net / "hefei" / DATE
    hf_line = lines["hefei"]
    for rid, bad in (("inf-values", float("inf")), ("absurd-values", 1e33)):
        for f in hf_line["files"]:
            dst = hf / rid / f["path"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(clean / "hefei" / DATE / f["path"], dst)
        js = next((hf / rid).rglob("joint_state.parquet"))
        df = pl.read_parquet(js)
        col = next(c for c in df.columns if df[c].dtype == pl.Float64 and "pos" in c)
        df = df.with_columns(
            pl.when(pl.int_range(df.height) % 50 == 7).then(bad).otherwise(pl.col(col)).alias(col)
        )
        df.write_parquet(js)
        files = [(f"{rid}/{f['path']}", *_digest(hf / rid / f["path"])) for f in hf_line["files"]]
        _line(hf, rid, files, "parquet-dir")
        cases.append(
            HostileCase(
                rid,
                "hefei",
                f"{bad} in {col} of the joint state",
                frozenset({"flagged", "schema_violation", "corrupt_file"}),
            )
        )
    return net, bait, cases


# ``strace -y`` prints a descriptor with its path: the folder of a relative open, and what
# the returned descriptor really is (after the kernel followed any link).
_OPEN = re.compile(
    r'^\d+\s+(?:open|openat|openat2|creat)\((?:(?:AT_FDCWD|\d+)(?:<([^>]*)>)?, )?"([^"]*)", ([^)]*)\)'
    r"\s+=\s+(?:\d+<([^>]*)>)?"
)


def traced_opens(trace: Path) -> list[tuple[str, str]]:
    """(path, flags) of every open in an ``strace -f -y`` log: the path asked for (joined to
    its folder's), and for a successful open also the file the descriptor really is."""
    out = []
    for line in trace.read_text(errors="replace").splitlines():
        m = _OPEN.match(line)
        if not m:
            continue
        folder, path, flags, opened = m.groups()
        if folder and not path.startswith("/"):
            path = f"{folder}/{path}"
        out.append((path, flags))
        if opened and opened != path:
            out.append((opened, flags))
    return out


def run_night(root: Path, net: Path) -> tuple[dict[str, Any], list[tuple[str, str]], float]:
    """The CLI night under strace; its JSON summary, the opens, and its wall seconds."""
    lake, trace = root / "lake", root / "opens.trace"
    exe = str(Path(sys.executable).with_name("teleop-lake"))
    env = {**os.environ, "TELEOP_LAKE_HOME": str(root / "home")}
    env.pop("PREFECT_API_URL", None)
    cmd = [
        "strace",
        "-f",
        "-qq",
        "-y",
        "--seccomp-bpf",
        "-e",
        "trace=open,openat,openat2,creat",
        "-o",
        str(trace),
        exe,
        "nightly",
        "--network",
        str(net),
        "--lake",
        str(lake),
        "--date",
        DATE,
        "--json",
    ]
    t0 = time.monotonic()
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=NIGHT_SECONDS, check=False
    )
    seconds = time.monotonic() - t0
    if done.returncode != 0:
        raise AssertionError(f"the night exited {done.returncode}: {done.stderr[-3000:]}")
    summary = json.loads(done.stdout)
    opens = traced_opens(trace)
    trace.unlink()
    return summary, opens, seconds


def judge(
    cases: list[HostileCase],
    summary: dict[str, Any],
    opens: list[tuple[str, str]],
    bait: Path,
    lake: Path,
) -> list[dict[str, Any]]:
    """One row per case: what happened, and whether it is what was expected."""
    outcomes = {o["recording_id"]: o for o in _outcomes(lake)}
    flagged = _flagged_recordings(lake)
    rows = []
    for c in cases:
        o = outcomes.get(c.recording_id)
        if o is None:
            got = "no outcome"
        elif o["status"] == "published":
            got = "flagged" if c.recording_id in flagged else "published clean"
        else:
            got = ",".join(o["reason_codes"]) or o["status"]
        bad_opens = [
            p
            for p, flags in opens
            if p.startswith(str(bait))
            or p == "/dev/zero"
            or any(p.startswith(d + "/") for d in c.never_under)
            or (p in c.nofollow and "O_NOFOLLOW" not in flags and "O_PATH" not in flags)
            or (p in c.nonblock and "O_NONBLOCK" not in flags)
        ]
        rows.append(
            {
                "case": c.recording_id,
                "what": c.what,
                "outcome": got,
                "right": got in c.expect or set(got.split(",")) <= c.expect,
                "unsafe_opens": bad_opens,
            }
        )
    return rows


def _outcomes(lake: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in sorted((lake / "ledger" / "outcomes").rglob("*.parquet")):
        rows += pl.read_parquet(p).to_dicts()
    return rows


def _flagged_recordings(lake: Path) -> set[str]:
    """Recordings published with findings of non-physical (or non-finite) values."""
    out: set[str] = set()
    for seg in (lake / "segments").iterdir():
        f, e = seg / "findings.parquet", seg / "episodes.parquet"
        if not (f.exists() and e.exists()):
            continue
        findings = pl.read_parquet(f)
        if not findings.height or "kind" not in findings.columns:
            continue
        eps = pl.read_parquet(e, columns=["episode_id", "recording_id"])
        hit = findings.filter(pl.col("kind").is_in(["non_physical", "limit_violation"]))
        ids = set(hit["episode_id"].to_list())
        out |= set(eps.filter(pl.col("episode_id").is_in(ids))["recording_id"].to_list())
    return out
