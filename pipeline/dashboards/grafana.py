"""The Continuity Watch dashboards, built with ``grafana-foundation-sdk`` and written as
Grafana JSON into ``dashboards/json`` (``make dashboards``; a test fails when stale).

One module per dashboard; :mod:`pipeline.dashboards.common` holds what they share.

>>> [uid for uid, _ in DASHBOARDS]
['continuity-overview', 'continuity-sectors', 'continuity-service', 'continuity-pipeline']
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.dashboards import overview, pipeline_health, sectors, service
from pipeline.dashboards.common import Board

#: (uid, builder) of every dashboard, in the order a verifier reads them.
DASHBOARDS: tuple[tuple[str, Callable[[], Board]], ...] = (
    (overview.UID, overview.build),
    (sectors.UID, sectors.build),
    (service.UID, service.build),
    (pipeline_health.UID, pipeline_health.build),
)


def dashboard_models() -> dict[str, dict[str, Any]]:
    """uid -> Grafana JSON model of every dashboard."""
    return {uid: build().model() for uid, build in DASHBOARDS}


def render(model: dict[str, Any]) -> str:
    """The committed text form: sorted keys, two-space indent, final newline."""
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def write_dashboards(folder: Path) -> list[Path]:
    """Write every dashboard's JSON into ``folder`` (and remove retired ones); returns paths."""
    folder.mkdir(parents=True, exist_ok=True)
    models = dashboard_models()
    for stale in folder.glob("continuity-*.json"):
        if stale.stem not in models:
            stale.unlink()
    paths = []
    for uid, model in models.items():
        path = folder / f"{uid}.json"
        path.write_text(render(model))
        paths.append(path)
    return paths
