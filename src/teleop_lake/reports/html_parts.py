"""Building blocks of the HTML report: the style sheet, escaping, and tables.

Every value goes through `esc` (cells are escaped by `table`): a task name or a note
containing markup shows as text, never as markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.fail{background:#fde2e2}
.warn{background:#fff4d6}.ok{background:#e5f5e5}code{font-size:12px}
.note{color:#555;font-size:12px}.plot{margin:.6em 0 1.2em}nav a{margin-right:1em}
"""


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] = ()
) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{esc(classes[i])}"' if i < len(classes) and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(headers)}">none</td></tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def section(anchor: str, title: str) -> str:
    return f'<h2 id="{esc(anchor)}">{esc(title)}</h2>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'
