"""Drawing one signal plot (`teleop_lake.reports.plots.signal_plot`) as inline SVG.

The trace is a polyline broken at gaps; flagged spans are shaded bands on the time axis
(dropouts grey, frozen spans blue, limit violations orange) and spikes are red ticks above
the trace. Every text comes from the data and is escaped. No external references: the SVG
is self-contained, for the HTML report and for ``IPython.display.SVG`` in the notebook.
"""

from __future__ import annotations

import html
import math
from typing import Any

SPAN_COLORS = {
    "dropout": "#9e9e9e",
    "frozen": "#3b7dd8",
    "limit_violation": "#f0a030",
    "spike": "#d32f2f",
}
TRACE_COLOR = "#222"
SVG_NAMESPACE = ' xmlns="http://www.w3.org/2000/svg"'
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 58, 10, 22, 26


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _nice_step(span: float, target_ticks: int = 6) -> float:
    raw = span / max(target_ticks, 1)
    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def render_signal_svg(
    plot: dict[str, Any], width: int = 720, height: int = 170, *, standalone: bool = False
) -> str:
    """The plot as one ``<svg>`` element (a string). ``standalone`` adds the SVG namespace
    declaration a separate SVG document needs (inline in HTML it is implied)."""
    t = [float(x) for x in plot["t_s"]]
    v = plot["values"]
    finite = [float(x) for x in v if x is not None]
    x0, x1 = 0.0, max(float(plot.get("duration_s") or 0.0), t[-1] if t else 0.0, 1e-3)
    y0, y1 = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.08 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    w = width - _MARGIN_LEFT - _MARGIN_RIGHT
    h = height - _MARGIN_TOP - _MARGIN_BOTTOM

    def px(x: float) -> float:
        return _MARGIN_LEFT + (min(max(x, x0), x1) - x0) / (x1 - x0) * w

    def py(y: float) -> float:
        return _MARGIN_TOP + (y1 - y) / (y1 - y0) * h

    title = f"{plot['center']}/{plot['recording_id']} {plot['column']}"
    parts = [
        f'<svg{SVG_NAMESPACE if standalone else ""} width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="signal-plot" role="img">',
        f"<title>{_e(title)}</title>",
        f'<rect x="{_MARGIN_LEFT}" y="{_MARGIN_TOP}" width="{w}" height="{h}" '
        'fill="#fff" stroke="#bbb"/>',
    ]
    for s in plot["spans"]:
        kind = str(s["kind"])
        color = SPAN_COLORS.get(kind, "#8e24aa")
        a, b = px(float(s["start_s"])), px(float(s["end_s"]))
        tip = f"<title>{_e(kind)} {float(s['start_s']):.2f}-{float(s['end_s']):.2f} s: {_e(s.get('detail'))}</title>"
        if kind == "spike":
            parts.append(
                f'<line x1="{a:.1f}" y1="{_MARGIN_TOP}" x2="{a:.1f}" y2="{_MARGIN_TOP + 8}" '
                f'stroke="{color}" stroke-width="2" class="span-{_e(kind)}">{tip}</line>'
            )
        else:
            parts.append(
                f'<rect x="{a:.1f}" y="{_MARGIN_TOP}" width="{max(b - a, 1.5):.1f}" '
                f'height="{h}" fill="{color}" fill-opacity="0.3" class="span-{_e(kind)}">'
                f"{tip}</rect>"
            )
    runs: list[list[str]] = [[]]
    for x, y in zip(t, v, strict=True):
        if y is None:
            runs.append([])
            continue
        runs[-1].append(f"{px(x):.1f},{py(float(y)):.1f}")
    for r in runs:
        if len(r) > 1:
            parts.append(
                f'<polyline fill="none" stroke="{TRACE_COLOR}" stroke-width="1" '
                f'points="{" ".join(r)}"/>'
            )
    step = _nice_step(x1 - x0)
    k = 0
    while k * step <= x1 + 1e-9:
        xx = px(k * step)
        parts.append(
            f'<line x1="{xx:.1f}" y1="{_MARGIN_TOP + h}" x2="{xx:.1f}" '
            f'y2="{_MARGIN_TOP + h + 4}" stroke="#666"/>'
            f'<text x="{xx:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">'
            f"{k * step:g}</text>"
        )
        k += 1
    parts += [
        f'<text x="{width - _MARGIN_RIGHT}" y="{height - 8}" font-size="10" '
        'text-anchor="end">s</text>',
        f'<text x="{_MARGIN_LEFT - 4}" y="{_MARGIN_TOP + 8}" font-size="10" '
        f'text-anchor="end">{y1 - pad:.4g}</text>',
        f'<text x="{_MARGIN_LEFT - 4}" y="{_MARGIN_TOP + h}" font-size="10" '
        f'text-anchor="end">{y0 + pad:.4g}</text>',
        f'<text x="{_MARGIN_LEFT}" y="14" font-size="11">{_e(title)}</text>',
    ]
    kinds = sorted({str(s["kind"]) for s in plot["spans"]})
    lx = width - _MARGIN_RIGHT
    for kind in reversed(kinds):
        label = f"{kind} ({sum(1 for s in plot['spans'] if s['kind'] == kind)})"
        lx -= 7 * len(label) + 16
        parts.append(
            f'<rect x="{lx}" y="5" width="10" height="10" '
            f'fill="{SPAN_COLORS.get(kind, "#8e24aa")}" fill-opacity="0.6"/>'
            f'<text x="{lx + 13}" y="14" font-size="10">{_e(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
