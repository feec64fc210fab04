"""Stage 3: pipeline throughput with one or more real worker processes (and py-spy)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.bench.attribution import (
    attribute,
    cpu_delta,
    per_observation,
    thread_cpu,
    topic_totals,
)
from pipeline.bench.kafka_io import (
    GroupProgress,
    last_timestamp,
)
from pipeline.bench.stages.common import (
    QUIET_INTERVAL_S,
    BenchRun,
    log,
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
    group = GroupProgress(
        bench.base.kafka_bootstrap, app_id, bench.topics.observations, security=bench.security
    )
    changelog = f"{app_id}-service-state-changelog"
    written = [changelog, *output_topics(bench)]
    totals_before = topic_totals(bench.base.kafka_bootstrap, written[1:], bench.security)
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
        history0 = [p.children_cpu() for p in procs]
        threads0 = thread_cpu(procs[0].pid)
        completion = bench.wait_through(group, procs, expected, total=expected, deadline=deadline)
        noticed = time.time()
        cpu = [p.cpu() - c for p, c in zip(procs, cpu0, strict=True)]
        # The history writers' processes (pipeline.sinks.history_process), beside the workers.
        history = [p.children_cpu() - c for p, c in zip(procs, history0, strict=True)]
        threads = cpu_delta(threads0, thread_cpu(procs[0].pid))
        rss = [p.rss() for p in procs]
        # Stop sampling before reading /metrics: rendering every service's series is not
        # the worker's work (it was 16 % of a short run's samples).
        sampled = spy.finish() if spy is not None else None
        samples = [p.sample() for p in procs]
    finally:
        group.close()
        for proc in procs:
            proc.stop()
    finished = (
        last_timestamp(bench.base.kafka_bootstrap, changelog, security=bench.security) or noticed
    )
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
        "history_writer_cpu_s": history,
        "cpu_us_per_obs": 1e6 * sum(cpu) / expected,
        "obs_per_cpu_s": expected / sum(cpu) if sum(cpu) else None,
        "rss_bytes": rss,
        "py_spy": sampled,
        # Committed offsets per partition when the group stopped committing, if it did.
        "commit_stalled": completion.stalled_offsets,
        # What one observation costs downstream: changelog and output records, and how
        # often the group's committed offsets advanced (polled, so a lower bound).
        "records_per_obs": per_observation(
            totals_before,
            topic_totals(bench.base.kafka_bootstrap, written, bench.security),
            expected,
        ),
        "commits_seen": group.advances,
        "cpu_by_thread": threads,  # of the first worker
    }


def output_topics(bench: BenchRun) -> list[str]:
    """The worker's output topics in this run's namespace."""
    topics = bench.topics
    return [
        topics.status,
        topics.incidents,
        topics.anomalies,
        topics.indicators,
        topics.ledger,
        topics.deadletter,
    ]


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
        text = self.path.read_text()
        return {**summarise_collapsed(text, top=top), "components": attribute(text)}


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
