"""The faust app every pipeline process builds (worker, notifier), with one set of choices.

Durability and recovery live here, once: records acknowledged by every in-sync replica
(``producer_acks=-1``), a new consumer group reads from the earliest offset, tables are
in-memory and recovered from their changelog topics (read in bulk, see
:mod:`pipeline.worker.bulk_store`), no faust web server (each process
serves its own /metrics), and a session timeout that bounds how long a dead member holds its
partitions after a ``kill -9``. Credentials come from pipeline.ops.kafka_security.
"""

from __future__ import annotations

from typing import Any

import faust

from pipeline.config.settings import Settings
from pipeline.ops.kafka_security import KafkaSecurity
from pipeline.worker.bulk_store import bulk_store_url


def pipeline_app(settings: Settings, *, session_timeout: float, **options: Any) -> faust.App:
    """A faust app for ``settings.app_id``; ``options`` add process-specific faust settings."""
    return faust.App(
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
