"""Create the pipeline's topics with explicit partition counts (idempotent)."""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from pipeline.config.settings import TopicNames
from pipeline.ops.kafka_security import PLAINTEXT, KafkaSecurity


def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int,
    replication: int = 1,
    min_insync: int = 0,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create each missing topic; returns the names that were created.

    ``min_insync`` > 0 sets the topic's ``min.insync.replicas``; 0 leaves the broker's default.
    """
    configs = {"min.insync.replicas": str(min_insync)} if min_insync > 0 else {}
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="continuity-admin", **security.kafka_python()
    )
    try:
        existing = set(admin.list_topics())
        missing = [name for name in names if name not in existing]
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=partitions,
                            replication_factor=replication,
                            topic_configs=configs,
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                # Another worker created it between our listing and our request.
                pass
        return created
    finally:
        admin.close()


def ensure_topic_layout(
    bootstrap: str,
    topics: TopicNames,
    *,
    partitions: int,
    replication: int = 1,
    min_insync: int = 0,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create the pipeline's topics: the ledger with one partition, the rest with ``partitions``."""
    created: list[str] = []
    for count in sorted(set(topics.partition_counts(partitions).values())):
        names = [n for n, c in topics.partition_counts(partitions).items() if c == count]
        created += ensure_topics(
            bootstrap,
            names,
            partitions=count,
            replication=replication,
            min_insync=min_insync,
            security=security,
        )
    return created
