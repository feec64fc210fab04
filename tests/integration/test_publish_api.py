"""The status server over real HTTP, reading a real InfluxDB: audiences are enforced on every
route, whatever the query string or path says; caching and rate limiting hold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry

from connectors.config import load_config
from pipeline.config.settings import Settings
from pipeline.publish.audience import Credentials
from pipeline.publish.config import load_publish_config
from pipeline.publish.reader import FluxReader
from pipeline.publish.records import Snapshot
from pipeline.publish.server import ServerLimits, make_status_app
from pipeline.publish.views import ViewContext
from tests.support.publish_data import (
    OPERATORS,
    SECRET_HOST,
    SERVICES,
    TOKENS,
    VERIFIER_TOKEN,
    write_configs,
    write_history,
)

pytestmark = pytest.mark.integration

SERVICE_IDS = {row[0] for row in SERVICES}
PROBES = [
    "/",
    "/api/v1/view",
    "/api/v2/summary.json",
    "/?audience=operator&operator=op-a",
    "/api/v1/view?audience=verifier",
    "/api/v1/view?operator=op-a&token=token-a",
    "/api/v2/summary.json?audience=operator&operator_id=op-a",
    "/?access_token=token-a",
]


@pytest.fixture
def history(settings: Settings, tmp_path: Path) -> tuple[Settings, Path, Path]:
    write_history(settings, time.time())
    deployment, publish = write_configs(tmp_path)
    return settings, deployment, publish


@asynccontextmanager
async def serving(
    settings: Settings,
    deployment: Path,
    publish: Path,
    limits: ServerLimits,
    reads: list[float],
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[str]:
    cfg = load_publish_config(publish)
    client = InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-")
    reader = FluxReader(client.query_api(), settings.influx_bucket)

    def read(as_of: float) -> Snapshot:
        reads.append(as_of)
        return reader.snapshot(as_of)

    app = make_status_app(
        read,
        Credentials.from_configs(load_config(deployment), cfg.verifiers),
        ViewContext(cfg.policy, b"test-key", cfg.notices_feed, cfg.transparency_log),
        registry=CollectorRegistry(),
        limits=limits,
        clock=clock,
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        client.close()  # type: ignore[no-untyped-call]


def run(
    history: tuple[Settings, Path, Path],
    scenario: Callable[[aiohttp.ClientSession, str], Any],
    limits: ServerLimits | None = None,
    reads: list[float] | None = None,
    clock: Callable[[], float] = time.time,
) -> Any:
    async def main() -> Any:
        async with (
            serving(
                *history,
                limits or ServerLimits(burst=1000),
                [] if reads is None else reads,
                clock,
            ) as base,
            aiohttp.ClientSession() as http,
        ):
            return await scenario(http, base)

    return asyncio.run(main())


async def get(
    http: aiohttp.ClientSession, url: str, token: str | None = None
) -> tuple[int, str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(url, headers=headers) as response:
        return response.status, await response.text(), dict(response.headers)


def test_public_requests_never_reach_operator_detail(history: tuple[Settings, Path, Path]) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str) -> list[tuple[str, int, str]]:
        return [(path, *(await get(http, base + path))[:2]) for path in PROBES]

    for path, status, body in run(history, scenario):
        assert status == 200, path
        for name in OPERATORS | SERVICE_IDS:
            assert name not in body, (path, name)
        assert "energy · UA-30" in body or "energy \\u00b7 UA-30" in body, path


def test_service_paths_answer_404_to_the_public_and_to_other_operators(
    history: tuple[Settings, Path, Path],
) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
        return {
            "public": await get(http, f"{base}/api/v1/services/grid.a1"),
            "public_query": await get(http, f"{base}/api/v1/services/grid.a1?operator=op-a"),
            "public_encoded": await get(http, f"{base}/api/v1/services/grid%2Ea1"),
            "other_operator": await get(http, f"{base}/api/v1/services/grid.a1", TOKENS["op-b"]),
            "own": await get(http, f"{base}/api/v1/services/grid.a1", TOKENS["op-a"]),
            "no_route": await get(http, f"{base}/operators/op-a"),
            "traversal": await get(http, f"{base}/api/v1/services/../view/op-a"),
            "b_view": await get(http, f"{base}/api/v1/view?operator=op-a", TOKENS["op-b"]),
        }

    out = run(history, scenario)
    for name in ("public", "public_query", "public_encoded", "other_operator"):
        status, body, _ = out[name]
        assert status == 404, name
        assert "700" not in body, name
    assert out["no_route"][0] == 404
    assert out["traversal"][0] == 404
    status, body, headers = out["own"]
    assert status == 200
    assert '"customers_affected":700' in body
    assert headers["Cache-Control"] == "private, no-store"
    status, body, _ = out["b_view"]
    assert status == 200
    assert "grid.b1" in body
    for name in ("grid.a1", "grid.a2", "grid.small", "op-a", SECRET_HOST):
        assert name not in body, name


def test_bad_tokens_are_refused_and_verifiers_get_scrubbed_service_detail(
    history: tuple[Settings, Path, Path],
) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
        async with http.get(f"{base}/", headers={"Authorization": "Basic b3AtYTp4"}) as r:
            basic = r.status
        return {
            "wrong": await get(http, f"{base}/api/v1/view", "not-a-token"),
            "basic": basic,
            "verifier": await get(http, f"{base}/api/v1/view", VERIFIER_TOKEN),
            "verifier_page": await get(http, f"{base}/", VERIFIER_TOKEN),
        }

    out = run(history, scenario)
    assert out["wrong"][0] == 401
    assert out["wrong"][2]["WWW-Authenticate"].startswith("Bearer")
    assert out["basic"] == 401
    for key in ("verifier", "verifier_page"):
        status, body, _ = out[key]
        assert status == 200
        assert SECRET_HOST not in body
        assert "example.org" not in body
        assert "[host:" in body
        for sid in SERVICE_IDS - {SECRET_HOST}:
            assert sid in body, sid


def test_summary_json_has_the_statuspage_shape(history: tuple[Settings, Path, Path]) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str) -> Any:
        async with http.get(f"{base}/api/v2/summary.json") as response:
            return await response.json()

    body = run(history, scenario)
    assert set(body) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert body["status"]["indicator"] == "major"
    assert [(c["name"], c["status"]) for c in body["components"]] == [
        ("energy · UA-30", "partial_outage")
    ]
    [incident] = body["incidents"]
    assert incident["name"] == "Disruption in energy · UA-30"
    assert incident["status"] == "investigating"
    assert incident["customers_affected"] == 700


def test_responses_are_cached_and_clients_rate_limited(
    history: tuple[Settings, Path, Path],
) -> None:
    reads: list[float] = []

    async def scenario(http: aiohttp.ClientSession, base: str) -> list[tuple[int, str | None]]:
        out = []
        for _ in range(6):
            async with http.get(f"{base}/api/v1/view") as response:
                out.append((response.status, response.headers.get("Retry-After")))
        return out

    answers = run(history, scenario, ServerLimits(cache_ttl_s=60, rate_per_s=0.5, burst=4), reads)
    assert [status for status, _ in answers] == [200, 200, 200, 200, 429, 429]
    assert answers[-1][1] is not None
    assert int(answers[-1][1]) >= 1
    assert len(reads) == 1  # one InfluxDB read served all four answers


def test_an_expired_snapshot_is_served_while_one_read_replaces_it(
    history: tuple[Settings, Path, Path],
) -> None:
    reads: list[float] = []
    now = [time.time()]

    async def scenario(http: aiohttp.ClientSession, base: str) -> list[int]:
        statuses = [(await get(http, f"{base}/api/v1/view"))[0]]
        now[0] += 60  # past the TTL
        statuses += [(await get(http, f"{base}/api/v1/view"))[0] for _ in range(3)]
        for _ in range(100):  # the background read finishes on its own
            if len(reads) == 2:
                break
            await asyncio.sleep(0.1)
        return statuses

    statuses = run(
        history, scenario, ServerLimits(cache_ttl_s=30, burst=1000), reads, lambda: now[0]
    )
    assert statuses == [200, 200, 200, 200]
    assert len(reads) == 2  # one initial read, one refresh for the three later requests
    assert reads[1] == pytest.approx(reads[0] + 60)
