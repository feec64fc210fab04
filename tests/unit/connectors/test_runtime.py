from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from connectors.base import ParseResult
from connectors.config import FeedConfig
from connectors.parsers.fhir import FhirMetadataOptions
from connectors.parsers.statuspage import StatuspageOptions
from connectors.runtime import FeedRunner, run_forever
from pipeline.core.schema import Kind, Status

from .conftest import FIXTURES, fixture_bytes, service

PAGE = service("gh.page")
FHIR = service("health.fhir", "health")
SERVICES = {PAGE.service_id: PAGE, FHIR.service_id: FHIR}
STATUSPAGE_NOW = 1_669_391_405.0 + 60  # a minute after the snapshot's page.updated_at


@asynccontextmanager
async def serve(routes: dict[str, tuple[int, bytes]]) -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.Response:
        status, body = routes[request.path]
        kind = "text/html" if body.startswith(b"<html>") else "application/json"
        return web.Response(status=status, body=body, content_type=kind)

    app = web.Application()
    for path in routes:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)  # port 0: the OS picks a free port
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def _feed(
    feed_id: str, kind: str, *, url: str | None = None, path: Path | None = None
) -> FeedConfig:
    options = FhirMetadataOptions("v1") if kind == "fhir_metadata" else StatuspageOptions()
    svc = FHIR if kind == "fhir_metadata" else PAGE
    return FeedConfig(feed_id, "op", kind, 60.0, url, path, svc.service_id, {}, options, 2.0)


def test_http_poll_parses_and_http_errors_become_fetch_failed() -> None:
    async def scenario() -> tuple[ParseResult, ParseResult]:
        routes = {
            "/summary.json": (200, fixture_bytes("githubstatus_summary_2022-11-25_incident.json")),
            "/broken.json": (500, b"oops"),
            "/portal.json": (200, b"<html>Please log in</html>"),
        }
        async with serve(routes) as base:
            good = FeedRunner(
                _feed("sp", "statuspage", url=f"{base}/summary.json"),
                SERVICES,
                lambda: STATUSPAGE_NOW,
            )
            bad = FeedRunner(
                _feed("sp2", "statuspage", url=f"{base}/broken.json"),
                SERVICES,
                lambda: STATUSPAGE_NOW,
            )
            portal = FeedRunner(
                _feed("sp3", "statuspage", url=f"{base}/portal.json"),
                SERVICES,
                lambda: STATUSPAGE_NOW,
            )
            html = await portal.poll()
            assert [(r.reason, r.field) for r in html.rejections] == [
                ("unsupported_content_type", "Content-Type")
            ]
            return await good.poll(), await bad.poll()

    good, bad = asyncio.run(scenario())
    assert [(o.service_id, o.status) for o in good.observations] == [
        (PAGE.service_id, Status.DEGRADED)
    ]
    assert [(r.reason, r.detail, r.original) for r in bad.rejections] == [
        ("fetch_failed", "HTTP 500", b"oops")
    ]


def test_fhir_probe_is_up_with_measured_latency_and_down_on_errors() -> None:
    async def scenario() -> list[ParseResult]:
        routes = {
            "/fhir/metadata": (200, fixture_bytes("epic_capabilitystatement_stu3.json")),
            "/down/metadata": (503, b"maintenance"),
        }
        async with serve(routes) as base:
            results = []
            for url in (f"{base}/fhir/metadata", f"{base}/down/metadata"):
                runner = FeedRunner(_feed("m", "fhir_metadata", url=url), SERVICES)
                results.append(await runner.poll())
        # The server is gone now: connection refused.
        refused = FeedRunner(_feed("m", "fhir_metadata", url=f"{base}/fhir/metadata"), SERVICES)
        results.append(await refused.poll())
        return results

    up, unavailable, refused = (r.observations[0] for r in asyncio.run(scenario()))
    assert (up.kind, up.status, up.vantage) == (Kind.PROBE, Status.UP, "v1")
    assert up.value is not None
    assert 0 < up.value < 2.0
    assert unavailable.status is Status.DOWN
    assert unavailable.attrs["error"] == "HTTP 503"
    assert refused.status is Status.DOWN
    assert refused.attrs["error"].startswith("fetch: ")


def test_missing_file_is_a_fetch_failure_and_run_forever_stops() -> None:
    runner = FeedRunner(
        _feed("gone", "statuspage", path=FIXTURES / "no-such-file.json"), SERVICES, lambda: 0.0
    )
    seen: list[ParseResult] = []

    async def scenario() -> None:
        stop = asyncio.Event()

        async def sink(source: str, result: ParseResult) -> None:
            assert source == "gone"
            seen.append(result)
            stop.set()

        await asyncio.wait_for(run_forever([runner], sink, stop), timeout=5)

    asyncio.run(scenario())
    assert [r.reason for r in seen[0].rejections] == ["fetch_failed"]
