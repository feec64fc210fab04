"""Stage 6: how long a worker takes to be ready again after ``kill -9`` (changelog replay).

One worker learns ``services`` distinct services (one observation each), its offsets are
committed (faust flushes the changelog before committing), then it is killed with SIGKILL
and a fresh process with the same application id starts: faust replays the service-state
changelog before it logs ready. Recovery is that start-to-ready time, next to the start-to-
ready time of the first (empty) worker, and the replacement's tracked services confirm the
state came back. Most of a small recovery is the group coordinator waiting out the killed
member's session (faust's ``broker_session_timeout``, 60 s) before it hands its partitions on;
the worker's log tells that wait ("generation id") from the changelog read ("Restoring state").
"""

from __future__ import annotations

import signal
import time
from typing import Any

import orjson

from pipeline.bench.data import ObservationMix
from pipeline.bench.kafka_io import GroupProgress, end_offsets, produce_bare
from pipeline.bench.stages.common import QUIET_INTERVAL_S, BenchRun, log
from pipeline.bench.stages.recovery_fill import bulk_fill
from pipeline.core.timeutil import parse_rfc3339
from pipeline.ops.topics import ensure_topics

#: How the killed worker gets its services (see :func:`recovery`).
FILLS = ("worker", "bulk")


def recovery(
    bench: BenchRun, services: int, *, fill: str = "worker", per_service_timeout: float = 0.01
) -> dict[str, Any]:
    """Fill one worker with ``services`` services, ``kill -9`` it, time the replacement.

    ``fill="worker"``: the worker ingests one observation per service and commits it;
    ``fill="bulk"``: the state is computed in process and produced to the changelogs while
    the worker idles (:mod:`.recovery_fill`, minutes faster at a million services)."""
    if fill not in FILLS:
        raise ValueError(f"recovery fill must be one of {', '.join(FILLS)}, not {fill!r}")
    topics = bench.namespace("recovery")
    app_id = f"{bench.run}-recovery"
    ensure_topics(
        bench.base.kafka_bootstrap,
        [topics.observations],
        partitions=bench.base.partitions,
        security=bench.security,
    )
    first = bench.worker("recovery-a", topics, app_id, default_interval=QUIET_INTERVAL_S)
    group = GroupProgress(
        bench.base.kafka_bootstrap, app_id, topics.observations, security=bench.security
    )
    mix = ObservationMix(1, namespace="recovery")
    try:
        first.start()
        empty_ready_s = first.wait_ready() - first.started_at
        empty_rss = first.rss()
        started = time.monotonic()
        if fill == "bulk":
            filled = bulk_fill(
                bench.base.kafka_bootstrap,
                app_id,
                mix,
                services,
                run=bench.run,
                partitions=bench.base.partitions,
                observed_at=time.time(),
                progress=lambda done, total: bench.progress.update(done, total, "services"),
                security=bench.security,
            )
            committed = services
        else:
            filled = {}
            timeout = 120.0 + services * per_service_timeout
            committed = _ingest(bench, topics.observations, group, mix, services, timeout=timeout)
        ingest_s = time.monotonic() - started
        if committed < services:
            log.warning("bench_recovery_incomplete", services=services, committed=committed)
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=30)
        changelog = f"{app_id}-service-state-changelog"
        changelog_records = sum(
            end_offsets(bench.base.kafka_bootstrap, changelog, security=bench.security).values()
        )
        ledger_records = sum(
            end_offsets(
                bench.base.kafka_bootstrap,
                f"{app_id}-ledger-services-changelog",
                security=bench.security,
            ).values()
        )
        second = bench.worker("recovery-b", topics, app_id, default_interval=QUIET_INTERVAL_S)
        second.start()
        try:
            ready_s = second.wait_ready(timeout=600.0 + services * per_service_timeout)
            recovered_s = ready_s - second.started_at
            # The first silence tick after recovery rebuilds the deadlines and counts them.
            tracked = 0.0
            counted_by = time.monotonic() + 60.0
            while tracked < committed and time.monotonic() < counted_by:
                time.sleep(1.0)
                tracked = second.sample(timeout=120.0).tracked
            rss = second.rss()
            phases = recovery_phases(second.log_path.read_bytes())
        finally:
            second.stop()
    finally:
        group.close()
        first.stop()
    return {
        "services": services,
        "fill": fill,
        "state_record_bytes_per_service": filled.get("state_record_bytes_per_service"),
        "committed_before_kill": committed,
        "ingest_s": ingest_s,
        "changelog_records": changelog_records,
        "ledger_services_records": ledger_records,
        **phases,
        "empty_start_to_ready_s": empty_ready_s,
        "start_to_ready_after_kill_s": recovered_s,
        "ready_minus_empty_ready_s": recovered_s - empty_ready_s,
        "restore_records_per_s": (changelog_records + ledger_records)
        / max(phases.get("restore_s") or (recovered_s - empty_ready_s), 1e-9),
        "tracked_after_recovery": tracked,
        "rss_after_recovery_bytes": rss,
        "empty_worker_rss_bytes": empty_rss,
        "rss_bytes_per_service": (rss - empty_rss) / max(1, services),
    }


def _ingest(
    bench: BenchRun,
    topic: str,
    group: GroupProgress,
    mix: ObservationMix,
    services: int,
    *,
    timeout: float,
) -> int:
    """One first sighting per service through the worker; returns the committed count."""
    records = mix.first_sightings(0, services, run=bench.run, observed_at=time.time())
    produce_bare(bench.base.kafka_bootstrap, topic, records, security=bench.security)
    del records
    deadline = time.monotonic() + timeout
    committed = 0
    while committed < services and time.monotonic() < deadline:
        time.sleep(1.0)
        committed = group.committed()
        bench.progress.update(committed, services, "services")
    return committed


#: Log lines that mark the phases of a worker's start (see :func:`recovery_phases`).
_PHASES = {
    "recovery_started": b"[^---Recovery]: Starting",
    "assigned": b"Executing _on_partitions_assigned",
    "bulk_started": b"changelog_bulk_load_started",
    "faust_replay_started": b"Restoring state from changelog",
    "faust_replay_done": b"Done reading from changelog",
    "ready": b"[^Worker]: Ready",
}
_LAST = {"bulk_done": b"changelog_bulk_loaded"}


def recovery_phases(log: bytes) -> dict[str, float | None]:
    """Seconds of a worker's start, from its JSON log lines: the session wait (recovery
    starts → partitions assigned: the group waiting out a killed member), the state restore
    (assigned → ready), and within it the bulk read (first read started → last one done)
    and faust's own replay (restoring → done reading; None when there was nothing left).

    >>> line = '{{"event": "{}", "timestamp": "2026-11-29T19:10:{}Z"}}'.format
    >>> lines = [line("[^---Recovery]: Starting...", 20),
    ...          line("Executing _on_partitions_assigned", 26),
    ...          line("changelog_bulk_load_started", 27), line("changelog_bulk_loaded", 30),
    ...          line("changelog_bulk_loaded", 31), line("[^Worker]: Ready", 32)]
    >>> recovery_phases("\\n".join(lines).encode())
    {'session_wait_s': 6.0, 'restore_s': 6.0, 'bulk_load_s': 4.0, 'faust_replay_s': None}
    """
    seen: dict[str, float] = {}
    for line in log.splitlines():
        marks = [(phase, mark, False) for phase, mark in _PHASES.items() if phase not in seen]
        marks += [(phase, mark, True) for phase, mark in _LAST.items()]
        for phase, mark, last in marks:
            if mark in line:
                try:
                    stamp = orjson.loads(line)["timestamp"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
                if last or phase not in seen:
                    seen[phase] = parse_rfc3339(stamp)

    def between(start: str, end: str) -> float | None:
        return seen[end] - seen[start] if start in seen and end in seen else None

    return {
        "session_wait_s": between("recovery_started", "assigned"),
        "restore_s": between("assigned", "ready"),
        "bulk_load_s": between("bulk_started", "bulk_done"),
        "faust_replay_s": between("faust_replay_started", "faust_replay_done"),
    }
