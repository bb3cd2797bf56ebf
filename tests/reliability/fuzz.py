"""Mutated recordings through the real pull and process stages, each in a watched worker.

A clean simulated network (every center, so all four formats) is the source. Each case copies
one recording, damages one of its files (a bit flip, a zeroed or garbage region, a cut, an
insertion, a duplicated region, damage in the first or last 4 KiB) and delivers it with a
manifest that matches the damaged bytes, as a center whose disk or uploader broke the file
would. The pull takes it in; each case is processed alone (`process_batch_isolated`, limits
as the night has them) and judged against its clean original processed the same way:

- ``refused``: quarantined for a reason in `DAMAGE_REASONS` (the right kind of reason);
- ``flagged``: published with findings its original has not, or a lower quality score;
- ``unchanged``: published with the original's data (the damage hit bytes no reader uses);
- ``silent``: published with changed signal values or camera bytes and nothing flagged
  (``change_sigmas`` says how large the change is against the channel's spread);
- ``stopped``: quarantined at its wall-time limit (``resource_limit``): a library stuck on
  the damage; the night went on, but it cost the limit's minutes;
- ``pending`` (a damaged file called transient), ``crash`` (an unexpected error or a dead
  worker), ``wrong_reason``: failures. A night that never returns would fail the run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from teleop_lake.lake import layout
from teleop_lake.pipeline.isolation import Limits, process_batch_isolated
from teleop_lake.pipeline.pull import pull_stage
from teleop_lake.processing import ProcessingParams
from teleop_lake.simulate.network import simulate_network

NOW = dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)
DATE = "2026-11-23"
MUTATIONS = ("flip", "zero", "garbage", "truncate", "insert", "duplicate", "head", "tail")
CENTERS = ("beijing", "jinan", "suzhou", "hefei", "zhengzhou")
# Reasons that rightly refuse a recording with a damaged file.
DAMAGE_REASONS = frozenset(
    {
        "corrupt_file",
        "truncated_file",
        "missing_stream",
        "unmapped_stream",
        "unknown_message_type",
        "unknown_joint",
        "unknown_end_effector",
        "bad_timestamps",
        "too_short",
        "long_dropout",
        "long_frozen",
        "low_quality",
        "clock_unresolved",
        "schema_violation",
    }
)
FAILURES = ("pending", "crash", "wrong_reason")
# Reasons the pull refuses a delivery for (a simulated fault of a source, not a harness error).
PULL_REFUSALS = frozenset({"checksum_mismatch", "size_mismatch", "file_missing"})


def mutate(data: bytes, kind: str, rng: random.Random) -> tuple[bytes, str]:
    """``data`` damaged by ``kind``; returns it and where (for the case's record)."""
    n = len(data)
    if n == 0:
        return b"\x00", "empty file given one byte"
    b = bytearray(data)
    at = rng.randrange(n)
    if kind == "flip":
        flips = rng.randint(1, 8)
        for _ in range(flips):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), f"{flips} bit(s) flipped"
    if kind in ("zero", "garbage", "head", "tail"):
        size = min(n, rng.choice((8, 64, 512, 4096, 65536)))
        if kind == "head":
            at = rng.randrange(min(n, 4096))
        elif kind == "tail":
            at = max(0, n - rng.randrange(1, min(n, 4096) + 1))
        else:
            at = rng.randrange(max(1, n - size))
        size = min(size, n - at)
        fill = bytes(size) if kind == "zero" else rng.randbytes(size)
        b[at : at + size] = fill
        return bytes(b), f"{size} bytes at {at} {'zeroed' if kind == 'zero' else 'overwritten'}"
    if kind == "truncate":
        return bytes(b[:at]), f"cut at {at} of {n}"
    if kind == "insert":
        extra = rng.randbytes(rng.randint(1, 16))
        return bytes(b[:at] + extra + b[at:]), f"{len(extra)} bytes inserted at {at}"
    if kind == "duplicate":
        size = min(n - at, rng.choice((16, 256, 4096)))
        return bytes(b[: at + size] + b[at : at + size] + b[at + size :]), (
            f"{size} bytes at {at} repeated"
        )
    raise ValueError(f"unknown mutation {kind!r}")


def pick_file(files: list[dict[str, Any]], rng: random.Random) -> str:
    """The file to damage: mostly by size (where a disk or a transfer breaks bytes), a
    quarter of the time any file (small sidecars and indexes matter as much)."""
    if rng.random() < 0.25:
        return str(rng.choice(files)["path"])
    return str(rng.choices(files, weights=[max(1, int(f["size"])) for f in files])[0]["path"])


@dataclass
class Case:
    case_id: str
    center: str
    raw_format: str
    source: str  # the clean recording's id
    recording_id: str
    file: str
    mutation: str
    detail: str
    verdict: str = ""
    reasons: str = ""
    message: str = ""
    change_sigmas: float = 0.0
    peak_rss_mib: float = 0.0
    clean_peak_rss_mib: float = 0.0
    seconds: float = 0.0


def clean_network(root: Path, seed: int, *, per_center: int, camera: tuple[int, int]) -> Path:
    net = root / "clean"
    simulate_network(
        net,
        episodes_per_center=per_center,
        seed=seed,
        date=DATE,
        centers=CENTERS,
        duration_scale=0.1,
        camera_size=camera,
    )
    return net


def _manifest_lines(net: Path, center: str) -> list[dict[str, Any]]:
    path = net / center / DATE / "_manifest.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def deliver(
    clean: Path, out: Path, center: str, line: dict[str, Any], tag: str, damage: Any = None
) -> dict[str, Any]:
    """Copy recording ``line`` of ``clean`` into drop ``out`` under ``tag``/ with one file
    replaced by ``damage(path, data) -> data``; append its manifest line. Returns the line."""
    folder = out / center / DATE
    files = []
    for f in line["files"]:
        data = (clean / center / DATE / f["path"]).read_bytes()
        if damage is not None:
            data = damage(f["path"], data)
        rel = f"{tag}/{f['path']}"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
        files.append({"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    new = {**line, "recording_id": f"{line['recording_id']}-{tag}", "files": files}
    with (folder / "_manifest.jsonl").open("a") as m:
        m.write(json.dumps(new) + "\n")
    return new


@dataclass
class Processed:
    """What one case (or clean original) became."""

    status: str
    reasons: list[str]
    message: str
    peak_rss: int
    frames: pl.DataFrame | None = None
    findings: dict[str, int] | None = None
    quality: float | None = None
    camera_digest: str | None = None


def _published_view(lake: Path, segment_id: str, episode_ids: list[str]) -> tuple[Any, ...]:
    seg = lake / layout.segment_dir(segment_id)
    frames = pl.read_parquet(seg / "frames.parquet").filter(pl.col("episode_id").is_in(episode_ids))
    numeric = [c for c, t in frames.schema.items() if t.is_numeric() and c != "frame_index"]
    findings = pl.read_parquet(seg / "findings.parquet")
    kinds: dict[str, int] = {}
    if findings.height and "episode_id" in findings.columns:
        mine = findings.filter(pl.col("episode_id").is_in(episode_ids))
        for k, n in mine.group_by("kind").len().iter_rows():
            kinds[str(k)] = int(n)
    eps = pl.read_parquet(seg / "episodes.parquet")
    digest = hashlib.sha256()
    for table in sorted((seg / "cameras").glob("*.parquet")):
        cams = pl.read_parquet(table, columns=["data"])
        for blob in cams["data"]:
            digest.update(blob)
    return frames.select(numeric), kinds, float(eps["quality_score"].min()), digest.hexdigest()


def process_alone(
    lake: Path, run_id: str, part: str, rec: dict[str, Any], limits: Limits | None = None
) -> Processed:
    res = process_batch_isolated(
        str(lake), run_id, part, [rec], ProcessingParams(), NOW, limits=limits
    )
    out = res.outcomes[0] if res.outcomes else {"status": "none", "reason_codes": [], "message": ""}
    p = Processed(
        status=out["status"],
        reasons=list(out.get("reason_codes") or []),
        message=str(out.get("message") or ""),
        peak_rss=res.worker_peak_rss_bytes,
    )
    if p.status == "published" and res.segment_id:
        ids = [e["episode_id"] for e in res.episodes]
        p.frames, p.findings, p.quality, p.camera_digest = _published_view(
            lake, res.segment_id, ids
        )
    return p


def change_in_sigmas(clean: pl.DataFrame, got: pl.DataFrame) -> float:
    """The largest change of any value against its column's spread (inf: shapes differ)."""
    if clean.columns != got.columns or clean.height != got.height:
        return float("inf")
    worst = 0.0
    for c in clean.columns:
        a = clean[c].cast(pl.Float64).to_numpy()
        b = got[c].cast(pl.Float64).to_numpy()
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        if same.all():
            continue
        finite = a[np.isfinite(a)]
        spread = float(finite.std()) if finite.size > 1 else 0.0
        spread = spread or 1.0
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(np.nan_to_num(a - b, nan=np.inf))[~same]
        worst = max(worst, float(diff.max() / spread))
    return worst


def judge(case: Case, clean: Processed, got: Processed) -> None:
    case.reasons = ",".join(got.reasons)
    case.message = got.message[:300]
    case.peak_rss_mib = got.peak_rss / 2**20
    case.clean_peak_rss_mib = clean.peak_rss / 2**20
    if got.status == "pending":
        case.verdict = "pending"
    elif "resource_limit" in got.reasons:
        case.verdict = "stopped" if "still running" in got.message else "crash"
    elif "processing_error" in got.reasons:
        case.verdict = "crash"
    elif got.status == "quarantined":
        case.verdict = "refused" if set(got.reasons) <= DAMAGE_REASONS else "wrong_reason"
    elif got.status != "published":
        case.verdict = "crash"
    else:
        assert clean.frames is not None and got.frames is not None
        case.change_sigmas = change_in_sigmas(clean.frames, got.frames)
        changed = case.change_sigmas > 0 or got.camera_digest != clean.camera_digest
        flagged = got.findings != clean.findings or (got.quality or 0) < (clean.quality or 0)
        case.verdict = "flagged" if changed and flagged else "silent" if changed else "unchanged"


def run_round(
    root: Path,
    clean: Path,
    baseline: dict[str, Processed],
    cases: int,
    seed: int,
    start: int,
    limits: Limits | None = None,
) -> list[Case]:
    """``cases`` mutated recordings from ``clean`` through pull and process under ``root``."""
    rng = random.Random(seed)
    net, lake = root / "net", root / "lake"
    planned: list[Case] = []
    sources = [
        (c, line)
        for c in CENTERS
        for line in _manifest_lines(clean, c)
        if line["recording_id"] in baseline  # a source whose clean run was published
    ]
    for i in range(cases):
        center, line = sources[(start + i) % len(sources)]
        kind = MUTATIONS[(start + i) // len(sources) % len(MUTATIONS)]
        target = pick_file(line["files"], rng)
        tag = f"m{start + i:04d}"
        record: dict[str, str] = {}

        def damage(
            path: str,
            data: bytes,
            target: str = target,
            kind: str = kind,
            record: dict[str, str] = record,
        ) -> bytes:
            if path != target:
                return data
            out, record["detail"] = mutate(data, kind, rng)
            return out

        new = deliver(clean, net, center, line, tag, damage)
        planned.append(
            Case(
                case_id=tag,
                center=center,
                raw_format=line["format"],
                source=line["recording_id"],
                recording_id=new["recording_id"],
                file=target,
                mutation=kind,
                detail=record.get("detail", ""),
            )
        )
    run_id = f"20261124T020000Z-fuzz{seed}"
    pulled: dict[str, dict[str, Any]] = {}
    for center in CENTERS:
        got = pull_stage(str(net), str(lake), center, run_id, None, NOW)
        for r in got["new"]:
            pulled[r["recording_id"]] = r
        for q in got["quarantined"]:  # refused at the pull: judged from its reasons
            pulled[q["recording_id"]] = {"refused_at_pull": q}
    for case in planned:
        rec = pulled.get(case.recording_id)
        if rec is None:
            case.verdict = "crash"
            case.message = "the pull neither took nor refused it"
            continue
        if "refused_at_pull" in rec:
            q = rec["refused_at_pull"]
            codes = list(q.get("reason_codes") or [])
            got = Processed("quarantined", codes, str(q.get("message") or ""), 0)
        else:
            t0 = dt.datetime.now()
            got = process_alone(lake, run_id, case.case_id, rec, limits)
            case.seconds = (dt.datetime.now() - t0).total_seconds()
        judge(case, baseline[case.source], got)
    return planned


def baselines(
    root: Path, clean: Path, left_out: dict[str, str] | None = None
) -> dict[str, Processed]:
    """Every source recording, delivered and processed as the cases are (its control). The
    simulated network has its profile's faults: a source the night rightly refuses (a stream
    missing, a cut file: a reason in `DAMAGE_REASONS` or `PULL_REFUSALS`) is no control, and
    is left out, with why, in ``left_out``. Anything else (a crash, a pending source, one the
    pull neither took nor refused) fails the run, and every format must keep a source."""
    net, lake = root / "net", root / "lake"
    formats: dict[str, str] = {}
    for center in CENTERS:
        for line in _manifest_lines(clean, center):
            deliver(clean, net, center, line, "clean")
            formats[line["recording_id"]] = line["format"]
    run_id = "20261124T010000Z-clean"
    out: dict[str, Processed] = {}
    refused: dict[str, str] = {}
    for center in CENTERS:
        got = pull_stage(str(net), str(lake), center, run_id, None, NOW)
        for q in got["quarantined"]:
            source = q["recording_id"].removesuffix("-clean")
            codes = list(q.get("reason_codes") or [])
            if not codes or not set(codes) <= PULL_REFUSALS | DAMAGE_REASONS:
                raise AssertionError(f"clean source {source} refused at the pull: {q}")
            refused[source] = f"refused at the pull: {','.join(codes)}"
        for rec in got["new"]:
            source = rec["recording_id"].removesuffix("-clean")
            done = process_alone(lake, run_id, f"c{len(out) + len(refused):03d}", rec)
            if done.status == "published":
                out[source] = done
            elif (
                done.status == "quarantined"
                and done.reasons
                and set(done.reasons) <= DAMAGE_REASONS
            ):
                refused[source] = f"{done.status}: {','.join(done.reasons)}"
            else:  # a crash, a limit, a pending source: the harness or the night is wrong
                raise AssertionError(f"clean source {source} was not published: {done}")
    missing = set(formats) - set(out) - set(refused)
    if missing:
        raise AssertionError(f"sources neither published nor refused: {sorted(missing)}")
    if left_out is not None:
        left_out.update(refused)
    kept = {formats[s] for s in out}
    if kept != set(formats.values()):
        lost = sorted(set(formats.values()) - kept)
        raise AssertionError(f"no clean source of format(s) {lost} was published: {refused}")
    return out


def run_fuzz(
    work: Path,
    *,
    cases: int,
    seed: int,
    per_center: int,
    camera: tuple[int, int],
    chunk: int = 100,
    limits: Limits | None = None,
    left_out: dict[str, str] | None = None,
) -> Iterator[Case]:
    """Yield judged cases; each round's network and lake are deleted when it is done.
    ``limits``: instead of the profiles' (a shorter wall time for short test recordings).
    ``left_out`` gets the sources not used, with why (`baselines`)."""
    clean = clean_network(work, seed, per_center=per_center, camera=camera)
    base = baselines(work / "baseline", clean, left_out)
    shutil.rmtree(work / "baseline")
    done = 0
    while done < cases:
        n = min(chunk, cases - done)
        root = work / f"round{done:05d}"
        yield from run_round(root, clean, base, n, seed * 1000 + done, done, limits)
        shutil.rmtree(root)
        done += n


def summary_rows(cases: list[Case]) -> list[dict[str, Any]]:
    """Per format: cases and their verdicts, and the worst memory ratio to the clean run."""
    rows = []
    for fmt in [*sorted({c.raw_format for c in cases}), "all"]:
        mine = [c for c in cases if fmt in ("all", c.raw_format)]
        ratios = [c.peak_rss_mib / c.clean_peak_rss_mib for c in mine if c.peak_rss_mib]
        row: dict[str, Any] = {"format": fmt, "cases": len(mine)}
        for v in ("refused", "flagged", "unchanged", "silent", "stopped", *FAILURES):
            row[v] = sum(c.verdict == v for c in mine)
        silent = [c.change_sigmas for c in mine if c.verdict == "silent"]
        row["silent_max_sigmas"] = round(max(silent), 3) if silent else 0.0
        row["peak_rss_ratio_max"] = round(max(ratios), 2) if ratios else 0.0
        rows.append(row)
    return rows


def as_dicts(cases: list[Case]) -> list[dict[str, Any]]:
    return [asdict(c) for c in cases]
