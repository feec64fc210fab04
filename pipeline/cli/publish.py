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
    from pipeline.publish.record_client import RecordSource
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
        record=RecordSource(cfg.record_source, cache_ttl) if cfg.record_source else None,
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


def _timestamp(value: str, name: str) -> float:
    from pipeline.core.timeutil import parse_rfc3339

    try:
        return parse_rfc3339(value if "T" in value else f"{value}T00:00:00Z")
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not a date (2026-05-01) or RFC 3339 time (2026-05-01T12:00:00Z)",
            param_hint=name,
        ) from exc


@click.command("report")
@click.option("--from", "start", required=True, help="Start: 2026-05-01 or RFC 3339 (UTC).")
@click.option("--to", "stop", required=True, help="End: 2026-06-01 or RFC 3339 (UTC).")
@click.option("--region", default=None, help="Only this ISO 3166-2 region (e.g. UA-30).")
@click.option(
    "--audience",
    type=click.Choice(["public", "verifier", "operator"]),
    default="public",
    show_default=True,
)
@click.option("--operator", "operator_id", default=None, help="With --audience operator.")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True
)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output file.")
@click.option(
    "--publish-config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Public policy (minimum group size) as for serve-status.",
)
@click.option("--redaction-key", envvar="CW_PUBLISH_REDACTION_KEY", default=None)
def report(
    start: str,
    stop: str,
    region: str | None,
    audience: str,
    operator_id: str | None,
    fmt: str,
    out: str,
    publish_config: str | None,
    redaction_key: str | None,
) -> None:
    """Render a continuity report for [--from, --to] from InfluxDB history."""
    from pathlib import Path

    from influxdb_client.client.influxdb_client import InfluxDBClient
    from tqdm import tqdm

    from pipeline.publish.audience import Audience, Viewer
    from pipeline.publish.reader import FluxReader
    from pipeline.publish.report import build_report, gather
    from pipeline.publish.report_document import render_html, write_pdf

    begin, end = _timestamp(start, "--from"), _timestamp(stop, "--to")
    if end <= begin:
        raise click.BadParameter("must be after --from", param_hint="--to")
    if (audience == "operator") != (operator_id is not None):
        raise click.BadParameter(
            "give --operator ID with --audience operator (and only then)", param_hint="--operator"
        )
    _, ctx = _publish_context(publish_config, redaction_key)
    viewer = Viewer(Audience(audience), operator_id if audience == "operator" else "report")
    if viewer.audience is Audience.PUBLIC:
        viewer = Viewer(Audience.PUBLIC)
    settings = Settings.from_env(os.environ)
    with (
        InfluxDBClient(
            url=settings.influx_url, token=settings.influx_token, org=settings.influx_org
        ) as client,
        tqdm(total=4, desc="report", unit="step", file=click.get_text_stream("stderr")) as bar,
    ):

        def step(what: str) -> None:
            bar.set_postfix_str(f"reading {what}")
            bar.update(1)

        data = gather(FluxReader(client.query_api(), settings.influx_bucket), begin, end, step)
        bar.set_postfix_str("rendering")
        html = render_html(build_report(data, viewer, ctx, region=region))
        target = Path(out)
        if fmt == "pdf":
            write_pdf(html, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
        bar.update(1)
    click.echo(f"wrote {target}")


COMMANDS = (serve_status, report)
