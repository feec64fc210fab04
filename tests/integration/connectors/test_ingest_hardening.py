"""The push ingest API under hostile clients (issue 17): slowloris, floods and odd fields."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from connectors.ingest_guard import ConnectionLimits
from connectors.ingest_server import IngestLimits, make_ingest_app, producer_deliver, serve_ingest

from .conftest import AppThread, Connectors
from .test_push_ingest import GRID, _config, _observation, post

pytestmark = pytest.mark.integration

LIMITS = ConnectionLimits(
    header_timeout=1.0, body_timeout=1.0, idle_timeout=3.0, per_client=20, total=200
)


@pytest.fixture
def base(connectors: Connectors, http: AppThread) -> Iterator[str]:
    app = make_ingest_app(
        _config(connectors),
        producer_deliver(connectors.producer),
        clock=time.time,
        registry=connectors.registry,
        limits=IngestLimits(rate_per_s=50.0, burst=100, connections=LIMITS),
    )

    async def start() -> Any:
        return await serve_ingest(app, "127.0.0.1", 0)

    server = http.call(start())
    yield server.url
    http.call(server.close())


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed (EOF or reset); False while it still holds the socket."""
    sock.setblocking(False)
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b"" or b"408" in data


def _wait_closed(socks: list[socket.socket], timeout: float, trickle: bool = False) -> int:
    deadline = time.monotonic() + timeout
    open_ = list(socks)
    while open_ and time.monotonic() < deadline:
        time.sleep(0.3)
        for sock in list(open_):
            if _closed_by_server(sock):
                open_.remove(sock)
            elif trickle:
                try:
                    sock.send(b"X-Slow: 1\r\n")  # one header line at a time, forever
                except OSError:
                    open_.remove(sock)
    return len(socks) - len(open_)


def test_slow_clients_are_cut_and_limited_and_the_server_stays_healthy(base: str) -> None:
    host, port = base.removeprefix("http://").split(":")
    socks = [socket.create_connection((host, int(port))) for _ in range(25)]
    try:
        for sock in socks:
            sock.send(b"POST /v1/observations HTTP/1.1\r\nHost: x\r\n")
        # Beyond 20 per client, connections are closed at once.
        assert _wait_closed(socks[20:], timeout=1.5) == 5
        # The rest trickle headers; the head deadline (1 s) cuts them all.
        started = time.monotonic()
        assert _wait_closed(socks[:20], timeout=5.0, trickle=True) == 20
        assert time.monotonic() - started < 4.0
        # A slow body: full head, then silence -> 408 or closed within the body timeout.
        body_sock = socket.create_connection((host, int(port)))
        body_sock.send(
            b"POST /v1/observations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {GRID}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"service_id":'
        )
        socks.append(body_sock)
        assert _wait_closed([body_sock], timeout=4.0) == 1
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            assert response.status == 200
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customers_served": 18446744073709551615}, "customers_served"),
        ({"event_id": "evt\x00one"}, "event_id"),
        ({"event_id": "evt\u202eeno"}, "event_id"),
        ({"vantage": "\x1b[31mkyiv"}, "vantage"),
        ({"vantage": "kyiv\nfake log line"}, "vantage"),
        ({"source": "push:telco"}, "source"),
        ({"attrs": {f"k{i}": i for i in range(100)}}, "attrs"),
        ({"bogus": "x" * 10}, "bogus"),
    ],
)
def test_odd_fields_are_refused_with_the_field_named(
    base: str, change: dict[str, Any], field: str
) -> None:
    answer = post(f"{base}/v1/observations", orjson.dumps([_observation(**change)]))
    assert 400 <= answer.status < 500, answer
    assert [p["field"] for p in answer.body["problems"]] == [field]


def test_the_same_event_id_twice_in_one_request_is_refused(base: str) -> None:
    twice = [_observation(event_id="e-1"), _observation(event_id="e-1", status="up")]
    answer = post(f"{base}/v1/observations", orjson.dumps(twice))
    assert answer.status == 400
    assert [(p["index"], p["reason"]) for p in answer.body["problems"]] == [
        (1, "duplicate_event_id")
    ]
