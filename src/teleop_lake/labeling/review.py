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
