"""The own-broker launcher's pure parts: node configuration and cluster shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ops.kafka_cluster import KafkaCluster
from pipeline.ops.kafka_cluster_auth import BrokerAuth
from pipeline.ops.kafka_node import KafkaNode, kafka_libs, node_config


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return dict(pairs)


def test_one_node_replicates_once_and_three_nodes_need_two_in_sync() -> None:
    node = KafkaNode(1, 1111, 2222, Path("/state/node-1"))
    one = _props(node_config(node, "1@127.0.0.1:2222", size=1))
    three = _props(node_config(node, "1@a:1,2@b:2,3@c:3", size=3))
    assert (one["default.replication.factor"], one["min.insync.replicas"]) == ("1", "1")
    assert (three["default.replication.factor"], three["min.insync.replicas"]) == ("3", "2")
    assert three["offsets.topic.replication.factor"] == "3"
    assert three["transaction.state.log.min.isr"] == "2"
    assert three["unclean.leader.election.enable"] == "false"
    assert one["listeners"] == "PLAINTEXT://127.0.0.1:1111,CONTROLLER://127.0.0.1:2222"
    assert one["log.dirs"] == "/state/node-1/data"


def test_a_cluster_has_one_or_three_nodes_on_distinct_ports(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size=2"):
        KafkaCluster(tmp_path, 2)
    cluster = KafkaCluster(tmp_path, 3)
    ports = [p for n in cluster.nodes for p in (n.port, n.controller_port)]
    assert len(set(ports)) == 6
    assert cluster.bootstrap == ",".join(f"127.0.0.1:{n.port}" for n in cluster.nodes)


def test_jars_come_from_the_cache_the_stack_script_fills() -> None:
    libs = kafka_libs({"CW_CACHE": "/cache", "CW_KAFKA_VERSION": "9.9.9"})
    assert libs == Path("/cache/kafka-9.9.9/libs")


def test_an_authenticating_node_listens_over_sasl_and_tls_under_acls(tmp_path: Path) -> None:
    auth = BrokerAuth({"admin": "a-pw", "worker": "w-pw"})
    cluster = KafkaCluster(tmp_path, 1, auth=auth)
    node = cluster.node(1)
    assert node.tls_port not in (None, node.port, node.controller_port)
    props = _props(node_config(node, "1@127.0.0.1:1", size=1, auth=auth, keystore=Path("/k.pem")))
    assert props["listeners"] == (
        f"SASL_PLAINTEXT://127.0.0.1:{node.port},SASL_SSL://127.0.0.1:{node.tls_port},"
        f"CONTROLLER://127.0.0.1:{node.controller_port}"
    )
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert (
        'username="admin" password="a-pw"'
        in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    )
    assert props["ssl.keystore.location"] == "/k.pem"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:ANONYMOUS"
    assert props["auto.create.topics.enable"] == "false"
    assert cluster.tls_bootstrap == f"127.0.0.1:{node.tls_port}"
    env = cluster.client_env("worker", tls=True)
    assert env["CW_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert Path(env["CW_KAFKA_PASSWORD_FILE"]).read_text() == "w-pw\n"
    assert env["CW_KAFKA_CA_FILE"] == str(tmp_path / "ca.pem")


def test_without_tls_or_an_authorizer_the_node_has_neither(tmp_path: Path) -> None:
    auth = BrokerAuth({"admin": "a-pw"}, tls=False, authorizer=False)
    cluster = KafkaCluster(tmp_path, 1, auth=auth)
    props = _props(node_config(cluster.node(1), "1@h:1", size=1, auth=auth))
    assert "SASL_SSL" not in props["listeners"]
    assert "ssl.keystore.location" not in props
    assert "authorizer.class.name" not in props
    with pytest.raises(ValueError, match="no TLS listener"):
        _ = cluster.tls_bootstrap
    with pytest.raises(ValueError, match="admin user 'root'"):
        BrokerAuth({"admin": "a-pw"}, admin="root")
