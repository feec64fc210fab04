from __future__ import annotations

import json

from pipeline.dashboards.grafana import DASHBOARDS, dashboard_json
from pipeline.ops.localstack import REPO


def test_committed_dashboards_match_the_code() -> None:
    for dashboard in DASHBOARDS:
        path = REPO / "dashboards" / "json" / f"{dashboard.uid}.json"
        assert json.loads(path.read_text()) == dashboard_json(dashboard), (
            f"{path} is stale: run `continuity dashboards`"
        )


def test_every_panel_has_a_query_and_a_provisioned_datasource() -> None:
    provisioned = (REPO / "dashboards/provisioning/datasources/continuity.yaml").read_text()
    for dashboard in DASHBOARDS:
        model = dashboard_json(dashboard)
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids))
        for panel in model["panels"]:
            target = panel["targets"][0]
            assert target.get("expr") or target.get("query")
            assert f"uid: {panel['datasource']['uid']}" in provisioned
