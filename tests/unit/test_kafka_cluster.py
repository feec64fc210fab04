"""The own-broker launcher's pure parts: node configuration and cluster shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ops.kafka_cluster import KafkaCluster, KafkaNode, kafka_libs, node_config


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
