"""The benchmark stages. Each returns a JSON-able dict of figures; none gates on speed."""

from __future__ import annotations

import cProfile
import gc
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from influxdb_client.client.influxdb_client import InfluxDBClient
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from pipeline.bench.completion import Completion, wait_through
from pipeline.bench.data import ObservationMix, service_ref
from pipeline.bench.kafka_io import (
    GroupProgress,
    IncidentRecord,
    StatusRecord,
    TopicReader,
    consume_ceiling,
    delete_run,
    last_timestamp,
    produce_bare,
)
from pipeline.bench.progress import Progress
from pipeline.bench.workers import BenchWorker, free_port
from pipeline.config.settings import DEFAULT_LIVE_STATES, Settings, TopicNames
from pipeline.core.schema import Kind, Status
from pipeline.core.timeutil import format_rfc3339, parse_rfc3339
from pipeline.core.validation import parse_observation
from pipeline.metrics.worker import WorkerMetrics
from pipeline.monitoring.monitor import Monitoring, MonitorParams
from pipeline.monitoring.status import SilencePolicy, StatusTracker
from pipeline.ops.influx_admin import drop_database, ensure_database
from pipeline.ops.topics import ensure_topics
from pipeline.sinks.influx import InfluxSink
from pipeline.worker.live_states import LiveStates
from pipeline.worker.processor import ObservationProcessor

log = structlog.get_logger(__name__)

Records = list[tuple[bytes, bytes]]

#: Services get this expected interval in throughput and state runs, so evidence produced a
#: few minutes before a worker reads it does not go silent in the middle of the measurement.
QUIET_INTERVAL_S = 86_400.0
#: Observations per flush of the processor stage: the worker's default batch size.
PROCESSOR_BATCH = 2_000


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 99)
    (2.0, 4.0)
    """
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summarise(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"count": 0.0}
    return {
        "count": float(len(values)),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


@dataclass
class BenchRun:
    """One invocation: a unique namespace (topics, groups, database) and its workers."""

    base: Settings
    progress: Progress
    workdir: Path
    run: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:10]}")
    #: Longest a worker stage may wait for its group to get through the topic.
    stage_timeout: float = 900.0
    #: Seconds without committed progress that count as a commit stall (see completion).
    stall_after: float = 60.0
    workers: list[BenchWorker] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    @property
    def influx_bucket(self) -> str:
        return f"{self.run.replace('-', '_')}/autogen"

    @property
    def topics(self) -> TopicNames:
        """The main (pre-filled) namespace."""
        return TopicNames(f"{self.run}.")

    def namespace(self, name: str) -> TopicNames:
        return TopicNames(f"{self.run}-{name}.")

    def wait_through(
        self,
        group: GroupProgress,
        workers: Sequence[BenchWorker],
        target: int,
        *,
        total: int,
        deadline: float,
    ) -> Completion:
        """:func:`~pipeline.bench.completion.wait_through` with this run's progress display
        and ``stall_after``."""
        return wait_through(
            group,
            workers,
            target,
            total=total,
            deadline=deadline,
            progress=self.progress,
            stall_after=self.stall_after,
        )

    def prepare(self) -> None:
        ensure_database(self.base.influx_url, self.influx_bucket)

    def worker(
        self,
        name: str,
        topics: TopicNames,
        app_id: str,
        *,
        default_interval: float,
        extra_env: dict[str, str] | None = None,
    ) -> BenchWorker:
        port = free_port()
        if app_id not in self.groups:
            self.groups.append(app_id)
        env = {
            "CW_KAFKA_BOOTSTRAP": self.base.kafka_bootstrap,
            "CW_TOPIC_PREFIX": topics.prefix,
            "CW_APP_ID": app_id,
            "CW_PARTITIONS": str(self.base.partitions),
            "CW_METRICS_PORT": str(port),
            "CW_INFLUX_URL": self.base.influx_url,
            "CW_INFLUX_BUCKET": self.influx_bucket,
            "CW_WORKER_DATA_DIR": str(self.workdir / name),
            "CW_DEFAULT_INTERVAL_S": str(default_interval),
            "CW_SILENCE_CHECK_S": str(self.base.silence_check_interval),
            "CW_INFLUX_FLUSH_S": str(self.base.influx_flush_interval),
            **(extra_env or {}),
        }
        worker = BenchWorker(name, env, self.workdir / f"{name}.log", port)
        self.workers.append(worker)
        return worker

    def cleanup(self, *, keep_topics: bool = False) -> None:
        for worker in self.workers:
            try:
                worker.stop()
            except Exception as exc:
                log.warning("bench_worker_stop_failed", worker=worker.name, error=repr(exc))
        if keep_topics:
            return
        try:
            deleted = delete_run(self.base.kafka_bootstrap, self.run, self.groups)
            log.info("bench_topics_deleted", count=len(deleted), run=self.run)
        except Exception as exc:
            log.warning("bench_topic_cleanup_failed", run=self.run, error=repr(exc))
        try:
            drop_database(self.base.influx_url, self.influx_bucket)
        except Exception as exc:
            log.warning("bench_influx_cleanup_failed", bucket=self.influx_bucket, error=repr(exc))


# --- 1. fill + producer baseline ---------------------------------------------------------


def generate(observations: int, services: int, run: str) -> tuple[Records, dict[str, float]]:
    """Build the payloads (Observation → JSON), timed: the serialisation side of a producer."""
    mix = ObservationMix(services)
    started = time.perf_counter()
    records = mix.payloads(observations, run=run, start=time.time() - 600.0, span=600.0)
    elapsed = time.perf_counter() - started
    return records, {
        "observations": float(observations),
        "services": float(services),
        "seconds": elapsed,
        "obs_per_s": observations / elapsed,
        "mean_bytes": sum(len(v) for _, v in records) / max(1, len(records)),
    }


def fill(bench: BenchRun, records: Records) -> dict[str, float]:
    topic = bench.topics.observations
    ensure_topics(bench.base.kafka_bootstrap, [topic], partitions=bench.base.partitions)
    result = produce_bare(bench.base.kafka_bootstrap, topic, records, progress=bench.progress)
    result["partitions"] = float(bench.base.partitions)
    return result


# --- 2. ceiling --------------------------------------------------------------------------


def ceiling(bench: BenchRun, expected: int) -> dict[str, float]:
    return consume_ceiling(
        bench.base.kafka_bootstrap,
        bench.topics.observations,
        expected,
        partitions=bench.base.partitions,
        progress=bench.progress,
    )


# --- 3. pipeline throughput (1 or more workers) --------------------------------------------


def worker_throughput(
    bench: BenchRun,
    expected: int,
    *,
    workers: int,
    sample_worker: bool = False,
    label: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Workers in one fresh consumer group over the pre-filled topic; time until all consumed.

    Progress comes from the group's committed offsets (scraping /metrics would cost the
    worker more than the work: every service is a labelled series), or after a commit stall
    from the workers' counters (see :mod:`pipeline.bench.completion`); the end is the timestamp
    of the newest changelog record, i.e. when the last observation was applied. Elapsed time
    runs from the first worker's readiness, so with two workers it includes the rebalance.
    """
    label = label or f"x{workers}"
    app_id = f"{bench.run}-{label}"
    procs = [
        bench.worker(
            f"{label}-{i}",
            bench.topics,
            app_id,
            default_interval=QUIET_INTERVAL_S,
            extra_env=extra_env,
        )
        for i in range(workers)
    ]
    group = GroupProgress(bench.base.kafka_bootstrap, app_id, bench.topics.observations)
    for proc in procs:
        proc.start()
    deadline = time.monotonic() + bench.stage_timeout
    try:
        # Poll every worker each round (no short-circuit): a worker's readiness time is when
        # we first see it, and the first one ready may finish a small topic alone.
        while not all([p.poll_ready() for p in procs]):
            if time.monotonic() > deadline:
                raise TimeoutError("workers not ready")
            time.sleep(0.05)
        first_ready = min(p.ready_wall or 0.0 for p in procs)
        all_ready = max(p.ready_wall or 0.0 for p in procs)
        spy = (
            PySpy.attach(procs[0].pid, bench.workdir / "worker.pyspy.txt")
            if sample_worker
            else None
        )
        cpu0 = [p.cpu() for p in procs]
        completion = bench.wait_through(group, procs, expected, total=expected, deadline=deadline)
        noticed = time.time()
        cpu = [p.cpu() - c for p, c in zip(procs, cpu0, strict=True)]
        rss = [p.rss() for p in procs]
        samples = [p.sample() for p in procs]
        sampled = spy.finish() if spy is not None else None
    finally:
        group.close()
        for proc in procs:
            proc.stop()
    changelog = f"{app_id}-service-state-changelog"
    finished = last_timestamp(bench.base.kafka_bootstrap, changelog) or noticed
    elapsed = finished - first_ready
    return {
        "workers": workers,
        "extra_env": extra_env or {},
        "observations": expected,
        "processed": sum(s.processed for s in samples),
        "rejected": sum(s.rejected for s in samples),
        "seconds": elapsed,
        "obs_per_s": expected / elapsed,
        "end_from": "changelog timestamp" if finished != noticed else "offsets poll",
        "ready_spread_s": all_ready - first_ready,
        "startup_s": [(p.ready_at or 0.0) - p.started_at for p in procs],
        "worker_cpu_s": cpu,
        "cpu_us_per_obs": 1e6 * sum(cpu) / expected,
        "obs_per_cpu_s": expected / sum(cpu) if sum(cpu) else None,
        "rss_bytes": rss,
        "py_spy": sampled,
        # Committed offsets per partition when the group stopped committing, if it did.
        "commit_stalled": completion.stalled_offsets,
    }


@dataclass
class PySpy:
    """``py-spy record`` attached to a worker; its collapsed stacks summarised on finish."""

    proc: subprocess.Popen[bytes] | None
    path: Path

    @classmethod
    def attach(cls, pid: int, path: Path) -> PySpy:
        exe = shutil.which("py-spy")
        if exe is None:
            log.warning("bench_py_spy_missing", hint="pip install py-spy")
            return cls(None, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(path),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return cls(proc, path)

    def finish(self, *, top: int = 40) -> dict[str, Any] | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if not self.path.exists():
            return None
        return summarise_collapsed(self.path.read_text(), top=top)


def summarise_collapsed(text: str, *, top: int = 25) -> dict[str, Any]:
    r"""Own (leaf) and inclusive shares per frame from py-spy's collapsed ``raw`` output.

    >>> out = summarise_collapsed("a;b 3\na;c 1\n", top=2)
    >>> out["own"][0], out["inclusive"][0]["frame"]
    ({'frame': 'b', 'pct': 75.0}, 'a')
    """
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short_frame(f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def rows(table: dict[str, int]) -> list[dict[str, Any]]:
        ordered = sorted(table.items(), key=lambda item: item[1], reverse=True)[:top]
        return [{"frame": f, "pct": round(100.0 * n / total, 2)} for f, n in ordered]

    return {"samples": total, "own": rows(own), "inclusive": rows(inclusive)}


def _short_frame(frame: str) -> str:
    # "func (/long/path/site-packages/pkg/mod.py:123)" -> "func (pkg/mod.py)"
    func, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{func} ({path})" if path else func


# --- 3b. the processor alone, in process ---------------------------------------------------


def make_processor(
    client: InfluxDBClient | None = None, sink_capacity: int = 1
) -> ObservationProcessor:
    """The worker's processor with its metrics and, given a client, its InfluxDB sink
    (never flushed here); services get the quiet bench interval."""
    metrics = WorkerMetrics(CollectorRegistry())
    sink = (
        InfluxSink(
            client, bucket="bench/autogen", org="-", metrics=metrics, max_buffer=sink_capacity
        )
        if client is not None
        else None
    )
    monitoring = Monitoring(MonitorParams(silence=SilencePolicy(default_interval=QUIET_INTERVAL_S)))
    return ObservationProcessor(monitoring, metrics, sink=sink)


def processor_only(
    records: Records,
    influx_url: str,
    *,
    progress: Progress | None = None,
    profile: cProfile.Profile | None = None,
) -> dict[str, Any]:
    """``ObservationProcessor.handle`` over the payloads with a plain dict store."""
    client = InfluxDBClient(url=influx_url, token="bench", org="-")
    processor = make_processor(client, len(records) + 1)
    store: dict[str, Any] = {}
    live = LiveStates(store, processor.monitoring)
    statuses = 0
    rejected = 0
    try:
        gc.collect()
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profile is not None:
            profile.enable()
        for offset, (_key, value) in enumerate(records):
            out = processor.handle(value, live, topic="bench", partition=0, offset=offset)
            if offset % PROCESSOR_BATCH == PROCESSOR_BATCH - 1:
                processor.flush(live)
            statuses += len(out.status)
            rejected += len(out.deadletter)
            if progress is not None and offset % 20_000 == 0:
                progress.update(offset, len(records))
        processor.flush(live)
        if profile is not None:
            profile.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        client.close()  # type: ignore[no-untyped-call]
    if progress is not None:
        progress.update(len(records), len(records), force=True)
    return {
        "observations": len(records),
        "seconds": elapsed,
        "obs_per_s": len(records) / elapsed,
        "cpu_us_per_obs": 1e6 * cpu / max(1, len(records)),
        "obs_per_cpu_s": len(records) / cpu if cpu else None,
        "status_changes": statuses,
        "rejected": rejected,
        "services": len(store),
    }


def profile_processor(
    records: Records, influx_url: str, *, top: int = 20, root: Path | None = None
) -> dict[str, Any]:
    """cProfile of the processor path; the top functions by own time and by cumulative time."""
    profiler = cProfile.Profile()
    result = processor_only(records, influx_url, profile=profiler)
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
    base = str(root or Path.cwd())

    def name(key: tuple[str, int, str]) -> str:
        filename, line, func = key
        if filename.startswith(base):
            filename = filename[len(base) + 1 :]
        elif "site-packages/" in filename:
            filename = filename.split("site-packages/", 1)[1]
        elif "/lib/python" in filename:
            filename = "stdlib:" + filename.rsplit("/", 1)[-1]
        return f"{filename}:{line}({func})" if line else func

    def rows(index: int) -> list[dict[str, Any]]:
        ordered = sorted(raw.items(), key=lambda item: item[1][index], reverse=True)[:top]
        return [
            {
                "function": name(key),
                "calls": nc,
                "tottime_s": tt,
                "cumtime_s": ct,
                "own_pct": 100.0 * tt / total if total else 0.0,
                "us_per_obs_cum": 1e6 * ct / max(1, len(records)),
            }
            for key, (_cc, nc, tt, ct, _callers) in ordered
        ]

    return {
        "observations": len(records),
        "profiled_obs_per_s": result["obs_per_s"],
        "profiled_seconds": total,
        "by_own_time": rows(2),
        "by_cumulative_time": rows(3),
    }


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
    ensure_topics(bench.base.kafka_bootstrap, topics.all(), partitions=bench.base.partitions)
    reader = TopicReader(bench.base.kafka_bootstrap, topics.status, StatusRecord.parse).start()
    incident_reader = TopicReader(
        bench.base.kafka_bootstrap, topics.incidents, IncidentRecord.parse
    ).start()
    worker = bench.worker(
        "latency", topics, f"{bench.run}-lat", default_interval=bench.base.default_interval
    )
    mix = ObservationMix(background_services, namespace="lat")
    flips = [service_ref(i, namespace="flip") for i in range(64)]
    quiet = [service_ref(i, namespace="quiet") for i in range(silent_services)]
    producer = KafkaProducer(bootstrap_servers=bench.base.kafka_bootstrap, linger_ms=1)
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
        group = GroupProgress(bench.base.kafka_bootstrap, f"{bench.run}-lat", topics.observations)
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


def _wait(probe: Callable[[], bool], timeout: float, what: str, *, fail: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.1)
    if fail:
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
    log.warning("bench_wait_timed_out", what=what, timeout=timeout)
    return False


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
        bench.base.kafka_bootstrap, [topics.observations], partitions=bench.base.partitions
    )
    worker = bench.worker("state", topics, app_id, default_interval=QUIET_INTERVAL_S)
    mix = ObservationMix(1, namespace="state")
    points: list[dict[str, Any]] = []
    group = GroupProgress(bench.base.kafka_bootstrap, app_id, topics.observations)
    try:
        worker.start().wait_ready()
        time.sleep(3.0)
        baseline = worker.rss()
        previous = 0
        for size in sorted(sizes):
            records = mix.first_sightings(previous, size, run=bench.run, observed_at=time.time())
            started = time.monotonic()
            produce_bare(bench.base.kafka_bootstrap, topics.observations, records)
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
    * ``silence_rebuild_us`` / ``silence_tick_us``: CPU per service of rebuilding the check
      deadlines from the table (after recovery or rebalance) and of a steady tick.
    """
    import orjson

    from pipeline.metrics.service_status import ServiceStatusExport
    from pipeline.monitoring.monitor import ServiceMonitor
    from pipeline.monitoring.status import RECENT_EVENT_IDS
    from pipeline.worker.live_states import LiveStates

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
        "changelog_json_bytes_per_service": float(len(sample)),
        "changelog_json_bytes_full_ring": float(len(ring_json)),
        "silence_rebuild_us_per_service": 1e6 * rebuild / services,
        "silence_tick_us_per_service": 1e6 * tick_cpu / services,
    }


def provenance(root: Path) -> dict[str, Any]:
    """Which code was measured: git HEAD, whether the worker's files differ from it, and a
    digest of those files (worker subprocesses import whatever is on disk when they start)."""
    import hashlib

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.decode(errors="replace").rstrip()

    digest = hashlib.sha256()
    files = sorted(
        [
            *root.glob("pipeline/worker/*.py"),
            *root.glob("pipeline/*.py"),
            *root.glob("pipeline/detection/*.py"),
            *root.glob("pipeline/incidents/*.py"),
        ]
    )
    for path in files:
        digest.update(path.read_bytes())
    return {
        "git_head": git("rev-parse", "HEAD"),
        "dirty": [line[3:] for line in git("status", "--porcelain", "pipeline").splitlines()],
        "pipeline_sha256": digest.hexdigest(),
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import platform

    mem = 0.0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024.0
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
    }
