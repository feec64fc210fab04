"""Stage 4: latency from evidence to status change and incident, and silence delay."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaProducer

from pipeline.bench.data import ObservationMix, service_ref
from pipeline.bench.kafka_io import (
    GroupProgress,
    IncidentRecord,
    StatusRecord,
    TopicReader,
)
from pipeline.bench.stages.common import (
    BenchRun,
    _wait,
    summarise,
)
from pipeline.core.schema import Kind, Status
from pipeline.core.timeutil import format_rfc3339, parse_rfc3339
from pipeline.ops.topics import ensure_topics

# --- 4. latency and silence ----------------------------------------------------------------


def latency(
    bench: BenchRun,
    *,
    rate: float,
    seconds: float,
    background_services: int | None = None,
    flip_every: int = 10,
    silent_services: int = 8,
) -> dict[str, Any]:
    """Evidence produced → status change seen on the status topic (and, for a flip to down,
    → incident detected on the incidents topic), at a steady ``rate``.

    Every ``flip_every``-th message is a status report toggling one of 64 flip services
    between up and down; its
    event id comes back in the status change, which is matched to the send time. Meanwhile
    ``silent_services`` send one heartbeat with ``expected_interval_s=1`` and then nothing:
    their change to unknown is due at event time + 2 s; its delay past that is measured.
    """
    if background_services is None:
        # As many services as a few seconds of load touches, and at most 2 000: the warm-up
        # sends one observation each and must not outlast the measurement.
        background_services = max(50, min(2_000, int(rate * 3)))
    topics = bench.namespace("lat")
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
    worker = bench.worker(
        "latency", topics, f"{bench.run}-lat", default_interval=bench.base.default_interval
    )
    mix = ObservationMix(background_services, namespace="lat")
    flips = [service_ref(i, namespace="flip") for i in range(64)]
    quiet = [service_ref(i, namespace="quiet") for i in range(silent_services)]
    producer = KafkaProducer(
        bootstrap_servers=bench.base.kafka_bootstrap, linger_ms=1, **security.kafka_python()
    )
    send_at: dict[str, float] = {}
    # A flip service's first "down" opens an incident that started at the flip's event time.
    down_sent: dict[tuple[str, float], float] = {}
    opened_for: set[str] = set()
    quiet_sent: dict[str, float] = {}
    sent = 0
    try:
        worker.start().wait_ready()
        # Warm-up: every service seen once, so the steady phase changes only what it means to.
        warm = mix.first_sightings(
            0, background_services, run=f"{bench.run}-w", observed_at=time.time()
        )
        for i, ref in enumerate(flips):
            obs = mix.observation(
                ref,
                event_id=f"{bench.run}-fw{i}",
                observed_at=time.time(),
                status=Status.UP,
                kind=Kind.PROBE,
            )
            warm.append((ref.service_id.encode(), obs.to_json()))
        for key, value in warm:
            producer.send(topics.observations, key=key, value=value)
        producer.flush(timeout=60)
        _wait(lambda: len(reader.records) >= len(warm), 120.0, "warm-up status changes")
        flip_state = [Status.UP] * len(flips)
        period = 1.0 / rate
        quiet_every = seconds / (silent_services + 1)
        started = time.monotonic()
        next_quiet = started + quiet_every / 2
        bench.progress.note(f"steady load: {rate:,.0f} obs/s for {seconds:.0f} s")
        while True:
            now = time.monotonic()
            elapsed = now - started
            if elapsed >= seconds:
                break
            due = int(elapsed / period)
            while sent < due:
                stamp = time.time()
                if sent % flip_every == 0:
                    index = (sent // flip_every) % len(flips)
                    ref = flips[index]
                    target = Status.DOWN if flip_state[index] is Status.UP else Status.UP
                    flip_state[index] = target
                    event_id = f"{bench.run}-f{sent}"
                    # A status report asserts the status itself; a single probe does not
                    # (the detectors decide from several), so it would measure nothing here.
                    obs = mix.observation(
                        ref,
                        event_id=event_id,
                        observed_at=stamp,
                        status=target,
                        kind=Kind.STATUS_REPORT,
                    )
                    send_at[event_id] = stamp
                    if target is Status.DOWN and ref.service_id not in opened_for:
                        # Only a service's first outage opens an incident ("detected"); its
                        # later flips within minutes reopen that one (flapping). The
                        # incident's start is the event time as the worker parses it.
                        opened_for.add(ref.service_id)
                        opened_at = parse_rfc3339(format_rfc3339(stamp))
                        down_sent[(ref.service_id, round(opened_at, 3))] = stamp
                else:
                    ref = service_ref(sent % background_services, namespace="lat")
                    obs = mix.observation(
                        ref,
                        event_id=f"{bench.run}-b{sent}",
                        observed_at=stamp,
                        status=Status.UP,
                    )
                producer.send(topics.observations, key=ref.service_id.encode(), value=obs.to_json())
                sent += 1
            if len(quiet_sent) < len(quiet) and now >= next_quiet:
                ref = quiet[len(quiet_sent)]
                stamp = round(time.time(), 3)
                obs = mix.observation(
                    ref,
                    event_id=f"{bench.run}-q{len(quiet_sent)}",
                    observed_at=stamp,
                    kind=Kind.HEARTBEAT,
                    attrs={"expected_interval_s": 1},
                )
                producer.send(topics.observations, key=ref.service_id.encode(), value=obs.to_json())
                quiet_sent[ref.service_id] = stamp
                next_quiet += quiet_every
            bench.progress.update(sent, rate * seconds)
            time.sleep(min(0.002, period))
        produced_for = time.monotonic() - started
        producer.flush(timeout=60)
        group = GroupProgress(
            bench.base.kafka_bootstrap, f"{bench.run}-lat", topics.observations, security=security
        )
        try:
            # Committed offsets trail by up to a commit interval; a large gap means overload.
            backlog = len(warm) + sent + len(quiet_sent) - group.committed()
        finally:
            group.close()
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
        producer.close(timeout=30)
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
    return {
        "target_rate_obs_per_s": rate,
        "achieved_rate_obs_per_s": sent / produced_for,
        "uncommitted_at_end": backlog,
        "seconds": produced_for,
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
