"""Structured logs: one JSON object per line on stderr."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import structlog


def configure_logging(level: str = "INFO", *, quiet: frozenset[str] = frozenset()) -> None:
    """Route structlog and the standard library (faust, aiokafka) to JSON lines on stderr.

    ``quiet`` names structlog loggers to discard (the benchmark silences per-observation ones).
    """
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    # The Kafka clients narrate every connection at INFO; keep their warnings only.
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_factory(quiet),
        cache_logger_on_first_use=True,
    )


def _factory(quiet: frozenset[str]) -> Callable[..., structlog.PrintLogger]:
    if not quiet:
        return structlog.PrintLoggerFactory(sys.stderr)
    devnull: TextIO = open(os.devnull, "w")  # noqa: SIM115  # lives as long as the process

    def factory(*args: Any) -> structlog.PrintLogger:
        name = args[0] if args else None
        return structlog.PrintLogger(devnull if name in quiet else sys.stderr)

    return factory


def stdlib_logging_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` that renders library records (faust, aiokafka) as JSON.

    Passed to faust's Worker, which otherwise installs its own coloured text format.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processor": structlog.processors.JSONRenderer(),
                "foreign_pre_chain": [
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                ],
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "kafka": {"level": "WARNING"},
            "aiokafka": {"level": "WARNING"},
        },
    }
