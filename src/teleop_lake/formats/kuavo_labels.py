"""The label files beside a Kuavo bag: ``metadata.json`` and the older ``moments.json``.

What belongs here: reading those JSON files (`read_label_files`) and the pure
merge of their content into a `RecordingMeta` plus label events
(`apply_labels`). The manifest wins over the label files for fields it already
has; the label files only fill gaps, and everything else goes to ``meta.extra``.

Events made here:
- ``operator_mark`` (value "success"/"failure") from ``metadata.json``'s
  ``operator_mark``, stamped at the end of the recording;
- ``skill_mark`` (value = the atomic skill, e.g. "pick") per mark, stamped at the
  mark's start position (fraction of the bag's duration) on the recorder clock.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teleop_lake.canonical import Event, RecordingMeta
from teleop_lake.rejection import Reason, RecordingRejected

OPERATOR_MARKS = ("success", "failure")
# Keys of metadata.json that fill RecordingMeta fields (everything else goes to extra).
_META_FIELDS = {"task_code", "device_sn"}


@dataclass(frozen=True)
class KuavoLabels:
    """Content of a recording's label files, as delivered."""

    metadata: dict[str, Any] | None
    marks: tuple[dict[str, Any], ...] = ()
    metadata_file: str | None = None
    moments_file: str | None = None
    warnings: tuple[str, ...] = field(default=())


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordingRejected(
            Reason("corrupt_file", f"label file is not valid JSON: {err}", file=path.name)
        ) from None


def _normalise_key(key: str) -> str:
    return key.replace("_", "").lower()


def _normalise_mark(raw: dict[str, Any]) -> dict[str, Any]:
    """A mark with camelCase keys, from either the marks[] or the moments.json shape."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and _normalise_key(key) in ("customfieldvalues", "customfields"):
            flat.update(value)
        else:
            flat[key] = value
    wanted = (
        "markStart",
        "markEnd",
        "duration",
        "skillAtomic",
        "skillDetail",
        "enSkillDetail",
        "markType",
        "startPosition",
        "endPosition",
        "triggerTime",
    )
    by_norm = {_normalise_key(k): v for k, v in flat.items()}
    out = {k: by_norm[_normalise_key(k)] for k in wanted if _normalise_key(k) in by_norm}
    for k, v in flat.items():
        if _normalise_key(k) not in {_normalise_key(w) for w in wanted}:
            out.setdefault(k, v)
    return out


def read_label_files(metadata: Path | None, moments: Path | None) -> KuavoLabels:
    """Read the label files of one recording (either may be absent)."""
    meta_doc: dict[str, Any] | None = None
    marks: list[dict[str, Any]] = []
    warnings: list[str] = []
    if metadata is not None:
        doc = _load_json(metadata)
        if not isinstance(doc, dict):
            raise RecordingRejected(
                Reason("corrupt_file", "metadata.json is not a JSON object", file=metadata.name)
            )
        meta_doc = doc
        marks += [_normalise_mark(m) for m in doc.get("marks", []) or [] if isinstance(m, dict)]
    else:
        warnings.append("metadata.json missing: task, scene and operator mark unknown")
    if moments is not None:
        doc = _load_json(moments)
        items = doc.get("moments", doc.get("marks", [])) if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise RecordingRejected(
                Reason("corrupt_file", "moments.json holds no list of moments", file=moments.name)
            )
        marks += [_normalise_mark(m) for m in items if isinstance(m, dict)]
    return KuavoLabels(
        metadata=meta_doc,
        marks=tuple(marks),
        metadata_file=metadata.name if metadata else None,
        moments_file=moments.name if moments else None,
        warnings=tuple(warnings),
    )


def _fraction(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if 0.0 <= f <= 1.0 else None


def apply_labels(
    meta: RecordingMeta, labels: KuavoLabels, t_start_ns: int, t_end_ns: int
) -> tuple[RecordingMeta, tuple[Event, ...]]:
    """``meta`` with gaps filled from the labels, and the label events (robot clock)."""
    doc = labels.metadata or {}
    if meta.task_code is None and not doc.get("task_code"):
        where = labels.metadata_file or "metadata.json"
        raise RecordingRejected(
            Reason(
                "file_missing",
                "no task code: the manifest has none and the recording has no metadata.json "
                "with task_code; re-deliver the label file or add task_code to the manifest",
                file=where,
            )
        )
    extra = dict(meta.extra)
    extra.update({k: v for k, v in doc.items() if k not in _META_FIELDS and k != "marks"})
    if labels.marks:
        extra["marks"] = [dict(m) for m in labels.marks]
    if labels.warnings:
        extra["warnings"] = [*extra.get("warnings", []), *labels.warnings]
    extra["label_files"] = [f for f in (labels.metadata_file, labels.moments_file) if f]
    scene = doc.get("scene_code") or doc.get("scene_name")
    new_meta = dataclasses.replace(
        meta,
        task_code=meta.task_code or str(doc["task_code"]),
        robot_serial=meta.robot_serial or (str(doc["device_sn"]) if doc.get("device_sn") else None),
        scene=meta.scene or (str(scene) if scene else None),
        extra=extra,
    )
    events: list[Event] = []
    duration_ns = max(t_end_ns - t_start_ns, 0)
    for mark in labels.marks:
        frac = _fraction(mark.get("startPosition"))
        t = t_start_ns + round(frac * duration_ns) if frac is not None else t_start_ns
        value = str(
            mark.get("skillAtomic") or mark.get("enSkillDetail") or mark.get("markType", "")
        )
        events.append(Event(t_ns=t, clock="robot", kind="skill_mark", value=value))
    mark_value = doc.get("operator_mark")
    if mark_value is not None:
        if mark_value not in OPERATOR_MARKS:
            extra["warnings"] = [
                *extra.get("warnings", []),
                f"operator_mark {mark_value!r} is neither 'success' nor 'failure'; ignored",
            ]
        else:
            events.append(
                Event(t_ns=t_end_ns, clock="robot", kind="operator_mark", value=mark_value)
            )
    return new_meta, tuple(events)


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def task_texts(extra: dict[str, Any]) -> dict[str, str | None]:
    """The task's wording from a recording's label file (``task_name``, ``task_name_zh``), by
    language: real rigs write ``task_name`` in Chinese or in English."""
    en: str | None = None
    zh: str | None = None
    for key in ("task_name", "task_name_zh", "task_name_en"):
        value = extra.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        text = value.strip()
        if _is_chinese(text):
            zh = zh or text
        else:
            en = en or text
    return {"task_text_en": en, "task_text_zh": zh}
