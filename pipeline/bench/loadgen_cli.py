"""``continuity bench loadgen``: the latency stage's load generator alone, into a scratch
topic no worker reads, to show the highest rate it keeps to on this machine."""

from __future__ import annotations

import json
import os
import uuid

import click

from pipeline.bench.load_generator import LoadGenerator
from pipeline.bench.load_plan import LoadPlan


@click.command("loadgen")
@click.option("--rate", type=float, default=20_000.0, show_default=True, help="Asked obs/s.")
@click.option("--seconds", type=float, default=10.0, show_default=True)
@click.option(
    "--background-services",
    type=int,
    default=2_000,
    show_default=True,
    help="As the latency stage uses at rates of 700 obs/s and more.",
)
def loadgen_command(rate: float, seconds: float, background_services: int) -> None:
    """Run the latency stage's generator process at RATE into a fresh topic (then deleted);
    prints its achieved rate and how far it fell behind its schedule."""
    from pipeline.bench.bench_logging import configure_bench_logging
    from pipeline.bench.kafka_io import delete_run
    from pipeline.config.settings import Settings
    from pipeline.core.progress import Progress
    from pipeline.ops.kafka_security import KafkaSecurity
    from pipeline.ops.topics import ensure_topics

    configure_bench_logging("WARNING")
    base = Settings.from_env(os.environ)
    security = KafkaSecurity.from_settings(base)
    run = f"bench-{uuid.uuid4().hex[:10]}"
    topic = f"{run}-loadgen.observations"
    ensure_topics(base.kafka_bootstrap, [topic], partitions=base.partitions, security=security)
    plan = LoadPlan(run=run, rate=rate, seconds=seconds, background_services=background_services)
    progress = Progress()
    progress.stage("loadgen", f"{rate:,.0f} obs/s for {seconds:.0f} s into {topic}")
    try:
        with LoadGenerator(
            plan, bootstrap=base.kafka_bootstrap, topic=topic, security=security, progress=progress
        ) as generator:
            generator.warm_up()
            report = generator.run()
    finally:
        progress.end_line()
        delete_run(base.kafka_bootstrap, run, [], security=security)
    figures = {"target_rate_obs_per_s": rate, **report.schedule_figures(rate)}
    click.echo(json.dumps({**figures, "sent": report.sent, "seconds": report.seconds}, indent=2))
