"""Every dashboard panel's query, run against the real Prometheus HTTP API and InfluxDB Flux
after a scenario through a real worker, real connectors and the real push-ingest server,
returns data (template variables set to the values the scenario really produced)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient

from pipeline.config.settings import Settings
from pipeline.dashboards.common import VARIABLE_LABELS
from pipeline.dashboards.grafana import dashboard_models
from pipeline.dashboards.notice_panels import NOTICE_PANELS
from pipeline.dashboards.record_panels import RECORD_PANELS
from pipeline.ops import localstack
from tests.support import dashboard_scenario as scenario
from tests.support.panel_queries import PanelQuery, interpolate, panel_queries, scoped
from tests.support.stack import (
    WorkerProcess,
    eventually,
    free_port,
    produce,
    prometheus_query,
    read_topic,
    worker_env,
)

pytestmark = pytest.mark.integration


class Connectors:
    """``continuity connectors run`` and ``serve-ingest`` as real processes, scraped."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.ingest_port = free_port()

    def start_ingest(self, config: Path) -> None:
        topics = self.settings.topics
        # Prometheus scrapes the loopback metrics port (the ingest port's /metrics wants a token).
        metrics_port = free_port()
        self._spawn(
            "ingest",
            metrics_port,
            [
                "serve-ingest",
                str(config),
                "--bootstrap-servers",
                self.settings.kafka_bootstrap,
                "--topic",
                topics.observations,
                "--port",
                str(self.ingest_port),
                "--metrics-port",
                str(metrics_port),
            ],
        )

    def start(self, config: Path) -> None:
        topics = self.settings.topics
        kafka = ["--bootstrap-servers", self.settings.kafka_bootstrap]
        feeds_port = free_port()
        self._spawn(
            "feeds",
            feeds_port,
            [
                "run",
                str(config),
                *kafka,
                "--topic",
                topics.observations,
                "--deadletter-topic",
                topics.deadletter,
                "--spool-dir",
                str(self.folder / "spool"),
                "--metrics-port",
                str(feeds_port),
            ],
        )
        self.start_ingest(config)

    def _spawn(self, name: str, port: int, args: list[str]) -> None:
        log = (self.folder / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "connectors", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.folder,
            env=dict(os.environ),
        )
        log.close()
        target = f"{self.settings.app_id}-{name}"
        self.procs.append((target, proc))
        localstack.register_scrape_target(
            target, f"127.0.0.1:{port}", {"test_run": self.settings.app_id}
        )
        eventually(lambda: _answers(f"http://127.0.0.1:{port}/metrics"), what=f"{name} up")

    def push(self, token: str, body: Sequence[Mapping[str, object]]) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ingest_port}/v1/observations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code)

    def stop(self) -> None:
        for target, proc in self.procs:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            localstack.unregister_scrape_target(target)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def connectors(settings: Settings) -> Iterator[Connectors]:
    folder = Path(settings.data_dir) / "connectors"
    folder.mkdir(parents=True, exist_ok=True)
    running = Connectors(settings, folder)
    yield running
    running.stop()


def _variable_values(settings: Settings) -> dict[str, list[str]]:
    """What the sector/region/operator/service selectors offer for this run."""
    values: dict[str, list[str]] = {}
    for name, label in VARIABLE_LABELS.items():
        rows = prometheus_query(
            settings,
            f'group by ({label}) (continuity_service_status{{test_run="{settings.app_id}"}})',
        )
        values[name] = sorted(row["metric"][label] for row in rows)
    return values


def test_every_panel_query_returns_data_after_a_scenario_run(
    settings: Settings,
    start_worker: Callable[..., WorkerProcess],
    connectors: Connectors,
) -> None:
    start_worker()
    connectors.start(scenario.connectors_config(connectors.folder))
    now = time.time()
    records = [(o.service_id.encode(), o.to_json()) for o in scenario.observations(now)]
    produce(settings, [*records, (b"bad", b"{ not an observation")])
    observed = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1))
    good = {"service_id": "energy.aes.montgomery", "kind": "probe", "status": "up"}
    assert connectors.push(scenario.PUSH_TOKEN, [{**good, "observed_at": observed}]) == 202
    unknown = {**good, "service_id": "energy.aes.nowhere", "observed_at": observed}
    assert connectors.push(scenario.PUSH_TOKEN, [unknown]) >= 400
    assert connectors.push("not-a-token", [good]) == 401

    # The selectors' choices must include everything the scenario produced.
    expected_sectors = ["energy", "health", "telecom", "transport"]

    def all_sectors() -> dict[str, list[str]] | None:
        found = _variable_values(settings)
        return found if found["sector"] == expected_sectors else None

    values = eventually(all_sectors, timeout=60, what="all four sectors in the variables")
    models = dashboard_models()
    # The verifiable record's row needs `continuity ledger serve` and a witness, the notices
    # row a running notifier: their own integration tests (tests/integration/ledger,
    # tests/integration/notices) run those panels against them.
    elsewhere = {p.title for p in RECORD_PANELS} | {p.title for p in NOTICE_PANELS}
    queries = [
        q for model in models.values() for q in panel_queries(model) if q.title not in elsewhere
    ]
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-") as client:

        def rows(query: PanelQuery) -> int:
            text = interpolate(query.text, values, bucket=settings.influx_bucket)
            if query.datasource == "prometheus":
                return len(prometheus_query(settings, scoped(text, settings.app_id)))
            return sum(len(table.records) for table in client.query_api().query(text))

        empty = list(queries)
        started = time.monotonic()
        # Subquery panels (availability by sector x region) need the next whole minute.
        while empty and time.monotonic() < started + 120:
            empty = [q for q in empty if rows(q) == 0]
            if os.environ.get("CW_SHOW_PANELS"):  # for a human watching panels fill
                print(f"{time.monotonic() - started:3.0f} s:", [q.title for q in empty])
            if empty:
                time.sleep(2)
    assert not empty, "panels without data:\n" + "\n".join(
        f"  {q.dashboard} / {q.title}: {q.text}" for q in empty
    )
    assert len(queries) > 50


def test_the_demo_simulator_replays_history_and_pushes_through_the_ingest_api(
    settings: Settings, connectors: Connectors
) -> None:
    from pipeline.demo.catalogue import DEMO_SERVICES
    from pipeline.demo.feeds import DEMO_CONFIG

    connectors.start_ingest(DEMO_CONFIG)
    subprocess.run(
        [
            *(sys.executable, "-m", "pipeline.cli", "simulate", "--duration", "3"),
            *("--history", "60", "--push-url", f"http://127.0.0.1:{connectors.ingest_port}"),
        ],
        env={**os.environ, **worker_env(settings)},
        check=True,
        timeout=120,
        capture_output=True,
    )
    # 60 s of history: at least six reports from every service (intervals are <= 10 s), so
    # read everything there is (no count is reached; the read ends after 6 s).
    records = read_topic(settings, settings.topics.observations, at_least=10**9, timeout=6)
    assert len(records) >= 6 * len(DEMO_SERVICES)
    services = {r["service_id"] for r in records}
    # Services whose outage shows as silence may have sent nothing in the window.
    assert {s.service_id for s in DEMO_SERVICES if s.outage_mode != "silence"} <= services
    assert "energy.aes.grid" in services, "the pushed report did not reach Kafka"
    assert min(r["observed_at"] for r in records) < max(r["observed_at"] for r in records)
