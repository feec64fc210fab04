"""Structure of the generated dashboards, and the committed JSON being up to date."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from pipeline.dashboards.common import VARIABLES
from pipeline.dashboards.grafana import DASHBOARDS, dashboard_models, render
from pipeline.ops.localstack import REPO

MODELS = dashboard_models()


def queries(panel: dict[str, Any]) -> list[str]:
    return [t.get("expr") or t.get("query") or "" for t in panel.get("targets", [])]


def data_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in model["panels"] if p["type"] != "row"]


def test_committed_dashboards_match_the_code() -> None:
    folder = REPO / "dashboards" / "json"
    assert {p.stem for p in folder.glob("*.json")} == set(MODELS), "run `make dashboards`"
    for uid, model in MODELS.items():
        path = folder / f"{uid}.json"
        assert path.read_text() == render(model), f"{path} is stale: run `make dashboards`"


@pytest.mark.parametrize("uid", [uid for uid, _ in DASHBOARDS])
def test_panel_ids_are_unique_and_every_panel_has_a_query_unit_and_description(
    uid: str,
) -> None:
    model = MODELS[uid]
    ids = [panel["id"] for panel in model["panels"]]
    assert len(ids) == len(set(ids)), f"{uid}: duplicate panel ids"
    for panel in data_panels(model):
        title = panel["title"]
        assert panel["description"].strip(), f"{uid}/{title}: no description"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{uid}/{title}: no unit"
        assert queries(panel), f"{uid}/{title}: no query"
        assert all(queries(panel)), f"{uid}/{title}: an empty query"


def test_every_datasource_uid_is_provisioned() -> None:
    provisioning = REPO / "dashboards" / "provisioning" / "datasources" / "continuity.yaml"
    provisioned = {d["uid"] for d in yaml.safe_load(provisioning.read_text())["datasources"]}
    for uid, model in MODELS.items():
        used = {
            target["datasource"]["uid"]
            for panel in data_panels(model)
            for target in panel["targets"]
        }
        used |= {v["datasource"]["uid"] for v in model["templating"]["list"] if "datasource" in v}
        used |= {a["datasource"]["uid"] for a in model["annotations"]["list"]}
        assert used <= provisioned, f"{uid}: {used - provisioned} not provisioned"


@pytest.mark.parametrize("uid", [uid for uid, _ in DASHBOARDS])
def test_every_dashboard_has_the_four_variables_and_its_panels_use_each(uid: str) -> None:
    model = MODELS[uid]
    names = [v["name"] for v in model["templating"]["list"]]
    assert names[: len(VARIABLES)] == list(VARIABLES)
    text = "\n".join(q for panel in data_panels(model) for q in queries(panel))
    for name in VARIABLES:
        assert re.search(rf"\$\{{?{name}\b", text), f"{uid}: variable {name} used by no panel"
    # The hidden bucket serves the Flux panels and the incident annotation.
    text += "\n".join(a["target"]["query"] for a in model["annotations"]["list"])
    for name in [*VARIABLES, "bucket"]:
        assert re.search(rf"\$\{{?{name}\b", text), f"{uid}: variable {name} used by no panel"


def test_every_dashboard_draws_incidents_from_influxdb() -> None:
    for uid, model in MODELS.items():
        (annotation,) = model["annotations"]["list"]
        assert annotation["datasource"]["type"] == "influxdb", uid
        assert '_measurement == "incident"' in annotation["target"]["query"], uid


def test_service_cells_link_to_the_drill_down_and_status_reads_as_words() -> None:
    overview = MODELS["continuity-overview"]
    linked = [
        p
        for p in data_panels(overview)
        if any(
            "continuity-service" in link["url"]
            for link in p["fieldConfig"]["defaults"].get("links", [])
        )
    ]
    assert len(linked) >= 2
    (not_up,) = [p for p in linked if p["title"].startswith("Services not up")]
    options = not_up["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert options["down"] == {"color": "red", "index": 4, "text": "down"}
    assert options["4"]["text"] == "down"
    assert options["0"]["text"] == "up"
