"""``continuity connectors …``: validate a deployment config and run its feeds.

The lead mounts :data:`connectors_group` under the root ``continuity`` command.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from connectors.base import ParseResult
from connectors.config import ConfigInvalidError, load_config, validate_config
from connectors.delivery import BackgroundDelivery
from connectors.ingest_guard import ConnectionLimits
from connectors.ingest_server import (
    IngestLimits,
    kafka_send_command,
    make_ingest_app,
    producer_deliver,
    serve_ingest,
)
from connectors.kafka_reach import (
    recovered_message,
    spooling_message,
    unreachable_message,
)
from connectors.metrics import FeedMetrics
from connectors.producer import ObservationProducer
from connectors.runtime import FeedRunner, Source, run_forever, runners
from pipeline.config.settings import Settings, SettingsError
from pipeline.core.timeutil import parse_rfc3339, plural
from pipeline.ops.kafka_security import KafkaAccessError, KafkaSecurity, check_access

#: Kafka address and topics come from the same settings as the worker's (CW_KAFKA_BOOTSTRAP,
#: CW_TOPIC_PREFIX...); these options only override them for one run.
_BOOTSTRAP_HELP = "Kafka bootstrap servers. [default: CW_KAFKA_BOOTSTRAP, else 127.0.0.1:19092]"
_TOPIC_HELP = "Observations topic. [default: CW_TOPIC_PREFIX + 'observations']"
_DEADLETTER_HELP = "Dead-letter topic. [default: CW_TOPIC_PREFIX + 'deadletter']"


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _kafka_access(settings: Settings, bootstrap: str) -> tuple[KafkaSecurity, bool]:
    """This process's Kafka credentials, and whether Kafka is reachable; refused credentials
    stop the command with a message naming the setting to fix."""
    try:
        security = KafkaSecurity.from_settings(settings)
        return security, check_access(bootstrap, security)
    except (SettingsError, KafkaAccessError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group("connectors")
def connectors_group() -> None:
    """Operator feeds: check the config, preview observations, run the connectors."""


@connectors_group.command("validate")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
def validate_command(config: Path) -> None:
    """Check CONFIG; every problem is printed as FILE:LINE:COLUMN: FIELD: MESSAGE."""
    errors = validate_config(config)
    if errors:
        for error in errors:
            click.echo(str(error), err=True)
        raise SystemExit(1)
    loaded = load_config(config)
    click.echo(
        f"{config}: OK ({len(loaded.operators)} operators, {len(loaded.services)} services, "
        f"{len(loaded.feeds)} feeds)"
    )


def _parse_now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@connectors_group.command("run")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Poll each feed once; print, do not send.")
@click.option("--feed", "feeds", multiple=True, help="Only this feed id (repeatable).")
@click.option(
    "--now",
    callback=_parse_now,
    help="Clock reading (RFC 3339) for replaying old samples; default: the real clock.",
)
@click.option("--bootstrap-servers", default=None, help=_BOOTSTRAP_HELP)
@click.option("--topic", default=None, help=_TOPIC_HELP)
@click.option("--deadletter-topic", default=None, help=_DEADLETTER_HELP)
@click.option(
    "--spool-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where unacknowledged records wait. [default: CW_SPOOL_DIR, else .state/connectors/spool]",
)
@click.option(
    "--spool-max-bytes",
    type=int,
    default=256 * 1024 * 1024,
    show_default=True,
    help="Bound of the on-disk spool; beyond it new records are refused and counted.",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve continuity_feed_* metrics on 127.0.0.1:PORT/metrics (0: any free port).",
)
def run_command(
    config: Path,
    dry_run: bool,
    feeds: tuple[str, ...],
    now: float | None,
    bootstrap_servers: str | None,
    topic: str | None,
    deadletter_topic: str | None,
    spool_dir: Path | None,
    spool_max_bytes: int,
    metrics_port: int | None,
) -> None:
    """Run CONFIG's feeds; with --dry-run print observations as JSON lines instead.

    Dry run writes observations to stdout (one JSON object per line, the exact wire form) and
    rejections and skip counts to stderr; it exits 1 when a feed produced a rejection.
    """
    try:
        loaded = load_config(config)
    except ConfigInvalidError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None
    unknown = set(feeds) - {f.feed_id for f in loaded.feeds}
    if unknown:
        raise click.BadParameter(f"no such feed: {', '.join(sorted(unknown))}", param_hint="--feed")
    clock: Callable[[], float] = (lambda: now) if now is not None else time.time
    selected = runners(loaded, clock, set(feeds) or None)
    if dry_run:
        rejected = asyncio.run(_dry_run(selected))
        raise SystemExit(1 if rejected else 0)
    settings = _settings()
    bootstrap = bootstrap_servers or settings.kafka_bootstrap
    spool_dir = spool_dir or Path(settings.spool_dir)
    security, reachable = _kafka_access(settings, bootstrap)
    if not reachable:
        click.echo(unreachable_message(bootstrap, spool_dir), err=True)
    registry = CollectorRegistry()
    metrics = FeedMetrics(registry)
    producer = ObservationProducer.connect(
        bootstrap,
        topic=topic or settings.topics.observations,
        deadletter_topic=deadletter_topic or settings.topics.deadletter,
        spool_dir=spool_dir,
        metrics=metrics,
        spool_max_bytes=spool_max_bytes,
        security=security,
    )
    try:
        asyncio.run(_run(selected, producer, metrics, registry, metrics_port, bootstrap))
    finally:
        producer.close()


async def _dry_run(selected: list[Source]) -> int:
    """Poll each feed once, print what it produced; return the number of rejections."""
    rejected = 0
    for runner in selected:
        if not isinstance(runner, FeedRunner):
            click.echo(f"{runner.source_id}: subscription feed, not polled in a dry run", err=True)
            continue
        result = await runner.poll()
        for observation in result.observations:
            sys.stdout.buffer.write(observation.to_json() + b"\n")
        for rejection in result.rejections:
            where = f" {rejection.field}:" if rejection.field else ""
            click.echo(
                f"{runner.source_id}: rejected {rejection.reason}:{where} {rejection.detail}",
                err=True,
            )
        rejected += len(result.rejections)
        skips = ", ".join(f"{k}={v}" for k, v in sorted(result.skipped.items()))
        click.echo(
            f"{runner.source_id}: {plural(len(result.observations), 'observation')}, "
            f"{len(result.rejections)} rejected" + (f", skipped {skips}" if skips else ""),
            err=True,
        )
    sys.stdout.buffer.flush()
    return rejected


async def _run(
    selected: list[Source],
    producer: ObservationProducer,
    metrics: FeedMetrics,
    registry: CollectorRegistry,
    metrics_port: int | None,
    bootstrap: str,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = None
    if metrics_port is not None:
        runner = await _serve(_metrics_app(registry), "127.0.0.1", metrics_port, "metrics")

    spooling = False

    def announce(delivered: bool) -> None:
        # Said once per outage, not per record: the reason nothing reaches the pipeline.
        nonlocal spooling
        if not delivered and not spooling:
            pending = producer.spool.pending()
            click.echo(spooling_message(bootstrap, producer.spool.directory, pending), err=True)
        elif delivered and spooling:
            click.echo(recovered_message(bootstrap), err=True)
        spooling = not delivered

    delivery = BackgroundDelivery(producer, on_outcome=announce)
    delivery.start()

    async def sink(source: str, result: ParseResult) -> None:
        metrics.observe_result(source, result, time.time())
        await delivery.submit(result)  # never waits for Kafka: polls keep their interval

    try:
        await run_forever(selected, sink, stop)
        async with asyncio.timeout(120):
            await delivery.close()
    finally:
        if runner is not None:
            await runner.cleanup()


def _metrics_app(registry: CollectorRegistry) -> web.Application:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    app = web.Application()
    app.router.add_get("/metrics", handler)
    return app


async def _serve(app: web.Application, host: str, port: int, what: str) -> web.AppRunner:
    """Start ``app``; port 0 lets the OS choose, and the bound address is printed."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    click.echo(f"{what} listening on http://{bound_host}:{bound_port}", err=True)
    return runner


@connectors_group.command("serve-ingest")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--host", default=None, help="[default: CW_INGEST_HOST, else 127.0.0.1]")
@click.option(
    "--port", default=None, type=int, help="0: any free port. [default: CW_INGEST_PORT, else 8480]"
)
@click.option("--bootstrap-servers", default=None, help=_BOOTSTRAP_HELP)
@click.option("--topic", default=None, help=_TOPIC_HELP)
@click.option("--max-body-bytes", default=1024 * 1024, show_default=True, type=int)
@click.option("--rate", default=5.0, show_default=True, type=float, help="Requests/s/operator.")
@click.option("--burst", default=20, show_default=True, type=int)
@click.option(
    "--header-timeout", default=10.0, show_default=True, help="Seconds for a request head."
)
@click.option("--body-timeout", default=30.0, show_default=True, help="Seconds for a request body.")
@click.option("--idle-timeout", default=30.0, show_default=True, help="Seconds a connection idles.")
@click.option("--max-connections", default=2048, show_default=True, help="Open connections.")
@click.option("--max-connections-per-client", default=64, show_default=True)
@click.option(
    "--metrics-token-sha256",
    envvar="CW_INGEST_METRICS_TOKEN_SHA256",
    default=None,
    help="SHA-256 of the bearer token that may read /metrics (unset: /metrics is refused).",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Also serve /metrics without a token on 127.0.0.1:PORT, for a Prometheus on this "
    "host (0: any free port); the ingest port's /metrics always needs the metrics token.",
)
@click.option("--commands-topic", default=None, help="[default: CW_TOPIC_PREFIX + commands]")
@click.option(
    "--command-key",
    default=None,
    help="Key that signs acknowledgements [default: CW_COMMAND_KEY, the workers' key; "
    "unset: acknowledgements are answered 503].",
)
def serve_ingest_command(
    config: Path,
    host: str | None,
    port: int | None,
    bootstrap_servers: str | None,
    topic: str | None,
    max_body_bytes: int,
    rate: float,
    burst: int,
    header_timeout: float,
    body_timeout: float,
    idle_timeout: float,
    max_connections: int,
    max_connections_per_client: int,
    metrics_token_sha256: str | None,
    metrics_port: int | None,
    commands_topic: str | None,
    command_key: str | None,
) -> None:
    """Serve the HTTP push ingest API for CONFIG's operators (OpenAPI at /openapi.json)."""
    try:
        loaded = load_config(config)
    except ConfigInvalidError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None
    settings = _settings()
    bootstrap = bootstrap_servers or settings.kafka_bootstrap
    security, reachable = _kafka_access(settings, bootstrap)
    if not reachable:
        # Push ingest does not spool: a sender is answered 503 and keeps its data.
        click.echo(
            f"Kafka at {bootstrap} is unreachable; pushes are refused with 503 until it "
            "answers (set CW_KAFKA_BOOTSTRAP or --bootstrap-servers if that is the wrong "
            "address).",
            err=True,
        )
    key = command_key or settings.command_key
    registry = CollectorRegistry()
    producer = ObservationProducer.connect(
        bootstrap,
        topic=topic or settings.topics.observations,
        deadletter_topic=settings.topics.deadletter,
        spool_dir=Path(".state/connectors/ingest-spool"),
        security=security,
    )
    app = make_ingest_app(
        loaded,
        producer_deliver(producer),
        clock=time.time,
        registry=registry,
        limits=IngestLimits(
            max_body_bytes=max_body_bytes,
            rate_per_s=rate,
            burst=burst,
            connections=ConnectionLimits(
                header_timeout=header_timeout,
                body_timeout=body_timeout,
                idle_timeout=idle_timeout,
                per_client=max_connections_per_client,
                total=max_connections,
            ),
            metrics_token_sha256=metrics_token_sha256,
        ),
        send_command=(
            kafka_send_command(bootstrap, commands_topic or settings.topics.commands, security)
            if key
            else None
        ),
        command_key=key.encode() if key else None,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = await serve_ingest(
            app,
            host or settings.ingest_host,
            settings.ingest_port if port is None else port,
        )
        click.echo(f"ingest listening on {server.url}", err=True)
        metrics = None
        if metrics_port is not None:  # loopback only: the registry names operators
            metrics = await _serve(_metrics_app(registry), "127.0.0.1", metrics_port, "metrics")
        try:
            await stop.wait()
        finally:
            await server.close()
            if metrics is not None:
                await metrics.cleanup()

    try:
        asyncio.run(main())
    finally:
        producer.close()
