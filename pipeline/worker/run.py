"""Start one worker process: metrics/health endpoint, topics, InfluxDB database, faust worker."""

from __future__ import annotations

import asyncio
import gc
import time

import structlog
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry

from pipeline.config.settings import Settings, SettingsError
from pipeline.core.logs import stdlib_logging_config
from pipeline.ops.influx_admin import InfluxAuthError, ensure_database
from pipeline.ops.kafka_security import KafkaSecurity, check_access
from pipeline.ops.topics import ensure_topic_layout
from pipeline.worker.app import create_app
from pipeline.worker.http import serve_metrics_and_health
from pipeline.worker.progress import PartitionProgress

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


#: Allocations between young collections (CPython's default is 700). A batch allocates tens
#: of thousands of short-lived objects; at 700 the collector ran every few observations and
#: moved survivors on towards full collections that walk every service's state (≈ 10 % of
#: the worker's CPU, docs/benchmarks.md "Round 5").
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Fewer young collections for the worker process (see :data:`GC_YOUNG_THRESHOLD`)."""
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def run_worker(settings: Settings, *, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT. Blocks."""
    import faust

    use_event_loop(settings.event_loop)
    tune_gc()

    registry = CollectorRegistry()
    progress = PartitionProgress(
        time.monotonic, stall_after=settings.stall_after, max_backlog=settings.batch_max
    )
    serve_metrics_and_health(settings.metrics_host, settings.metrics_port, registry, progress)
    security = KafkaSecurity.from_settings(settings)
    check_access(settings.kafka_bootstrap, security)  # refused credentials: stop, say which
    created = ensure_topic_layout(
        settings.kafka_bootstrap,
        settings.topics,
        partitions=settings.partitions,
        replication=settings.replication_factor,
        min_insync=settings.min_insync_replicas,
        security=security,
    )
    try:
        ensure_database(settings.influx_url, settings.influx_bucket, token=settings.influx_token)
    except InfluxAuthError as exc:
        # A write-only user (production) cannot create databases: an admin made it once.
        log.info("influx_database_not_created", url=settings.influx_url, reason=str(exc))
    except (OSError, RuntimeError) as exc:
        # History is written from the topics once InfluxDB answers; the stream must not wait.
        log.warning("influx_unavailable_at_start", url=settings.influx_url, error=str(exc))
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
    app = create_app(settings, registry, influx=influx, progress=progress)
    worker = faust.Worker(
        app, loglevel=loglevel, quiet=True, logging_config=stdlib_logging_config(loglevel)
    )
    try:
        worker.execute_from_commandline()
    finally:
        influx.close()
