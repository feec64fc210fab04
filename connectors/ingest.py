"""Push ingest, the pure part: authenticate a token, decode a body, check every observation.

Operators send canonical observations (``pipeline.core.schema``) as a JSON object, a JSON
array, JSON lines (``application/x-ndjson``) or CSV with the canonical field names as header.
To make wiring quick, fields the server already knows may be left out: ``schema`` (1),
``operator_id`` (the token's operator), ``sector`` and ``region`` (the service's
declaration), ``source`` (``push:<operator>``) and ``event_id`` (derived from the content, so
an identical resend is still idempotent).  When given, they must agree with what the server
knows.

A request is all-or-nothing: any bad observation refuses the whole body with a
:class:`PushRefused` listing every problem (index, field, reason, detail), so an operator fixes
its exporter once instead of discovering errors one at a time.

>>> from connectors.base import ServiceSpec
>>> svc = ServiceSpec("op", "grid.f12", "energy", "UA-30", 60.0)
>>> body = b'{"service_id": "grid.f12", "kind": "probe", "status": "down", '
>>> body += b'"observed_at": "2023-11-14T22:13:00Z"}'
>>> [o.status.value for o in check_push(body, "application/json", "op", {"grid.f12": svc},
...                                     now=1_700_000_000.0)]
['down']
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from connectors.base import ServiceSpec, make_event_id
from pipeline.core.schema import Observation, with_declared_interval
from pipeline.core.validation import (
    DEFAULT_LIMITS,
    ObservationRejected,
    ValidationLimits,
    parse_observation_dict,
)

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-lines"})
CSV_TYPES = frozenset({"text/csv"})
MAX_OBSERVATIONS_PER_REQUEST = 5_000
_INT_FIELDS = frozenset({"schema", "customers_served", "customers_affected"})
_FLOAT_FIELDS = frozenset({"value"})
#: Top-level fields an observation may carry; anything else is refused, named.
KNOWN_FIELDS = frozenset({"schema"} | {f.name for f in dataclasses.fields(Observation)})
#: Identifiers an operator chooses: letters, digits and a few separators, nothing that could
#: be read as markup, a path escape or a terminal control.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+#=~-]*")
MAX_ATTRS_KEYS = 64


def hash_token(token: str) -> str:
    """What the config stores (``token_sha256``): API tokens are random, so a plain digest
    suffices; a slow password hash would only add latency to every push."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a pushed observation; serialised into the 4xx body."""

    index: int | None
    field: str | None
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "field": self.field,
            "reason": self.reason,
            "detail": self.detail,
        }


class PushRefused(Exception):
    """The whole request is refused with ``status`` (400, 403, 415, 422)."""

    def __init__(self, status: int, problems: list[Problem]) -> None:
        self.status = status
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.detail}" for p in problems))


def check_push(
    body: bytes,
    content_type: str,
    operator_id: str,
    services: Mapping[str, ServiceSpec],
    *,
    now: float,
    limits: ValidationLimits = DEFAULT_LIMITS,
) -> list[Observation]:
    """Decode and validate a push body for an authenticated operator.

    ``services`` are the operator's own declared services.  Raises :class:`PushRefused`.
    """
    records = _decode(body, content_type.split(";")[0].strip().lower())
    if len(records) > MAX_OBSERVATIONS_PER_REQUEST:
        raise PushRefused(
            413,
            [Problem(None, None, "oversize", f"more than {MAX_OBSERVATIONS_PER_REQUEST} items")],
        )
    observations: list[Observation] = []
    problems: list[Problem] = []
    status = 400
    for index, record in enumerate(records):
        try:
            observations.append(_one(record, operator_id, services, now, limits))
        except ObservationRejected as exc:
            problems.append(Problem(index, exc.field, exc.reason, exc.detail))
            if exc.reason == "unauthorised_operator":
                status = 403
    first_index: dict[str, int] = {}
    for index, obs in enumerate(observations):
        earlier = first_index.setdefault(obs.event_id, index)
        if earlier != index:
            problems.append(
                Problem(index, "event_id", "duplicate_event_id", f"same as item {earlier}")
            )
    if problems:
        raise PushRefused(status, problems)
    if not observations:
        raise PushRefused(400, [Problem(None, None, "missing_field", "no observations in body")])
    return observations


def _decode(body: bytes, media_type: str) -> list[Any]:
    try:
        if media_type in JSON_TYPES:
            data = orjson.loads(body)
            return data if isinstance(data, list) else [data]
        if media_type in NDJSON_TYPES:
            return [orjson.loads(line) for line in body.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise PushRefused(400, [Problem(None, None, "malformed_json", str(exc))]) from None
    if media_type in CSV_TYPES:
        return _csv(body)
    allowed = sorted(JSON_TYPES | NDJSON_TYPES | CSV_TYPES)
    raise PushRefused(
        415,
        [
            Problem(
                None,
                "Content-Type",
                "unsupported_content_type",
                f"{media_type!r} is not one of {allowed}",
            )
        ],
    )


def _csv(body: bytes) -> list[Any]:
    try:
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PushRefused(400, [Problem(None, None, "malformed_csv", str(exc))]) from None
    out: list[Any] = []
    for index, row in enumerate(rows):
        if None in row:
            raise PushRefused(
                400, [Problem(index, None, "malformed_csv", "row has more cells than the header")]
            )
        record: dict[str, Any] = {}
        for key, text in row.items():
            if text is None or text.strip() == "":
                continue
            name = key.strip()
            record[name] = _csv_value(index, name, text.strip())
        out.append(record)
    return out


def _csv_value(index: int, name: str, text: str) -> Any:
    try:
        if name in _INT_FIELDS:
            return int(text)
        if name in _FLOAT_FIELDS:
            return float(text)
    except ValueError:
        raise PushRefused(
            400, [Problem(index, name, "invalid_field", f"{text[:40]!r} is not a number")]
        ) from None
    return text


def _one(
    record: Any,
    operator_id: str,
    services: Mapping[str, ServiceSpec],
    now: float,
    limits: ValidationLimits,
) -> Observation:
    if not isinstance(record, dict):
        raise ObservationRejected("not_an_object", None, "each observation must be an object")
    data = dict(record)
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise ObservationRejected(
            "invalid_field", str(unknown[0])[:80], f"unknown field; allowed: {sorted(KNOWN_FIELDS)}"
        )
    attrs = data.get("attrs")
    if isinstance(attrs, dict) and len(attrs) > MAX_ATTRS_KEYS:
        raise ObservationRejected("oversize", "attrs", f"more than {MAX_ATTRS_KEYS} keys")
    for name in ("event_id", "vantage"):
        text = data.get(name)
        if isinstance(text, str) and not ID_PATTERN.fullmatch(text):
            raise ObservationRejected(
                "invalid_field",
                name,
                f"may only hold letters, digits and ._:@/+#=~- ({text[:40]!a})",
            )
    server_source = f"push:{operator_id}"
    if data.setdefault("source", server_source) != server_source:
        raise ObservationRejected(
            "unauthorised_operator",
            "source",
            f"set by the server to {server_source!r}; leave it out",
        )
    sent_operator = data.setdefault("operator_id", operator_id)
    if sent_operator != operator_id:
        raise ObservationRejected(
            "unauthorised_operator",
            "operator_id",
            f"this token belongs to {operator_id!r}, not {sent_operator!r}",
        )
    service_id = data.get("service_id")
    spec = services.get(service_id) if isinstance(service_id, str) else None
    if spec is None:
        if service_id is None:
            raise ObservationRejected("missing_field", "service_id", "is required")
        raise ObservationRejected(
            "unauthorised_operator",
            "service_id",
            f"{str(service_id)[:80]!r} is not a service declared for {operator_id!r}",
        )
    for name, declared in (("sector", spec.sector), ("region", spec.region)):
        if data.setdefault(name, declared) != declared:
            raise ObservationRejected(
                "invalid_field", name, f"{data[name]!r} differs from the declared {declared!r}"
            )
    if "customers_affected" in data and spec.customers_served is not None:
        # Affected without served is useless for customer-weighted indicators.
        data.setdefault("customers_served", spec.customers_served)
    data.setdefault("schema", 1)
    if "event_id" not in data:
        try:
            content = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError as exc:
            raise ObservationRejected("invalid_field", None, str(exc)) from None
        data["event_id"] = make_event_id(data["source"], spec.service_id, 0.0, content)
    attrs = data.get("attrs")
    if attrs is None or isinstance(attrs, dict):  # anything else is rejected just below
        data["attrs"] = with_declared_interval(attrs, spec.expected_interval_s)
    return parse_observation_dict(data, now=now, limits=limits)
