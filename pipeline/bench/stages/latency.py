"""Stage 4: latency from evidence to status change and incident, and silence delay."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog

from pipeline.bench.kafka_io import (
    GroupProgress,
    IncidentRecord,
    StatusRecord,
    TopicReader,
)
from pipeline.bench.load_generator import LoadGenerator
from pipeline.bench.load_plan import LoadPlan
from pipeline.bench.stages.common import (
    BenchRun,
    _wait,
    summarise,
)
from pipeline.core.timeutil import parse_rfc3339
from pipeline.ops.topics import ensure_topics

log = structlog.get_logger(__name__)

# --- 4. latency and silence ----------------------------------------------------------------


def latency(
    bench: BenchRun,
    *,
    rate: float,
    seconds: float,
    background_services: int | None = None,
    flip_every: int = 10,
    silent_services: int = 8,
    name: str = "lat",
) -> dict[str, Any]:
    """Evidence produced → status change seen on the status topic (and, for a flip to down,
    → incident detected on the incidents topic), at a steady ``rate``.

    Every ``flip_every``-th message is a status report toggling one of 64 flip services
    between up and down; its
    event id comes back in the status change, which is matched to the send time. Meanwhile
    ``silent_services`` send one heartbeat with ``expected_interval_s=1`` and then nothing:
    their change to unknown is due at event time + 2 s; its delay past that is measured.

    The load comes from a process of its own (:mod:`pipeline.bench.load_generator`), so the
    reader threads that stamp the outputs never wait for it; the result says how close it
    kept to ``rate`` (``achieved_rate_obs_per_s``, ``generator_fell_behind``). ``name`` is
    the namespace of the stage's topics and worker (one per load when a run measures several).
    """
    if background_services is None:
        # As many services as a few seconds of load touches, and at most 2 000: the warm-up
        # sends one observation each and must not outlast the measurement.
        background_services = max(50, min(2_000, int(rate * 3)))
    topics = bench.namespace(name)
    security = bench.security
    ensure_topics(
        bench.base.kafka_bootstrap,
        topics.all(),
        partitions=bench.base.partitions,
        security=security,
    )
    reader = TopicReader(
        bench.base.kafka_bootstrap, topics.status, StatusRecord.parse, security=security
    ).start()
    incident_reader = TopicReader(
        bench.base.kafka_bootstrap, topics.incidents, IncidentRecord.parse, security=security
    ).start()
    app_id = f"{bench.run}-{name}"
    worker = bench.worker(name, topics, app_id, default_interval=bench.base.default_interval)
    plan = LoadPlan(
        run=app_id,
        rate=rate,
        seconds=seconds,
        background_services=background_services,
        flip_every=flip_every,
        silent_services=silent_services,
    )
    generator = LoadGenerator(
        plan,
        bootstrap=bench.base.kafka_bootstrap,
        topic=topics.observations,
        security=security,
        progress=bench.progress,
    )
    try:
        worker.start().wait_ready()
        warm = generator.warm_up()
        _wait(lambda: len(reader.records) >= warm, 120.0, "warm-up status changes")
        bench.progress.note(f"steady load: {rate:,.0f} obs/s for {seconds:.0f} s (own process)")
        cpu_before, wall_before = worker.cpu(), time.monotonic()
        history_before = worker.children_cpu()
        report = generator.run()
        # The worker's CPU over the steady phase: what the live mix costs per observation;
        # its history writer's process is reported beside it.
        worker_cpu = worker.cpu() - cpu_before
        history_cpu = worker.children_cpu() - history_before
        worker_wall = time.monotonic() - wall_before
        group = GroupProgress(
            bench.base.kafka_bootstrap, app_id, topics.observations, security=security
        )
        try:
            # Committed offsets trail by a unit and by the states still waiting to be
            # written (CW_STATE_WRITE_AFTER_S) when the load stops; far more means overload.
            backlog = warm + report.sent + len(report.quiet) - group.committed()
        finally:
            group.close()
        send_at = dict(report.flips)
        down_sent = {(service, opened): sent for service, opened, sent in report.first_downs}
        quiet_sent = dict(report.quiet)
        quiet_ids = set(quiet_sent)

        def complete() -> bool:
            seen = {r.event_id for r in reader.records}
            unknown = {r.service_id for r in reader.records if r.status == "unknown"}
            opened = {
                (r.service_id, round(r.started_at, 3))
                for r in incident_reader.records
                if r.event == "detected"
            }
            return set(send_at) <= seen and quiet_ids <= unknown and set(down_sent) <= opened

        _wait(complete, 30.0, "flip and silence status changes, flip incidents", fail=False)
    finally:
        generator.close()
        worker.stop()
        reader.stop()
        incident_reader.stop()
    for failed in (reader, incident_reader):
        if failed.error is not None:
            raise RuntimeError(f"reader for {failed.topic} failed") from failed.error
    by_event = {r.event_id: r for r in reader.records if r.event_id}
    latencies = [by_event[e].seen_at - t for e, t in send_at.items() if e in by_event]
    detected = {
        (r.service_id, round(r.started_at, 3)): r.seen_at
        for r in incident_reader.records
        if r.event == "detected"
    }
    to_incident = [detected[key] - t for key, t in down_sent.items() if key in detected]
    silence: list[float] = []
    silence_vs_event: list[float] = []
    for record in reader.records:
        if record.service_id in quiet_sent and record.status == "unknown":
            due_at = parse_rfc3339(record.at)
            silence.append(record.seen_at - due_at)
            silence_vs_event.append(due_at - quiet_sent[record.service_id])
    figures = report.schedule_figures(rate)
    if figures["generator_fell_behind"]:
        log.warning(
            "bench_load_generator_behind",
            target=rate,
            achieved=round(report.achieved_rate),
            behind_at_end=report.behind_at_end,
        )
    return {
        "target_rate_obs_per_s": rate,
        **figures,
        "uncommitted_at_end": backlog,
        "worker_cpu_us_per_obs": worker_cpu / max(report.sent, 1) * 1e6,
        "worker_busy": worker_cpu / max(worker_wall, 1e-9),
        "history_writer_cpu_us_per_obs": history_cpu / max(report.sent, 1) * 1e6,
        "seconds": report.seconds,
        "background_services": background_services,
        "evidence_to_status_s": summarise(latencies),
        "missing_status_changes": len(send_at) - len(latencies),
        "evidence_to_incident_s": summarise(to_incident),
        "missing_incidents": len(down_sent) - len(to_incident),
        "silence_delay_past_deadline_s": summarise(silence),
        "silence_deadline_after_evidence_s": summarise(silence_vs_event),
        "silence_missing": len(quiet_sent) - len(silence),
        "silence_check_interval_s": bench.base.silence_check_interval,
    }


@dataclass(frozen=True)
class LatencyLoad:
    """One steady load of the latency stage: its rate, and where that rate came from."""

    rate: float
    basis: str
    #: Fraction of the worker capacity measured in the same run (None: an absolute rate).
    load: float | None = None


def parse_loads(text: str) -> list[float]:
    """``--latency-load``: comma-separated fractions of the measured worker capacity.

    >>> parse_loads("0.5, 0.9")
    [0.5, 0.9]
    >>> parse_loads("50")
    Traceback (most recent call last):
    ...
    ValueError: --latency-load: 50.0 is not a fraction of the capacity in (0, 2], e.g. 0.5,0.9
    """
    loads = []
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            load = float(item)
        except ValueError:
            raise ValueError(f"--latency-load: {item.strip()!r} is not a number") from None
        if not 0 < load <= 2:
            raise ValueError(
                f"--latency-load: {load} is not a fraction of the capacity in (0, 2], e.g. 0.5,0.9"
            )
        loads.append(load)
    if not loads:
        raise ValueError("--latency-load: give at least one fraction, e.g. 0.5,0.9")
    return loads


def latency_loads(
    loads: list[float] | None, rate: float | None, measured: float | None
) -> list[LatencyLoad]:
    """The loads to measure: an absolute ``rate`` if given, else each of ``loads`` (default
    0.5) times the ``measured`` worker capacity, else 1 000 obs/s.

    >>> [(p.rate, p.basis) for p in latency_loads([0.5, 0.9], None, 10_000.0)]
    [(5000.0, '50% of worker obs_per_s'), (9000.0, '90% of worker obs_per_s')]
    >>> latency_loads(None, 800.0, 10_000.0)[0].basis
    'given'
    >>> latency_loads(None, None, None)[0].rate
    1000.0
    """
    if rate:
        return [LatencyLoad(rate, "given")]
    if not measured:
        return [LatencyLoad(1_000.0, "default 1000 obs/s")]
    return [
        LatencyLoad(load * measured, f"{load * 100:g}% of worker obs_per_s", load)
        for load in loads or [0.5]
    ]
