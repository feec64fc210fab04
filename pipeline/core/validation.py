"""Validation of untrusted observation bytes into :class:`~pipeline.core.schema.Observation`.

Every refusal is an :class:`ObservationRejected` with a stable machine-readable ``reason``
(used as a metric label and in dead-letter records) and a human sentence naming the field.

>>> parse_observation(b'{"schema": 2}', now=0.0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pipeline.core.validation.ObservationRejected: unsupported_schema: schema: version 2 is not ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import orjson

from pipeline.core.schema import (
    MAX_COUNT,
    MAX_TEXT_LENGTH,
    SCHEMA_VERSION,
    Kind,
    Observation,
    Status,
    WireObservation,
    sector_problem,
)
from pipeline.core.timeutil import duration_words, parse_rfc3339

_E = TypeVar("_E", Kind, Status)

REASONS: tuple[str, ...] = (
    "oversize",
    "malformed_json",
    "not_an_object",
    "unsupported_schema",
    "missing_field",
    "invalid_field",
    "non_finite_value",
    "future_timestamp",
    "stale_timestamp",
    "inconsistent_customers",
    "unauthorised_operator",
)


class ObservationRejected(ValueError):
    """Input that cannot become an observation; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, field: str | None, detail: str) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        where = f"{field}: " if field else ""
        super().__init__(f"{reason}: {where}{detail}")


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    """Bounds applied to untrusted input; defaults suit live telemetry."""

    max_bytes: int = 64 * 1024
    max_future_seconds: float = 300.0
    max_age_seconds: float = 366 * 86400.0
    max_id_length: int = MAX_TEXT_LENGTH
    max_attrs_bytes: int = 8 * 1024


DEFAULT_LIMITS = ValidationLimits()

#: Integers anywhere must fit InfluxDB's (and most consumers') signed 64 bits.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_REQUIRED_TEXT = ("event_id", "operator_id", "service_id", "sector", "region", "source")


def parse_observation(
    raw: bytes, *, now: float | None, limits: ValidationLimits = DEFAULT_LIMITS
) -> Observation:
    """Decode and validate wire bytes; ``now`` (epoch s) bounds the timestamp, None skips that."""
    if len(raw) > limits.max_bytes:
        raise ObservationRejected(
            "oversize", None, f"{len(raw)} bytes exceeds the limit of {limits.max_bytes}"
        )
    fast = _decode_valid(raw, now, limits)
    if fast is not None:
        return fast
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ObservationRejected("malformed_json", None, str(exc)) from None
    if not isinstance(data, dict):
        raise ObservationRejected(
            "not_an_object", None, f"expected a JSON object, got {type(data).__name__}"
        )
    return parse_observation_dict(data, now=now, limits=limits)


def parse_observation_dict(
    data: dict[str, Any], *, now: float | None, limits: ValidationLimits = DEFAULT_LIMITS
) -> Observation:
    """Validate an already decoded JSON object."""
    schema = data.get("schema")
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        if schema is None:
            raise ObservationRejected("missing_field", "schema", "is required")
        raise ObservationRejected(
            "unsupported_schema", "schema", f"version {schema!r} is not supported (expected 1)"
        )
    text = {name: _required_text(data, name, limits) for name in _REQUIRED_TEXT}
    problem = sector_problem(text["sector"])
    if problem is not None:
        raise ObservationRejected("invalid_field", "sector", problem)
    kind = _enum(data, "kind", Kind, required=True)
    assert kind is not None
    observed_at = _timestamp(data, now, limits)
    status = _enum(data, "status", Status, required=False)
    value = _optional_number(data, "value")
    served = _optional_count(data, "customers_served")
    affected = _optional_count(data, "customers_affected")
    if served is not None and affected is not None and affected > served:
        raise ObservationRejected(
            "inconsistent_customers",
            "customers_affected",
            f"{affected} affected exceeds {served} served",
        )
    attrs = data.get("attrs", {})
    if not isinstance(attrs, dict):
        raise ObservationRejected("invalid_field", "attrs", "must be an object")
    if attrs and len(orjson.dumps(attrs)) > limits.max_attrs_bytes:
        raise ObservationRejected("oversize", "attrs", f"exceeds {limits.max_attrs_bytes} bytes")
    _check_integers(attrs, "attrs")
    users = attrs.get("users_affected")
    if isinstance(users, int) and not isinstance(users, bool) and not 0 <= users <= MAX_COUNT:
        raise ObservationRejected(
            "invalid_field", "attrs.users_affected", f"must be between 0 and {MAX_COUNT}"
        )
    reports_outage = kind is Kind.OUTAGE_REPORT and affected is not None
    if status is None and value is None and kind is not Kind.HEARTBEAT and not reports_outage:
        # Without any of these the observation asserts nothing we could act on.
        raise ObservationRejected(
            "missing_field",
            "status",
            f"a {kind.value} needs a status or a value"
            + (" (or customers_affected)" if kind is Kind.OUTAGE_REPORT else ""),
        )
    return Observation(
        event_id=text["event_id"],
        operator_id=text["operator_id"],
        service_id=text["service_id"],
        sector=text["sector"],
        region=text["region"],
        kind=kind,
        observed_at=observed_at,
        source=text["source"],
        vantage=_optional_text(data, "vantage", limits),
        status=status,
        metric=_optional_text(data, "metric", limits),
        value=value,
        unit=_optional_text(data, "unit", limits),
        customers_served=served,
        customers_affected=affected,
        attrs=attrs,
    )


def _required_text(data: dict[str, Any], name: str, limits: ValidationLimits) -> str:
    value = data.get(name)
    if value is None:
        raise ObservationRejected("missing_field", name, "is required")
    if not isinstance(value, str) or not value.strip():
        raise ObservationRejected("invalid_field", name, "must be a non-empty string")
    if len(value) > limits.max_id_length:
        raise ObservationRejected("invalid_field", name, f"longer than {limits.max_id_length}")
    if not value.isprintable():
        # NUL, newlines, ANSI escapes and bidi marks would rewrite how logs and pages read.
        bad = next(c for c in value if not c.isprintable())
        raise ObservationRejected(
            "invalid_field", name, f"contains control or format character U+{ord(bad):04X}"
        )
    return value


def _optional_text(data: dict[str, Any], name: str, limits: ValidationLimits) -> str | None:
    if data.get(name) is None:
        return None
    return _required_text(data, name, limits)


def _enum(data: dict[str, Any], name: str, enum: type[_E], *, required: bool) -> _E | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ObservationRejected("missing_field", name, "is required")
        return None
    try:
        return enum(value)
    except ValueError:
        allowed = [member.value for member in enum]
        raise ObservationRejected(
            "invalid_field", name, f"{value!r} is not one of {allowed}"
        ) from None


def _timestamp(data: dict[str, Any], now: float | None, limits: ValidationLimits) -> float:
    raw = data.get("observed_at")
    if raw is None:
        raise ObservationRejected("missing_field", "observed_at", "is required")
    if not isinstance(raw, str):
        raise ObservationRejected("invalid_field", "observed_at", "must be an RFC 3339 string")
    try:
        moment = parse_rfc3339(raw)
    except ValueError as exc:
        raise ObservationRejected("invalid_field", "observed_at", str(exc)) from None
    if now is not None:
        if moment - now > limits.max_future_seconds:
            raise ObservationRejected(
                "future_timestamp",
                "observed_at",
                f"{raw} is {duration_words(moment - now)} in the future; at most "
                f"{duration_words(limits.max_future_seconds)} is accepted (check the sender's "
                "clock and time zone)",
            )
        if now - moment > limits.max_age_seconds:
            raise ObservationRejected(
                "stale_timestamp",
                "observed_at",
                f"{raw} is {duration_words(now - moment)} old; evidence older than "
                f"{duration_words(limits.max_age_seconds)} is refused (replaying an old sample "
                "through the connectors? give its time with --now)",
            )
    return moment


def _optional_number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ObservationRejected("invalid_field", name, "must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ObservationRejected("non_finite_value", name, "must be finite")
    return number


def _optional_count(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ObservationRejected("invalid_field", name, "must be a whole number")
    if value < 0:
        raise ObservationRejected("invalid_field", name, "must not be negative")
    if value > MAX_COUNT:
        raise ObservationRejected("invalid_field", name, f"{value} exceeds {MAX_COUNT}")
    return value


def _check_integers(value: object, path: str) -> None:
    """Every integer inside ``value`` (objects and arrays, any depth) fits in int64."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ObservationRejected(
                "invalid_field", path, "integer outside the signed 64-bit range"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_integers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_integers(item, f"{path}[{index}]")


_WIRE_DECODER = msgspec.json.Decoder(WireObservation)
#: Timestamps parsed lately: a probe round or a feed's batch shares a few event times, and
#: parsing one costs more than decoding the rest of the record.
_RECENT_TIMES: dict[str, float] = {}
_RECENT_TIMES_CAP = 4096


def _decode_valid(raw: bytes, now: float | None, limits: ValidationLimits) -> Observation | None:
    """The common case in one pass: the observation, or None for anything
    :func:`parse_observation_dict` must look at (to refuse it with its reason, or to accept
    what this path is stricter about: unknown fields, over-long ids under raised limits).

    It never accepts what the detailed path refuses, and builds the same observation.
    """
    try:
        wire = _WIRE_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    texts = [wire.event_id, wire.operator_id, wire.service_id, wire.sector, wire.region]
    texts.append(wire.source)
    for optional in (wire.vantage, wire.metric, wire.unit):
        if optional is not None:
            texts.append(optional)
    # printable, not only spaces (msgspec checked 1..MAX_TEXT_LENGTH), within the limit
    if not (all(map(str.isprintable, texts)) and all(map(str.strip, texts))):
        return None
    if limits.max_id_length < MAX_TEXT_LENGTH and max(map(len, texts)) > limits.max_id_length:
        return None
    observed_at = _RECENT_TIMES.get(wire.observed_at)
    if observed_at is None:
        try:
            observed_at = parse_rfc3339(wire.observed_at)
        except ValueError:
            return None
        if len(_RECENT_TIMES) >= _RECENT_TIMES_CAP:
            _RECENT_TIMES.clear()
        _RECENT_TIMES[wire.observed_at] = observed_at
    if now is not None and (
        observed_at - now > limits.max_future_seconds or now - observed_at > limits.max_age_seconds
    ):
        return None
    kind, status, value = wire.kind, wire.status, wire.value
    served, affected = wire.customers_served, wire.customers_affected
    if value is not None and not math.isfinite(value):
        return None
    if served is not None and affected is not None and affected > served:
        return None
    attrs = wire.attrs
    if attrs and not _attrs_fit(attrs, limits):
        return None
    asserts_nothing = status is None and value is None and kind is not Kind.HEARTBEAT
    if asserts_nothing and not (kind is Kind.OUTAGE_REPORT and affected is not None):
        return None
    return Observation(
        event_id=wire.event_id,
        operator_id=wire.operator_id,
        service_id=wire.service_id,
        sector=wire.sector,
        region=wire.region,
        kind=kind,
        observed_at=observed_at,
        source=wire.source,
        vantage=wire.vantage,
        status=status,
        metric=wire.metric,
        value=value,
        unit=wire.unit,
        customers_served=served,
        customers_affected=affected,
        attrs=attrs,
    )


def _attrs_fit(attrs: dict[str, Any], limits: ValidationLimits) -> bool:
    """What :func:`parse_observation_dict` requires of non-empty attrs, as a yes or no."""
    try:
        if len(orjson.dumps(attrs)) > limits.max_attrs_bytes:
            return False
        _check_integers(attrs, "attrs")
    except (TypeError, ObservationRejected):  # orjson.JSONEncodeError is a TypeError
        return False
    users = attrs.get("users_affected")
    return not (
        isinstance(users, int) and not isinstance(users, bool) and not 0 <= users <= MAX_COUNT
    )
