"""The targets a report is held to, its printed table, and the worst over several networks.

`TARGETS` are the targets of issues 4 and 9 on the default and stress profiles (the false
alarm rate on the clean profile); `SHOWN` the scores printed beside them without a target.
`merge_reports` takes the reports of several networks and keeps, per printed score, the
worst value: the smallest of a score that must be large (recall, precision, coverage, rates
with a ``>=`` target), the largest of an error or a count of bad outcomes; totals are summed.
Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

Worst = Literal["min", "max", "sum"]
"""How several networks' values of one score combine: ``min``, ``max`` or ``sum``."""

# (dotted key, comparison, target)
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("outliers.precision", ">=", 0.98),
    ("outliers.recall", ">=", 0.98),
    ("dropouts.precision", ">=", 0.99),
    ("dropouts.recall", ">=", 1.0),
    ("dropouts.boundary_error_periods_p95", "<=", 1.0),
    ("frozen.precision", ">=", 0.95),
    ("frozen.recall", ">=", 0.95),
    ("frozen.recall_moving", ">=", 0.95),
    ("frozen.recall_still", ">=", 0.95),
    ("frozen.recall_message", ">=", 0.95),
    ("clock_offset_error_ms.median", "<=", 2.0),
    ("clock_offset_error_ms.p95", "<=", 5.0),
    ("clock_offset_error_ms.coverage", ">=", 0.95),
    ("clock_domain_mismatch.recall", ">=", 1.0),
    ("limits.n_false", "<=", 0.0),
    ("episodes.wrongly_quarantined", "<=", 0.0),
    ("unpopulated.quarantined", "<=", 0.0),
    ("camera_frame_match_rate", ">=", 0.99),
    ("false_alarm_rate", "<=", 0.001),
    ("repair_error.median_over_noise", "<=", 2.0),
)
# (dotted key, how the worst over networks is taken)
SHOWN: tuple[tuple[str, Worst], ...] = (
    ("dropouts.boundary_error_ms_p95", "max"),
    ("clock_offset_error_ms.max", "max"),
    ("clock_offset_error_ms.coverage_worst", "min"),
    ("clock_domain_mismatch.precision", "min"),
    ("clock_domain_mismatch.n", "sum"),
    ("limits.n_findings", "max"),
    ("limits.n_false_at_stop", "max"),
    ("at_stop.recall", "min"),
    ("unpopulated.recall", "min"),
    ("unpopulated.precision", "min"),
    ("camera.match_rate_with_near_ties", "min"),
    ("labels.accuracy", "min"),
    ("labels.unknown_rate", "max"),
    ("labels.mismark_caught_rate", "min"),
    ("episodes.total", "sum"),
    ("episodes.published", "sum"),
    ("episodes.quarantined", "sum"),
    ("episodes.pending", "sum"),
)
SHOWN_WITHOUT_TARGET = tuple(key for key, _ in SHOWN)


def lookup(report: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted key (``"outliers.recall"``), None when absent."""
    node: Any = report
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _shown(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(metric, value, target, verdict)`` rows: verdict ``ok``, ``MISS`` or ``-``."""
    rows = []
    for key, op, target in TARGETS:
        value = lookup(report, key)
        if value is None:
            rows.append((key, "n/a", f"{op} {target:g}", "-"))
            continue
        ok = value >= target if op == ">=" else value <= target
        rows.append((key, f"{value:.4g}", f"{op} {target:g}", "ok" if ok else "MISS"))
    for key in SHOWN_WITHOUT_TARGET:
        rows.append((key, _shown(lookup(report, key)), "", "-"))
    return rows


def worst_rule(key: str) -> Worst:
    """How the worst of ``key`` over networks is taken (`TARGETS` and `SHOWN` keys)."""
    for k, op, _ in TARGETS:
        if k == key:
            return "min" if op == ">=" else "max"
    for k, rule in SHOWN:
        if k == key:
            return rule
    raise KeyError(f"{key!r} is neither in TARGETS nor in SHOWN")


def _combine(values: list[Any], rule: Worst) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if rule == "sum":
        return sum(present)
    return min(present) if rule == "min" else max(present)


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _sum_variants(reports: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for report in reports:
        for name, block in (report.get("by_variant") or {}).items():
            if not block.get("available", True):
                out.setdefault(name, dict(block))
                continue
            into = out.get(name)
            if into is None or not into.get("available", True):
                out[name] = dict(block)
                continue
            for k, v in block.items():
                into[k] = into.get(k, 0) + v
    return out


def merge_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The worst over several networks' reports: ``worst`` (a report-shaped tree holding every
    `TARGETS` and `SHOWN` key, so `table_rows` prints it), ``per_network`` (dotted key -> the
    networks' values in order), ``worst_network`` (dotted key -> index of the network that gave
    the worst value, None for sums and when no network has the score), ``by_variant`` (the
    per-variant counts summed) and ``scopes``. A network without a score (null) is left out
    of that score's worst."""
    keys = [k for k, _, _ in TARGETS] + list(SHOWN_WITHOUT_TARGET)
    worst: dict[str, Any] = {}
    per_network: dict[str, list[Any]] = {}
    which: dict[str, int | None] = {}
    for key in keys:
        values = [lookup(r, key) for r in reports]
        rule = worst_rule(key)
        value = _combine(values, rule)
        _set(worst, key, value)
        per_network[key] = values
        which[key] = None if rule == "sum" or value is None else values.index(value)
    return {
        "n_networks": len(reports),
        "scopes": [r.get("scope") for r in reports],
        "worst": worst,
        "per_network": per_network,
        "worst_network": which,
        "by_variant": _sum_variants(reports),
    }


def merged_table_rows(merged: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """`table_rows` of the worst values, each with the networks' values (`` / ``-separated)."""
    rows = []
    for key, value, target, verdict in table_rows(merged["worst"]):
        values = " / ".join(_shown(v) for v in merged["per_network"].get(key, []))
        rows.append((key, value, target, verdict, values))
    return rows
