"""The log writer over real Kafka: a kill -9 mid-stream loses and duplicates nothing."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.config.settings import Settings
from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.transparency.records import RecordRejected, to_log_record
from tests.support.ledger import LedgerServer
from tests.support.stack import eventually, read_topic

pytestmark = pytest.mark.integration

EVENTS = ("detected", "acknowledged", "restored")


def _transitions(n_incidents: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n_incidents):
        service = ServiceRef(f"svc-{i % 40}", f"op-{i % 5}", "energy", "UA-30", 250)
        incident = Incident(f"svc-{i % 40}/{i}", service, 1000.0 + i, 1060.0 + i)
        incident.attrs["endpoint"] = f"https://scada-{i}.example/"
        for step, event in enumerate(EVENTS):
            value = orjson.dumps(IncidentEvent(event, 1060.0 + i + step * 30, incident).to_dict())
            out.append((service.service_id.encode(), value))
    return out


def _read_raw(settings: Settings, topic: str, at_least: int) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        values: list[bytes] = []
        deadline = time.monotonic() + 60
        while len(values) < at_least and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in batch)
        return values
    finally:
        consumer.close()


def _log_keys(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "log.db") as db:
        return [row[0] for row in db.execute("SELECT entry_key FROM entries ORDER BY idx")]


def _log_size(server: LedgerServer) -> int:
    return len(server.get("/ledger/v1/entries?start=0&end=1000")["entries"])


def test_kill_9_mid_stream_then_restart_logs_every_transition_once(
    settings: Settings, ledger_server: Callable[..., LedgerServer]
) -> None:
    transitions = _transitions(400)  # 1200 transitions
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    topic = settings.topics.incidents
    for key, value in transitions[:300]:
        producer.send(topic, key=key, value=value)
    producer.send(topic, key=b"bad", value=b"{not json")
    finding = {"type": "concurrent_disruption", "finding_id": "f1", "region": "UA-30",
               "start": 1.0, "end": None, "incident_ids": ["a", "b"], "operators": ["x", "y"],
               "sectors": ["energy", "health"]}  # fmt: skip
    producer.send(settings.topics.anomalies, key=b"UA-30", value=orjson.dumps(finding))
    producer.send(settings.topics.anomalies, key=b"k", value=b'{"type": "kpi_anomaly"}')
    producer.flush()

    first = ledger_server()
    eventually(lambda: _log_size(first) >= 100, timeout=60, what="the writer to start appending")

    # Keep producing while the writer runs, and kill it in the middle of the stream.
    def produce_rest() -> None:  # paced (~4 s), so the kill lands while records still arrive
        for n, (key, value) in enumerate(transitions[300:]):
            producer.send(topic, key=key, value=value)
            if n % 25 == 24:
                producer.flush()
                time.sleep(0.1)
        producer.flush()

    feeder = threading.Thread(target=produce_rest)
    feeder.start()
    eventually(lambda: _log_size(first) >= 400, timeout=60, what="more entries")
    first.kill9()
    at_kill = len(_log_keys(first.data_dir))
    feeder.join()
    assert at_kill < len(transitions), "the writer was killed only after the stream ended"
    # A worker replay publishes some transitions a second time.
    for key, value in transitions[100:250]:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    second = ledger_server()
    expected_incidents = []
    for raw in _read_raw(settings, topic, at_least=len(transitions) + 151):
        try:
            record = to_log_record("incidents", raw)
        except RecordRejected:
            continue
        assert record is not None
        expected_incidents.append(record.key)
    unique = set(expected_incidents)
    assert len(unique) == len(transitions)
    eventually(
        lambda: len(_log_keys(second.data_dir)) >= len(unique) + 1,
        timeout=90,
        what="the restarted writer to catch up",
    )
    eventually(lambda: (second.head() or {}).get("head", {}).get("tree_size") == len(unique) + 1,
               timeout=30, what="a head over the whole log")  # fmt: skip
    keys = _log_keys(second.data_dir)
    counts = Counter(keys)
    assert [k for k, c in counts.items() if c > 1] == []
    assert {k for k in keys if k.startswith("incident/")} == unique
    assert [k for k in keys if not k.startswith("incident/")] == [
        next(k for k in keys if k.startswith("finding/f1/"))
    ]
    dead = read_topic(settings, settings.topics.deadletter, at_least=1, timeout=20)
    assert dead
    assert {d["reason"] for d in dead} == {"malformed_json"}
    # every hostname was redacted in the public entries
    leaves = second.get("/ledger/v1/entries?start=0&end=1000")["entries"]
    assert not any("scada-" in e["leaf"] for e in leaves)
