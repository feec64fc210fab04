"""How every ``continuity bench`` command logs: JSON lines on stderr, quiet where it must be."""

from __future__ import annotations

from pipeline.core.logs import configure_logging

#: Loggers that would write a line per observation when the processor runs in process.
QUIET_LOGGERS = frozenset({"pipeline.worker.processor", "pipeline.sinks.influx"})


def configure_bench_logging(level: str = "INFO") -> None:
    """JSON lines on stderr, except the in-process processor's per-observation loggers."""
    configure_logging(level, quiet=QUIET_LOGGERS)
