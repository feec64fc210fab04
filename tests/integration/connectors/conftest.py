"""Connector integration helpers: real HTTP peers, a real Mosquitto, real Kafka read-back.

Everything a connector talks to here is real: aiohttp servers on loopback ports the OS hands
out, ``/usr/sbin/mosquitto``, the local Prometheus and the local Kafka (topics under the
``settings`` fixture's fresh prefix).  Observations are read back from Kafka as bytes and
validated with :func:`pipeline.core.validation.parse_observation`, the pipeline's own gate.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from connectors.base import ParseResult
from connectors.config import DeploymentConfig, load_config
from connectors.metrics import FeedMetrics
from connectors.producer import ObservationProducer
from connectors.runtime import Source, run_forever, runners
from pipeline.config.settings import Settings
from pipeline.core.schema import Observation
from pipeline.core.validation import parse_observation
from tests.support.mosquitto import broker
from tests.support.stack import eventually, free_port

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "connectors"
#: The synthetic samples (carrier KPI, outage rows, feeder status, Atlas, Kubra) are stamped
#: around 2023-11-14T22:00Z; this clock reading is shortly after all of them.
SYNTHETIC_NOW = 1_700_000_400.0
DEMO_TOKEN = "integration-token-"  # + operator id; the config stores only the sha256


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def service(
    service_id: str,
    sector: str,
    *,
    region: str = "UA",
    interval: float = 60.0,
    served: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": service_id,
        "sector": sector,
        "region": region,
        "expected_interval_s": interval,
    }
    if served is not None:
        out["customers_served"] = served
    return out


def operator(
    operator_id: str, services: list[dict[str, Any]], feeds: list[dict[str, Any]]
) -> dict[str, Any]:
    token = hashlib.sha256(f"{DEMO_TOKEN}{operator_id}".encode()).hexdigest()
    return {"id": operator_id, "token_sha256": token, "services": services, "feeds": feeds}


def write_config(path: Path, operators: list[dict[str, Any]]) -> DeploymentConfig:
    """Write a deployment YAML and load it through the real validator."""
    path.write_text(yaml.safe_dump({"version": 1, "operators": operators}, sort_keys=False))
    return load_config(path)


# ---------------------------------------------------------------- real HTTP peers


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay_s: float = 0.0


@dataclass
class Served:
    """An aiohttp app on a loopback port the OS chose, in its own thread and event loop."""

    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


class AppThread:
    """Runs ``web.Application`` objects in a background event loop; stops them all at close."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners: list[web.AppRunner] = []

    def call(self, coro: Awaitable[Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(_wrap(coro), self.loop).result(timeout)

    def serve(self, app: web.Application, ssl_context: Any = None) -> str:
        async def start() -> str:
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
            await site.start()
            self.runners.append(runner)
            host, port = runner.addresses[0][:2]
            scheme = "https" if ssl_context is not None else "http"
            return f"{scheme}://{host}:{port}"

        url: str = self.call(start())
        return url

    def static(self, routes: dict[str, Route], ssl_context: Any = None) -> Served:
        """Serve fixed answers per path (status, bytes, content type, delay); counts hits."""
        served = Served("", routes)

        async def handler(request: web.Request) -> web.StreamResponse:
            route = served.routes.get(request.path)
            served.hits[request.path] += 1
            if route is None:
                return web.Response(status=404, text="no such fixture")
            if route.delay_s:
                await asyncio.sleep(route.delay_s)
            return web.Response(
                status=route.status, body=route.body, headers={"Content-Type": route.content_type}
            )

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        served.base_url = self.serve(app, ssl_context)
        return served

    def close(self) -> None:
        for runner in self.runners:
            self.call(runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def _wrap(coro: Awaitable[Any]) -> Any:
    return await coro


@pytest.fixture
def http() -> Iterator[AppThread]:
    apps = AppThread()
    try:
        yield apps
    finally:
        apps.close()


# ---------------------------------------------------------------- Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[int]:
    """A real Mosquitto on a port the OS handed out; stopped (by its pid) at teardown."""
    with broker(tmp_path / "mosquitto") as running_broker:
        yield running_broker.port


# ---------------------------------------------------------------- Kafka


@dataclass(frozen=True)
class Record:
    key: str | None
    value: bytes
    partition: int
    offset: int


def read_all(
    settings: Settings, topic: str, *, at_least: int = 0, timeout: float = 30.0
) -> list[Record]:
    """Every record on ``topic`` up to its end offsets (waiting for ``at_least`` records).

    Bounded: fails after ``timeout``.  Records come partition by partition, in offset order.
    """
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        partitions = eventually(
            lambda: consumer.partitions_for_topic(topic), timeout=timeout, what=f"topic {topic}"
        )
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)

        def enough() -> dict[TopicPartition, int] | None:
            ends: dict[TopicPartition, int] = consumer.end_offsets(assignment)
            return ends if sum(ends.values()) >= at_least else None

        ends = eventually(enough, timeout=timeout, every=0.2, what=f"{at_least} records on {topic}")
        consumer.seek_to_beginning(*assignment)
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in assignment):
            assert time.monotonic() < deadline, f"timed out reading {topic}"
            for tp, batch in consumer.poll(timeout_ms=500).items():
                for msg in batch:
                    if msg.offset < ends[tp]:
                        key = msg.key.decode() if msg.key is not None else None
                        out.append(Record(key, msg.value, tp.partition, msg.offset))
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def read_observations(
    settings: Settings, now: float | None, *, at_least: int = 0, timeout: float = 30.0
) -> list[Observation]:
    """Observations back from Kafka, each validated by the pipeline and keyed by service_id."""
    out = []
    for record in read_all(
        settings, settings.topics.observations, at_least=at_least, timeout=timeout
    ):
        observation = parse_observation(record.value, now=now)
        assert record.key == observation.service_id, record
        out.append(observation)
    return out


def read_deadletters(
    settings: Settings, *, at_least: int = 0
) -> list[tuple[str | None, dict[str, Any]]]:
    records = read_all(settings, settings.topics.deadletter, at_least=at_least)
    return [(r.key, orjson.loads(r.value)) for r in records]


@dataclass
class Connectors:
    """The production wiring of ``continuity connectors run``: runtime → metrics → producer."""

    settings: Settings
    directory: Path
    registry: CollectorRegistry
    metrics: FeedMetrics
    producer: ObservationProducer

    def config(self, operators: list[dict[str, Any]]) -> DeploymentConfig:
        return write_config(self.directory / "deploy.yaml", operators)

    def observations(self, now: float | None = None, *, at_least: int = 0) -> list[Observation]:
        return read_observations(self.settings, now, at_least=at_least)

    def deadletters(self, *, at_least: int = 0) -> list[tuple[str | None, dict[str, Any]]]:
        return read_deadletters(self.settings, at_least=at_least)

    def run(
        self,
        config: DeploymentConfig,
        now: Callable[[], float] | float,
        *,
        polls: int = 1,
        only: set[str] | None = None,
        sources: list[Source] | None = None,
        timeout: float = 30.0,
        during: Callable[[dict[str, list[ParseResult]]], Awaitable[None]] | None = None,
        producer: ObservationProducer | None = None,
        metrics: FeedMetrics | None = None,
        until: Callable[[dict[str, list[ParseResult]]], bool] | None = None,
    ) -> dict[str, list[ParseResult]]:
        """Run the real runtime until every source delivered ``polls`` results, or until
        ``until(results)`` (bounded by ``timeout``)."""
        clock = now if callable(now) else (lambda: float(now))
        chosen = sources if sources is not None else runners(config, clock, only)
        delivery = (producer or self.producer, metrics or self.metrics)
        done = until or (lambda results: all(len(r) >= polls for r in results.values()))
        return asyncio.run(self._run(chosen, done, timeout, during, delivery))

    async def _run(
        self,
        chosen: list[Source],
        done: Callable[[dict[str, list[ParseResult]]], bool],
        limit_s: float,
        during: Callable[[dict[str, list[ParseResult]]], Awaitable[None]] | None,
        delivery: tuple[ObservationProducer, FeedMetrics],
    ) -> dict[str, list[ParseResult]]:
        producer, metrics = delivery
        results: dict[str, list[ParseResult]] = {s.source_id: [] for s in chosen}
        stop = asyncio.Event()

        async def sink(source: str, result: ParseResult) -> None:
            # Exactly what connectors.cli._run does with each result.
            metrics.observe_result(source, result, time.time())
            await asyncio.to_thread(producer.send_result, result)
            results[source].append(result)
            if done(results):
                stop.set()

        async def main() -> None:
            runtime = asyncio.create_task(run_forever(chosen, sink, stop))
            if during is not None:
                await during(results)
            await runtime

        await asyncio.wait_for(main(), limit_s)
        return results


@pytest.fixture
def connectors(settings: Settings, tmp_path: Path) -> Iterator[Connectors]:
    registry = CollectorRegistry()
    metrics = FeedMetrics(registry)
    producer = ObservationProducer.connect(
        settings.kafka_bootstrap,
        topic=settings.topics.observations,
        deadletter_topic=settings.topics.deadletter,
        spool_dir=tmp_path / "spool",
        metrics=metrics,
    )
    try:
        yield Connectors(settings, tmp_path, registry, metrics, producer)
        assert producer.spool.pending() == 0, "nothing may be left in the spool"
    finally:
        producer.close()


@dataclass
class Unreachable:
    producer: ObservationProducer | None
    spool_dir: Path
    registry: CollectorRegistry
    metrics: FeedMetrics


@pytest.fixture
def unreachable(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Unreachable]:
    """A producer whose bootstrap server is a closed port (nothing listens there).

    kafka-python 3.0.12 leaks the socket of a refused connect(): ``kafka/net/inet.py``
    ``sock_connect`` raises without closing it, and the exception keeps it alive until
    interpreter exit, where its ResourceWarning would fail the run.  The sockets kafka-python
    makes while this fixture is active are recorded and closed at teardown (request this
    fixture first so it is torn down last, after every producer of the test has closed).
    """
    from kafka.net.inet import KafkaNetSocket

    made: list[socket.socket] = []
    original = KafkaNetSocket.socket

    def recording(self: Any, *args: Any, **kwargs: Any) -> socket.socket:
        sock: socket.socket = original(self, *args, **kwargs)
        made.append(sock)
        return sock

    monkeypatch.setattr(KafkaNetSocket, "socket", recording)
    spool_dir = tmp_path / "spool"  # the same spool as the ``connectors`` producer's
    registry = CollectorRegistry()
    metrics = FeedMetrics(registry)
    holder = Unreachable(
        ObservationProducer.connect(
            f"127.0.0.1:{free_port()}",
            topic=settings.topics.observations,
            deadletter_topic=settings.topics.deadletter,
            spool_dir=spool_dir,
            metrics=metrics,
            max_block_ms=1_000,
        ),
        spool_dir,
        registry,
        metrics,
    )
    try:
        yield holder
    finally:
        if holder.producer is not None:
            holder.producer.close()
        holder.producer = None
        for sock in made:
            sock.close()


def sent(results: dict[str, list[ParseResult]]) -> tuple[list[Observation], list[Any]]:
    """All observations and rejections the runtime handed to the producer."""
    observations = [o for rs in results.values() for r in rs for o in r.observations]
    rejections = [x for rs in results.values() for r in rs for x in r.rejections]
    return observations, rejections
