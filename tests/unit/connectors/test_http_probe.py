from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from aiohttp import web

from connectors.base import FetchInfo, OptionsError
from connectors.config import FeedConfig
from connectors.parsers.http_probe import HttpProbeOptions, parse_http_probe
from connectors.runtime import FeedRunner
from pipeline.core.schema import Status

from .conftest import context, service

WEB = service("telecom.web")
NOW = 1_700_000_000.0


def _probe(
    raw: bytes, fetch: FetchInfo, opts: HttpProbeOptions | None = None
) -> tuple[Status, dict[str, object], float | None]:
    [obs] = parse_http_probe(raw, context(NOW, WEB, fetch=fetch), opts).observations
    assert obs.status is not None
    return obs.status, obs.attrs, obs.value


def test_status_codes_body_and_latency() -> None:
    ok = FetchInfo(http_status=200, latency_s=0.05)
    assert _probe(b"hello", ok)[0] is Status.UP
    assert _probe(b"", FetchInfo(http_status=503, latency_s=0.01))[0] is Status.DOWN
    assert _probe(b"", FetchInfo(error="ClientConnectorError: refused"))[2] is None
    only_204 = HttpProbeOptions(expect_status="204")
    assert _probe(b"", ok, only_204)[1]["error"] == "HTTP 200 not in 204"
    body = HttpProbeOptions(expect_body="pong")
    assert _probe(b"ping", ok, body)[0] is Status.DOWN
    assert _probe(b"pong", ok, body)[0] is Status.UP
    slow = HttpProbeOptions(degraded_latency_s=0.01)
    assert _probe(b"", ok, slow)[0] is Status.DEGRADED
    with pytest.raises(OptionsError, match="expect_status"):
        HttpProbeOptions(expect_status="2xx")


def test_certificate_close_to_expiry_degrades() -> None:
    soon = FetchInfo(http_status=200, latency_s=0.1, tls_not_after=NOW + 3 * 86400)
    status, attrs, _ = _probe(b"", soon, HttpProbeOptions(tls_warn_days=14))
    assert status is Status.DEGRADED
    assert attrs["tls_expires_in_s"] == 3 * 86400
    later = FetchInfo(http_status=200, latency_s=0.1, tls_not_after=NOW + 90 * 86400)
    assert _probe(b"", later)[0] is Status.UP


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_real_tls_server_reports_its_certificate_expiry(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "5",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(cert, key)
    client_ssl = ssl.create_default_context(cafile=str(cert))

    async def scenario() -> tuple[Status | None, dict[str, object]]:
        app = web.Application()
        app.router.add_get("/health", _ok)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
        await site.start()
        host, port = runner.addresses[0][:2]
        feed = FeedConfig(
            "web",
            "op",
            "http_probe",
            60.0,
            f"https://{host}:{port}/health",
            None,
            WEB.service_id,
            {},
            HttpProbeOptions(expect_body="ok"),
            5.0,
        )
        try:
            runner_ = FeedRunner(feed, {WEB.service_id: WEB}, time.time, ssl_context=client_ssl)
            result = await runner_.poll()
        finally:
            await runner.cleanup()
        [obs] = result.observations
        return obs.status, obs.attrs

    status, attrs = asyncio.run(scenario())
    assert status is Status.DEGRADED  # 5-day certificate, 14-day warning
    remaining = attrs["tls_expires_in_s"]
    assert isinstance(remaining, int)
    assert 4 * 86400 < remaining <= 5 * 86400


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")
