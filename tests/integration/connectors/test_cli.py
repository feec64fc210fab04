"""``continuity connectors validate / run --dry-run / run`` as subprocesses, against real peers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.config import load_config
from pipeline.config.settings import Settings
from pipeline.core.timeutil import format_rfc3339, parse_rfc3339
from pipeline.core.validation import parse_observation
from pipeline.ops import localstack
from tests.support.stack import eventually, free_port, metric_sum, prometheus_query

from .conftest import (
    FIXTURES,
    SYNTHETIC_NOW,
    AppThread,
    Connectors,
    Route,
    fixture_bytes,
    operator,
    read_observations,
    service,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "connectors" / "examples" / "demo.yaml"


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that points a process at this test's Kafka and topics."""
    return {
        "CW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CW_TOPIC_PREFIX": settings.topics.prefix,
    }


def continuity(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "connectors", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def test_validate_the_demo_config_and_locate_errors(tmp_path: Path) -> None:
    ok = continuity("validate", str(DEMO))
    assert ok.returncode == 0, ok.stderr
    demo = load_config(DEMO)
    counts = f"{len(demo.operators)} operators, {len(demo.services)} services, "
    assert f"OK ({counts}{len(demo.feeds)} feeds)" in ok.stdout
    # One operator per sector.
    sectors = [{s.sector for s in op.services} for op in demo.operators]
    assert sorted(sorted(x) for x in sectors) == [
        ["energy"],
        ["health"],
        ["telecom"],
        ["transport"],
    ]

    text = DEMO.read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        text.replace("sector: telecom", "sector: telecomm", 1).replace(
            "interval_s: 240", "interval_s: -1", 1
        )
    )
    bad = continuity("validate", str(broken))
    assert bad.returncode == 1
    lines = broken.read_text().splitlines()
    sector_line = next(i for i, line in enumerate(lines, 1) if "telecomm" in line)
    interval_line = next(i for i, line in enumerate(lines, 1) if "interval_s: -1" in line)
    errors = bad.stderr.strip().splitlines()
    assert any(e.startswith(f"{broken}:{sector_line}:") and "sector" in e for e in errors), errors
    assert any(e.startswith(f"{broken}:{interval_line}:") and "interval_s" in e for e in errors)


def test_dry_run_of_the_demo_prints_observations_without_sending() -> None:
    now = "2017-12-23T13:01:00Z"  # the MBTA alerts sample is from 2017-12-23T13:00:19Z
    replay = continuity("run", str(DEMO), "--dry-run", "--now", now, "--feed", "mbta-alerts")
    assert replay.returncode == 0, replay.stderr
    lines = replay.stdout.splitlines()
    observations = [parse_observation(line.encode(), now=parse_rfc3339(now)) for line in lines]
    assert observations
    assert {o.source for o in observations} == {"mbta-alerts"}
    assert f"mbta-alerts: {len(observations)} observations, 0 rejected" in replay.stderr

    # Against today's clock the old samples are stale: dead letters, and exit status 1.
    everything = continuity("run", str(DEMO), "--dry-run")
    assert everything.returncode == 1
    assert "rejected stale_timestamp" in everything.stderr
    for feed in load_config(DEMO).feeds:
        assert f"{feed.feed_id}: " in everything.stderr


@pytest.fixture
def connector_process() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:  # only the processes this test started, by their handle
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_run_for_real_sends_to_kafka_and_exports_feed_metrics(
    connectors: Connectors,
    http: AppThread,
    tmp_path: Path,
    connector_process: list[subprocess.Popen[str]],
) -> None:
    settings = connectors.settings
    server = http.static({"/storm/summary.json": Route(body=fixture_bytes("kubra_summary.json"))})
    feeds = [
        {
            "id": "noc-kpi",
            "type": "carrier_kpi",
            "path": str(FIXTURES / "carrier_kpi.csv"),
            "interval_s": 300,
            "map": {"kyiv-city": "tc.kyiv", "kharkiv": "tc.kharkiv", "odesa": "tc.odesa"},
        },
        {
            "id": "atlas",
            "type": "atlas_ping",
            "path": str(FIXTURES / "atlas_ping_results.json"),
            "interval_s": 240,
            "service": "tc.dns",
        },
        {
            "id": "storm-center",
            "type": "outage",
            "url": server.url("/storm/summary.json"),
            "interval_s": 300,
            "service": "en.utility",
            "options": {"format": "kubra"},
        },
        {
            "id": "scada",
            "type": "feeder_status",
            "path": str(FIXTURES / "feeder_status.csv"),
            "interval_s": 300,
            "service": "en.utility",
        },
    ]
    services = [service(s, "telecom") for s in ("tc.kyiv", "tc.kharkiv", "tc.odesa", "tc.dns")]
    services.append(service("en.utility", "energy"))
    connectors.config([operator("mixed", services, feeds)])  # writes and validates the file
    config = connectors.directory / "deploy.yaml"
    now = format_rfc3339(SYNTHETIC_NOW)

    preview = continuity("run", str(config), "--dry-run", "--now", now)
    assert preview.returncode == 0, preview.stderr
    expected = sorted(preview.stdout.encode().splitlines())
    per_feed = Counter(parse_observation(line, now=SYNTHETIC_NOW).source for line in expected)
    assert set(per_feed) == {f["id"] for f in feeds}

    port = free_port()
    log = (tmp_path / "connectors.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "pipeline.cli", "connectors", "run", str(config),
            "--now", now,
            "--spool-dir", str(tmp_path / "cli-spool"),
            "--metrics-port", str(port),
        ],
        stdout=log, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        # Kafka and topics come from the same CW_* settings the worker reads.
        env={**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    connector_process.append(proc)
    log.close()
    target = f"{settings.app_id}-connectors"
    localstack.register_scrape_target(target, f"127.0.0.1:{port}", {"test_run": settings.app_id})
    try:
        got = read_observations(settings, SYNTHETIC_NOW, at_least=len(expected), timeout=60)
        assert sorted(o.to_json() for o in got) == expected

        def scraped() -> str | None:
            assert proc.poll() is None, (tmp_path / "connectors.log").read_text()
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text: str = response.read().decode()
            sent = {
                f: metric_sum(text, "continuity_feed_observations_sent_total", feed=f)
                for f in per_feed
            }
            return text if sent == {f: float(n) for f, n in per_feed.items()} else None

        text = eventually(scraped, timeout=30, what="feed metrics on the connector endpoint")
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {
            "continuity_feed_last_success_timestamp_seconds",
            "continuity_feed_observations_parsed",
            "continuity_feed_observations_sent",
            "continuity_feed_lag_seconds",
            "continuity_feed_spool_records",
        } <= names
        for feed in per_feed:
            assert (
                metric_sum(text, "continuity_feed_observations_parsed_total", feed=feed)
                == per_feed[feed]
            )
            assert metric_sum(text, "continuity_feed_last_success_timestamp_seconds", feed=feed) > 0
        assert metric_sum(text, "continuity_feed_spool_records") == 0

        # The real Prometheus scrapes the connector and sees the same counts.
        selector = f'continuity_feed_observations_sent_total{{test_run="{settings.app_id}"}}'

        def in_prometheus() -> dict[str, float] | None:
            rows = prometheus_query(settings, selector)
            found = {r["metric"]["feed"]: float(r["value"][1]) for r in rows}
            return found if found == {f: float(n) for f, n in per_feed.items()} else None

        eventually(in_prometheus, timeout=30, what="Prometheus to scrape the connector")
    finally:
        localstack.unregister_scrape_target(target)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0, (tmp_path / "connectors.log").read_text()
    assert not (tmp_path / "cli-spool" / "spool.jsonl").exists()


def test_serve_ingest_accepts_a_demo_operator_push_into_kafka(
    connectors: Connectors, tmp_path: Path, connector_process: list[subprocess.Popen[str]]
) -> None:
    settings = connectors.settings
    log_path = tmp_path / "ingest.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "pipeline.cli", "connectors", "serve-ingest", str(DEMO),
            "--port", "0", "--metrics-port", "0",
        ],
        stdout=log, stderr=subprocess.STDOUT, text=True,
        cwd=tmp_path,  # its spool directory is relative to the working directory
        # PYTHONPATH: this checkout's code, whatever the working directory.
        env={**os.environ, **settings_env(settings), "PYTHONPATH": str(REPO),
             "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    connector_process.append(proc)
    log.close()

    def listening() -> str | None:
        assert proc.poll() is None, log_path.read_text()
        found = re.search(r"ingest listening on (http://\S+)", log_path.read_text())
        return found[1] if found else None

    base = eventually(listening, timeout=60, what="serve-ingest to listen")
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=5) as response:
        assert "/v1/observations" in json.load(response)["paths"]
    observation = {
        "service_id": "energy.aes.grid",
        "kind": "outage_report",
        "customers_affected": 1200,
        "observed_at": format_rfc3339(time.time() - 1),
    }

    def push(token: str) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{base}/v1/observations",
            data=json.dumps(observation).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.load(error)

    # The demo's tokens are sha256("demo-token-<operator id>") (see demo.yaml).
    assert push("demo-token-mbta")[0] == 403  # a real token, but not AES Ohio's service
    status, body = push("demo-token-aes-ohio")
    assert (status, body["accepted"]) == (202, 1)
    [stored] = read_observations(settings, time.time())  # no waiting: 202 means acknowledged
    assert (stored.event_id, stored.operator_id) == (body["event_ids"][0], "aes-ohio")
    assert (stored.customers_affected, stored.customers_served) == (1200, 535_000)

    # /metrics names operators: the public port wants the metrics token, the loopback
    # metrics port (for a Prometheus on this host) serves it as is.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/metrics", timeout=5)
    assert refused.value.code == 401
    refused.value.close()
    found = re.search(r"metrics listening on (http://\S+)", log_path.read_text())
    assert found, log_path.read_text()
    with urllib.request.urlopen(f"{found[1]}/metrics", timeout=5) as response:
        assert b"aes-ohio" in response.read()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log_path.read_text()
