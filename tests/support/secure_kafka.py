"""The test's own Kafka broker that authenticates and authorises, never the shared one.

One KRaft node (:class:`~pipeline.ops.kafka_cluster.KafkaCluster` with a
:class:`~pipeline.ops.kafka_cluster_auth.BrokerAuth`): SASL_PLAINTEXT and SASL_SSL listeners,
SCRAM-SHA-512 users and the StandardAuthorizer denying whatever no ACL allows. One user per
role:

* ``admin``: super user (creates topics and ACLs);
* ``connector``: may write the observations and dead-letter topics, nothing else;
* ``ingest``: may write observations and commands;
* ``worker``: reads observations and commands, writes the outputs and its own changelog
  topics (prefix ``<app_id>``), uses its own consumer groups and transactional ids.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from pipeline.config.settings import TopicNames
from pipeline.ops.kafka_cluster import KafkaCluster
from pipeline.ops.kafka_cluster_auth import BrokerAuth

USERS = ("admin", "connector", "ingest", "worker")


def secure_cluster(root: Path) -> KafkaCluster:
    """One node under ``root`` with a random password per role (start it with ``with``)."""
    passwords = {user: f"{user}-{uuid.uuid4().hex[:12]}" for user in USERS}
    return KafkaCluster(root, 1, heap="384m", auth=BrokerAuth(passwords))


def grant(cluster: KafkaCluster, topics: TopicNames, app_id: str) -> None:
    """The role ACLs for the pipeline's ``topics`` and the worker app ``app_id``."""
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    def allow(
        user: str,
        operation: ACLOperation,
        name: str,
        kind: ResourceType = ResourceType.TOPIC,
        pattern: ACLResourcePatternType = ACLResourcePatternType.LITERAL,
    ) -> ACL:
        return ACL(
            f"User:{user}",
            "*",
            operation,
            ACLPermissionType.ALLOW,
            ResourcePattern(kind, name, pattern),
        )

    prefixed = ACLResourcePatternType.PREFIXED
    outputs = [
        topics.status,
        topics.anomalies,
        topics.incidents,
        topics.indicators,
        topics.notices,
        topics.deadletter,
        topics.ledger,
    ]
    acls = [allow("connector", ACLOperation.WRITE, t) for t in (topics.observations,)]
    acls += [allow("connector", ACLOperation.WRITE, topics.deadletter)]
    acls += [allow("ingest", ACLOperation.WRITE, t) for t in (topics.observations,)]
    acls += [allow("ingest", ACLOperation.WRITE, topics.commands)]
    acls += [allow("worker", ACLOperation.READ, t) for t in (topics.observations,)]
    acls += [allow("worker", ACLOperation.READ, topics.commands)]
    for topic in outputs:
        acls += [
            allow("worker", ACLOperation.WRITE, topic),
            allow("worker", ACLOperation.READ, topic),
        ]
    acls += [
        allow("worker", ACLOperation.ALL, app_id, ResourceType.TOPIC, prefixed),
        allow("worker", ACLOperation.ALL, app_id, ResourceType.GROUP, prefixed),
        allow("worker", ACLOperation.ALL, app_id, ResourceType.TRANSACTIONAL_ID, prefixed),
    ]
    result = cluster.admin_call(lambda admin: admin.create_acls(acls))
    if result["failed"]:
        raise RuntimeError(f"ACLs refused: {result['failed']}")
