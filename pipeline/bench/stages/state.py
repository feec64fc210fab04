"""Stage 5: state size per service (worker RSS, dict sizes, changelog JSON)."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.bench.data import ObservationMix
from pipeline.bench.kafka_io import (
    GroupProgress,
    produce_bare,
)
from pipeline.bench.stages.common import (
    QUIET_INTERVAL_S,
    BenchRun,
    log,
)
from pipeline.bench.stages.processor import make_processor
from pipeline.config.settings import DEFAULT_LIVE_STATES
from pipeline.core.validation import parse_observation
from pipeline.monitoring.status import SilencePolicy, StatusTracker
from pipeline.ops.topics import ensure_topics
from pipeline.worker.live_states import LiveStates

# --- 5. state size -------------------------------------------------------------------------


def state_size(
    bench: BenchRun, sizes: Sequence[int], *, per_service_timeout: float = 0.01
) -> dict[str, Any]:
    """RSS of one worker as it learns ``sizes`` distinct services (one observation each).

    Completion is read from the group's committed offsets, not from /metrics: rendering a
    million labelled series would itself inflate the resident set being measured.
    """
    topics = bench.namespace("state")
    app_id = f"{bench.run}-state"
    ensure_topics(
        bench.base.kafka_bootstrap,
        [topics.observations],
        partitions=bench.base.partitions,
        security=bench.security,
    )
    worker = bench.worker("state", topics, app_id, default_interval=QUIET_INTERVAL_S)
    mix = ObservationMix(1, namespace="state")
    points: list[dict[str, Any]] = []
    group = GroupProgress(
        bench.base.kafka_bootstrap, app_id, topics.observations, security=bench.security
    )
    try:
        worker.start().wait_ready()
        time.sleep(3.0)
        baseline = worker.rss()
        previous = 0
        for size in sorted(sizes):
            records = mix.first_sightings(previous, size, run=bench.run, observed_at=time.time())
            started = time.monotonic()
            produce_bare(
                bench.base.kafka_bootstrap, topics.observations, records, security=bench.security
            )
            del records
            timeout = 120.0 + (size - previous) * per_service_timeout
            deadline = time.monotonic() + timeout
            committed = 0
            while committed < size and time.monotonic() < deadline:
                time.sleep(1.0)
                committed = group.committed()
                bench.progress.update(committed, size, "services")
            ingest = time.monotonic() - started
            time.sleep(3.0)  # a few silence ticks: the steady state, not the ingest peak
            rss = worker.rss()
            point = {
                "services": size,
                "committed": committed,
                "complete": committed >= size,
                "rss_bytes": rss,
                "rss_baseline_bytes": baseline,
                "bytes_per_service": (rss - baseline) / size,
                "ingest_seconds": ingest,
                "ingest_obs_per_s": (size - previous) / ingest,
                "worker_cpu_s": worker.cpu(),
            }
            points.append(point)
            bench.progress.note(
                f"{size:,} services: RSS {rss / 2**20:,.0f} MiB, "
                f"{point['bytes_per_service']:,.0f} B/service"
            )
            if committed < size:
                log.warning("bench_state_incomplete", services=size, committed=committed)
                break
            previous = size
    finally:
        group.close()
        worker.stop()
    return {"points": points}


def dict_size(
    services: int = 10_000, *, live_capacity: int = DEFAULT_LIVE_STATES
) -> dict[str, float]:
    """In-process bytes per service, via tracemalloc.

    * ``service_state_bytes``: one ``ServiceState.to_dict()`` (first sighting);
    * ``table_bytes`` / ``table_bytes_full_ring``: what the worker's table holds per service
      (key and JSON bytes of the stored monitor) after one observation and after enough to
      fill the ring of remembered event ids;
    * ``live_monitor_bytes``: one decoded ``ServiceMonitor`` (kept for the most recently
      used services, up to ``live_capacity``, the worker's ``CW_LIVE_STATES``);
    * ``export_bytes``: the per-service status index the Prometheus collector reads;
    * ``processor_retained_bytes``: all the processor path keeps per service (table, live
      monitors up to ``live_capacity``, deadlines, export);
    * ``restored_bytes``: all a worker keeps per service after restoring these services
      from its changelogs (:func:`_restore`: table, the ledger's reference, deadlines,
      export; no live monitors yet);
    * ``silence_rebuild_us`` / ``silence_tick_us``: CPU per service of rebuilding the check
      deadlines from the table (after recovery or rebalance) and of a steady tick.
    """
    import orjson

    from pipeline.metrics.service_status import ServiceStatusExport
    from pipeline.monitoring.monitor import ServiceMonitor
    from pipeline.monitoring.status import RECENT_EVENT_IDS

    mix = ObservationMix(1, namespace="size")
    now = time.time()
    raws = [v for _, v in mix.first_sightings(0, services, run="size", observed_at=now)]
    tracker = StatusTracker(SilencePolicy())

    def traced(build: Callable[[], Any]) -> tuple[Any, int]:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            built = build()
            gc.collect()
            return built, tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()

    def service_states() -> list[Any]:
        out = []
        for raw in raws:
            obs = parse_observation(raw, now=now)
            state, _change, _outcome = tracker.observe(None, obs, partition=0)
            out.append(orjson.loads(orjson.dumps(state.to_dict())))
        return out

    def table_copy(store: dict[str, Any]) -> dict[bytes, bytes]:
        # Fresh, right-sized key and value objects, as a table recovered from the changelog
        # holds them (not orjson.dumps output, which keeps its ~8 KiB working buffer).
        return {k.encode(): bytes(memoryview(v)) for k, v in store.items()}

    _states, state_bytes = traced(service_states)
    del _states
    processor = make_processor()
    params = processor.monitoring.params
    store: dict[str, Any] = {}
    ring_store: dict[str, Any] = {}
    ring = min(services, 2_000)
    live = LiveStates(store, processor.monitoring, capacity=live_capacity)

    def first_pass() -> None:
        for offset, raw in enumerate(raws):
            processor.handle(raw, live, topic="size", partition=0, offset=offset)
        processor.flush(live)
        live.due(now, {0})

    _none, retained = traced(first_pass)
    _table, table_bytes = traced(lambda: table_copy(store))
    del _table
    refs = {key: _ref_record(value) for key, value in store.items()}
    _restored, restored_bytes = traced(lambda: _restore(store, refs, processor.monitoring, now))
    del _restored
    refs.clear()
    _live, live_bytes = traced(
        lambda: [ServiceMonitor.from_dict(orjson.loads(v), params) for v in store.values()]
    )
    del _live

    def export_all() -> ServiceStatusExport:
        export = ServiceStatusExport(CollectorRegistry())
        for value in store.values():
            export.update_stored(orjson.loads(value))
        return export

    _export, export_bytes = traced(export_all)
    del _export
    sample = next(iter(store.values()))
    rebuilt = LiveStates(store, processor.monitoring, capacity=0)
    started = time.process_time()
    rebuilt.due(now, {0})
    rebuild = time.process_time() - started
    started = time.process_time()
    ticks = 100
    for _ in range(ticks):
        processor.check(live, {0})
    tick_cpu = (time.process_time() - started) / ticks
    ring_live = LiveStates(ring_store, processor.monitoring)
    for round_ in range(RECENT_EVENT_IDS + 1):
        batch = mix.first_sightings(0, ring, run=f"ring{round_}", observed_at=now + round_)
        for offset, (_key, raw) in enumerate(batch):
            processor.handle(raw, ring_live, topic="size", partition=0, offset=offset)
        processor.flush(ring_live)
    _ring, ring_bytes = traced(lambda: table_copy(ring_store))
    del _ring
    ring_json = next(iter(ring_store.values()))
    return {
        "services": float(services),
        "live_capacity": float(live_capacity),
        "service_state_bytes_per_service": state_bytes / services,
        "table_bytes_per_service": table_bytes / services,
        "table_bytes_per_service_full_ring": ring_bytes / ring,
        "live_monitor_bytes_per_service": live_bytes / services,
        "export_bytes_per_service": export_bytes / services,
        "processor_retained_bytes_per_service": retained / services,
        "restored_bytes_per_service": restored_bytes / services,
        "changelog_json_bytes_per_service": float(len(sample)),
        "changelog_json_bytes_full_ring": float(len(ring_json)),
        "silence_rebuild_us_per_service": 1e6 * rebuild / services,
        "silence_tick_us_per_service": 1e6 * tick_cpu / services,
    }


def _ref_record(stored: bytes) -> bytes:
    """The ledger's changelog record of a stored service's reference."""
    import orjson

    state = orjson.loads(stored)["state"]
    fields = ("service_id", "operator_id", "sector", "region", "customers_served")
    return orjson.dumps({name: state.get(name) for name in fields})


def _restore(
    store: dict[str, bytes], refs: dict[str, bytes], monitoring: Any, now: float
) -> tuple[Any, ...]:
    """What a worker holds after its bulk read of these services' changelog records (fresh
    key and value objects, faust's key → partition map, the ledger's references in their
    in-memory form) and the first check's deadline rebuild and status export."""
    import orjson

    from pipeline.metrics.service_status import ServiceStatusExport
    from pipeline.worker.batch_send import BatchedChangelog
    from pipeline.worker.table_values import LEDGER_SERVICES_TABLE, RESTORED_FORMS

    class Table(dict[bytes, Any]):
        @property
        def data(self) -> dict[bytes, Any]:
            return self

    in_form = RESTORED_FORMS.get(LEDGER_SERVICES_TABLE, lambda value: value)
    data, ledger, key_partition = Table(), Table(), {}
    for key, value in store.items():
        raw = bytes(memoryview(key.encode()))
        data[raw] = bytes(memoryview(value))
        key_partition[raw] = 0
        ledger[bytes(memoryview(key.encode()))] = in_form(orjson.loads(refs[key]))
    live = LiveStates(BatchedChangelog(data), monitoring, capacity=0)
    live.due(now, {0})
    export = ServiceStatusExport(CollectorRegistry())
    for _key, stored in live.take_membership_changes().recovered:
        export.update_stored(stored)
    return data, key_partition, ledger, live, export
