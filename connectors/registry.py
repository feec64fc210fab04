"""Feed types: the name used in config, its parser, its options class and how it is fetched.

>>> sorted(FEED_TYPES)[:3]
['atlas_ping', 'carrier_kpi', 'feeder_status']
>>> build_options(FEED_TYPES["gtfs_rt"].options, {"stale_after_s": 60})
GtfsRtOptions(stale_after_s=60.0, unknown_after_s=900.0, report_routes=True)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from connectors.base import OptionsError, Parser
from connectors.parsers.atlas import AtlasPingOptions, parse_atlas_ping
from connectors.parsers.carrier_kpi import CarrierKpiOptions, parse_carrier_kpi
from connectors.parsers.feeder_status import FeederStatusOptions, parse_feeder_status
from connectors.parsers.fhir import (
    FhirEndpointOptions,
    FhirMetadataOptions,
    parse_fhir_endpoints,
    parse_fhir_metadata,
)
from connectors.parsers.gtfs_rt import GtfsRtOptions, parse_gtfs_rt
from connectors.parsers.http_probe import HttpProbeOptions, parse_http_probe
from connectors.parsers.mqtt_heartbeat import MqttHeartbeatOptions, parse_mqtt_heartbeat
from connectors.parsers.outage import OutageOptions, parse_outage
from connectors.parsers.prometheus import (
    PrometheusOptions,
    parse_prometheus_query,
    parse_prometheus_text,
)
from connectors.parsers.statuspage import StatuspageOptions, parse_statuspage


class Fetch(StrEnum):
    """How a runner obtains the bytes for a feed type."""

    POLL = "poll"  # GET url (or read path) every interval; fetch failures are dead letters
    PROBE = "probe"  # GET url every interval; the fetch outcome itself is the evidence
    SUBSCRIBE = "subscribe"  # long-lived subscription (MQTT); each message is parsed


@dataclass(frozen=True, slots=True)
class FeedType:
    name: str
    parse: Parser
    options: type[Any]
    fetch: Fetch
    summary: str
    schemes: tuple[str, ...] = ("http", "https")

    @property
    def needs_url(self) -> bool:
        """Subscriptions have no file form: they need a broker URL."""
        return self.fetch is Fetch.SUBSCRIBE


FEED_TYPES: Mapping[str, FeedType] = {
    t.name: t
    for t in (
        FeedType("gtfs_rt", parse_gtfs_rt, GtfsRtOptions, Fetch.POLL, "GTFS-Realtime protobuf"),
        FeedType(
            "fhir_metadata",
            parse_fhir_metadata,
            FhirMetadataOptions,
            Fetch.PROBE,
            "FHIR GET [base]/metadata probe",
        ),
        FeedType(
            "fhir_endpoints",
            parse_fhir_endpoints,
            FhirEndpointOptions,
            Fetch.POLL,
            "FHIR Endpoint / Bundle status",
        ),
        FeedType(
            "http_probe", parse_http_probe, HttpProbeOptions, Fetch.PROBE, "HTTP(S) active probe"
        ),
        FeedType(
            "mqtt_heartbeat",
            parse_mqtt_heartbeat,
            MqttHeartbeatOptions,
            Fetch.SUBSCRIBE,
            "MQTT heartbeats (topic -> service via map)",
            schemes=("mqtt", "mqtts"),
        ),
        FeedType("atlas_ping", parse_atlas_ping, AtlasPingOptions, Fetch.POLL, "RIPE Atlas ping"),
        FeedType(
            "carrier_kpi", parse_carrier_kpi, CarrierKpiOptions, Fetch.POLL, "carrier KPI CSV/JSON"
        ),
        FeedType("outage", parse_outage, OutageOptions, Fetch.POLL, "utility outage report"),
        FeedType(
            "feeder_status",
            parse_feeder_status,
            FeederStatusOptions,
            Fetch.POLL,
            "substation / feeder switching state",
        ),
        FeedType(
            "statuspage", parse_statuspage, StatuspageOptions, Fetch.POLL, "Statuspage summary"
        ),
        FeedType(
            "prometheus_text",
            parse_prometheus_text,
            PrometheusOptions,
            Fetch.POLL,
            "Prometheus text exposition",
        ),
        FeedType(
            "prometheus_query",
            parse_prometheus_query,
            PrometheusOptions,
            Fetch.POLL,
            "Prometheus HTTP API query JSON",
        ),
    )
}


def build_options(cls: type[Any], values: Mapping[str, Any]) -> Any:
    """Build an options dataclass from config values, checking names and types.

    Raises :class:`OptionsError` naming the first offending key.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise OptionsError(str(key), f"unknown option (allowed: {allowed})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return cls(
        **{
            key: _coerce(key, _joined(key, value, fields[key].metadata), hints[key])
            for key, value in values.items()
        }
    )


def _joined(key: str, value: Any, metadata: Mapping[str, Any]) -> Any:
    """A text option that is a list of items (``expect_status``) may be written as a YAML
    number or list: ``200`` and ``[200, "301-302"]`` read as ``"200"`` and ``"200,301-302"``."""
    separator = metadata.get("list_separator")
    if separator is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list) and all(
        isinstance(v, int | str) and not isinstance(v, bool) for v in value
    ):
        return separator.join(str(v) for v in value)
    if isinstance(value, str) and value:
        return value
    raise OptionsError(key, f"{value!r} is not accepted; write it as {metadata['example']}")


def _coerce(key: str, value: Any, hint: Any) -> Any:
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    if optional:
        if value is None:
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise OptionsError(key, "must be true or false")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        raise OptionsError(key, "must be a non-negative number")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise OptionsError(key, "must be a non-negative whole number")
    if hint is str:
        if isinstance(value, str) and value:
            return value
        raise OptionsError(key, "must be a non-empty string")
    if typing.get_origin(hint) is dict:
        if isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return dict(value)
        raise OptionsError(key, "must be a mapping of strings to strings")
    raise OptionsError(key, f"unsupported option type {hint!r}")  # a bug in an options class
