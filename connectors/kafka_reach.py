"""Whether the configured Kafka answers, said in words a person running the connectors can act on.

The Kafka client itself only logs "not ready" lines while it retries; the connectors keep
running and spool, so the operator must be told *why* nothing reaches the pipeline.

>>> bootstrap_addresses("127.0.0.1:19092, kafka.example:9093")
[('127.0.0.1', 19092), ('kafka.example', 9093)]
>>> print(unreachable_message("127.0.0.1:1", "/var/spool/cw"))  # doctest: +NORMALIZE_WHITESPACE
Kafka at 127.0.0.1:1 is unreachable; observations and dead letters are spooled to
/var/spool/cw and sent once it answers (set CW_KAFKA_BOOTSTRAP or --bootstrap-servers
if that is the wrong address).
"""

from __future__ import annotations

import socket
from pathlib import Path


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port`` pairs of a comma-separated bootstrap list (port 9092 when left out)."""
    out: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host:
            host, port = port, "9092"
        out.append((host.strip("[]"), int(port)))
    return out


def kafka_reachable(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when at least one bootstrap address accepts a TCP connection."""
    for host, port in bootstrap_addresses(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def unreachable_message(bootstrap: str, spool_dir: str | Path) -> str:
    return (
        f"Kafka at {bootstrap} is unreachable; observations and dead letters are spooled to "
        f"{spool_dir} and sent once it answers (set CW_KAFKA_BOOTSTRAP or --bootstrap-servers "
        "if that is the wrong address)."
    )


def spooling_message(bootstrap: str, spool_dir: str | Path, pending: int) -> str:
    return (
        f"Kafka at {bootstrap} did not acknowledge; spooling to {spool_dir} "
        f"({pending} records waiting)."
    )


def recovered_message(bootstrap: str) -> str:
    return f"Kafka at {bootstrap} acknowledges again; the spool is being replayed."
