"""The HTTP push ingest API (aiohttp): ``POST /v1/observations``.

* ``Authorization: Bearer <token>``; the server keeps only ``sha256(token)`` (from the config);
* body ≤ ``max_body_bytes`` (413, checked on Content-Length before reading);
* per-operator token bucket (429 with ``Retry-After``);
* every observation is checked (:func:`connectors.ingest.check_push`): 400 / 403 / 415 / 422
  with a JSON body naming each bad field;
* ``202`` only after ``deliver`` reports a durable Kafka ack; otherwise ``503`` (nothing is
  spooled for push: the operator still holds the data and retries, ``event_id`` dedupes);
* recently acknowledged ``event_id`` values per operator are remembered, so a retry after a
  lost response is a cheap ``202`` with ``duplicates``.

Also serves ``GET /healthz``, ``GET /openapi.json`` and ``GET /metrics`` (the injected registry,
which names operators: only with the bearer token whose SHA-256 is ``metrics_token_sha256``).
Served with :func:`serve_ingest`, connections are limited and timed out
(:mod:`connectors.ingest_guard`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest

from connectors.base import Clock, ServiceSpec
from connectors.config import DeploymentConfig
from connectors.ingest import PushRefused, check_push, hash_token
from connectors.ingest_guard import ConnectionGuard, ConnectionLimits, GuardedServer, serve_guarded
from connectors.openapi import OPENAPI
from connectors.producer import ObservationProducer
from connectors.ratelimit import RateLimiter
from connectors.spool import SpoolRecord
from pipeline.core.commands import CommandRejected, command_from_dict, sign_command
from pipeline.core.schema import Observation
from pipeline.ops.kafka_security import PLAINTEXT, KafkaSecurity, explain

Deliver = Callable[[list[Observation]], Awaitable[bool]]
#: Sends one signed command (key, value) to the commands topic; True once Kafka acked it.
SendCommand = Callable[[bytes, bytes], Awaitable[bool]]
MAX_ACK_BODY_BYTES = 4096

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_body_bytes: int = 1024 * 1024
    rate_per_s: float = 5.0
    burst: int = 20
    remembered_event_ids: int = 100_000
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    #: ``/metrics`` answers only to ``Authorization: Bearer <token>`` with this digest.
    metrics_token_sha256: str | None = None


def producer_deliver(producer: ObservationProducer) -> Deliver:
    """Deliver through the Kafka producer, waiting for acks; failures are not spooled."""

    async def deliver(observations: list[Observation]) -> bool:
        records: list[tuple[SpoolRecord, str]] = [
            ((producer.topic, o.service_id, o.to_json()), o.source) for o in observations
        ]
        return await asyncio.to_thread(producer.send_records, records, spool_failures=False)

    return deliver


def kafka_send_command(
    bootstrap_servers: str, topic: str, security: KafkaSecurity = PLAINTEXT
) -> SendCommand:
    """Send commands with their own Kafka producer, waiting for the acks of all replicas."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", **security.kafka_python()
    )

    def send(key: bytes, value: bytes) -> bool:
        try:
            producer.send(topic, key=key, value=value).get(timeout=10)
        except Exception as exc:
            log.warning("command_not_sent", error=explain(exc, security, topic=topic))
            return False
        return True

    async def send_command(key: bytes, value: bytes) -> bool:
        return await asyncio.to_thread(send, key, value)

    return send_command


class _Ingest:
    def __init__(
        self,
        config: DeploymentConfig,
        deliver: Deliver,
        clock: Clock,
        registry: CollectorRegistry,
        limits: IngestLimits,
        send_command: SendCommand | None = None,
        command_key: bytes | None = None,
    ) -> None:
        self.send_command = send_command
        self.command_key = command_key
        self.tokens = {op.token_sha256: op.operator_id for op in config.operators}
        self.services: dict[str, Mapping[str, ServiceSpec]] = {
            op.operator_id: {s.service_id: s for s in op.services} for op in config.operators
        }
        self.deliver = deliver
        self.clock = clock
        self.limits = limits
        self.registry = registry
        self.limiter = RateLimiter(limits.rate_per_s, limits.burst, clock)
        self.guard = ConnectionGuard(limits.connections)
        self.seen: dict[str, OrderedDict[str, None]] = {}
        self.requests = Counter(
            "continuity_feed_push_requests",
            "Push ingest requests by operator and HTTP status.",
            ["operator", "status"],
            registry=registry,
        )
        self.rejects = Counter(
            "continuity_feed_push_rejects",
            "Pushed observations refused, by reason.",
            ["operator", "reason"],
            registry=registry,
        )
        self.accepted = Counter(
            "continuity_feed_push_observations",
            "Pushed observations durably accepted.",
            ["operator"],
            registry=registry,
        )

    def remember(self, operator: str, event_ids: list[str]) -> None:
        seen = self.seen.setdefault(operator, OrderedDict())
        for event_id in event_ids:
            seen[event_id] = None
            seen.move_to_end(event_id)
        while len(seen) > self.limits.remembered_event_ids:
            seen.popitem(last=False)


_STATE = web.AppKey("continuity_ingest", _Ingest)


def make_ingest_app(
    config: DeploymentConfig,
    deliver: Deliver,
    *,
    clock: Clock,
    registry: CollectorRegistry,
    limits: IngestLimits | None = None,
    send_command: SendCommand | None = None,
    command_key: bytes | None = None,
) -> web.Application:
    """The aiohttp application; run it with ``web.AppRunner`` on ``127.0.0.1`` port 0 in tests.
    With ``send_command`` and ``command_key`` it also takes acknowledgements."""
    limits = limits or IngestLimits()
    state = _Ingest(config, deliver, clock, registry, limits, send_command, command_key)
    app = web.Application(
        client_max_size=limits.max_body_bytes, middlewares=[state.guard.middleware]
    )
    app[_STATE] = state
    app.router.add_post("/v1/observations", _post_observations)
    app.router.add_post("/v1/acknowledgements", _post_acknowledgement)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_get("/metrics", _metrics)
    return app


async def serve_ingest(app: web.Application, host: str, port: int) -> GuardedServer:
    """Serve an app from :func:`make_ingest_app` with its connection limits and timeouts."""
    return await serve_guarded(app, app[_STATE].guard, host, port)


def _error(
    status: int,
    reason: str,
    detail: str,
    problems: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"status": status, "error": reason, "detail": detail, "problems": problems or []}
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


async def _post_observations(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    operator = _authenticate(state, request.headers.get("Authorization", ""))
    if operator is None:
        state.requests.labels("-", "401").inc()
        return _error(
            401,
            "unauthenticated",
            "send Authorization: Bearer <token> with a token issued for this deployment",
            headers={"WWW-Authenticate": 'Bearer realm="continuity"'},
        )
    response = await _handle(state, operator, request)
    state.requests.labels(operator, str(response.status)).inc()
    return response


async def _handle(state: _Ingest, operator: str, request: web.Request) -> web.Response:
    limit = state.limits.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        state.rejects.labels(operator, "oversize").inc()
        return _error(413, "oversize", f"body of {request.content_length} bytes exceeds {limit}")
    wait = state.limiter.take(operator)
    if wait > 0:
        state.rejects.labels(operator, "rate_limited").inc()
        return _error(
            429,
            "rate_limited",
            f"operator {operator!r} exceeds {state.limits.rate_per_s}/s",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    try:
        body = await asyncio.wait_for(request.read(), state.limits.connections.body_timeout)
    except TimeoutError:
        state.rejects.labels(operator, "body_timeout").inc()
        return _error(408, "body_timeout", "the body did not arrive in time; send it at once")
    except web.HTTPRequestEntityTooLarge:
        state.rejects.labels(operator, "oversize").inc()
        return _error(413, "oversize", f"body exceeds {limit} bytes")
    try:
        observations = check_push(
            body, request.content_type, operator, state.services[operator], now=state.clock()
        )
    except PushRefused as refused:
        for problem in refused.problems:
            state.rejects.labels(operator, problem.reason).inc()
        first = refused.problems[0]
        return _error(
            refused.status,
            first.reason,
            str(refused),
            [p.to_dict() for p in refused.problems],
        )
    seen = state.seen.get(operator, OrderedDict())
    fresh = [o for o in observations if o.event_id not in seen]
    if fresh and not await state.deliver(fresh):
        return _error(
            503,
            "kafka_unavailable",
            "not durably stored; retry later (event_id dedupes)",
            headers={"Retry-After": "5"},
        )
    state.remember(operator, [o.event_id for o in fresh])
    state.accepted.labels(operator).inc(len(fresh))
    body_out = {
        "accepted": len(fresh),
        "duplicates": len(observations) - len(fresh),
        "event_ids": [o.event_id for o in observations],
    }
    return web.Response(status=202, body=orjson.dumps(body_out), content_type="application/json")


async def _post_acknowledgement(request: web.Request) -> web.Response:
    """Acknowledge the open incident of one of the operator's own services.

    Body ``{"service_id": ..., "by": "<person or team>"}``. The command is recorded as by
    ``<operator>/<by>``, audited (who, when, from where) and signed for the workers."""
    state = request.app[_STATE]
    operator = _authenticate(state, request.headers.get("Authorization", ""))
    if operator is None:
        state.requests.labels("-", "401").inc()
        return _error(401, "unauthenticated", "send Authorization: Bearer <operator token>")
    response = await _acknowledge(state, operator, request)
    state.requests.labels(operator, str(response.status)).inc()
    return response


async def _acknowledge(state: _Ingest, operator: str, request: web.Request) -> web.Response:
    if state.send_command is None or state.command_key is None:
        return _error(503, "acknowledgements_disabled", "this server has no command key")
    if state.limiter.take(operator) > 0:
        return _error(429, "rate_limited", f"operator {operator!r} exceeds its rate")
    try:
        body = await asyncio.wait_for(request.content.read(MAX_ACK_BODY_BYTES + 1), 10.0)
        data = orjson.loads(body) if len(body) <= MAX_ACK_BODY_BYTES else None
    except (TimeoutError, orjson.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        return _error(400, "malformed_json", f"send a JSON object under {MAX_ACK_BODY_BYTES} bytes")
    service_id = data.get("service_id")
    if not isinstance(service_id, str) or service_id not in state.services[operator]:
        detail = f"not a service declared for {operator!r}"
        problem = {"index": None, "field": "service_id", "reason": "unauthorised_operator"}
        return _error(403, "unauthorised_operator", detail, [{**problem, "detail": detail}])
    by = data.get("by")
    command = {
        "type": "acknowledge",
        "service_id": service_id,
        "by": f"{operator}/{by}" if isinstance(by, str) else by,
        "method": "api",
        "at": state.clock(),
        "issued_by": operator,
        "from": request.remote,
    }
    try:
        command_from_dict(command, now=state.clock())
    except CommandRejected as exc:
        problem = {"index": None, "field": exc.field, "reason": exc.reason, "detail": exc.detail}
        return _error(400, exc.reason, exc.detail, [problem])
    signed = orjson.dumps(sign_command(command, state.command_key))
    if not await state.send_command(service_id.encode(), signed):
        return _error(503, "kafka_unavailable", "not recorded; retry later")
    log.info(
        "acknowledgement_accepted",
        operator=operator,
        service_id=service_id,
        by=command["by"],
        remote=request.remote,
        at=command["at"],
    )
    return web.json_response(
        {"service_id": service_id, "by": command["by"], "at": command["at"]}, status=202
    )


def _authenticate(state: _Ingest, header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    # Lookup by digest: timing reveals nothing about the token itself.
    return state.tokens.get(hash_token(token.strip()))


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _openapi(_request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(OPENAPI), content_type="application/json")


async def _metrics(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    expected = state.limits.metrics_token_sha256
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if expected is None or scheme.lower() != "bearer" or hash_token(token.strip()) != expected:
        # The registry names operators and their traffic: not for anonymous readers.
        return _error(
            401,
            "unauthenticated",
            "send Authorization: Bearer <metrics token> (serve-ingest --metrics-token-sha256)",
        )
    payload = generate_latest(state.registry)
    return web.Response(body=payload, headers={"Content-Type": "text/plain; version=0.0.4"})
