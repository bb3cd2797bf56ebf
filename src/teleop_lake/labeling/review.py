"""The review queue as a pure ranking: which labelled episodes a QA reviewer should see first.

Kinds, most important first (derived from label columns, so old tables rank too):

1. ``disagreement``: the operator marked one thing and the evidence says another; one of them
   is wrong, and the published label may be;
2. ``unknown``: no label at all (task missing from the catalog, nothing to judge by);
3. ``no_mark``: the operator did not mark the episode; only the signal predicate decided;
4. ``other``: flagged for any other reason.

Within a kind, published episodes before gated ones, then the least confident first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REVIEW_KINDS = ("disagreement", "unknown", "no_mark", "other")

QUEUE_COLUMNS = (
    "episode_id",
    "center",
    "recording_id",
    "task_code",
    "outcome",
    "failure_reason",
    "label_source",
    "operator_mark",
    "label_confidence",
    "review_reason",
    "publishable",
    "run_id",
    "rule_outcome",
    "rule_failure_reason",
)


def review_kind(row: Mapping[str, Any]) -> str:
    """The kind of a row that needs review (see the module docstring)."""
    mark = row.get("operator_mark")
    if row.get("outcome") == "unknown":
        return "unknown"
    if mark is not None and mark != row.get("outcome"):
        return "disagreement"
    if mark is not None and "but rules say" in (row.get("review_reason") or ""):
        return "disagreement"  # a borderline measurement: the mark stood, the rules disagreed
    if mark is None:
        return "no_mark"
    return "other"


def override_hint(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The label the evidence offers instead of the current one, for a reviewer who finds the
    current label wrong: ``outcome``, ``failure_reason`` and where it comes from. None when
    the evidence offers no alternative (no mark and no rule verdict, or both agree)."""
    outcome, reason = item.get("outcome"), item.get("failure_reason")
    mark = item.get("operator_mark")
    rule = (item.get("rule_outcome"), item.get("rule_failure_reason"))
    candidates = []
    if mark in ("success", "failure"):
        candidates.append(
            (mark, "operator_marked_failure" if mark == "failure" else None, "the operator's mark")
        )
    if rule[0] in ("success", "failure"):
        candidates.append((rule[0], rule[1], "the rules' verdict"))
    for alt_outcome, alt_reason, source in candidates:
        if (alt_outcome, alt_reason) != (outcome, reason) and alt_outcome != outcome:
            return {"outcome": alt_outcome, "failure_reason": alt_reason, "from": source}
    return None


def hint_text(hint: Mapping[str, Any] | None) -> str:
    """A suggested override in a table cell: ``failure (object_dropped) (the rules' verdict)``."""
    if not hint:
        return "-"
    reason = f" ({hint['failure_reason']})" if hint.get("failure_reason") else ""
    return f"{hint['outcome']}{reason} ({hint['from']})"


def override_command(item: Mapping[str, Any], lake: str) -> str:
    """The `teleop-lake qa override` command line for the queue ``item``: its suggested
    label, or placeholders to fill in when the evidence offers none."""
    hint = item.get("suggested_override")
    if hint:
        label = f"--outcome {hint['outcome']}"
        if hint.get("failure_reason"):
            label += f" --reason {hint['failure_reason']}"
    else:
        label = "--outcome success|failure [--reason FAILURE_REASON]"
    return (
        f"teleop-lake qa override {item['episode_id']} --lake {lake} {label} "
        "--reviewer YOUR_NAME --note 'what you saw'"
    )


def rank_review_queue(
    rows: Iterable[Mapping[str, Any]], exclude_episode_ids: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Rows with ``needs_review``, minus excluded ids (already overridden), most important first.

    Each returned item has `QUEUE_COLUMNS` (missing ones None), ``rank`` (1 = first) and
    ``kind`` (`REVIEW_KINDS`).
    """
    skip = set(exclude_episode_ids)
    items = []
    for r in rows:
        if not r.get("needs_review") or r.get("episode_id") in skip:
            continue
        item = {k: r.get(k) for k in QUEUE_COLUMNS}
        item["kind"] = review_kind(r)
        item["suggested_override"] = override_hint(item)
        items.append(item)
    items.sort(
        key=lambda i: (
            REVIEW_KINDS.index(i["kind"]),
            i["publishable"] is False,
            i["label_confidence"] if i["label_confidence"] is not None else 0.0,
            str(i["episode_id"]),
        )
    )
    for n, item in enumerate(items, start=1):
        item["rank"] = n
    return items
