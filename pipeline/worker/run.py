"""Start one worker process: metrics endpoint, topics, InfluxDB database, faust worker."""

from __future__ import annotations

import asyncio

import structlog
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry, start_http_server

from pipeline.config.settings import Settings, SettingsError
from pipeline.core.logs import stdlib_logging_config
from pipeline.ops.influx_admin import ensure_database
from pipeline.ops.topics import ensure_topic_layout
from pipeline.worker.app import create_app

log = structlog.get_logger(__name__)


def use_event_loop(name: str) -> None:
    """Install the event loop policy named by ``CW_EVENT_LOOP`` (before any loop exists).

    >>> use_event_loop("tokio")
    Traceback (most recent call last):
    ...
    pipeline.config.variables.SettingsError: CW_EVENT_LOOP='tokio': must be uvloop or asyncio
    """
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    elif name != "asyncio":
        raise SettingsError(f"CW_EVENT_LOOP={name!r}: must be uvloop or asyncio")


def run_worker(settings: Settings, *, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT. Blocks."""
    import faust

    use_event_loop(settings.event_loop)

    registry = CollectorRegistry()
    start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    created = ensure_topic_layout(
        settings.kafka_bootstrap, settings.topics, partitions=settings.partitions
    )
    ensure_database(settings.influx_url, settings.influx_bucket)
    influx = InfluxDBClient(
        url=settings.influx_url,
        token=settings.influx_token,
        org=settings.influx_org,
        timeout=10_000,
    )
    log.info(
        "worker_starting",
        app_id=settings.app_id,
        kafka=settings.kafka_bootstrap,
        topics_created=created,
        metrics=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
        influx_bucket=settings.influx_bucket,
    )
    app = create_app(settings, registry, influx=influx)
    worker = faust.Worker(
        app, loglevel=loglevel, quiet=True, logging_config=stdlib_logging_config(loglevel)
    )
    try:
        worker.execute_from_commandline()
    finally:
        influx.close()
