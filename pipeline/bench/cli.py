"""``continuity bench``: throughput, latency, state size and scale-out against the real stack.

Each ``run`` writes ``bench/results/<UTC timestamp>.json`` (rewritten after every stage, so
a partial run still leaves its figures) and shows progress on stderr.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click
import structlog

from pipeline.bench.bench_logging import configure_bench_logging
from pipeline.bench.loadgen_cli import loadgen_command

STAGES: tuple[str, ...] = (
    "fill",
    "ceiling",
    "processor",
    "worker",
    "variant",
    "latency",
    "scaleout",
    "rebalance",
    "state",
    "profile",
)

#: Stages run only when named in ``--stages`` (minutes each at their default sizes).
OPTIONAL_STAGES: tuple[str, ...] = ("recovery",)


def _write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def _ratio(numerator: Any, denominator: Any) -> float | None:
    if isinstance(numerator, int | float) and isinstance(denominator, int | float) and denominator:
        return float(numerator) / float(denominator)
    return None


@click.group("bench")
def bench_group() -> None:
    """Benchmarks against the real local stack (see docs/benchmarks.md)."""


@bench_group.command("run")
@click.option(
    "-n",
    "--observations",
    type=int,
    default=200_000,
    show_default=True,
    help="Observations pre-filled into the topic (fill, ceiling, worker, scale-out, processor).",
)
@click.option(
    "--services",
    type=int,
    default=5_000,
    show_default=True,
    help="Distinct services in the pre-filled mix.",
)
@click.option(
    "--stages",
    default=",".join(STAGES),
    show_default=True,
    help="Comma-separated subset of the stages to run.",
)
@click.option(
    "--latency-seconds",
    type=float,
    default=20.0,
    show_default=True,
    help="Duration of the steady-load phase.",
)
@click.option(
    "--latency-rate",
    type=float,
    default=None,
    help="Steady rate in obs/s (default: --latency-load of the measured worker rate).",
)
@click.option(
    "--latency-load",
    default=None,
    help="Comma-separated fractions of the worker rate measured in the same run (needs the "
    "worker stage), one latency result each, e.g. 0.5,0.9 [default: 0.5]. With several, the "
    "result's 'latency' is {'loads': [one result per load]}.",
)
@click.option(
    "--state-sizes",
    default="10000,100000",
    show_default=True,
    help="Comma-separated numbers of distinct services for the state-size curve.",
)
@click.option(
    "--profile-observations",
    type=int,
    default=100_000,
    show_default=True,
    help="Observations run through the profiled processor.",
)
@click.option(
    "--results-dir",
    type=click.Path(path_type=Path),
    default=Path("bench/results"),
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Exact result file (default: <results-dir>/<UTC timestamp>.json).",
)
@click.option("--keep-topics", is_flag=True, help="Leave the run's topics and database behind.")
@click.option("--log-level", default="WARNING", show_default=True)
@click.option(
    "--variant-env",
    multiple=True,
    default=("PRODUCER_LINGER=0.01",),
    show_default=True,
    help="KEY=VALUE for the 'variant' stage: one more 1-worker run with this environment "
    "(faust reads its settings from env vars, e.g. PRODUCER_LINGER, BROKER_COMMIT_EVERY).",
)
@click.option(
    "--stage-timeout",
    type=float,
    default=900.0,
    show_default=True,
    help="Longest a worker stage (worker, variant, scaleout, rebalance) may take, in seconds.",
)
@click.option(
    "--stall-after",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds without committed progress that count as a commit stall; the stage then "
    "follows the workers' counters (see docs/benchmarks.md).",
)
@click.option(
    "--recovery-services",
    type=int,
    default=100_000,
    show_default=True,
    help="Services in the worker killed with SIGKILL by the optional 'recovery' stage.",
)
@click.option(
    "--recovery-fill",
    type=click.Choice(["worker", "bulk"]),
    default="worker",
    show_default=True,
    help="How the killed worker gets its services: ingested by it, or their state computed "
    "in process and produced to its changelogs (minutes faster at 1 M services).",
)
@click.option(
    "--py-spy/--no-py-spy",
    "sample_worker",
    default=False,
    help="Sample the 1-worker run with py-spy (if installed); adds its top frames to the result.",
)
def run_command(
    observations: int,
    services: int,
    stages: str,
    latency_seconds: float,
    latency_rate: float | None,
    latency_load: str | None,
    state_sizes: str,
    profile_observations: int,
    results_dir: Path,
    output: Path | None,
    keep_topics: bool,
    log_level: str,
    variant_env: tuple[str, ...],
    stage_timeout: float,
    stall_after: float,
    recovery_services: int,
    recovery_fill: str,
    sample_worker: bool,
) -> None:
    """Run the benchmark stages in one invocation and write a JSON result."""
    chosen = [s.strip() for s in stages.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(STAGES) - set(OPTIONAL_STAGES))
    if unknown:
        known = [*STAGES, *OPTIONAL_STAGES]
        raise click.BadParameter(f"unknown stages {unknown}; choose from {known}")
    loads = None
    if latency_load is not None:
        from pipeline.bench.stages.latency import parse_loads

        if latency_rate is not None:
            raise click.UsageError("give --latency-rate (obs/s) or --latency-load, not both")
        if "worker" not in chosen:
            raise click.UsageError("--latency-load needs the 'worker' stage (it measures the rate)")
        try:
            loads = parse_loads(latency_load)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--latency-load") from None
    result = run_bench(
        observations=observations,
        services=services,
        stages=chosen,
        latency_seconds=latency_seconds,
        latency_rate=latency_rate,
        latency_loads=loads,
        state_sizes=[int(s) for s in state_sizes.split(",") if s.strip()],
        profile_observations=profile_observations,
        output=output or results_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json",
        keep_topics=keep_topics,
        log_level=log_level,
        sample_worker=sample_worker,
        stage_timeout=stage_timeout,
        stall_after=stall_after,
        variant_env=dict(item.split("=", 1) for item in variant_env if "=" in item),
        recovery_services=recovery_services,
        recovery_fill=recovery_fill,
    )
    click.echo(json.dumps(result["summary"], indent=2))
    click.echo(f"result: {result['path']}", err=True)


def run_bench(
    *,
    observations: int,
    services: int,
    stages: list[str],
    latency_seconds: float = 20.0,
    latency_rate: float | None = None,
    latency_loads: list[float] | None = None,
    state_sizes: list[int] | None = None,
    profile_observations: int = 100_000,
    output: Path,
    keep_topics: bool = False,
    log_level: str = "WARNING",
    stream: TextIO | None = None,
    sample_worker: bool = False,
    variant_env: dict[str, str] | None = None,
    stage_timeout: float = 900.0,
    stall_after: float = 60.0,
    recovery_services: int = 100_000,
    recovery_fill: str = "worker",
) -> dict[str, Any]:
    """The whole benchmark; returns the result dict (also written to ``output``)."""
    from pipeline.bench import stages as st
    from pipeline.config.settings import Settings
    from pipeline.core.progress import Progress
    from pipeline.ops.health import check_stack
    from pipeline.ops.localstack import state_dir

    configure_bench_logging(log_level)
    log = structlog.get_logger(__name__)
    base = Settings.from_env(os.environ)
    down = [h.name for h in check_stack(base) if not h.ok and h.name != "prometheus"]
    if down:
        raise click.ClickException(
            f"stack not healthy ({down}); run: bash deploy/local/stack.sh up"
        )
    progress = Progress(stream)
    bench = st.BenchRun(
        base=base,
        progress=progress,
        workdir=state_dir() / "bench",
        stage_timeout=stage_timeout,
        stall_after=stall_after,
    )
    bench.workdir = bench.workdir / bench.run
    result: dict[str, Any] = {
        "run": bench.run,
        "started_at": datetime.now(UTC).isoformat(),
        "machine": st.machine(),
        "code": st.provenance(Path.cwd()),
        "config": {
            "observations": observations,
            "services": services,
            "partitions": base.partitions,
            "stages": stages,
            "kafka": base.kafka_bootstrap,
            "silence_check_interval_s": base.silence_check_interval,
            "stage_timeout_s": stage_timeout,
            "stall_after_s": stall_after,
        },
        "results": {},
    }
    res: dict[str, Any] = result["results"]
    log.info("bench_started", run=bench.run, output=str(output))
    needs_topic = {"fill", "ceiling", "worker", "scaleout"} & set(stages)
    needs_records = needs_topic | {"processor", "profile", "rebalance"}
    records: st.Records = []
    try:
        bench.prepare()
        if needs_records:
            progress.stage("generate", f"{observations:,} observations over {services:,} services")
            records, res["generate"] = st.generate(observations, services, bench.run)
        if needs_topic:
            progress.stage("fill", f"bare kafka-python producer into {bench.topics.observations}")
            res["fill"] = st.fill(bench, records)
            _write(output, result)
        if "ceiling" in stages:
            progress.stage("ceiling", "bare aiokafka getmany + orjson.loads")
            res["ceiling"] = st.ceiling(bench, observations)
            _write(output, result)
        if "processor" in stages:
            progress.stage("processor", "ObservationProcessor.handle in process, dict store")
            res["processor"] = st.processor_only(records, base.influx_url, progress=progress)
            res["state_dict"] = st.dict_size()
            _write(output, result)
        if "worker" in stages:
            progress.stage("worker", "1 worker subprocess over the pre-filled topic")
            res["worker"] = st.worker_throughput(
                bench, observations, workers=1, sample_worker=sample_worker
            )
            _write(output, result)
        if "variant" in stages and variant_env:
            progress.stage("variant", f"1 worker with {variant_env}")
            res["variant"] = st.worker_throughput(
                bench, observations, workers=1, label="v1", extra_env=variant_env
            )
            _write(output, result)
        if "scaleout" in stages:
            progress.stage("scaleout", "2 workers, one consumer group, 6 partitions")
            res["scaleout"] = st.worker_throughput(bench, observations, workers=2)
            _write(output, result)
        if "rebalance" in stages:
            from pipeline.bench.rebalance import rebalance_check

            progress.stage("rebalance", "2nd worker joins mid-run; incidents vs in-process")
            res["rebalance"] = rebalance_check(bench, records)
            _write(output, result)
        if "latency" in stages:
            measured = res.get("worker", {}).get("obs_per_s")
            points = st.latency_loads(latency_loads, latency_rate, measured)
            runs: list[dict[str, Any]] = []
            for i, point in enumerate(points):
                progress.stage("latency", f"{point.rate:,.0f} obs/s ({point.basis})")
                name = "lat" if len(points) == 1 else f"lat{i}"
                one = st.latency(bench, rate=point.rate, seconds=latency_seconds, name=name)
                runs.append({**one, "load": point.load, "rate_basis": point.basis})
                # One load keeps the long-standing shape; several are listed in order.
                res["latency"] = runs[0] if len(points) == 1 else {"loads": runs}
                _write(output, result)
        if "state" in stages and state_sizes:
            progress.stage("state", f"RSS at {state_sizes} services")
            res["state"] = st.state_size(bench, state_sizes)
            _write(output, result)
        if "recovery" in stages:
            progress.stage("recovery", f"kill -9 a worker holding {recovery_services:,} services")
            res["recovery"] = st.recovery(bench, recovery_services, fill=recovery_fill)
            _write(output, result)
        if "profile" in stages:
            progress.stage("profile", "cProfile of the processor path")
            res["profile"] = st.profile_processor(
                records[:profile_observations], base.influx_url, root=Path.cwd()
            )
            _write(output, result)
    finally:
        progress.stage("cleanup", f"topics and database of {bench.run}")
        bench.cleanup(keep_topics=keep_topics)
        result["finished_at"] = datetime.now(UTC).isoformat()
        result["summary"] = summary(res)
        _write(output, result)
        progress.end_line()
    result["path"] = str(output)
    return result


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """The headline figures and their ratios to the same-run baselines."""

    def get(stage: str, key: str) -> Any:
        return res.get(stage, {}).get(key)

    ceiling = get("ceiling", "obs_per_s")
    worker = get("worker", "obs_per_s")
    two = get("scaleout", "obs_per_s")
    lat = res.get("latency", {})
    loads: list[dict[str, Any]] = lat.get("loads", [lat] if lat else [])
    lat = loads[0] if loads else {}
    state = res.get("state", {}).get("points", [])
    return {
        "producer_obs_per_s": get("fill", "obs_per_s"),
        "ceiling_obs_per_s": ceiling,
        "worker_obs_per_s": worker,
        "worker_to_ceiling": _ratio(worker, ceiling),
        "ceiling_cpu_us_per_obs": get("ceiling", "cpu_us_per_obs"),
        "worker_cpu_us_per_obs": get("worker", "cpu_us_per_obs"),
        "processor_cpu_us_per_obs": get("processor", "cpu_us_per_obs"),
        "worker_to_ceiling_cpu": _ratio(
            get("ceiling", "cpu_us_per_obs"), get("worker", "cpu_us_per_obs")
        ),
        "processor_obs_per_s": get("processor", "obs_per_s"),
        "worker_to_processor": _ratio(worker, get("processor", "obs_per_s")),
        "variant_env": get("variant", "extra_env"),
        "variant_obs_per_s": get("variant", "obs_per_s"),
        "variant_cpu_us_per_obs": get("variant", "cpu_us_per_obs"),
        "variant_to_worker": _ratio(get("variant", "obs_per_s"), worker),
        "two_workers_obs_per_s": two,
        "two_to_one_workers": _ratio(two, worker),
        "rebalance_lost_spurious_duplicated": [
            get("rebalance", key) for key in ("lost", "spurious", "duplicated")
        ],
        "rebalance_happened": get("rebalance", "rebalanced"),
        "rebalance_replayed": get("rebalance", "replayed"),
        "rebalance_commit_stalled": get("rebalance", "commit_stalled"),
        # Worker stages whose group stopped committing (offsets then ran on counters).
        "commit_stalled_stages": [
            stage
            for stage in ("worker", "variant", "scaleout", "rebalance")
            if get(stage, "commit_stalled")
        ],
        "latency_s": lat.get("evidence_to_status_s"),
        "latency_to_incident_s": lat.get("evidence_to_incident_s"),
        "silence_delay_past_deadline_s": lat.get("silence_delay_past_deadline_s"),
        "latency_by_load": [_latency_line(one) for one in loads],
        "rss_bytes_per_service": {str(p["services"]): p["bytes_per_service"] for p in state},
        "state_dict_bytes_per_service": get("state_dict", "table_bytes_per_service"),
    }


def _latency_line(one: dict[str, Any]) -> dict[str, Any]:
    """One latency load in the summary: rates, p50/p99 to status and incident, backlog."""
    status = one.get("evidence_to_status_s", {})
    incident = one.get("evidence_to_incident_s", {})
    return {
        "load": one.get("load"),
        "target_rate_obs_per_s": one.get("target_rate_obs_per_s"),
        "achieved_rate_obs_per_s": one.get("achieved_rate_obs_per_s"),
        "generator_fell_behind": one.get("generator_fell_behind"),
        "status_p50_p99_s": [status.get("p50"), status.get("p99")],
        "incident_p50_p99_s": [incident.get("p50"), incident.get("p99")],
        "uncommitted_at_end": one.get("uncommitted_at_end"),
    }


@bench_group.command("processor")
@click.option("-n", "--observations", type=int, default=100_000, show_default=True)
@click.option("--services", type=int, default=5_000, show_default=True)
@click.option("--top", type=int, default=15, show_default=True)
def processor_command(observations: int, services: int, top: int) -> None:
    """No Kafka: the processor alone, then its cProfile top costs (quick, repeatable)."""
    from pipeline.bench import stages as st
    from pipeline.config.settings import Settings

    configure_bench_logging("WARNING")
    influx_url = Settings.from_env(os.environ).influx_url
    records, generated = st.generate(observations, services, f"p{int(time.time())}")
    plain = st.processor_only(records, influx_url)
    click.echo(f"generate  {generated['obs_per_s']:>10,.0f} obs/s (Observation → JSON)")
    click.echo(
        f"processor {plain['obs_per_s']:>10,.0f} obs/s ({plain['status_changes']:,} changes)"
    )
    prof = st.profile_processor(records, influx_url, top=top, root=Path.cwd())
    click.echo(f"\ntop {top} by own time (profiled run: {prof['profiled_obs_per_s']:,.0f} obs/s)")
    for row in prof["by_own_time"]:
        click.echo(f"{row['own_pct']:5.1f}% {row['calls']:>9,} {row['function']}")


@bench_group.command("state-dict")
@click.option("--services", type=int, default=10_000, show_default=True)
@click.option(
    "--live-states",
    type=int,
    default=None,
    help="Decoded monitors kept in memory (default: the worker's CW_LIVE_STATES default).",
)
def state_dict_command(services: int, live_states: int | None) -> None:
    """No Kafka: bytes per service the processor path keeps, at SERVICES services."""
    from pipeline.bench import stages as st

    configure_bench_logging("WARNING")
    options = {} if live_states is None else {"live_capacity": live_states}
    click.echo(json.dumps(st.dict_size(services, **options), indent=2))


@bench_group.command("chaos")
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    type=click.Choice(
        ["worker-kill", "influx-down", "poison", "broker-restart", "broker-kill-of-three"]
    ),
    help="Repeatable; default: all.",
)
@click.option("--services", type=int, default=50, show_default=True)
@click.option("--rounds", type=int, default=6, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def chaos_command(scenarios: tuple[str, ...], services: int, rounds: int, out: Path | None) -> None:
    """Inject faults into the real stack; report lost/duplicated records and recovery times."""
    from pipeline.bench.chaos import SCENARIOS, run_scenario
    from pipeline.config.settings import Settings

    configure_bench_logging("WARNING")
    base = Settings.from_env(os.environ)
    results = []
    for name in scenarios or tuple(SCENARIOS):
        click.echo(f"chaos: {name} ({services} services x {rounds} rounds) ...", err=True)
        result = run_scenario(base, name, services=services, rounds=rounds)
        click.echo(json.dumps(result))
        results.append(result)
    if out is not None:
        _write(out, {"chaos": results})


bench_group.add_command(loadgen_command)

if __name__ == "__main__":
    bench_group()
