from __future__ import annotations

from google.transit import gtfs_realtime_pb2

from connectors.parsers.gtfs_rt import GtfsRtOptions, parse_gtfs_rt
from pipeline.core.schema import Kind, Status

from .conftest import context, fixture_bytes, service

RAIL = service("transport.mbta.rail", "transport")
RED = service("transport.mbta.red", "transport")
BUS_11 = service("transport.mbta.bus-11", "transport")


def _feed(name: str) -> gtfs_realtime_pb2.FeedMessage:
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.ParseFromString(fixture_bytes(name))
    return feed


def test_fresh_vehicle_feed_is_a_heartbeat_and_a_vehicle_count() -> None:
    feed = _feed("mbta_vehiclepositions.pb")
    stamp = feed.header.timestamp
    vehicles = {e.vehicle.vehicle.id for e in feed.entity if e.HasField("vehicle")}
    result = parse_gtfs_rt(fixture_bytes("mbta_vehiclepositions.pb"), context(stamp + 30, RAIL))
    assert result.rejections == []
    by_kind = {o.kind: o for o in result.observations}
    assert by_kind[Kind.HEARTBEAT].status is Status.UP
    assert by_kind[Kind.HEARTBEAT].observed_at == stamp
    assert by_kind[Kind.KPI].metric == "vehicles_reporting"
    assert by_kind[Kind.KPI].value == len(vehicles)


def test_trip_updates_and_mixed_feeds_count_distinct_vehicles() -> None:
    for name in ("mbta_tripupdates.pb", "nyct_subway_g_tripupdates_vehicles.pb"):
        feed = _feed(name)
        expected = set()
        for entity in feed.entity:
            if entity.HasField("vehicle"):
                expected.add(entity.vehicle.vehicle.id or entity.vehicle.vehicle.label or entity.id)
            if entity.HasField("trip_update") and entity.trip_update.HasField("vehicle"):
                vehicle = entity.trip_update.vehicle
                expected.add(vehicle.id or vehicle.label or entity.id)
        result = parse_gtfs_rt(fixture_bytes(name), context(feed.header.timestamp + 1, RAIL))
        kpi = [o for o in result.observations if o.kind is Kind.KPI]
        assert [o.value for o in kpi] == [float(len(expected))], name


def test_stale_feed_degrades_then_turns_unknown_and_dedupes_across_polls() -> None:
    raw = fixture_bytes("usf_bullrunner_vehicle_positions.pb")
    stamp = _feed("usf_bullrunner_vehicle_positions.pb").header.timestamp
    opts = GtfsRtOptions(stale_after_s=120, unknown_after_s=900)
    first = parse_gtfs_rt(raw, context(stamp + 300, RAIL), opts).observations
    again = parse_gtfs_rt(raw, context(stamp + 400, RAIL), opts).observations
    later = parse_gtfs_rt(raw, context(stamp + 1000, RAIL), opts).observations
    assert [(o.kind, o.status, o.value) for o in first] == [
        (Kind.STATUS_REPORT, Status.DEGRADED, 300.0)
    ]
    assert again[0].event_id == first[0].event_id  # same stale content, same evidence
    assert later[0].status is Status.UNKNOWN
    assert later[0].event_id != first[0].event_id


def test_mbta_alerts_map_active_no_service_on_mapped_routes() -> None:
    feed = _feed("mbta_alerts.pb")
    stamp = feed.header.timestamp
    result = parse_gtfs_rt(
        fixture_bytes("mbta_alerts.pb"),
        context(stamp + 10, RAIL, {"Red": RED, "11": BUS_11}),
    )
    routes = {o.service_id: o for o in result.observations if o.kind is Kind.STATUS_REPORT}
    # Alert 206630 (E Berkeley St @ Harrison Ave closed, active since 2017-10-31) names route 11
    # with a stop: the route still runs, so degraded, not down.
    assert routes[BUS_11.service_id].status is Status.DEGRADED
    assert routes[BUS_11.service_id].attrs["alert_ids"] == ["206630"]
    # Wollaston closure on Red starts 2018-01-08, after this feed's time: not active yet.
    assert routes[RED.service_id].status is Status.UP
    tracked = {gtfs_realtime_pb2.Alert.NO_SERVICE}
    untracked = sum(1 for e in feed.entity if e.alert.effect not in tracked)
    assert result.skipped["alert_effect_not_tracked"] == untracked
    assert result.skipped["alert_not_active"] == 2


def _alert_feed(effect: int, *, stop: str = "", start: int = 0, end: int = 0) -> bytes:
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = 1_700_000_000
    entity = feed.entity.add(id="a1")
    entity.alert.effect = effect
    informed = entity.alert.informed_entity.add(route_id="Red")
    if stop:
        informed.stop_id = stop
    if start or end:
        period = entity.alert.active_period.add()
        period.start, period.end = start, end
    raw: bytes = feed.SerializeToString()
    return raw


def test_effects_map_to_route_status() -> None:
    alert = gtfs_realtime_pb2.Alert
    cases = [
        (_alert_feed(alert.NO_SERVICE), Status.DOWN),
        (_alert_feed(alert.REDUCED_SERVICE), Status.DEGRADED),
        (_alert_feed(alert.SIGNIFICANT_DELAYS), Status.DEGRADED),
        (_alert_feed(alert.NO_SERVICE, stop="70061"), Status.DEGRADED),
        (_alert_feed(alert.DETOUR), Status.UP),
        (_alert_feed(alert.NO_SERVICE, start=1, end=1_600_000_000), Status.UP),  # ended
    ]
    for raw, expected in cases:
        result = parse_gtfs_rt(raw, context(1_700_000_010.0, None, {"Red": RED}))
        assert [o.status for o in result.observations] == [expected]


def test_truncated_and_headerless_protobuf_are_rejected() -> None:
    raw = fixture_bytes("mbta_alerts.pb")
    truncated = parse_gtfs_rt(raw[: len(raw) // 2], context(0.0, RAIL))
    assert [r.reason for r in truncated.rejections] == ["malformed_protobuf"]
    assert truncated.observations == []
    no_header = gtfs_realtime_pb2.FeedMessage()
    no_header.header.gtfs_realtime_version = "2.0"
    result = parse_gtfs_rt(no_header.SerializeToString(), context(0.0, RAIL))
    assert [(r.reason, r.field) for r in result.rejections] == [
        ("missing_field", "header.timestamp")
    ]


def test_feed_from_the_future_is_rejected() -> None:
    raw = _alert_feed(gtfs_realtime_pb2.Alert.NO_SERVICE)
    result = parse_gtfs_rt(raw, context(1_700_000_000.0 - 3600, RAIL, {"Red": RED}))
    assert result.observations == []
    assert {r.reason for r in result.rejections} == {"future_timestamp"}
