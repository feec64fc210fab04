"""The faust app every pipeline process builds (worker, notifier), with one set of choices.

Durability and recovery live here, once: records acknowledged by every in-sync replica
(``producer_acks=-1``), a new consumer group reads from the earliest offset, tables are
in-memory and recovered from their changelog topics, no faust web server (each process
serves its own /metrics), and a session timeout that bounds how long a dead member holds its
partitions after a ``kill -9``. Consumers read committed records only
(:mod:`pipeline.worker.read_committed`).
"""

from __future__ import annotations

from typing import Any

import faust

from pipeline.config.settings import Settings
from pipeline.worker.read_committed import use_read_committed


def pipeline_app(
    settings: Settings,
    *,
    session_timeout: float,
    offsets_in_transactions: bool = False,
    **options: Any,
) -> faust.App:
    """A faust app for ``settings.app_id``; ``options`` add process-specific faust settings.
    ``offsets_in_transactions``: the app commits its offsets in its own transactions."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=settings.data_dir,
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=session_timeout,
        **options,
    )
    use_read_committed(app, offsets_in_transactions=offsets_in_transactions)
    return app
