"""The faust app every pipeline process builds (worker, notifier), with one set of choices.

Durability and recovery live here, once: records acknowledged by every in-sync replica
(``producer_acks=-1``), a new consumer group reads from the earliest offset, tables are
in-memory and recovered from their changelog topics (read in bulk, see
:mod:`pipeline.worker.bulk_store`), no faust web server (each process
serves its own /metrics), and a session timeout that bounds how long a dead member holds its
partitions after a ``kill -9``. Credentials come from pipeline.ops.kafka_security;
consumers read committed records only (:mod:`pipeline.worker.read_committed`).
"""

from __future__ import annotations

from typing import Any

import faust

from pipeline.config.settings import Settings
from pipeline.ops.kafka_security import KafkaSecurity
from pipeline.worker.bulk_store import bulk_store_url
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
        store=bulk_store_url(),  # in memory; changelogs read in bulk on assignment
        datadir=settings.data_dir,
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=session_timeout,
        **KafkaSecurity.from_settings(settings).faust(),
        **options,
    )
    use_read_committed(app, offsets_in_transactions=offsets_in_transactions)
    return app
