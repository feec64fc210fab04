"""``continuity serve-status`` (status page and read API) and ``continuity report``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from typing import TYPE_CHECKING

import click

from pipeline.config.settings import Settings

if TYPE_CHECKING:
    from pipeline.publish.config import PublishConfig
    from pipeline.publish.views import ViewContext


def _publish_context(
    publish_config: str | None, redaction_key: str | None
) -> tuple[PublishConfig, ViewContext]:
    from pipeline.publish.config import PublishConfig, PublishConfigError, load_publish_config
    from pipeline.publish.views import ViewContext

    try:
        cfg = load_publish_config(publish_config) if publish_config else PublishConfig()
    except PublishConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--publish-config") from exc
    key = (redaction_key or "").encode() or secrets.token_bytes(32)
    ctx = ViewContext(cfg.policy, key, cfg.notices_feed, cfg.transparency_log)
    return cfg, ctx


@click.command("serve-status")
@click.option(
    "--config",
    "deployment",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Connectors deployment config: operators authenticate with their ingest token.",
)
@click.option(
    "--publish-config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Verifier tokens, public policy (minimum group size, delay) and links (YAML).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8090, show_default=True)
@click.option("--cache-ttl", type=float, default=5.0, show_default=True, help="Seconds.")
@click.option("--rate", type=float, default=20.0, show_default=True, help="Requests/s per client.")
@click.option("--burst", type=int, default=40, show_default=True)
@click.option(
    "--redaction-key",
    envvar="CW_PUBLISH_REDACTION_KEY",
    default=None,
    help="Key of the verifier pseudonyms (random per start when unset).",
)
def serve_status(
    deployment: str | None,
    publish_config: str | None,
    host: str,
    port: int,
    cache_ttl: float,
    rate: float,
    burst: int,
    redaction_key: str | None,
) -> None:
    """Serve the status page, the JSON read API and summary.json from InfluxDB history."""
    from aiohttp import web
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from prometheus_client import CollectorRegistry

    from connectors.config import ConfigInvalidError, load_config
    from pipeline.publish.audience import Credentials
    from pipeline.publish.reader import FluxReader
    from pipeline.publish.server import ServerLimits, make_status_app

    cfg, ctx = _publish_context(publish_config, redaction_key)
    try:
        deployment_cfg = load_config(deployment) if deployment else None
    except ConfigInvalidError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from exc
    settings = Settings.from_env(os.environ)
    client = InfluxDBClient(
        url=settings.influx_url, token=settings.influx_token, org=settings.influx_org
    )
    reader = FluxReader(client.query_api(), settings.influx_bucket)
    app = make_status_app(
        reader.snapshot,
        Credentials.from_configs(deployment_cfg, cfg.verifiers),
        ctx,
        registry=CollectorRegistry(),
        limits=ServerLimits(cache_ttl_s=cache_ttl, rate_per_s=rate, burst=burst),
    )

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        click.echo(f"status page on http://{host}:{bound}/ (bucket {settings.influx_bucket})")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            client.close()  # type: ignore[no-untyped-call]

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


COMMANDS = (serve_status,)
