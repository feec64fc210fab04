"""The connector contract: services, feed context, parse results, rejections and sources.

A *parser* is a pure function ``(raw: bytes, ctx: FeedContext, options) -> ParseResult``: the
same bytes, configuration and clock reading always give the same observations with the same
``event_id`` values, so re-polling an unchanged feed is idempotent downstream.  A *source*
(poll / push / subscribe) fetches bytes and hands them to a parser; it never builds
observations itself.

>>> svc = ServiceSpec("op", "grid.n.f12", "energy", "UA-30", 300.0)
>>> ctx = FeedContext(source="demo", default_service=svc, now=1_700_000_000.0)
>>> result = ParseResult()
>>> result.add(ctx.observe(svc, kind=Kind.HEARTBEAT, observed_at=1_700_000_000.0, status=Status.UP))
>>> [o.status for o in result.observations], result.rejections
([<Status.UP: 'up'>], [])
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pipeline.core.deadletter import DeadLetter
from pipeline.core.identity import ServiceRef
from pipeline.core.schema import Kind, Observation, Status, with_declared_interval
from pipeline.core.timeutil import format_rfc3339
from pipeline.core.validation import (
    DEFAULT_LIMITS,
    ObservationRejected,
    ValidationLimits,
    parse_observation_dict,
)

#: Reasons a connector may give on top of pipeline.core.validation.REASONS.
CONNECTOR_REASONS: tuple[str, ...] = (
    "malformed_protobuf",
    "malformed_xml",
    "malformed_csv",
    "unexpected_format",
    "unknown_service",
    "unsupported_content_type",
    "fetch_failed",
)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A monitored service as declared in the deployment config."""

    operator_id: str
    service_id: str
    sector: str
    region: str
    expected_interval_s: float
    customers_served: int | None = None
    vantages: tuple[str, ...] = ()

    @property
    def ref(self) -> ServiceRef:
        """The service's identity, as the worker knows it."""
        return ServiceRef(
            self.service_id, self.operator_id, self.sector, self.region, self.customers_served
        )


@dataclass(frozen=True, slots=True)
class FetchInfo:
    """How the bytes were obtained, for parsers whose evidence is the fetch itself (probes)."""

    http_status: int | None = None
    latency_s: float | None = None
    url: str | None = None
    content_type: str | None = None
    error: str | None = None
    tls_not_after: float | None = None  # epoch s, the peer certificate's notAfter


#: Input that could not become an observation: the pipeline's one dead-letter record type.
Rejection = DeadLetter


def rejection_from_error(
    exc: ObservationRejected, source: str, original: bytes, rejected_at: float
) -> Rejection:
    """The dead letter for an input the pipeline's validation refused."""
    return Rejection(exc.reason, exc.field, exc.detail, source, original, rejected_at)


@dataclass(slots=True)
class ParseResult:
    """What one parse produced: observations, dead-letter rejections, and counted skips.

    ``skipped`` counts valid input deliberately not turned into evidence (e.g. an alert on a
    route nobody monitors), so nothing disappears without a trace.
    """

    observations: list[Observation] = dataclasses.field(default_factory=list)
    rejections: list[Rejection] = dataclasses.field(default_factory=list)
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    #: Made by the runtime from the feed's silence (connectors.silence), not read from it.
    silence: bool = False

    def add(self, item: Observation | Rejection) -> None:
        if isinstance(item, Observation):
            self.observations.append(item)
        else:
            self.rejections.append(item)

    def extend(self, other: ParseResult) -> None:
        self.observations.extend(other.observations)
        self.rejections.extend(other.rejections)
        self.skipped.update(other.skipped)


def make_event_id(source: str, service_id: str, observed_at: float, *parts: object) -> str:
    """Deterministic idempotency key: same feed content, same id.

    >>> make_event_id("f", "s", 1.0, "v") == make_event_id("f", "s", 1.0, "v")
    True
    >>> make_event_id("f", "s", 1.0, "v") == make_event_id("f", "s", 2.0, "v")
    False
    """
    text = "\x1f".join([source, service_id, repr(float(observed_at)), *map(str, parts)])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class FeedContext:
    """Everything a parser may know besides the bytes: configuration and the clock reading.

    ``services`` maps a feed-native key (route id, component id, county, probe target...) to
    a declared service; ``default_service`` receives feed-level evidence.
    """

    source: str
    now: float
    default_service: ServiceSpec | None = None
    services: Mapping[str, ServiceSpec] = dataclasses.field(default_factory=dict)
    fetch: FetchInfo | None = None
    limits: ValidationLimits = DEFAULT_LIMITS

    def resolve(self, key: str | None) -> ServiceSpec | None:
        """The service a native key maps to, else the default service (None if neither)."""
        if key is not None and key in self.services:
            return self.services[key]
        return self.default_service

    def reject(
        self, reason: str, field_name: str | None, detail: str, original: bytes
    ) -> Rejection:
        return Rejection(reason, field_name, detail, self.source, original, self.now)

    def observe(
        self,
        service: ServiceSpec,
        *,
        kind: Kind,
        observed_at: float,
        status: Status | None = None,
        vantage: str | None = None,
        metric: str | None = None,
        value: float | None = None,
        unit: str | None = None,
        customers_affected: int | None = None,
        customers_served: int | None = None,
        attrs: dict[str, Any] | None = None,
        id_parts: tuple[object, ...] = (),
        id_time: float | None = None,
        original: bytes = b"",
    ) -> Observation | Rejection:
        """Build an observation and pass it through the pipeline's own validation.

        Running the same checks as the pipeline here means future timestamps, NaN values or
        affected > served become dead-letter records at the edge, with the feed bytes.
        ``id_time`` replaces ``observed_at`` in the event id when the evidence is stamped
        with the poll time but must still dedupe across re-polls of the same content.
        """
        if not math.isfinite(observed_at):
            return self.reject("invalid_field", "observed_at", "is not finite", original)
        served = customers_served if customers_served is not None else service.customers_served
        event_id = make_event_id(
            self.source,
            service.service_id,
            observed_at if id_time is None else id_time,
            kind.value,
            metric,
            vantage,
            *id_parts,
        )
        try:
            stamp = format_rfc3339(observed_at)
        except (OverflowError, ValueError, OSError) as exc:
            # A year outside datetime's range cannot be formatted: bad input, not a crash.
            return self.reject("invalid_field", "observed_at", str(exc), original)
        candidate: dict[str, Any] = {
            "schema": 1,
            "event_id": event_id,
            "operator_id": service.operator_id,
            "service_id": service.service_id,
            "sector": service.sector,
            "region": service.region,
            "kind": kind.value,
            "observed_at": stamp,
            "source": self.source,
            "vantage": vantage,
            "status": status.value if status is not None else None,
            "metric": metric,
            "value": value,
            "unit": unit,
            "customers_served": served,
            "customers_affected": customers_affected,
            # The worker judges silence by the declared interval, so it travels with the
            # evidence (pipeline.core.schema.EXPECTED_INTERVAL).
            "attrs": with_declared_interval(attrs, service.expected_interval_s),
        }
        try:
            return parse_observation_dict(candidate, now=self.now, limits=self.limits)
        except ObservationRejected as exc:
            return rejection_from_error(exc, self.source, original, self.now)


Parser = Callable[[bytes, FeedContext, Any], ParseResult]


class OptionsError(ValueError):
    """One bad feed option: ``field`` names the key inside ``options``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def check_choice(field_name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise OptionsError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise OptionsError(field_name, f"{value!r} is not one of {list(choices)}")


@runtime_checkable
class PollSource(Protocol):
    """Fetches a feed every ``interval_s`` seconds and parses it."""

    source_id: str
    interval_s: float

    async def poll(self) -> ParseResult: ...


@runtime_checkable
class SubscribeSource(Protocol):
    """A long-lived subscription (MQTT, websocket...) yielding results as messages arrive."""

    source_id: str

    def subscribe(self) -> AsyncIterator[ParseResult]: ...


@runtime_checkable
class PushSource(Protocol):
    """Accepts bytes an operator sends (HTTP ingest); ``operator_id`` is the authenticated one."""

    source_id: str

    def accept(self, raw: bytes, content_type: str, operator_id: str) -> ParseResult: ...


#: Where sources deliver results (source id, result): a producer, a printer, a test list.
Sink = Callable[[str, ParseResult], Awaitable[None]]
