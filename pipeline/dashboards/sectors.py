"""Sector views: each sector measured the way its own regulators measure it.

Energy by IEEE 1366 (SAIDI, SAIFI, CAIDI, ASAI, MAIFI, customers out), telecom by the FCC
NORS (user-minutes, reportable outages), public transport by GTFS-RT effects (NO_SERVICE,
REDUCED_SERVICE per agency and route), health by endpoint availability.

>>> [p["title"] for p in build().model()["panels"] if p["type"] == "row"][:2]
['Energy (IEEE 1366)', 'Telecom (FCC NORS)']
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries

from pipeline.dashboards.common import (
    AVAILABILITY_THRESHOLDS,
    COUNT_THRESHOLDS,
    Board,
    Flux,
    flux,
    key_filter,
    med_mappings,
    prom_filter,
    promql,
    service_link,
    status_mappings,
    thresholds,
)

UID = "continuity-sectors"
OPERATOR = key_filter("operator")

#: (title, metric, unit, description) of the IEEE 1366 indices, per operator over 30 days.
_ENERGY = (
    (
        "SAIDI",
        "continuity_saidi_seconds",
        "s",
        "System Average Interruption Duration Index: interruption time per customer served.",
    ),
    (
        "SAIFI",
        "continuity_saifi_interruptions",
        "none",
        "System Average Interruption Frequency Index: sustained interruptions per customer.",
    ),
    (
        "CAIDI",
        "continuity_caidi_seconds",
        "s",
        "Customer Average Interruption Duration Index: SAIDI / SAIFI, mean restoration time.",
    ),
    (
        "ASAI",
        "continuity_asai_ratio",
        "percentunit",
        "Average Service Availability Index: customer-hours served / customer-hours demanded.",
    ),
    (
        "MAIFI",
        "continuity_maifi_interruptions",
        "none",
        "Momentary Average Interruption Frequency Index: interruptions under 5 minutes per "
        "customer served.",
    ),
)


def _energy(board: Board) -> None:
    board.row("Energy (IEEE 1366)")
    for name, metric, unit, description in _ENERGY:
        board.add(
            bargauge.Panel()
            .title(f"{name} by operator (30 d)")
            .with_target(promql(f'{metric}{{{OPERATOR}, window="30d"}}', "{{key}}", instant=True)),
            unit=unit,
            description=f"{description} Per energy operator, over the last 30 days.",
            width=8,
        )
    board.add(
        timeseries.Panel()
        .title("Customers out by region (InfluxDB)")
        .with_target(
            Flux(
                flux(
                    "service_status",
                    ("customers_affected",),
                    '|> filter(fn: (r) => r.sector == "energy")',
                    '|> group(columns: ["region"])',
                    "|> aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false)",
                )
            )
        ),
        unit="none",
        description="Energy customers without supply, summed per region at each status change "
        "the operators' outage reports caused.",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Daily SAIDI by operator (InfluxDB; the Major Event Day input)")
        .with_target(
            Flux(
                flux(
                    "indicator",
                    ("value",),
                    '|> filter(fn: (r) => r.name == "saidi_min" and r.window == "24h" and '
                    'r.dimension == "operator" and r.key =~ /^${operator:regex}$/)',
                    '|> group(columns: ["key"])',
                    "|> aggregateWindow(every: 1d, fn: max, createEmpty: false)",
                    "|> map(fn: (r) => ({r with _value: r._value * 60.0}))",
                    labels=False,
                )
            )
        ),
        unit="s",
        description="Each operator's SAIDI per day (the largest 24 h value the roll-up "
        "recorded that day). IEEE 1366 calls a day whose SAIDI exceeds T_MED = exp(alpha + "
        "2.5 beta) of the daily history a Major Event Day; read the outliers here.",
        width=8,
    )
    board.add(
        stat.Panel()
        .title("Major Event Day today, by operator (IEEE 1366)")
        .with_target(
            promql(
                f'max by (key) (continuity_major_event_day{{{OPERATOR}, window="today"}})',
                "{{key}}",
            )
        )
        .mappings(med_mappings()),
        unit="none",
        description="Whether today's SAIDI so far exceeds the operator's T_MED = exp(alpha + "
        "2.5 beta) of its daily SAIDI history (continuity_med_threshold_seconds). IEEE 1366 "
        "asks for five years of history; the worker holds 30 days and estimates T_MED once "
        "10 days had sustained interruptions, until then 'too little history'.",
        width=8,
    )
    board.add(
        bargauge.Panel()
        .title("SAIDI excluding Major Event Days, by operator (30 d)")
        .with_target(
            promql(
                f'max by (key) (continuity_saidi_excl_med_seconds{{{OPERATOR}, window="30d"}})',
                "{{key}}",
            )
        ),
        unit="s",
        description="IEEE 1366 SAIDI without the interruptions that began on Major Event "
        "Days: the day-to-day reliability, next to SAIDI with them. Equal to SAIDI while T_MED "
        "is undetermined.",
        width=8,
    )


def _telecom(board: Board) -> None:
    board.row("Telecom (FCC NORS)")
    board.add(
        bargauge.Panel()
        .title("NORS user-minutes by operator (30 d)")
        .with_target(
            promql(
                f'continuity_nors_user_minutes{{{OPERATOR}, window="30d"}}', "{{key}}", instant=True
            )
        )
        .thresholds(thresholds((None, "green"), (900_000.0, "red"))),
        unit="none",
        description="Users affected x minutes of outage (FCC NORS); 900 000 user-minutes with "
        "at least 30 minutes make an outage reportable (red).",
        width=8,
    )
    board.add(
        bargauge.Panel()
        .title("NORS-reportable outages by operator (30 d)")
        .with_target(
            promql(
                f'continuity_nors_reportable_outages{{{OPERATOR}, window="30d"}}',
                "{{key}}",
                instant=True,
            )
        )
        .thresholds(thresholds(*COUNT_THRESHOLDS)),
        unit="none",
        description="Outages over the FCC NORS general thresholds (>= 30 min and >= 900 000 "
        "user-minutes), per telecom operator.",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Telecom KPI anomalies per hour by metric")
        .with_target(
            promql(
                'sum by (metric) (increase(continuity_kpi_anomalies_total{sector=~"telecom"}[1h]))',
                "{{metric}}",
            )
        ),
        unit="none",
        description="Carrier KPI points (call drops, attach failures, ...) whose anomaly score "
        "reached the publishing threshold.",
        width=8,
    )


def _transport(board: Board) -> None:
    board.row("Public transport (GTFS-RT effects)")
    board.add(
        bargauge.Panel()
        .title("NO_SERVICE / REDUCED_SERVICE time per agency (24 h)")
        .with_target(
            promql(
                f'continuity_transport_effect_seconds{{{OPERATOR}, window="24h"}}',
                "{{key}} {{effect}}",
                instant=True,
            )
        ),
        unit="s",
        description="Time each transport agency ran no service or reduced service (GTFS-RT "
        "alert effects, overlaps merged).",
    )
    board.add(
        bargauge.Panel()
        .title("NO_SERVICE / REDUCED_SERVICE time per route (24 h)")
        .with_target(
            promql(
                'continuity_transport_effect_seconds{dimension="service", key=~"$service", '
                'window="24h"}',
                "{{key}} {{effect}}",
                instant=True,
            )
        ),
        unit="s",
        description="The same per route (one service per route): routes with any incident in "
        "the last 24 h.",
    )


def _health(board: Board) -> None:
    board.row("Health (FHIR endpoints)")
    health = prom_filter(labels=("region", "operator", "service"))
    board.add(
        stat.Panel()
        .title("Health endpoint availability (1 h / 24 h / 30 d)")
        .with_target(
            promql(
                'continuity_availability_ratio{dimension="sector", key="health", '
                'maintenance="excluded"}',
                "{{window}}",
                instant=True,
            )
        )
        .thresholds(thresholds(*AVAILABILITY_THRESHOLDS)),
        unit="percentunit",
        description="Share of time hospital FHIR endpoints answered, over each window.",
        width=8,
    )
    board.add(
        table.Panel()
        .title("Health endpoints up now, by operator")
        .with_target(
            promql(
                "avg by (operator_id) "
                f'(continuity_service_status{{sector="health", status="up", {health}}})',
                "{{operator_id}}",
                instant=True,
            )
        )
        .thresholds(thresholds(*AVAILABILITY_THRESHOLDS)),
        unit="percentunit",
        description="Share of each hospital operator's endpoints whose current status is up.",
        width=8,
    )
    board.add(
        statetimeline.Panel()
        .title("Health endpoint status timeline (InfluxDB)")
        .with_target(
            Flux(
                flux(
                    "service_status",
                    ("severity",),
                    '|> filter(fn: (r) => r.sector == "health")',
                    '|> group(columns: ["service_id"])',
                )
            )
        )
        .mappings(status_mappings())
        .data_links([service_link()]),
        unit="none",
        description="Each hospital endpoint's status over time (up, degraded, down, ...).",
        width=8,
    )


def build() -> Board:
    board = Board(
        UID,
        "Continuity Watch: sector views",
        "Energy (IEEE 1366), telecom (FCC NORS), transport (GTFS-RT effects), health (FHIR).",
    )
    _energy(board)
    _telecom(board)
    _transport(board)
    _health(board)
    return board
