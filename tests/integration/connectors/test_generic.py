"""Generic feeds: Statuspage, HTTP(S) probes with TLS expiry, the real Prometheus, and MQTT."""

from __future__ import annotations

import asyncio
import base64
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.runtime import FeedRunner, Source, runners
from pipeline.core.schema import Kind, Status
from pipeline.core.timeutil import parse_rfc3339
from pipeline.ops import localstack
from tests.support.mosquitto import publish as _publish
from tests.support.stack import eventually, free_port, prometheus_query

from .conftest import AppThread, Connectors, Route, fixture_bytes, operator, sent, service

pytestmark = pytest.mark.integration


def test_statuspage_summary_over_http(connectors: Connectors, http: AppThread) -> None:
    raw = fixture_bytes("githubstatus_summary_2022-11-25_incident.json")
    page = orjson.loads(raw)
    server = http.static({"/api/v2/summary.json": Route(body=raw)})
    git = next(c for c in page["components"] if c["name"] == "Git Operations")
    config = connectors.config(
        [
            operator(
                "forge",
                [service(s, "telecom") for s in ("tc.gh", "tc.gh.packages", "tc.gh.git")],
                [
                    {
                        "id": "githubstatus",
                        "type": "statuspage",
                        "url": server.url("/api/v2/summary.json"),
                        "interval_s": 60,
                        "service": "tc.gh",
                        # by component name and by component id
                        "map": {"Packages": "tc.gh.packages", git["id"]: "tc.gh.git"},
                    }
                ],
            )
        ]
    )
    updated = parse_rfc3339(page["page"]["updated_at"])
    now = updated + 60

    results = connectors.run(config, now)

    produced, rejections = sent(results)
    assert rejections == []
    got = connectors.observations(now)
    assert sorted(o.to_json() for o in got) == sorted(o.to_json() for o in produced)
    status = {o.service_id: o.status for o in got}
    component = {c["name"]: c["status"] for c in page["components"]}
    meaning = {"operational": Status.UP, "partial_outage": Status.DEGRADED}
    indicator = {"none": Status.UP, "minor": Status.DEGRADED}
    assert status == {
        "tc.gh.packages": meaning[component["Packages"]],
        "tc.gh.git": meaning[git["status"]],
        "tc.gh": indicator[page["status"]["indicator"]],
    }
    assert len(got) == 3
    assert {o.observed_at for o in got} == {updated}
    assert {o.kind for o in got} == {Kind.STATUS_REPORT}
    skipped = results["githubstatus"][0].skipped
    assert skipped["unmapped_component"] == len(page["components"]) - 2


def _certificate(directory: Path, name: str, days: int) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command line."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(days),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _not_after(cert: Path) -> float:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate", "-in", str(cert)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return ssl.cert_time_to_seconds(out.strip().split("=", 1)[1])


def test_http_probes_including_tls_expiry(
    connectors: Connectors, http: AppThread, tmp_path: Path
) -> None:
    plain = http.static(
        {
            "/health": Route(body=b"status: ok", content_type="text/plain"),
            "/unavailable": Route(status=503, body=b"busy", content_type="text/plain"),
            "/maintenance": Route(body=b"down for maintenance", content_type="text/plain"),
            "/slow": Route(body=b"status: ok", content_type="text/plain", delay_s=0.4),
        }
    )
    secure = {}
    for name, days in (("expiring", 5), ("fresh", 90)):
        cert, key = _certificate(tmp_path, name, days)
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert, key)
        served = http.static(
            {"/": Route(body=b"status: ok", content_type="text/plain")}, server_context
        )
        secure[name] = (served.url("/"), cert)
    closed = f"http://127.0.0.1:{free_port()}/health"
    probes: dict[str, tuple[str, dict[str, Any]]] = {
        "ok": (plain.url("/health"), {"expect_body": "ok"}),
        "unavailable": (plain.url("/unavailable"), {}),
        "maintenance": (plain.url("/maintenance"), {"expect_body": "status: ok"}),
        "slow": (plain.url("/slow"), {"degraded_latency_s": 0.2}),
        "refused": (closed, {}),
        "tls-expiring": (secure["expiring"][0], {"tls_warn_days": 14}),
        "tls-fresh": (secure["fresh"][0], {"tls_warn_days": 14}),
        "tls-untrusted": (secure["fresh"][0], {}),
    }
    feeds = [
        {
            "id": f"probe-{name}",
            "type": "http_probe",
            "url": url,
            "interval_s": 60,
            "timeout_s": 2,
            "service": f"web.{name}",
            "options": {"vantage": "kyiv-dc1", **options},
        }
        for name, (url, options) in probes.items()
    ]
    config = connectors.config(
        [operator("isp", [service(f"web.{n}", "telecom") for n in probes], feeds)]
    )
    sources: list[Source] = runners(
        config, time.time, {f"probe-{n}" for n in probes if "tls-" not in n or n == "tls-untrusted"}
    )
    for name in ("expiring", "fresh"):  # trust exactly the self-signed certificate
        trust = ssl.create_default_context(cafile=str(secure[name][1]))
        feed = next(f for f in config.feeds if f.feed_id == f"probe-tls-{name}")
        sources.append(FeedRunner(feed, config.services, time.time, ssl_context=trust))

    started = time.time()
    results = connectors.run(config, time.time, sources=sources)

    produced, rejections = sent(results)
    assert rejections == []
    got = {o.service_id.removeprefix("web."): o for o in connectors.observations(time.time())}
    assert sorted(o.to_json() for o in got.values()) == sorted(o.to_json() for o in produced)
    assert {name: o.status for name, o in got.items()} == {
        "ok": Status.UP,
        "unavailable": Status.DOWN,
        "maintenance": Status.DOWN,
        "slow": Status.DEGRADED,
        "refused": Status.DOWN,
        "tls-expiring": Status.DEGRADED,
        "tls-fresh": Status.UP,
        "tls-untrusted": Status.DOWN,
    }
    assert all(o.kind is Kind.PROBE and o.vantage == "kyiv-dc1" for o in got.values())
    assert all(started <= o.observed_at <= time.time() for o in got.values())
    assert got["ok"].metric == "latency"
    assert got["ok"].value is not None
    assert got["slow"].value is not None
    assert got["slow"].value >= 0.4
    assert got["unavailable"].attrs["http_status"] == 503
    assert "certificate" in got["tls-untrusted"].attrs["error"].lower()
    assert got["refused"].value is None
    for name in ("expiring", "fresh"):
        probe = got[f"tls-{name}"]
        expected = _not_after(secure[name][1]) - probe.observed_at
        assert probe.attrs["tls_expires_in_s"] == pytest.approx(expected, abs=5)
    assert "certificate expires" in got["tls-expiring"].attrs["error"]


def test_prometheus_scrape_of_the_real_prometheus_and_its_query_api(
    connectors: Connectors,
) -> None:
    settings = connectors.settings
    base = settings.prometheus_url
    own = urllib.parse.urlsplit(base).netloc  # Prometheus scraping itself: up 1
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: up 0
    names = {f"{settings.app_id}-self": own, f"{settings.app_id}-dead": dead}
    for name, address in names.items():
        localstack.register_scrape_target(name, address, {"test_run": settings.app_id})
    try:
        selector = f'up{{test_run="{settings.app_id}"}}'
        eventually(
            lambda: len(prometheus_query(settings, selector)) == 2,
            timeout=30,
            what="Prometheus to scrape both targets",
        )
        query_url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": selector})
        config = connectors.config(
            [
                operator(
                    "noc",
                    [service(s, "telecom") for s in ("tc.prom", "tc.prom.self", "tc.prom.dead")],
                    [
                        {
                            "id": "prom-self-metrics",
                            "type": "prometheus_text",
                            "url": f"{base}/metrics",
                            "interval_s": 15,
                            "service": "tc.prom",
                            "options": {
                                "gauges": {
                                    "prometheus_ready": "bool",
                                    "prometheus_tsdb_head_series": "series",
                                }
                            },
                        },
                        {
                            "id": "prom-up-query",
                            "type": "prometheus_query",
                            "url": query_url,
                            "interval_s": 15,
                            "map": {own: "tc.prom.self", dead: "tc.prom.dead"},
                            "options": {"service_label": "instance"},
                        },
                    ],
                )
            ]
        )
        results = connectors.run(config, time.time)
    finally:
        for name in names:
            localstack.unregister_scrape_target(name)

    produced, rejections = sent(results)
    assert rejections == []
    got = connectors.observations(time.time())
    assert sorted(o.to_json() for o in got) == sorted(o.to_json() for o in produced)
    kpis = {o.metric: o for o in got if o.source == "prom-self-metrics"}
    # gauges: {name: unit}; the metric keeps the Prometheus name
    assert set(kpis) == {"prometheus_ready", "prometheus_tsdb_head_series"}
    ready, series = kpis["prometheus_ready"], kpis["prometheus_tsdb_head_series"]
    assert (ready.kind, ready.value, ready.unit) == (Kind.KPI, 1.0, "bool")
    assert series.value is not None
    assert series.value > 0
    assert series.unit == "series"
    assert results["prom-self-metrics"][0].skipped["metric_not_mapped"] > 100
    probes = {o.service_id: o for o in got if o.source == "prom-up-query"}
    assert {s: (o.kind, o.status) for s, o in probes.items()} == {
        "tc.prom.self": (Kind.PROBE, Status.UP),
        "tc.prom.dead": (Kind.PROBE, Status.DOWN),
    }
    assert {o.attrs["instance"] for o in probes.values()} == {own, dead}


def test_mqtt_heartbeats_through_a_real_mosquitto(connectors: Connectors, mosquitto: int) -> None:
    kyiv, lviv = "sites/kyiv-1/heartbeat", "sites/lviv-2/heartbeat"
    config = connectors.config(
        [
            operator(
                "carrier",
                [
                    service("tc.site.kyiv-1", "telecom", region="UA-30"),
                    service("tc.site.lviv-2", "telecom", region="UA-46"),
                ],
                [
                    {
                        "id": "site-heartbeats",
                        "type": "mqtt_heartbeat",
                        "url": f"mqtt://127.0.0.1:{mosquitto}",
                        "interval_s": 30,
                        "map": {kyiv: "tc.site.kyiv-1", lviv: "tc.site.lviv-2"},
                    }
                ],
            )
        ]
    )
    # A retained heartbeat from before the connector started is old news: skipped, counted.
    asyncio.run(_publish(mosquitto, [(kyiv, b"alive (retained)", True)]))
    stamped = time.time() - 5
    live = [
        (kyiv, b"alive", False),
        (lviv, orjson.dumps({"status": "degraded", "seq": 7, "ts": stamped}), False),
        (lviv, b'{"status": "up", "seq": ', False),
    ]
    window: list[float] = []

    async def publish_once_subscribed(results: dict[str, list[Any]]) -> None:
        for _ in range(200):  # the retained message arriving proves the subscription
            if results["site-heartbeats"]:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the connector never subscribed")
        window.append(time.time())
        await _publish(mosquitto, live)

    results = connectors.run(config, time.time, polls=4, during=publish_once_subscribed, timeout=20)

    assert results["site-heartbeats"][0].skipped == {"retained_message": 1}
    got = connectors.observations(time.time())
    produced, _rejections = sent(results)
    assert sorted(o.to_json() for o in got) == sorted(o.to_json() for o in produced)
    by_service = {o.service_id: o for o in got}
    assert len(got) == 2
    beat = by_service["tc.site.kyiv-1"]
    assert (beat.kind, beat.status) == (Kind.HEARTBEAT, Status.UP)
    assert window[0] <= beat.observed_at <= time.time()
    report = by_service["tc.site.lviv-2"]
    assert (report.status, report.attrs["seq"]) == (Status.DEGRADED, 7)
    assert report.observed_at == pytest.approx(stamped, abs=1e-3)
    [(key, letter)] = connectors.deadletters(at_least=1)
    assert (key, letter["reason"]) == ("site-heartbeats", "malformed_json")
    assert base64.b64decode(letter["original_b64"]) == live[2][1]
    skipped = connectors.registry.get_sample_value(
        "continuity_feed_skipped_total", {"feed": "site-heartbeats", "reason": "retained_message"}
    )
    assert skipped == 1
