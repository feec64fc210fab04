"""Grafana dashboards as code: panels are data, JSON is generated, queries are tested.

Each panel carries its query for one datasource (PromQL or Flux). ``build_dashboards`` gives
the Grafana JSON models written to ``dashboards/json``; the tests run every panel's query
against the real Prometheus and InfluxDB after a pipeline run.

>>> [p.title for p in SERVICE_STATUS.panels][:2]
['Services down', 'Services by status']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROMETHEUS_UID = "continuity-prometheus"
INFLUX_UID = "continuity-influxdb"
#: Placeholder substituted with the deployment's bucket in Flux queries (Grafana variable).
BUCKET_VAR = "${bucket}"


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    query: str
    datasource: str  # "prometheus" or "influxdb"
    kind: str = "timeseries"
    unit: str = "short"
    description: str = ""


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    tags: tuple[str, ...] = field(default_factory=lambda: ("continuity",))


SERVICE_STATUS = Dashboard(
    uid="continuity-service-status",
    title="Continuity Watch: service status",
    panels=(
        Panel(
            "Services down",
            'count(continuity_service_status{status="down"} == 1) or vector(0)',
            "prometheus",
            kind="stat",
            description="Services whose current status is down (evidence or silence).",
        ),
        Panel(
            "Services by status",
            "sum by (status) (continuity_service_status)",
            "prometheus",
            description="How many services are in each status now.",
        ),
        Panel(
            "Down or degraded services by sector and region",
            'sum by (sector, region) (continuity_service_status{status=~"down|degraded"})',
            "prometheus",
            kind="table",
        ),
        Panel(
            "Seconds since last evidence",
            "time() - max by (service_id, sector) "
            "(continuity_service_last_evidence_timestamp_seconds)",
            "prometheus",
            unit="s",
            description="Silence is the most common sign of a real outage.",
        ),
        Panel(
            "Observations accepted per second",
            "sum by (sector, outcome) (rate(continuity_observations_total[1m]))",
            "prometheus",
            unit="ops",
        ),
        Panel(
            "Rejected (dead-lettered) per second, by reason",
            "sum by (reason) (rate(continuity_observations_rejected_total[1m]))",
            "prometheus",
            unit="ops",
        ),
        Panel(
            "Status changes in the last hour",
            "sum by (sector, status, reason) (increase(continuity_status_changes_total[1h]))",
            "prometheus",
            kind="table",
        ),
        Panel(
            "Event lag p99",
            "histogram_quantile(0.99, sum by (le) (rate(continuity_event_lag_seconds_bucket[5m])))",
            "prometheus",
            unit="s",
        ),
        Panel(
            "Status history (InfluxDB)",
            f'from(bucket: "{BUCKET_VAR}")\n'
            "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
            '  |> filter(fn: (r) => r._measurement == "service_status"'
            ' and r._field == "severity")\n'
            '  |> group(columns: ["service_id"])',
            "influxdb",
            kind="state-timeline",
            description="0 up, 1 maintenance, 2 degraded, 3 unknown, 4 down.",
        ),
        Panel(
            "Customers affected at status changes (InfluxDB)",
            f'from(bucket: "{BUCKET_VAR}")\n'
            "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
            '  |> filter(fn: (r) => r._measurement == "service_status"'
            ' and r._field == "customers_affected")\n'
            '  |> group(columns: ["sector"])',
            "influxdb",
        ),
    ),
)

INDICATORS = Dashboard(
    uid="continuity-indicators",
    title="Continuity Watch: incidents and indicators",
    panels=(
        Panel(
            "Availability by sector (24 h, maintenance excluded)",
            'continuity_availability_ratio{dimension="sector", window="24h",'
            ' maintenance="excluded"}',
            "prometheus",
            kind="bargauge",
            unit="percentunit",
        ),
        Panel(
            "Open incidents by region",
            'sum by (key) (continuity_open_incidents{dimension="region", window="1h"})',
            "prometheus",
            kind="bargauge",
        ),
        Panel(
            "Time to detect p90 by sector (30 d)",
            'continuity_time_to_detect_seconds{dimension="sector", window="30d", stat="p90"}',
            "prometheus",
            unit="s",
        ),
        Panel(
            "Time to restore p90 by sector (30 d)",
            'continuity_time_to_restore_seconds{dimension="sector", window="30d", stat="p90"}',
            "prometheus",
            unit="s",
        ),
        Panel(
            "Energy SAIDI / SAIFI by operator (30 d, IEEE 1366)",
            'continuity_saidi_seconds{dimension="operator", window="30d"}',
            "prometheus",
            kind="table",
            unit="s",
        ),
        Panel(
            "Incident events per hour by sector",
            "sum by (sector, event) (increase(continuity_incident_events_total[1h]))",
            "prometheus",
            kind="table",
        ),
        Panel(
            "Incident history (InfluxDB)",
            f'from(bucket: "{BUCKET_VAR}")\n'
            "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
            '  |> filter(fn: (r) => r._measurement == "incident"'
            ' and r._field == "time_to_detect_s")\n'
            '  |> group(columns: ["sector", "event"])',
            "influxdb",
            kind="table",
            description="Every lifecycle event with its time to detect, as recorded.",
        ),
    ),
)

LEDGER = Dashboard(
    uid="continuity-ledger",
    title="Continuity Watch: verifiable incident record",
    panels=(
        Panel(
            "Log size",
            "max(continuity_ledger_tree_size_entries)",
            "prometheus",
            kind="stat",
            description="Entries in the transparency log (docs/ledger.md).",
        ),
        Panel(
            "Seconds since the last signed tree head",
            "time() - max(continuity_ledger_head_timestamp_seconds)",
            "prometheus",
            kind="stat",
            unit="s",
            description="The log re-signs at least every --head-max-age; growth means it stopped.",
        ),
        Panel(
            "Witnesses co-signing the latest head",
            "max(continuity_ledger_head_cosignatures)",
            "prometheus",
            kind="stat",
        ),
        Panel(
            "Entries each witness lags behind the log",
            "scalar(max(continuity_ledger_tree_size_entries))"
            " - max by (witness) (continuity_ledger_witness_cosigned_size_entries)",
            "prometheus",
            kind="bargauge",
        ),
        Panel(
            "Heads refused by witnesses (1 h)",
            'sum by (result) (increase(continuity_witness_checks_total{result=~"inconsistent|'
            'bad_signature"}[1h])) or vector(0)',
            "prometheus",
            kind="stat",
            description="Any refusal is evidence of a split view or a rewrite: investigate.",
        ),
        Panel(
            "Entries appended per second",
            "sum(rate(continuity_ledger_entries_appended_total[5m]))",
            "prometheus",
            unit="ops",
        ),
    ),
)

#: The dashboards a pipeline run (worker, simulator) fills; LEDGER needs `ledger serve`.
PIPELINE_DASHBOARDS: tuple[Dashboard, ...] = (SERVICE_STATUS, INDICATORS)
DASHBOARDS: tuple[Dashboard, ...] = (*PIPELINE_DASHBOARDS, LEDGER)


def _panel_json(panel: Panel, index: int) -> dict[str, Any]:
    uid = PROMETHEUS_UID if panel.datasource == "prometheus" else INFLUX_UID
    target: dict[str, Any] = {"refId": "A", "datasource": {"type": panel.datasource, "uid": uid}}
    if panel.datasource == "prometheus":
        target["expr"] = panel.query
    else:
        target["query"] = panel.query
    return {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": {"type": panel.datasource, "uid": uid},
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [target],
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana dashboard model (schemaVersion 39)."""
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": list(dashboard.tags),
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "10s",
        "templating": {
            "list": [
                {
                    "name": "bucket",
                    "type": "constant",
                    "query": "continuity/autogen",
                    "hide": 2,
                }
            ]
        },
        "panels": [_panel_json(panel, i) for i, panel in enumerate(dashboard.panels)],
    }


def write_dashboards(folder: Path) -> list[Path]:
    """Write every dashboard's JSON into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for dashboard in DASHBOARDS:
        path = folder / f"{dashboard.uid}.json"
        path.write_text(json.dumps(dashboard_json(dashboard), indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths
