"""``continuity``: the single entry point (stack, worker, demo, simulator)."""

from __future__ import annotations

import os
import sys
import time

import click

from connectors.cli import connectors_group
from pipeline.bench.cli import bench_group
from pipeline.bench.notice_latency import notice_bench_command
from pipeline.cli.alerts import COMMANDS as ALERT_COMMANDS
from pipeline.cli.analysis import COMMANDS as ANALYSIS_COMMANDS
from pipeline.cli.kpi_bench import kpi_bench_cmd
from pipeline.cli.ledger import ledger_group
from pipeline.cli.publish import COMMANDS as PUBLISH_COMMANDS
from pipeline.cli.replay import replay_cmd
from pipeline.cli.settings_cmd import settings_group
from pipeline.config.settings import Settings, SettingsError
from pipeline.ops import localstack
from pipeline.ops.kafka_security import (
    KafkaAccessError,
    KafkaSecurity,
    check_access,
    kafka_python_options,
)

DEMO_WORKER = "worker-demo"
DEMO_SIMULATOR = "simulator-demo"


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.option("--log-level", default="INFO", show_default=True, help="Structured log level.")
def main(log_level: str) -> None:
    """Continuity Watch: verify that civilian critical services keep running."""
    from pipeline.core.logs import configure_logging

    configure_logging(log_level)


@main.command()
@click.option("--demo/--no-demo", default=False, help="Also start a worker and the simulator.")
def up(demo: bool) -> None:
    """Start Kafka, Prometheus and InfluxDB (idempotent); with --demo, the pipeline too."""
    if localstack.stack("up") != 0:
        raise click.ClickException("the local stack did not start; see the messages above")
    if not demo:
        return
    settings = _settings()
    from pipeline.ops.topics import ensure_topic_layout

    ensure_topic_layout(
        settings.kafka_bootstrap,
        settings.topics,
        partitions=settings.partitions,
        security=KafkaSecurity.from_settings(settings),
    )
    key, key_file = localstack.demo_command_key()
    env = {"CW_COMMAND_KEY": settings.command_key or key}
    worker_log = localstack.start_background(DEMO_WORKER, localstack.python_argv("worker"), env)
    localstack.register_scrape_target(
        DEMO_WORKER, f"{settings.metrics_host}:{settings.metrics_port}"
    )
    from pipeline.demo.feeds import INGEST_PORT, start_demo_connectors

    sim_log = localstack.start_background(
        DEMO_SIMULATOR,
        localstack.python_argv(
            "simulate", "--history", "900", "--push-url", f"http://127.0.0.1:{INGEST_PORT}"
        ),
    )
    feed_logs = start_demo_connectors(settings, env)
    click.echo(
        f"""
Continuity Watch demo is running (stop it with: make down).
  worker log     {worker_log}
  simulator log  {sim_log}
  connector logs {" ".join(str(log) for log in feed_logs)}
  dashboards     dashboards/json (mount with dashboards/provisioning; see its README)
  worker metrics http://{settings.metrics_host}:{settings.metrics_port}/metrics
  Prometheus     {settings.prometheus_url}/graph
    try: continuity_service_status{{status="down"}} == 1
         sum by (sector, status) (continuity_service_status)
         rate(continuity_observations_total[1m])
  acknowledge    CW_COMMAND_KEY=$(cat {key_file}) continuity incidents ack SERVICE --by YOU
  InfluxDB       {settings.influx_url}  bucket {settings.influx_bucket} (token/org unused locally)
    Flux: from(bucket: "{settings.influx_bucket}") |> range(start: -1h)
            |> filter(fn: (r) => r._measurement == "service_status" and r._field == "status")
The simulator runs a generated country (212 services of 15 operators in 8 regions, four
sectors), replays the last 15 minutes at start and injects outages every 10 minutes:
feeders (energy), FHIR endpoints (health), mobile cores going silent and KPI spikes
(telecom), routes with no or reduced service (transport). Incidents go to cw.incidents,
correlation findings to cw.anomalies, indicators to cw.indicators."""
    )


@main.command()
def down() -> None:
    """Stop the demo processes and the local stack."""
    for name in localstack.background_names():
        if localstack.stop_background(name):
            click.echo(f"stopped {name}")
        localstack.unregister_scrape_target(name)
    localstack.stack("down")


@main.command()
def status() -> None:
    """Say which server of the stack is up and which is down (exit 1 if any is down)."""
    from pipeline.ops.health import check_stack

    results = check_stack(_settings())
    for health in results:
        click.echo(f"{health.name:<11} {'up' if health.ok else 'DOWN':<5} {health.detail}")
    for name in localstack.background_names():
        alive = localstack.process_alive(name)
        click.echo(f"{name:<11} {'up' if alive else 'DOWN':<5} (pipeline process)")
    if not all(h.ok for h in results):
        sys.exit(1)


@main.command()
@click.option("--metrics-port", type=int, default=None, help="Overrides CW_METRICS_PORT.")
@click.option("--app-id", default=None, help="Overrides CW_APP_ID (the consumer group).")
def worker(metrics_port: int | None, app_id: str | None) -> None:
    """Run one pipeline worker in the foreground."""
    from dataclasses import replace

    from pipeline.worker.run import run_worker

    settings = _settings()
    if metrics_port is not None:
        settings = replace(settings, metrics_port=metrics_port)
    if app_id is not None:
        settings = replace(settings, app_id=app_id)
    try:
        run_worker(settings)
    except (KafkaAccessError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option(
    "--cycle", type=float, default=600.0, show_default=True, help="Outage cycle, seconds."
)
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.option(
    "--history", type=float, default=0.0, show_default=True,
    help="Replay this many seconds of past evidence at start (finished incidents to show).",
)  # fmt: skip
@click.option("--push-url", default=None, help="Also push via this ingest server (demo token).")
def simulate(cycle: float, duration: float | None, history: float, push_url: str | None) -> None:
    """Produce the demo operators' observations to Kafka in real time."""
    from kafka import KafkaProducer

    from pipeline.core.progress import Progress
    from pipeline.demo.feeds import PUSH_EVERY_S, PUSH_TOKEN, push, push_body
    from pipeline.demo.simulator import DEMO_SERVICES, DemoSimulator

    settings = _settings()
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, linger_ms=20, **kafka_python_options(settings)
    )
    started = time.time()
    simulator = DemoSimulator(DEMO_SERVICES, cycle=cycle, start=started - history)
    progress = Progress(label="simulate")
    progress.stage("send", f"demo observations to {settings.topics.observations}")
    sent = 0
    pushes = 0
    try:
        while duration is None or time.time() - started < duration:
            if push_url and time.time() - started >= pushes * PUSH_EVERY_S:
                known = pushes % 4 != 3  # once a minute an undeclared service, refused
                push(f"{push_url}/v1/observations", PUSH_TOKEN, push_body(time.time(), known=known))
                pushes += 1
            for obs in simulator.tick(time.time()):
                producer.send(
                    settings.topics.observations, key=obs.service_id.encode(), value=obs.to_json()
                )
                sent += 1
            producer.flush()
            progress.update(sent, None, "obs")
            time.sleep(1.0)
    finally:
        producer.close()
        progress.end_line()


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=str(localstack.REPO / "dashboards" / "json"),
    show_default=True,
)
def dashboards(out: str) -> None:
    """Generate the Grafana dashboard JSON from pipeline/dashboards/grafana.py."""
    from pathlib import Path

    from pipeline.dashboards.grafana import write_dashboards

    for path in write_dashboards(Path(out)):
        click.echo(f"wrote {path}")


@main.group()
def incidents() -> None:
    """Incident lifecycle actions."""


@incidents.command("ack")
@click.argument("service_id")
@click.option("--by", required=True, help="Who acknowledges (person or team).")
def incidents_ack(service_id: str, by: str) -> None:
    """Acknowledge SERVICE_ID's open incident (sent to the worker that owns the service).

    Refused (exit 1) when the workers have no state for SERVICE_ID: it has never sent evidence.
    """
    import orjson
    from kafka import KafkaProducer

    from pipeline.core.commands import sign_command
    from pipeline.ops.service_lookup import known_service_or_error

    settings = _settings()
    if not settings.command_key:
        raise click.ClickException("set CW_COMMAND_KEY (the workers' command key) to sign it")
    problem = known_service_or_error(settings, service_id)
    if problem is not None:
        raise click.ClickException(problem)
    command = {
        "type": "acknowledge",
        "service_id": service_id,
        "by": by,
        "method": "cli",
        "at": time.time(),
    }
    signed = sign_command(command, settings.command_key.encode())
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", **kafka_python_options(settings)
    )
    try:
        producer.send(settings.topics.commands, key=service_id.encode(), value=orjson.dumps(signed))
        producer.flush(timeout=30)
    finally:
        producer.close()
    click.echo(f"acknowledgement for {service_id} sent to {settings.topics.commands}")


@main.group()
def topics() -> None:
    """Kafka topic housekeeping."""


@topics.command("create")
def topics_create() -> None:
    """Create all pipeline topics with the configured partition count."""
    from pipeline.ops.topics import ensure_topic_layout

    settings = _settings()
    try:
        security = KafkaSecurity.from_settings(settings)
        check_access(settings.kafka_bootstrap, security)
    except (KafkaAccessError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None
    created = ensure_topic_layout(
        settings.kafka_bootstrap, settings.topics, partitions=settings.partitions, security=security
    )
    click.echo(f"created: {', '.join(created) or 'none (all existed)'}")


main.add_command(connectors_group, "connectors")
main.add_command(bench_group, "bench")
main.add_command(settings_group, "settings")
main.add_command(ledger_group, "ledger")
bench_group.add_command(notice_bench_command)
for _command in (*ANALYSIS_COMMANDS, *ALERT_COMMANDS, *PUBLISH_COMMANDS):
    main.add_command(_command)
main.add_command(replay_cmd)
main.add_command(kpi_bench_cmd)

if __name__ == "__main__":
    main()
