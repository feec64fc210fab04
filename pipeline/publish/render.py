"""Jinja2 environment for the status page and the report: autoescaped, strict about
undefined names, with formatting filters for times, durations and ratios.

>>> env = environment()
>>> env.from_string("{{ x }}").render(x="<script>")
'&lt;script&gt;'
>>> duration(5400.0), pct(0.99995)
('1 h 30 min', '99.995 %')
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from pipeline.publish.charts import availability_strip, bar_chart

#: What a missing value prints as (an en dash).
NONE = "\u2013"

STATUS_WORDS = {
    "up": "Operational",
    "degraded": "Degraded",
    "down": "Down",
    "unknown": "Not reporting",
    "maintenance": "Maintenance",
}


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipeline.publish", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=duration,
        pct=pct,
        when=when,
        status_word=lambda s: STATUS_WORDS.get(str(s), str(s)),
        number=lambda n: NONE if n is None else f"{n:,}".replace(",", "\u202f"),
    )
    env.globals.update(availability_strip=availability_strip, bar_chart=bar_chart)
    return env


def duration(seconds: float | None) -> str:
    """A short human duration."""
    if seconds is None:
        return NONE
    minutes = round(seconds / 60)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def pct(value: float | None) -> str:
    if value is None:
        return "no data"
    return f"{value * 100:.3f} %".replace(".000 %", " %")


def when(value: Any) -> str:
    """An RFC 3339 string or epoch seconds as ``2026-05-01 12:03 UTC``."""
    if value is None:
        return NONE
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(float(value), UTC)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.strftime("%Y-%m-%d %H:%M UTC")
