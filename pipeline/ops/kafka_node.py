"""One KRaft node of a :class:`~pipeline.ops.kafka_cluster.KafkaCluster`: its ports, its
directory and its server.properties; the cached jars every node runs from.

>>> config = node_config(KafkaNode(2, 9092, 9093, Path("/tmp/n2")), "1@h:1,2@h:2", size=3)
>>> [line for line in config.splitlines() if line.startswith(("node.id", "min.insync"))]
['node.id=2', 'min.insync.replicas=2']
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ops.kafka_cluster_auth import BrokerAuth
from pipeline.ops.ports import free_port as free_port

DEFAULT_VERSION = "4.1.1"


def kafka_libs(env: dict[str, str] | None = None) -> Path:
    """The cached jar directory deploy/local/kafka.sh installs into (``CW_CACHE``)."""
    env = dict(os.environ if env is None else env)
    cache = Path(env.get("CW_CACHE", Path.home() / ".cache" / "continuity-watch"))
    return cache / f"kafka-{env.get('CW_KAFKA_VERSION', DEFAULT_VERSION)}" / "libs"


def cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, not starting '-'.

    >>> len(cluster_id())
    22
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


@dataclass
class KafkaNode:
    """One broker+controller process."""

    node_id: int
    port: int
    controller_port: int
    directory: Path
    #: The SASL_SSL listener's port (a cluster with TLS only).
    tls_port: int | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def node_config(
    node: KafkaNode,
    voters: str,
    *,
    size: int,
    auth: BrokerAuth | None = None,
    keystore: Path | None = None,
) -> str:
    """server.properties of one node; replication defaults follow the cluster size."""
    replication, min_isr = size, (2 if size >= 3 else 1)
    # Several nodes: a killed node is fenced (and leaves every ISR) after 6 s instead of 9 s.
    # One node has nothing to fail over to, and a starved machine must not fence it.
    session_ms = 6000 if size > 1 else 9000
    listeners = (
        f"""listeners=PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{node.port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"""
        if auth is None
        else auth.listener_config(node.port, node.tls_port, node.controller_port, keystore=keystore)
    )
    # Under ACLs topics are the admin's to create, never a side effect of a read.
    auto_create = "true" if auth is None else "false"
    return f"""process.roles=broker,controller
node.id={node.node_id}
controller.quorum.voters={voters}
{listeners}
log.dirs={node.directory / "data"}
num.partitions=6
default.replication.factor={replication}
min.insync.replicas={min_isr}
unclean.leader.election.enable=false
auto.create.topics.enable={auto_create}
offsets.topic.replication.factor={replication}
offsets.topic.num.partitions=1
transaction.state.log.replication.factor={replication}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor={replication}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms={session_ms}
replica.lag.time.max.ms=10000
log.segment.bytes=16777216
"""
