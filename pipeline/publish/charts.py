"""Inline SVG charts (no plotting library, no script): availability strips and bar charts.

Every chart carries ``role="img"``, an ``aria-label`` summary and a ``<title>`` per mark, so
screen readers and print get the numbers, not only the colours.

>>> svg = availability_strip("energy · UA-30", [{"day": "2026-01-01", "availability": 0.5,
...                                             "level": "major disruption", "incidents": 1}])
>>> "role=\\"img\\"" in svg and "50.00 %" in svg
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

COLOURS = {
    "operational": "#2e7d32",
    "minor disruption": "#f9a825",
    "major disruption": "#c62828",
    "no data": "#9e9e9e",
}


def availability_strip(
    name: str, bars: Sequence[Mapping[str, Any]], *, width: int = 630, height: int = 34
) -> Markup:
    """One bar per day, coloured by level, with the day's figure in its tooltip."""
    step = width / max(1, len(bars))
    worst = min((b["availability"] for b in bars if b["availability"] is not None), default=None)
    summary = f"{name}: daily availability over {len(bars)} days" + (
        f", lowest {_pct(worst)}" if worst is not None else ", no data"
    )
    parts = [
        f'<svg class="strip" role="img" aria-label="{escape(summary)}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="none" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for index, bar in enumerate(bars):
        value = bar["availability"]
        label = f"{bar['day']}: {_pct(value) if value is not None else 'no data'}"
        if bar.get("incidents"):
            label += f", {bar['incidents']} incident(s) started"
        parts.append(
            f'<rect x="{index * step:.2f}" y="0" width="{max(1.0, step - 1.5):.2f}" '
            f'height="{height}" fill="{COLOURS.get(str(bar["level"]), "#9e9e9e")}">'
            f"<title>{escape(label)}</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, float]],
    *,
    unit: str = "",
    width: int = 640,
    row_height: int = 20,
) -> Markup:
    """Horizontal bars, one labelled row each (e.g. time to restore per incident)."""
    label_w, value_w = 230, 90
    plot_w = width - label_w - value_w
    top = max((v for _, v in rows), default=0.0) or 1.0
    height = max(1, len(rows)) * row_height + 8
    parts = [
        f'<svg class="bars" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg" '
        'font-family="sans-serif" font-size="12">'
    ]
    if not rows:
        parts.append(f'<text x="0" y="16">{escape("no data in this period")}</text>')
    for index, (label, value) in enumerate(rows):
        y = 4 + index * row_height
        length = plot_w * value / top
        text = f"{value:,.0f} {unit}".strip()
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label[:34])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{max(1.0, length):.1f}" '
            f'height="{row_height - 6}" fill="#1565c0"><title>{escape(label)}: {escape(text)}'
            f"</title></rect>"
            f'<text x="{label_w + max(1.0, length) + 4:.1f}" y="{y + 14}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _pct(value: float) -> str:
    return f"{value * 100:.2f} %"
