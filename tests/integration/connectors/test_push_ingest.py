"""The HTTP push ingest API on a real port, delivering to the real Kafka."""

from __future__ import annotations

import contextlib
import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from connectors.config import DeploymentConfig
from connectors.ingest_server import IngestLimits, make_ingest_app, producer_deliver
from pipeline.core.timeutil import format_rfc3339

from .conftest import DEMO_TOKEN, AppThread, Connectors, Unreachable, operator, service

pytestmark = pytest.mark.integration

GRID = f"{DEMO_TOKEN}grid"
TELCO = f"{DEMO_TOKEN}telco"
LIMIT = 64 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def post(
    url: str, body: bytes, content_type: str = "application/json", token: str | None = GRID
) -> Answer:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, dict(response.headers), orjson.loads(response.read()))
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, dict(error.headers), orjson.loads(error.read()))


def _config(connectors: Connectors) -> DeploymentConfig:
    return connectors.config(
        [
            operator(
                "grid",
                [
                    service("energy.grid.f12", "energy", region="UA-30", served=1200),
                    service("energy.grid.f13", "energy", region="UA-30", served=900),
                ],
                [],
            ),
            operator("telco", [service("telecom.telco.core", "telecom")], []),
        ]
    )


def _observation(service_id: str = "energy.grid.f12", **extra: Any) -> dict[str, Any]:
    return {
        "service_id": service_id,
        "kind": "probe",
        "status": "down",
        "observed_at": format_rfc3339(time.time() - 1),
        **extra,
    }


@pytest.fixture
def ingest(connectors: Connectors, http: AppThread) -> str:
    app = make_ingest_app(
        _config(connectors),
        producer_deliver(connectors.producer),
        clock=time.time,
        registry=connectors.registry,
        limits=IngestLimits(max_body_bytes=LIMIT, rate_per_s=50.0, burst=100),
    )
    return http.serve(app) + "/v1/observations"


def test_202_only_once_in_kafka_and_duplicates_by_event_id(
    connectors: Connectors, ingest: str
) -> None:
    first = [
        _observation(event_id="grid-evt-1"),
        _observation("energy.grid.f13", kind="outage_report", customers_affected=300),
    ]
    answer = post(ingest, orjson.dumps(first))
    assert answer.status == 202, answer
    assert (answer.body["accepted"], answer.body["duplicates"]) == (2, 0)
    # No waiting: the 202 promises the records are already acknowledged by Kafka.
    in_kafka = connectors.observations(time.time())
    assert [o.event_id for o in in_kafka] != []
    assert sorted(o.event_id for o in in_kafka) == sorted(answer.body["event_ids"])
    assert "grid-evt-1" in answer.body["event_ids"]
    outage = next(o for o in in_kafka if o.service_id == "energy.grid.f13")
    # Filled in from the declaration: operator, sector, region, source, customers served.
    assert (outage.operator_id, outage.sector, outage.region, outage.source) == (
        "grid",
        "energy",
        "UA-30",
        "push:grid",
    )
    assert (outage.customers_affected, outage.customers_served) == (300, 900)

    # The same content again (the client lost our answer and retries): not sent twice.
    again = post(ingest, orjson.dumps(first))
    assert (again.status, again.body["accepted"], again.body["duplicates"]) == (202, 0, 2)
    assert again.body["event_ids"] == answer.body["event_ids"]

    # NDJSON and CSV bodies are canonical observations too.
    ndjson = b"\n".join(orjson.dumps(_observation(status=s)) for s in ("degraded", "up"))
    assert post(ingest, ndjson, "application/x-ndjson").status == 202
    stamp = format_rfc3339(time.time() - 2)
    csv_body = f"service_id,kind,status,observed_at\nenergy.grid.f13,heartbeat,up,{stamp}\n"
    csv_answer = post(ingest, csv_body.encode(), "text/csv")
    assert csv_answer.status == 202, csv_answer

    final = connectors.observations(time.time())
    assert len(final) == 5
    assert len({o.event_id for o in final}) == 5
    sample = connectors.registry.get_sample_value
    assert sample("continuity_feed_push_observations_total", {"operator": "grid"}) == 5
    assert sample("continuity_feed_push_requests_total", {"operator": "grid", "status": "202"}) == 4


def _refused(answer: Answer, status: int, reason: str, field: str | None) -> None:
    assert answer.status == status, answer
    assert answer.body["status"] == status
    assert answer.body["error"] == reason, answer.body
    if field is not None:
        assert field in {p["field"] for p in answer.body["problems"]}, answer.body


def test_refusals_name_the_problem_and_send_nothing(connectors: Connectors, ingest: str) -> None:
    body = orjson.dumps(_observation())
    _refused(post(ingest, body, token=None), 401, "unauthenticated", None)
    _refused(post(ingest, body, token="not-a-token"), 401, "unauthenticated", None)
    other_operator = orjson.dumps(_observation(operator_id="telco"))
    _refused(post(ingest, other_operator), 403, "unauthorised_operator", "operator_id")
    other_service = orjson.dumps(_observation("telecom.telco.core"))
    _refused(post(ingest, other_service), 403, "unauthorised_operator", "service_id")
    _refused(post(ingest, body, "text/plain"), 415, "unsupported_content_type", "Content-Type")
    _refused(post(ingest, b'{"service_id": '), 400, "malformed_json", None)
    future = orjson.dumps(_observation(observed_at=format_rfc3339(time.time() + 3600)))
    _refused(post(ingest, future), 400, "future_timestamp", "observed_at")
    # All or nothing: one bad item refuses the whole body, naming its index.
    mixed = post(ingest, orjson.dumps([_observation(), _observation(status="sideways")]))
    _refused(mixed, 400, "invalid_field", "status")
    assert [p["index"] for p in mixed.body["problems"]] == [1]
    oversize = orjson.dumps([_observation(attrs={"pad": "x" * 1000}) for _ in range(80)])
    assert len(oversize) > LIMIT
    _refused(post(ingest, oversize), 413, "oversize", None)

    assert connectors.observations() == []
    sample = connectors.registry.get_sample_value
    assert sample("continuity_feed_push_requests_total", {"operator": "-", "status": "401"}) == 2
    for reason in ("unauthorised_operator", "unsupported_content_type", "oversize"):
        assert sample("continuity_feed_push_rejects_total", {"operator": "grid", "reason": reason})


def test_a_50_mb_body_is_refused_with_413_without_being_stored(
    connectors: Connectors, ingest: str
) -> None:
    parts = urllib.parse.urlsplit(ingest)
    body = b"[" + b" " * (50 * 1024 * 1024) + b"]"
    headers = {"Authorization": f"Bearer {GRID}", "Content-Type": "application/json"}
    # Announced size: refused on Content-Length, before the body is read.
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest("POST", parts.path)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders()
        # The server may answer and close early; its answer is still there to be read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.send(body)
        response = connection.getresponse()
        assert response.status == 413
        assert orjson.loads(response.read())["error"] == "oversize"
    finally:
        connection.close()

    # Chunked, size not announced: refused once the limit is crossed while reading.
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1024 * 1024):
            yield body[start : start + 1024 * 1024]

    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(
                "POST", parts.path, body=chunks(), headers=headers, encode_chunked=True
            )
        response = connection.getresponse()
        assert response.status == 413
        assert orjson.loads(response.read())["error"] == "oversize"
    finally:
        connection.close()
    assert connectors.observations() == []


def test_rate_limit_answers_429_with_retry_after(connectors: Connectors, http: AppThread) -> None:
    app = make_ingest_app(
        _config(connectors),
        producer_deliver(connectors.producer),
        clock=time.time,
        registry=CollectorRegistry(),
        limits=IngestLimits(max_body_bytes=LIMIT, rate_per_s=0.2, burst=2),
    )
    url = http.serve(app) + "/v1/observations"
    answers = [post(url, orjson.dumps(_observation(status=s))) for s in ("up", "down", "degraded")]
    assert [a.status for a in answers] == [202, 202, 429]
    _refused(answers[2], 429, "rate_limited", None)
    assert int(answers[2].headers["Retry-After"]) >= 1
    # Another operator has its own bucket.
    telco = post(url, orjson.dumps(_observation("telecom.telco.core")), token=TELCO)
    assert telco.status == 202, telco
    assert len(connectors.observations(time.time())) == 3


def test_503_when_kafka_does_not_acknowledge(
    unreachable: Unreachable, connectors: Connectors, http: AppThread
) -> None:
    assert unreachable.producer is not None
    app = make_ingest_app(
        _config(connectors),
        producer_deliver(unreachable.producer),
        clock=time.time,
        registry=CollectorRegistry(),
    )
    url = http.serve(app) + "/v1/observations"
    answer = post(url, orjson.dumps(_observation()))
    _refused(answer, 503, "kafka_unavailable", None)
    assert answer.headers["Retry-After"] == "5"
    assert unreachable.producer.spool.pending() == 0  # push is not spooled: the sender retries
    assert connectors.observations() == []
