"""GTFS-Realtime: real protobuf samples served over HTTP, polled by the runtime, read from Kafka."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.transit import gtfs_realtime_pb2

from connectors.runtime import Source, runners
from pipeline.core.schema import Kind, Observation, Status
from pipeline.core.validation import parse_observation

from .conftest import AppThread, Connectors, Route, fixture_bytes, operator, sent, service

pytestmark = pytest.mark.integration

PROTOBUF = "application/x-protobuf"
SAMPLES = {
    "mbta-alerts": "mbta_alerts.pb",
    "mbta-vehicles": "mbta_vehiclepositions.pb",
    "mbta-trips": "mbta_tripupdates.pb",
    "nyct-g": "nyct_subway_g_tripupdates_vehicles.pb",
    "usf-bull": "usf_bullrunner_vehicle_positions.pb",
}


def _decode(name: str) -> Any:
    message = gtfs_realtime_pb2.FeedMessage()
    message.ParseFromString(fixture_bytes(name))
    return message


def _distinct_vehicles(message: Any) -> int:
    """Vehicles the sample reports, decoded with the official bindings (not our parser)."""
    found = set()
    for entity in message.entity:
        for descriptor in (
            entity.vehicle.vehicle if entity.HasField("vehicle") else None,
            entity.trip_update.vehicle
            if entity.HasField("trip_update") and entity.trip_update.HasField("vehicle")
            else None,
        ):
            if descriptor is not None:
                found.add(descriptor.id or descriptor.label or entity.id)
    return len(found)


def _config(connectors: Connectors, base: str) -> Any:
    feeds: list[dict[str, Any]] = [
        {
            "id": "mbta-alerts",
            "type": "gtfs_rt",
            "url": f"{base}/alerts.pb",
            "interval_s": 30,
            "service": "transport.mbta.rail",
            "map": {"Red": "transport.mbta.red", "11": "transport.mbta.bus-11"},
        },
    ]
    for feed_id, svc in (
        ("mbta-vehicles", "transport.mbta.rail"),
        ("mbta-trips", "transport.mbta.rail"),
        ("nyct-g", "transport.nyct.g"),
        ("usf-bull", "transport.usf.bull"),
    ):
        feeds.append(
            {
                "id": feed_id,
                "type": "gtfs_rt",
                "url": f"{base}/{feed_id}.pb",
                "interval_s": 30,
                "service": svc,
                "options": {"report_routes": False},
            }
        )
    services = [
        service(s, "transport", region="US-MA", interval=30)
        for s in ("transport.mbta.rail", "transport.mbta.red", "transport.mbta.bus-11")
    ]
    services += [
        service("transport.nyct.g", "transport", region="US-NY", interval=30),
        service("transport.usf.bull", "transport", region="US-FL", interval=30),
    ]
    return connectors.config([operator("transit", services, feeds)])


def _sources(config: Any, clocks: dict[str, Callable[[], float]]) -> list[Source]:
    out: list[Source] = []
    for feed_id, clock in clocks.items():
        out.extend(runners(config, clock, {feed_id}))
    return out


def _at(moment: float) -> Callable[[], float]:
    return lambda: moment


def _as_set(observations: list[Observation]) -> set[bytes]:
    return {o.to_json() for o in observations}


def test_gtfs_rt_samples_polled_over_http_arrive_in_kafka(
    connectors: Connectors, http: AppThread
) -> None:
    routes = {
        "/alerts.pb": Route(body=fixture_bytes(SAMPLES["mbta-alerts"]), content_type=PROTOBUF),
        **{
            f"/{feed}.pb": Route(body=fixture_bytes(name), content_type=PROTOBUF)
            for feed, name in SAMPLES.items()
            if feed != "mbta-alerts"
        },
    }
    server = http.static(routes)
    config = _config(connectors, server.base_url)
    headers = {feed: float(_decode(name).header.timestamp) for feed, name in SAMPLES.items()}
    # Each sample is replayed 20 s after its own header time (they span 2017-2023).
    clocks = {feed: _at(stamp + 20.0) for feed, stamp in headers.items()}

    results = connectors.run(config, 0.0, sources=_sources(config, clocks))

    produced, rejections = sent(results)
    assert rejections == []
    assert all(server.hits[path] == 1 for path in routes), dict(server.hits)
    from_kafka = connectors.observations()
    assert _as_set(from_kafka) == _as_set(produced)
    assert len(from_kafka) == len(produced)
    for observation in from_kafka:  # each within the bounds of its own replay clock
        parse_observation(observation.to_json(), now=clocks[observation.source]())

    by_feed: dict[str, list[Observation]] = {}
    for observation in from_kafka:
        by_feed.setdefault(observation.source, []).append(observation)
    assert set(by_feed) == set(SAMPLES)
    for feed, name in SAMPLES.items():
        beats = [o for o in by_feed[feed] if o.kind is Kind.HEARTBEAT]
        assert [(b.status, b.observed_at) for b in beats] == [(Status.UP, headers[feed])], feed
        vehicles = [o for o in by_feed[feed] if o.metric == "vehicles_reporting"]
        expected = _distinct_vehicles(_decode(name))
        if expected:
            assert [v.value for v in vehicles] == [float(expected)], feed
        else:
            assert vehicles == [], feed

    # Alerts at the header time 2017-12-23T13:00:19Z: route 11 has an active NO_SERVICE that
    # names a stop (a stop closure → degraded); Red's NO_SERVICE alert starts in January 2018.
    alerts = {a.id: a.alert for a in _decode(SAMPLES["mbta-alerts"]).entity}
    closure = alerts["206630"]
    assert closure.effect == gtfs_realtime_pb2.Alert.NO_SERVICE
    assert any(ie.route_id == "11" and ie.stop_id for ie in closure.informed_entity)
    assert alerts["219466"].active_period[0].start > headers["mbta-alerts"]
    route_status = {
        o.service_id: o.status for o in by_feed["mbta-alerts"] if o.kind is Kind.STATUS_REPORT
    }
    assert route_status == {
        "transport.mbta.bus-11": Status.DEGRADED,
        "transport.mbta.red": Status.UP,
    }
    bus = next(o for o in by_feed["mbta-alerts"] if o.service_id == "transport.mbta.bus-11")
    assert "206630" in str(bus.attrs)


def test_stale_gtfs_rt_header_becomes_degraded_then_unknown(
    connectors: Connectors, http: AppThread
) -> None:
    body = fixture_bytes(SAMPLES["mbta-vehicles"])
    server = http.static({"/mbta-vehicles.pb": Route(body=body, content_type=PROTOBUF)})
    config = _config(connectors, server.base_url)
    header = float(_decode(SAMPLES["mbta-vehicles"]).header.timestamp)
    for age in (600.0, 1000.0):  # defaults: stale after 120 s, unknown after 900 s
        connectors.run(config, header + age, only={"mbta-vehicles"})

    from_kafka = connectors.observations()
    assert [(o.kind, o.status, o.value, o.observed_at) for o in from_kafka] == [
        (Kind.STATUS_REPORT, Status.DEGRADED, 600.0, header + 600.0),
        (Kind.STATUS_REPORT, Status.UNKNOWN, 1000.0, header + 1000.0),
    ]
    assert {o.metric for o in from_kafka} == {"feed_age"}
