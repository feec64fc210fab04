"""Turn a generated dashboard's panel queries into what Grafana would send to the servers.

>>> scoped('sum(rate(continuity_x_total{a="b"}[5m])) / continuity_y', "run1")
'sum(rate(continuity_x_total{test_run="run1", a="b"}[5m])) / continuity_y{test_run="run1"}'
>>> interpolate('x=~"$sector" and r.sector =~ /^${sector:regex}$/', {"sector": ["a", "b"]})
'x=~"(a|b)" and r.sector =~ /^(a|b)$/'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SELECTOR = re.compile(r"\b(continuity_[a-z0-9_]+)(\{([^}]*)\})?")


@dataclass(frozen=True, slots=True)
class PanelQuery:
    dashboard: str
    title: str
    datasource: str  # "prometheus" or "influxdb"
    text: str


def panel_queries(model: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Every target of every panel, and the annotation queries, of one dashboard model."""
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            kind = target["datasource"]["type"]
            text = target.get("expr") if kind == "prometheus" else target.get("query")
            yield PanelQuery(model["uid"], panel["title"], kind, str(text))
    for annotation in model["annotations"]["list"]:
        yield PanelQuery(
            model["uid"],
            f"annotation {annotation['name']}",
            annotation["datasource"]["type"],
            annotation["target"]["query"],
        )


def scoped(expr: str, run: str) -> str:
    """Restrict every ``continuity_*`` selector to one test run's scrape targets (the shared
    Prometheus also holds other runs' series)."""

    def add(match: re.Match[str]) -> str:
        inner = (match.group(3) or "").strip()
        matchers = f'test_run="{run}"' + (f", {inner}" if inner else "")
        return f"{match.group(1)}{{{matchers}}}"

    return _SELECTOR.sub(add, expr)


def interpolate(
    text: str, values: Mapping[str, Sequence[str]], *, bucket: str = "", flux_range: str = "-1h"
) -> str:
    """Substitute template variables as Grafana does for a multi-value selection
    (``(a|b)``), and the Flux dashboard macros."""
    for name, chosen in values.items():
        alternation = "(" + "|".join(chosen) + ")"
        text = text.replace(f"${{{name}:regex}}", alternation)
        text = re.sub(rf"\$\{{{name}\}}|\${name}\b", alternation, text)
    return (
        text.replace("${bucket}", bucket)
        .replace("v.timeRangeStart", flux_range)
        .replace("v.timeRangeStop", "now()")
        .replace("v.windowPeriod", "1m")
    )
