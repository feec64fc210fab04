"""What the connectors say when Kafka does not answer, in words a person running them can act on.

The Kafka client itself only logs "not ready" lines while it retries; the connectors keep
running and spool, so the operator must be told *why* nothing reaches the pipeline.

>>> print(unreachable_message("127.0.0.1:1", "/var/spool/cw"))  # doctest: +NORMALIZE_WHITESPACE
Kafka at 127.0.0.1:1 is unreachable; observations and dead letters are spooled to
/var/spool/cw and sent once it answers (set CW_KAFKA_BOOTSTRAP or --bootstrap-servers
if that is the wrong address).
"""

from __future__ import annotations

from pathlib import Path


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
