"""Availability, TTD/TTR, frequency, NORS, transport, health and roll-ups by hand."""

from __future__ import annotations

import math

import pytest

from pipeline.incidents.maintenance import MaintenanceCalendar, MaintenanceWindow
from pipeline.incidents.model import Incident, ServiceRef
from pipeline.indicators import (
    EndpointCheck,
    availability,
    endpoint_availability,
    endpoint_status_share,
    feeds_reporting_share,
    incident_frequency,
    nors_outages,
    nors_reportable,
    percentile,
    rollup,
    time_to_detect,
    time_to_restore,
    transport_effect_minutes,
)
from pipeline.indicators.stats import merge, subtract

HOUR = 3_600.0
S = ServiceRef("s1", "op1", "health", "EE-37")


def test_availability_counts_overlaps_once_and_treats_maintenance_both_ways() -> None:
    # 10 h window. Unplanned: [1h, 2h) and [1.5h, 2.5h) overlap -> 1.5 h down.
    # Maintenance window [5h, 7h); a maintenance outage [5h, 6h); an unplanned outage
    # [6.5h, 7.5h) half inside it.
    incs = [
        Incident("a", S, 1 * HOUR, 1 * HOUR, restored_at=2 * HOUR),
        Incident("b", S, 1.5 * HOUR, 1.5 * HOUR, restored_at=2.5 * HOUR),
        Incident("m", S, 5 * HOUR, 5 * HOUR, restored_at=6 * HOUR, maintenance=True),
        Incident("c", S, 6.5 * HOUR, 6.5 * HOUR, restored_at=7.5 * HOUR),
    ]
    a = availability(incs, 0.0, 10 * HOUR, [MaintenanceWindow("s1", 5 * HOUR, 7 * HOUR)])
    # including maintenance: down = 1.5 + 1 + 1 = 3.5 h of 10 h
    assert a.including_maintenance == pytest.approx(0.65)
    # excluding: period 10 - 2 = 8 h; unplanned down outside maintenance = 1.5 + 0.5 = 2 h
    assert a.excluding_maintenance == pytest.approx(0.75)
    assert (a.down_s, a.maintenance_down_s, a.maintenance_s) == (2.5 * HOUR, HOUR, 2 * HOUR)


def test_open_incident_counts_until_the_window_end() -> None:
    a = availability([Incident("o", S, 9 * HOUR, 9 * HOUR)], 0.0, 10 * HOUR)
    assert a.including_maintenance == pytest.approx(0.9)


def test_ttd_ttr_mean_p50_p90() -> None:
    # TTD = 10, 20, 30, 40, 100 s -> mean 40, p50 30, p90 = 40 + 0.6 * 60 = 76 (linear)
    incs = [
        Incident(str(k), S, 0.0, ttd, restored_at=ttd + 60.0 * (k + 1))
        for k, ttd in enumerate([10.0, 20.0, 30.0, 40.0, 100.0])
    ]
    ttd = time_to_detect(incs, 0.0, HOUR)
    assert (ttd.count, ttd.mean, ttd.p50) == (5, 40.0, 30.0)
    assert ttd.p90 == pytest.approx(76.0)
    # TTR = 60, 120, 180, 240, 300 -> mean 180, p50 180, p90 276
    ttr = time_to_restore(incs, 0.0, HOUR)
    assert (ttr.mean, ttr.p50) == (180.0, 180.0)
    assert ttr.p90 == pytest.approx(276.0)
    assert math.isnan(time_to_detect([], 0.0, 1.0).mean)
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_incident_frequency_per_30_days() -> None:
    # 3 incidents over 2 services in 10 days -> 1.5 per service per 10 d -> 4.5 per 30 d
    incs = [Incident(str(k), S, 86_400.0 * k, 86_400.0 * k, restored_at=1.0) for k in range(3)]
    assert incident_frequency(incs, 2, 0.0, 10 * 86_400.0) == pytest.approx(4.5)
    assert incident_frequency(incs, 0, 0.0, 1.0) is None


def test_nors_thresholds_and_user_minutes() -> None:
    # 30 000 users x 30 min = 900 000 user-minutes: exactly on both thresholds -> reportable
    assert nors_reportable(30.0, 30_000)
    assert not nors_reportable(30.0, 29_999)  # 899 970 user-minutes
    assert not nors_reportable(29.0, 1_000_000)
    cell = ServiceRef("c1", "mno", "telecom", "UA-30", customers_served=50_000)
    out = nors_outages(
        [
            Incident("x", cell, 0.0, 60.0, restored_at=2700.0, users_affected=20_000),
            Incident("y", cell, 5000.0, 5060.0),  # open: up to now, all served users
        ],
        now=5000.0 + 1800.0,
    )
    assert [(o.minutes, o.user_minutes, o.reportable) for o in out] == [
        (45.0, 900_000.0, True),
        (30.0, 1_500_000.0, True),
    ]


def test_transport_minutes_per_route_and_effect_and_feed_share() -> None:
    bus = ServiceRef("r7", "kyivpastrans", "transport", "UA-30")

    def trip(iid: str, start: float, end: float, route: str, effect: str) -> Incident:
        attrs = {"route_id": route, "effect": effect}
        return Incident(iid, bus, start, start, restored_at=end, attrs=attrs)

    incs = [
        trip("1", 0.0, 600.0, "7", "NO_SERVICE"),
        trip("2", 300.0, 900.0, "7", "NO_SERVICE"),  # overlaps trip 1: merged, 15 min in all
        trip("3", 0.0, 1200.0, "9", "REDUCED_SERVICE"),
        trip("4", 0.0, 1200.0, "9", "DETOUR"),  # not an outage effect
    ]
    assert transport_effect_minutes(incs, 0.0, 3600.0) == {
        ("kyivpastrans", "7", "NO_SERVICE"): 15.0,
        ("kyivpastrans", "9", "REDUCED_SERVICE"): 20.0,
    }
    assert feeds_reporting_share({"a": 100.0, "b": 10.0, "c": 95.0}, 100.0, 30.0) == 2 / 3


def test_health_endpoint_availability_and_status_share() -> None:
    checks = [
        EndpointCheck(0.0, True),
        EndpointCheck(60.0, False),
        EndpointCheck(120.0, True, "suspended"),
        EndpointCheck(180.0, True),
    ]
    assert endpoint_availability(checks) == 0.5
    assert endpoint_availability([]) is None
    assert endpoint_status_share({"a": "active", "b": "active", "c": "off", "d": "error"}) == {
        "active": 0.5,
        "error": 0.25,
        "off": 0.25,
    }


def test_interval_helpers() -> None:
    assert merge([(5.0, 6.0), (0.0, 2.0), (1.0, 3.0)]) == [(0.0, 3.0), (5.0, 6.0)]
    assert subtract([(0.0, 10.0)], [(2.0, 3.0), (5.0, 12.0)]) == [(0.0, 2.0), (3.0, 5.0)]


def test_rollup_by_dimension_and_window() -> None:
    f1 = ServiceRef("f1", "dso-a", "energy", "UA-30", customers_served=1000)
    f2 = ServiceRef("f2", "dso-b", "energy", "UA-30", customers_served=3000)
    now = 30 * 86_400.0
    incs = [Incident("f1/1", f1, now - 1800.0, now - 1740.0, restored_at=now - 600.0)]
    cal = MaintenanceCalendar()
    rows = rollup(incs, [f1, f2], now, calendar=cal)

    def value(name: str, dim: str, key: str, window: str) -> float | None:
        (row,) = [
            r for r in rows if (r.name, r.dimension, r.key, r.window) == (name, dim, key, window)
        ]
        return row.value

    # f1 down 20 min in the last hour: 40/60; region = mean of f1 and f2 = (2/3 + 1) / 2
    assert value("availability_incl_maintenance", "service", "f1", "1h") == pytest.approx(2 / 3)
    assert value("availability_incl_maintenance", "region", "UA-30", "1h") == pytest.approx(5 / 6)
    # SAIDI for the region over 24 h: 1000 customers x 20 min / 4000 served = 5 min
    assert value("saidi_min", "region", "UA-30", "24h") == pytest.approx(5.0)
    assert value("saifi", "operator", "dso-b", "24h") == 0.0
    assert value("ttd_mean_s", "sector", "energy", "30d") == 60.0
    assert value("ttr_p50_s", "sector", "energy", "30d") == 1140.0
    assert value("ttd_mean_s", "service", "f2", "30d") is None
    # 1 incident over 2 services in 30 d
    assert value("incidents_per_30d", "region", "UA-30", "30d") == pytest.approx(0.5)
