"""Kafka unreachable: results go to the on-disk spool, then replay into the real Kafka."""

from __future__ import annotations

import base64
from collections import defaultdict

import orjson
import pytest

from pipeline.core.validation import parse_observation

from .conftest import (
    FIXTURES,
    SYNTHETIC_NOW,
    Connectors,
    Unreachable,
    operator,
    read_all,
    sent,
    service,
)

pytestmark = pytest.mark.integration


def test_spooled_while_kafka_is_unreachable_then_replayed_in_order(
    unreachable: Unreachable, connectors: Connectors
) -> None:
    broken = connectors.directory / "broken.json"
    broken.write_bytes(b'{"page": ')
    feeds = [
        {
            "id": "atlas",
            "type": "atlas_ping",
            "path": str(FIXTURES / "atlas_ping_results.json"),
            "interval_s": 240,
            "service": "tc.dns",  # every result to one service: one key, one partition
        },
        {
            "id": "noc",
            "type": "carrier_kpi",
            "path": str(FIXTURES / "carrier_kpi.csv"),
            "interval_s": 300,
            "service": "tc.cells",
        },
        {
            "id": "broken",
            "type": "statuspage",
            "path": str(broken),
            "interval_s": 60,
            "service": "tc.dns",
        },
        {
            "id": "later",
            "type": "outage",
            "path": str(FIXTURES / "kubra_summary.json"),
            "interval_s": 300,
            "service": "tc.cells",
            "options": {"format": "kubra"},
        },
    ]
    config = connectors.config(
        [operator("carrier", [service("tc.dns", "telecom"), service("tc.cells", "telecom")], feeds)]
    )
    assert unreachable.producer is not None

    # 1. Kafka cannot be reached: everything the feeds produced is spooled, nothing dropped.
    first = connectors.run(
        config,
        SYNTHETIC_NOW,
        only={"atlas", "noc", "broken"},
        producer=unreachable.producer,
        metrics=unreachable.metrics,
    )
    observations, rejections = sent(first)
    assert observations
    assert len(rejections) == 1
    spooled = [
        orjson.loads(line)
        for line in (unreachable.spool_dir / "spool.jsonl").read_bytes().splitlines()
    ]
    assert len(spooled) == len(observations) + len(rejections)
    assert unreachable.producer.spool.pending() == len(spooled)
    gauge = unreachable.registry.get_sample_value("continuity_feed_spool_records")
    assert gauge == len(spooled)
    assert unreachable.registry.get_sample_value(
        "continuity_feed_observations_sent_total", {"feed": "atlas"}
    ) in (None, 0.0)
    assert read_all(connectors.settings, connectors.settings.topics.observations) == []

    # 2. Kafka is back: the next poll replays the spool first, then sends its own records.
    second = connectors.run(config, SYNTHETIC_NOW, only={"later"})
    fresh, _ = sent(second)
    assert fresh
    assert connectors.producer.spool.pending() == 0
    assert not (unreachable.spool_dir / "spool.jsonl").exists()

    records = read_all(connectors.settings, connectors.settings.topics.observations)
    assert len(records) == len(observations) + len(fresh)
    for record in records:
        observation = parse_observation(record.value, now=SYNTHETIC_NOW)
        assert record.key == observation.service_id
    # Per key (= per partition), Kafka holds the spooled records in spool order, then the new.
    expected: dict[str | None, list[bytes]] = defaultdict(list)
    for item in spooled:
        if item["topic"] == connectors.settings.topics.observations:
            expected[item["key"]].append(base64.b64decode(item["value_b64"]))
    for observation in fresh:
        expected[observation.service_id].append(observation.to_json())
    got: dict[str | None, list[bytes]] = defaultdict(list)
    for record in records:  # partition by partition, in offset order
        got[record.key].append(record.value)
    assert got == expected
    assert {len(v) for v in got.values()} != {1}  # the ordering claim is not vacuous

    # Replayed observations count as sent for their feed once Kafka has acknowledged them.
    sent_total = {
        feed: connectors.registry.get_sample_value(
            "continuity_feed_observations_sent_total", {"feed": feed}
        )
        for feed in ("atlas", "noc", "later")
    }
    per_feed = {
        feed: float(sum(o.source == feed for o in observations + fresh)) for feed in sent_total
    }
    assert sent_total == per_feed
    assert connectors.registry.get_sample_value("continuity_feed_spool_records") == 0

    [(key, letter)] = connectors.deadletters(at_least=1)
    assert (key, letter["reason"], letter["source"]) == ("broken", "malformed_json", "broken")
    assert base64.b64decode(letter["original_b64"]) == b'{"page": '
