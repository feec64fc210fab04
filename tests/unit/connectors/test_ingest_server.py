from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry

from connectors.config import load_config
from connectors.ingest import hash_token
from connectors.ingest_server import IngestLimits, make_ingest_app
from pipeline.core.schema import Observation

from .test_config import GOOD

NOW = 1_700_000_000.0
TOKEN_GRID, TOKEN_MOBILE = "grid-secret-token", "mobile-secret-token"
OBS = {
    "service_id": "grid.north.f12",
    "kind": "probe",
    "status": "down",
    "observed_at": "2023-11-14T22:13:00Z",
}


class Kafka:
    """Stands in for the durable-ack deliver function."""

    def __init__(self) -> None:
        self.up = True
        self.stored: list[Observation] = []

    async def deliver(self, observations: list[Observation]) -> bool:
        if not self.up:
            return False
        self.stored.extend(observations)
        return True


def _config(tmp_path: Path) -> Any:
    text = GOOD.replace("a" * 64, hash_token(TOKEN_GRID), 1).replace(
        "a" * 64, hash_token(TOKEN_MOBILE), 1
    )
    path = tmp_path / "deploy.yaml"
    path.write_text(text)
    return load_config(path)


Call = Callable[..., Awaitable[tuple[int, Any, Any]]]


@asynccontextmanager
async def running(app: web.Application) -> AsyncIterator[Call]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as session:

        async def call(
            token: str | None, body: bytes, content_type: str = "application/json"
        ) -> tuple[int, Any, Any]:
            headers = {"Content-Type": content_type}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            async with session.post(
                f"http://{host}:{port}/v1/observations", data=body, headers=headers
            ) as response:
                return response.status, await response.json(), response.headers

        try:
            yield call
        finally:
            await runner.cleanup()


def _run(
    tmp_path: Path,
    scenario: Callable[[Call, Kafka, CollectorRegistry], Awaitable[None]],
    limits: IngestLimits | None = None,
) -> None:
    kafka = Kafka()
    registry = CollectorRegistry()
    app = make_ingest_app(
        _config(tmp_path), kafka.deliver, clock=lambda: NOW, registry=registry, limits=limits
    )

    async def main() -> None:
        async with running(app) as call:
            await scenario(call, kafka, registry)

    asyncio.run(main())


def test_accepted_only_after_delivery_and_retries_are_duplicates(tmp_path: Path) -> None:
    async def scenario(call: Call, kafka: Kafka, registry: CollectorRegistry) -> None:
        kafka.up = False
        status, body, headers = await call(TOKEN_GRID, orjson.dumps(OBS))
        assert (status, body["error"], headers["Retry-After"]) == (503, "kafka_unavailable", "5")
        assert kafka.stored == []
        kafka.up = True
        status, body, _ = await call(TOKEN_GRID, orjson.dumps(OBS))
        assert (status, body["accepted"], body["duplicates"]) == (202, 1, 0)
        assert [o.event_id for o in kafka.stored] == body["event_ids"]
        status, body, _ = await call(TOKEN_GRID, orjson.dumps(OBS))
        assert (status, body["accepted"], body["duplicates"]) == (202, 0, 1)
        assert len(kafka.stored) == 1
        accepted = registry.get_sample_value(
            "continuity_feed_push_observations_total", {"operator": "grid-north"}
        )
        assert accepted == 1

    _run(tmp_path, scenario)


def test_auth_and_ownership(tmp_path: Path) -> None:
    async def scenario(call: Call, kafka: Kafka, registry: CollectorRegistry) -> None:
        status, body, headers = await call(None, orjson.dumps(OBS))
        assert (status, body["error"]) == (401, "unauthenticated")
        assert "Bearer" in headers["WWW-Authenticate"]
        status, _, _ = await call("guess", orjson.dumps(OBS))
        assert status == 401
        # A valid token, but for the mobile operator: grid's service is not theirs.
        status, body, _ = await call(TOKEN_MOBILE, orjson.dumps(OBS))
        assert status == 403
        assert body["problems"][0]["field"] == "service_id"
        status, body, _ = await call(TOKEN_GRID, orjson.dumps({**OBS, "operator_id": "mobile"}))
        assert (status, body["problems"][0]["field"]) == (403, "operator_id")
        assert kafka.stored == []

    _run(tmp_path, scenario)


def test_bad_bodies_get_field_level_4xx(tmp_path: Path) -> None:
    async def scenario(call: Call, kafka: Kafka, registry: CollectorRegistry) -> None:
        status, body, _ = await call(TOKEN_GRID, b"{oops")
        assert (status, body["error"]) == (400, "malformed_json")
        status, body, _ = await call(TOKEN_GRID, orjson.dumps(OBS), "text/plain")
        assert (status, body["problems"][0]["field"]) == (415, "Content-Type")
        future = {**OBS, "observed_at": "2030-01-01T00:00:00Z"}
        status, body, _ = await call(TOKEN_GRID, orjson.dumps(future))
        assert (status, body["error"], body["problems"][0]["field"]) == (
            400,
            "future_timestamp",
            "observed_at",
        )
        rejects = registry.get_sample_value(
            "continuity_feed_push_rejects_total",
            {"operator": "grid-north", "reason": "future_timestamp"},
        )
        assert rejects == 1

    _run(tmp_path, scenario)


def test_size_and_rate_limits(tmp_path: Path) -> None:
    async def scenario(call: Call, kafka: Kafka, registry: CollectorRegistry) -> None:
        big = orjson.dumps([OBS] * 200)
        assert len(big) > 2048
        status, body, _ = await call(TOKEN_GRID, big)
        assert (status, body["error"]) == (413, "oversize")
        statuses = [(await call(TOKEN_GRID, orjson.dumps(OBS)))[0] for _ in range(3)]
        assert statuses == [202, 202, 429]
        status, body, headers = await call(TOKEN_GRID, orjson.dumps(OBS))
        assert (status, body["error"]) == (429, "rate_limited")
        assert int(headers["Retry-After"]) >= 1
        # The limit is per operator: the other one is unaffected.
        other = {**OBS, "service_id": "mobile.kyiv", "status": "up"}
        assert (await call(TOKEN_MOBILE, orjson.dumps(other)))[0] == 202

    # 2-request burst; the clock is frozen so no tokens refill.
    _run(tmp_path, scenario, IngestLimits(max_body_bytes=2048, rate_per_s=0.5, burst=2))


def test_openapi_and_metrics_endpoints(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    limits = IngestLimits(metrics_token_sha256=hash_token("metrics-secret"))
    app = make_ingest_app(
        _config(tmp_path), Kafka().deliver, clock=lambda: NOW, registry=registry, limits=limits
    )

    async def main() -> tuple[Any, str]:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                headers = {"Authorization": f"Bearer {TOKEN_GRID}"}
                async with session.post(f"{base}/v1/observations", json=OBS, headers=headers) as r:
                    assert r.status == 202
                async with session.get(f"{base}/openapi.json") as response:
                    spec = await response.json()
                async with session.get(f"{base}/metrics") as response:
                    assert response.status == 401  # operator ids are not for anonymous readers
                scraper = {"Authorization": "Bearer metrics-secret"}
                async with session.get(f"{base}/metrics", headers=scraper) as response:
                    metrics = await response.text()
        finally:
            await runner.cleanup()
        return spec, metrics

    spec, metrics = asyncio.run(main())
    assert set(spec["paths"]["/v1/observations"]["post"]["responses"]) >= {
        "202",
        "400",
        "401",
        "403",
        "413",
        "415",
        "429",
        "503",
    }
    assert 'continuity_feed_push_requests_total{operator="grid-north",status="202"} 1.0' in metrics


def test_chunked_body_over_the_limit_is_413(tmp_path: Path) -> None:
    app = make_ingest_app(
        _config(tmp_path),
        Kafka().deliver,
        clock=lambda: NOW,
        registry=CollectorRegistry(),
        limits=IngestLimits(max_body_bytes=10_000),
    )

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):  # no Content-Length: the limit must hold while reading
            yield b" " * 1000

    async def main() -> int:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        headers = {"Authorization": f"Bearer {TOKEN_GRID}", "Content-Type": "application/json"}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"http://{host}:{port}/v1/observations", data=chunks(), headers=headers
                ) as response,
            ):
                return response.status
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == 413
