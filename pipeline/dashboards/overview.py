"""Verifier overview: is the country's critical infrastructure up, where is it not, and how
fast are operators detecting and restoring?

>>> model = build().model()
>>> model["uid"], len(model["panels"]) > 10
('continuity-overview', True)
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries

from pipeline.dashboards.common import (
    AVAILABILITY_THRESHOLDS,
    COUNT_THRESHOLDS,
    Board,
    Flux,
    flux,
    key_filter,
    matrix,
    merge,
    organize,
    prom_filter,
    promql,
    service_link,
    status_mappings,
    table_query,
    thresholds,
)

UID = "continuity-overview"
F = prom_filter()
_HIDE = ("Time", "__name__", "job", "instance", "test_run", "dimension", "maintenance")


def _availability_table(dimension: str) -> table.Panel:
    return (
        table.Panel()
        .title(f"Availability by {dimension}: 1 h / 24 h / 30 d (maintenance excluded)")
        .with_target(
            table_query(
                f'continuity_availability_ratio{{{key_filter(dimension)}, maintenance="excluded"}}'
            )
        )
        .with_transformation(matrix("key", "window"))
        .thresholds(thresholds(*AVAILABILITY_THRESHOLDS))
        .decimals(3)
    )


def _sector_region_availability() -> table.Panel:
    panel = table.Panel().title("Availability by sector x region: 1 h / 24 h / 30 d")
    up = f'sum by (sector, region) (continuity_service_status{{status="up", {F}}})'
    count = f'count by (sector, region) (continuity_service_status{{status="up", {F}}})'
    for ref_id, window in (("A", "1h"), ("B", "24h"), ("C", "30d")):
        panel = panel.with_target(
            table_query(f"avg_over_time(({up} / {count})[{window}:1m])", ref_id)
        )
    return (
        panel.with_transformation(merge())
        .with_transformation(organize(_HIDE))
        .thresholds(thresholds(*AVAILABILITY_THRESHOLDS))
        .decimals(3)
    )


def build() -> Board:
    board = Board(
        UID,
        "Continuity Watch: verifier overview",
        "Is each sector and region up; open incidents; how fast operators detect and restore.",
    )
    board.row("Now")
    board.add(
        stat.Panel()
        .title("Services down now")
        .with_target(promql(f'count(continuity_service_status{{status="down", {F}}} == 1)'))
        .thresholds(thresholds(*COUNT_THRESHOLDS)),
        unit="none",
        description="Services whose current status is down, from evidence or from silence.",
        width=6,
        height=5,
    )
    board.add(
        stat.Panel()
        .title("Open incidents")
        .with_target(
            promql(f'sum(continuity_open_incidents{{{key_filter("sector")}, window="1h"}})')
        )
        .thresholds(thresholds(*COUNT_THRESHOLDS)),
        unit="none",
        description="Incidents detected and not yet restored (maintenance excluded).",
        width=6,
        height=5,
    )
    board.add(
        stat.Panel()
        .title("Concurrent-disruption findings (24 h)")
        .with_target(
            promql('sum(increase(continuity_concurrent_disruptions_total{region=~"$region"}[24h]))')
        )
        .thresholds(thresholds(*COUNT_THRESHOLDS)),
        unit="none",
        description="Regions where several operators or sectors failed together (new or "
        "grown findings): a sign of a common cause such as an attack or a grid event.",
        width=6,
        height=5,
    )
    board.add(
        stat.Panel()
        .title("Services silent > 5 min")
        .with_target(
            promql(
                f"count((time() - continuity_service_last_evidence_timestamp_seconds{{{F}}}) > 300)"
            )
        )
        .thresholds(thresholds(*COUNT_THRESHOLDS)),
        unit="none",
        description="Services with no evidence for five minutes: silence is the most common "
        "sign of a real outage (or of a broken feed).",
        width=6,
        height=5,
    )
    board.row("Availability")
    board.add(
        _availability_table("sector"),
        unit="percentunit",
        description="Up time / (up + down time) per sector over each window (ITU-T E.800 "
        "style), planned maintenance excluded. Red < 99 %, orange < 99.9 %.",
    )
    board.add(
        _availability_table("region"),
        unit="percentunit",
        description="Up time / (up + down time) per region over each window, planned "
        "maintenance excluded. Red < 99 %, orange < 99.9 %.",
    )
    board.add(
        _sector_region_availability(),
        unit="percentunit",
        description="Share of services up, averaged over each window, per sector and region "
        "(from the status Prometheus scraped each minute; columns A/B/C are 1 h/24 h/30 d).",
        width=24,
    )
    board.row("Incidents")
    for title, metric, what in (
        ("Time to detect p90 by sector (30 d)", "continuity_time_to_detect_seconds", "detect"),
        (
            "Time to restore p90 by sector (30 d)",
            "continuity_time_to_restore_seconds",
            "restore",
        ),
    ):
        board.add(
            bargauge.Panel()
            .title(title)
            .with_target(
                promql(
                    f'{metric}{{{key_filter("sector")}, window="30d", stat="p90"}}',
                    "{{key}}",
                    instant=True,
                )
            )
            .thresholds(thresholds((None, "green"), (300.0, "orange"), (3600.0, "red"))),
            unit="s",
            description=f"90th percentile of the time operators took to {what} incidents "
            "started in the last 30 days. Orange over 5 min, red over 1 h.",
            width=8,
        )
    board.add(
        bargauge.Panel()
        .title("Incident frequency by sector (per service, 30 d)")
        .with_target(
            promql(
                f'continuity_incidents_per_30d{{{key_filter("sector")}, window="30d"}}',
                "{{key}}",
                instant=True,
            )
        )
        .thresholds(thresholds((None, "green"), (1.0, "orange"), (4.0, "red"))),
        unit="none",
        description="Incidents per service per 30 days, per sector (planned work excluded).",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Incident events per hour by sector")
        .with_target(
            promql(
                "sum by (sector, event) "
                '(increase(continuity_incident_events_total{sector=~"$sector"}[1h]))',
                "{{sector}} {{event}}",
            )
        ),
        unit="none",
        description="Incident lifecycle events (detected, acknowledged, restored) per hour.",
    )
    board.add(
        timeseries.Panel()
        .title("Concurrent-disruption findings by region")
        .with_target(
            promql(
                "sum by (region) "
                '(increase(continuity_concurrent_disruptions_total{region=~"$region"}[1h]))',
                "{{region}}",
            )
        ),
        unit="none",
        description="New or grown concurrent-disruption findings per hour, per region.",
    )
    board.row("Services")
    board.add(
        table.Panel()
        .title("Services not up (click a service for its drill-down)")
        .with_target(table_query(f'continuity_service_status{{status!="up", {F}}} == 1'))
        .with_transformation(organize((*_HIDE, "Value")))
        .mappings(status_mappings())
        .data_links([service_link()]),
        unit="none",
        description="Every service whose current status is not up, with operator, sector and "
        "region; the status reads as a word and colour.",
    )
    board.add(
        table.Panel()
        .title("Longest-silent services (click a service for its drill-down)")
        .with_target(
            table_query(
                f"topk(20, time() - continuity_service_last_evidence_timestamp_seconds{{{F}}})"
            )
        )
        .with_transformation(organize(_HIDE))
        .thresholds(thresholds((None, "green"), (120.0, "orange"), (300.0, "red")))
        .data_links([service_link()]),
        unit="s",
        description="Seconds since each service's newest evidence; orange after 2 min, red "
        "after 5 min of silence.",
    )
    board.add(
        table.Panel()
        .title("Silent feeds (seconds since the last good poll)")
        .with_target(
            table_query("time() - max by (feed) (continuity_feed_last_success_timestamp_seconds)")
        )
        .with_transformation(organize(_HIDE))
        .thresholds(thresholds((None, "green"), (300.0, "orange"), (900.0, "red"))),
        unit="s",
        description="Per connector feed, how long since it last produced evidence without a "
        "whole-feed reject. A silent feed hides outages: orange after 5 min, red after 15.",
    )
    board.add(
        table.Panel()
        .title("Recent incidents (InfluxDB)")
        .with_target(
            Flux(
                flux(
                    "incident",
                    ("time_to_detect_s", "time_to_restore_s"),
                    '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
                    "|> group()",
                    '|> sort(columns: ["_time"], desc: true)',
                    "|> limit(n: 50)",
                )
            )
        )
        .data_links([service_link()]),
        unit="s",
        description="The last 50 incident lifecycle events with time to detect and restore.",
        width=24,
    )
    return board
