"""Service drill-down: one service's status timeline, the evidence each vantage saw, its KPI
anomaly scores and its incidents. Every service cell on the other dashboards links here with
``var-service`` set.

>>> build().model()["uid"]
'continuity-service'
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, statetimeline, table, timeseries

from pipeline.dashboards.common import (
    AVAILABILITY_THRESHOLDS,
    DRILL_DOWN_UID,
    STATUS_THRESHOLDS,
    Board,
    Flux,
    flux,
    key_filter,
    organize,
    prom_filter,
    promql,
    status_mappings,
    table_query,
    thresholds,
)

UID = DRILL_DOWN_UID
F = prom_filter()


def build() -> Board:
    board = Board(
        UID,
        "Continuity Watch: service drill-down",
        "One service (choose it above, or click a service anywhere): status, evidence by "
        "vantage, KPI anomaly scores and incidents.",
    )
    board.add(
        table.Panel()
        .title("Current status")
        .with_target(table_query(f"continuity_service_status{{{F}}} == 1"))
        .with_transformation(organize(("Time", "__name__", "job", "instance", "Value")))
        .mappings(status_mappings()),
        unit="none",
        description="The service's status now, with its operator, sector and region.",
    )
    board.add(
        bargauge.Panel()
        .title("Availability (1 h / 24 h / 30 d, maintenance excluded)")
        .with_target(
            promql(
                f'continuity_availability_ratio{{{key_filter("service")}, maintenance="excluded"}}',
                "{{key}} {{window}}",
                instant=True,
            )
        )
        .thresholds(thresholds(*AVAILABILITY_THRESHOLDS)),
        unit="percentunit",
        description="Up time / (up + down time) over each window; published for services "
        "that had an incident or maintenance in the window (others are 100 %).",
    )
    board.add(
        statetimeline.Panel()
        .title("Status timeline (InfluxDB)")
        .with_target(
            Flux(flux("service_status", ("severity",), '|> group(columns: ["service_id"])'))
        )
        .mappings(status_mappings())
        .thresholds(thresholds(*STATUS_THRESHOLDS)),
        unit="none",
        description="Every status change of the service: up, maintenance, degraded, unknown, "
        "down (as words and colours).",
        width=24,
        height=6,
    )
    board.add(
        statetimeline.Panel()
        .title("Evidence by vantage (InfluxDB)")
        .with_target(
            Flux(
                flux(
                    "evidence",
                    ("severity",),
                    '|> group(columns: ["service_id", "vantage"])',
                )
            )
        )
        .mappings(status_mappings()),
        unit="none",
        description="What each independent vantage point's probe saw: agreement between "
        "vantages separates a real outage from one probe's network trouble.",
        width=24,
        height=6,
    )
    board.add(
        timeseries.Panel()
        .title("Probe response time by vantage (InfluxDB)")
        .with_target(
            Flux(flux("evidence", ("value",), '|> group(columns: ["service_id", "vantage"])'))
        ),
        unit="s",
        description="Response time measured by each vantage's probe (none when it failed).",
    )
    board.add(
        timeseries.Panel()
        .title("KPI anomaly scores (InfluxDB)")
        .with_target(
            Flux(flux("kpi_anomaly", ("score",), '|> group(columns: ["service_id", "metric"])'))
        )
        .min(0)
        .max(1)
        .thresholds(thresholds((None, "green"), (0.9, "red"))),
        unit="percentunit",
        description="Anomaly score in [0, 1] of KPI points that reached the publishing "
        "threshold (0.9), per KPI metric.",
    )
    board.add(
        timeseries.Panel()
        .title("Seconds since last evidence")
        .with_target(
            promql(
                f"time() - continuity_service_last_evidence_timestamp_seconds{{{F}}}",
                "{{service_id}}",
            )
        ),
        unit="s",
        description="Age of the newest evidence; a steady climb means the service went silent.",
    )
    board.add(
        table.Panel()
        .title("Incidents (InfluxDB)")
        .with_target(
            Flux(
                flux(
                    "incident",
                    ("incident_id", "time_to_detect_s", "time_to_restore_s"),
                    '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
                    "|> group()",
                    '|> sort(columns: ["_time"], desc: true)',
                )
            )
        ),
        unit="s",
        description="Every lifecycle event of the service's incidents, with time to detect "
        "and time to restore.",
    )
    return board
