"""Real ``continuity worker`` subprocesses for benchmarks, and what we read from them.

Nothing here registers a Prometheus scrape target: a benchmark worker may hold a million
labelled series, which the shared Prometheus has no business scraping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from pipeline.ops.ports import free_port as free_port

log = structlog.get_logger(__name__)

READY_MARK = b"[^Worker]: Ready"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS from /proc), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _stat_fields(path: Path) -> list[str]:
    """The fields of a /proc/<pid>/stat after the command name: [0] is the state (field 3),
    [1] the parent's pid (field 4), [11] and [12] utime and stime (fields 14 and 15)."""
    return path.read_text().rsplit(")", 1)[1].split()


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU time consumed so far by ``pid`` (from /proc/<pid>/stat)."""
    return _cpu(_stat_fields(Path(f"/proc/{pid}/stat")))


def children_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the running children of ``pid`` (the worker's history
    writer, pipeline.sinks.history_process, and multiprocessing's resource tracker)."""
    total = 0.0
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat_fields(stat_path)
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            total += _cpu(fields)
    return total


@dataclass(frozen=True, slots=True)
class WorkerSample:
    """What one scrape of a worker's /metrics says about progress."""

    processed: float
    rejected: float
    tracked: float


def parse_progress(text: str) -> WorkerSample:
    """Sum the few series we need, reading the exposition text line by line (cheap).

    >>> parse_progress('continuity_observations_total{sector="a"} 3.0\\n'
    ...                'continuity_observations_rejected_total{reason="x"} 1.0\\n'
    ...                'continuity_services_tracked 2.0\\n')
    WorkerSample(processed=4.0, rejected=1.0, tracked=2.0)
    """
    accepted = rejected = tracked = 0.0
    for line in text.splitlines():
        if line.startswith("continuity_observations_total{"):
            accepted += float(line.rsplit(" ", 1)[1])
        elif line.startswith("continuity_observations_rejected_total{"):
            rejected += float(line.rsplit(" ", 1)[1])
        elif line.startswith("continuity_services_tracked "):
            tracked = float(line.rsplit(" ", 1)[1])
    return WorkerSample(processed=accepted + rejected, rejected=rejected, tracked=tracked)


@dataclass
class BenchWorker:
    """One worker process configured by ``CW_*`` environment variables."""

    name: str
    env: dict[str, str]
    log_path: Path
    metrics_port: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_at: float | None = None
    ready_wall: float | None = None
    _mark: int = field(default=0, repr=False)

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"worker {self.name} is not started")
        return self.proc.pid

    def start(self) -> BenchWorker:
        """Launch without waiting; see :meth:`wait_ready`."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "worker"],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started_at = time.monotonic()
        log.info(
            "bench_worker_started", worker=self.name, pid=self.proc.pid, log=str(self.log_path)
        )
        return self

    def poll_ready(self) -> bool:
        """True once the faust worker logged that it is ready (raises if it died)."""
        if self.ready_at is not None:
            return True
        if self.proc is None:
            raise RuntimeError(f"worker {self.name} is not started")
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"worker {self.name} exited with {self.proc.returncode}; log: {self.log_path}"
            )
        with self.log_path.open("rb") as logfile:
            logfile.seek(self._mark)
            if READY_MARK in logfile.read():
                self.ready_at = time.monotonic()
                self.ready_wall = time.time()
                return True
        return False

    def wait_ready(self, *, timeout: float = 120.0) -> float:
        """Block until ready; returns the monotonic time readiness was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll_ready():
                assert self.ready_at is not None
                return self.ready_at
            time.sleep(0.05)
        raise TimeoutError(f"worker {self.name} not ready after {timeout:.0f} s ({self.log_path})")

    def sample(self, *, timeout: float = 10.0) -> WorkerSample:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return parse_progress(response.read().decode())

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def cpu(self) -> float:
        """CPU time of the worker process (what bounds its event loop)."""
        return cpu_seconds(self.pid)

    def children_cpu(self) -> float:
        """CPU time of the worker's running children (its history writer's process)."""
        return children_cpu_seconds(self.pid)

    def stop(self, *, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("bench_worker_killed", worker=self.name, pid=self.proc.pid)
            self.proc.kill()
            self.proc.wait(timeout=timeout)
