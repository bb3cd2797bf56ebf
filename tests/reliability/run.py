"""The whole reliability suite, with figures: ``make reliability``.

Runs the mutation suite (`fuzz`: damaged recordings of all four formats), the hostile drops
through a traced CLI night (`hostile`, needs strace) and a kill -9 at every write point of a
night (`killpoints`), prints one table and exits 1 if any target is missed. ``--json PATH``
also writes every case.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import fuzz  # noqa: E402
import hostile  # noqa: E402
import killpoints  # noqa: E402


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=1000, help="mutated recordings (default 1000)")
    ap.add_argument("--camera", type=_size, default=(640, 480), help="camera WxH (default 640x480)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--kill-every", type=int, default=1, help="kill at every n-th write point")
    ap.add_argument("--skip", nargs="*", default=[], choices=["fuzz", "hostile", "kill"])
    ap.add_argument("--json", type=Path, help="write every case here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="teleop-reliability-"))
    report: dict[str, Any] = {}
    failed: list[str] = []
    try:
        if "fuzz" not in args.skip:
            t0 = time.monotonic()
            cases = []
            left_out: dict[str, str] = {}
            for c in fuzz.run_fuzz(
                work / "fuzz",
                cases=args.cases,
                seed=args.seed,
                per_center=2,
                camera=args.camera,
                left_out=left_out,
            ):
                cases.append(c)
                if len(cases) % 50 == 0:
                    print(f"  mutated {len(cases)}/{args.cases}", file=sys.stderr, flush=True)
            rows = fuzz.summary_rows(cases)
            report["mutations"] = {
                "rows": rows,
                "seconds": time.monotonic() - t0,
                "sources_left_out": left_out,
            }
            report["mutation_cases"] = fuzz.as_dicts(cases)
            total = rows[-1]
            if any(total[v] for v in fuzz.FAILURES) or total["peak_rss_ratio_max"] > 2:
                failed.append("mutations")
            if total["silent"]:  # the target: every change of data refused or flagged
                failed.append(f"mutations ({total['silent']} changed data published unflagged)")
            shutil.rmtree(work / "fuzz")
        if "hostile" not in args.skip and shutil.which("strace"):
            root = work / "hostile"
            root.mkdir()
            net, bait, hcases = hostile.build(root)
            summary, opens, seconds = hostile.run_night(root, net)
            hrows = hostile.judge(hcases, summary, opens, bait, root / "lake")
            report["hostile"] = {"rows": hrows, "opens_traced": len(opens), "seconds": seconds}
            if any(not r["right"] or r["unsafe_opens"] for r in hrows):
                failed.append("hostile")
            shutil.rmtree(root)
        if "kill" not in args.skip:
            root = work / "kill"
            root.mkdir()
            net = killpoints.simulate(root)
            n, episodes = killpoints.reference(root, net)
            krows = []
            for k in range(1, n + 1, args.kill_every):
                krows.append(killpoints.kill_at(root, net, k, episodes))
                print(f"  killed at write {k}/{n}", file=sys.stderr, flush=True)
            report["kills"] = {"write_points": n, "rows": krows}
            if any(r["problems"] or not r["killed"] for r in krows):
                failed.append("kills")
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all targets met'}")
    return 1 if failed else 0


def print_table(report: dict[str, Any]) -> None:
    if "mutations" in report:
        rows = report["mutations"]["rows"]
        cols = list(rows[0])
        print(f"\nDamaged recordings ({report['mutations']['seconds']:.0f} s)\n")
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r[c]) for c in cols) + " |")
        for source, why in report["mutations"].get("sources_left_out", {}).items():
            print(f"\nsource {source} left out (its clean run was not published: {why})")
    if "hostile" in report:
        h = report["hostile"]
        right = sum(r["right"] and not r["unsafe_opens"] for r in h["rows"])
        print(
            f"\nHostile drops: {right}/{len(h['rows'])} refused for the right reason with nothing "
            f"opened outside the drop ({h['opens_traced']} opens traced, night {h['seconds']:.0f} s)\n"
        )
        print("| case | what | outcome | right | opens outside |")
        print("|---|---|---|---|---|")
        for r in h["rows"]:
            print(
                f"| {r['case']} | {r['what']} | {r['outcome']} | {r['right']} | {len(r['unsafe_opens'])} |"
            )
    if "kills" in report:
        k = report["kills"]
        bad = [r for r in k["rows"] if r["problems"] or not r["killed"]]
        print(
            f"\nkill -9 at {len(k['rows'])} of {k['write_points']} write points, then the next "
            f"night: {len(k['rows']) - len(bad)} survived (no lost outcome, one release with "
            "the uninterrupted night's episodes, every release verifying)"
        )
        for r in bad:
            print(f"  write {r['kill_at']}: {r['problems'] or 'not killed'}")


if __name__ == "__main__":
    raise SystemExit(main())
