"""Start one notifier process: HTTP (Atom feeds + /metrics), topics, faust worker."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry

from pipeline.config.settings import Settings
from pipeline.core.logs import stdlib_logging_config
from pipeline.notices.app import create_notifier_app, feed_directory, routed_topic_name
from pipeline.notices.channels.cap.feed import FeedStore
from pipeline.notices.channels.cap.server import feed_app
from pipeline.notices.subscriptions import Subscriptions
from pipeline.ops.influx_admin import ensure_database
from pipeline.ops.kafka_security import KafkaSecurity, check_access
from pipeline.ops.topics import ensure_topic_layout, ensure_topics

log = structlog.get_logger(__name__)


def run_notifier(
    settings: Settings, subscriptions: Subscriptions, *, loglevel: str = "info"
) -> None:
    """Run until SIGTERM/SIGINT. Blocks."""
    import faust

    registry = CollectorRegistry()
    security = KafkaSecurity.from_settings(settings)
    check_access(settings.kafka_bootstrap, security)  # refused credentials: stop, say which
    ensure_topic_layout(
        settings.kafka_bootstrap, settings.topics, partitions=settings.partitions, security=security
    )
    # The re-keyed topic too: left to faust, it was created while the group's first
    # assignment ran, which then skipped it ("Ignoring missing topic") and the notifier
    # consumed nothing until a metadata refresh minutes later (a CI failure).
    ensure_topics(
        settings.kafka_bootstrap,
        [routed_topic_name(settings)],
        partitions=settings.partitions,
        replication=settings.replication_factor,
        security=security,
    )
    ensure_database(settings.influx_url, settings.influx_bucket, token=settings.influx_token)
    influx = InfluxDBClient(
        url=settings.influx_url, token=settings.influx_token, org=settings.influx_org
    )
    feeds = FeedStore(feed_directory(settings))
    app = create_notifier_app(settings, subscriptions, registry, feeds=feeds, influx=influx)
    runner = web.AppRunner(feed_app(feeds, subscriptions, registry))

    @app.task
    async def serve_http() -> None:
        await runner.setup()
        site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
        await site.start()
        log.info(
            "notifier_http",
            feeds=f"http://{settings.metrics_host}:{settings.metrics_port}/feeds/<subscriber>.atom",
            metrics=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
        )

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_http(_app: Any, **_kwargs: Any) -> None:
        await asyncio.shield(runner.cleanup())

    log.info(
        "notifier_starting",
        app_id=settings.app_id,
        subscribers=[s.subscriber_id for s in subscriptions.subscribers],
    )
    worker = faust.Worker(
        app, loglevel=loglevel, quiet=True, logging_config=stdlib_logging_config(loglevel)
    )
    try:
        worker.execute_from_commandline()
    finally:
        influx.close()
