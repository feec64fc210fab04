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

from pipeline.bench.data import ObservationMix
from pipeline.bench.kafka_io import GroupProgress, end_offsets, produce_bare
from pipeline.bench.stages.common import QUIET_INTERVAL_S, BenchRun, log
from pipeline.ops.topics import ensure_topics


def recovery(
    bench: BenchRun, services: int, *, per_service_timeout: float = 0.01
) -> dict[str, Any]:
    """Fill one worker with ``services`` services, ``kill -9`` it, time the replacement."""
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
        records = mix.first_sightings(0, services, run=bench.run, observed_at=time.time())
        started = time.monotonic()
        produce_bare(
            bench.base.kafka_bootstrap, topics.observations, records, security=bench.security
        )
        del records
        deadline = time.monotonic() + 120.0 + services * per_service_timeout
        committed = 0
        while committed < services and time.monotonic() < deadline:
            time.sleep(1.0)
            committed = group.committed()
            bench.progress.update(committed, services, "services")
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
        finally:
            second.stop()
    finally:
        group.close()
        first.stop()
    return {
        "services": services,
        "committed_before_kill": committed,
        "ingest_s": ingest_s,
        "changelog_records": changelog_records,
        "empty_start_to_ready_s": empty_ready_s,
        "start_to_ready_after_kill_s": recovered_s,
        "replay_s": recovered_s - empty_ready_s,
        "replay_records_per_s": changelog_records / max(recovered_s - empty_ready_s, 1e-9),
        "tracked_after_recovery": tracked,
        "rss_after_recovery_bytes": rss,
    }
