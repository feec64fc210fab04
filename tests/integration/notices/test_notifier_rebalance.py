"""Two notifiers in one group: a second one joining (a rebalance) moves subscribers with
their state; every subscriber still gets exactly one "opened" and one "restored"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from pipeline.config.settings import Settings
from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.notices.app import subscriber_partition
from tests.support.notices import WebhookReceiver
from tests.support.notifier import NotifierProcess
from tests.support.stack import eventually, free_port

pytestmark = pytest.mark.integration

KEY = "rebalance-key"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    peer = WebhookReceiver(KEY.encode())
    yield peer
    peer.close()


def subscriber_ids(partitions: int) -> list[str]:
    """One subscriber per partition of the re-keyed topic, so both notifiers own some."""
    chosen: dict[int, str] = {}
    n = 0
    while len(chosen) < partitions:
        chosen.setdefault(subscriber_partition(f"sub{n}".encode(), partitions), f"sub{n}")
        n += 1
    return sorted(chosen.values())


def test_a_joining_notifier_takes_subscribers_with_their_state(
    settings: Settings,
    receiver: WebhookReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REBALANCE_KEY", KEY)
    ids = subscriber_ids(settings.partitions)
    subs = tmp_path / "subs.yaml"
    subs.write_text(
        "version: 1\nsubscribers:\n"
        + "".join(
            f'  - id: {sid}\n    channels: [{{type: webhook, url: "{receiver.url("/" + sid)}",'
            " secret: {env: REBALANCE_KEY}}]\n"
            for sid in ids
        )
    )
    group = f"{settings.app_id}-notifier"

    def notifier(name: str) -> NotifierProcess:
        return NotifierProcess(
            replace(settings, data_dir=str(tmp_path / name)),
            subs,
            tmp_path / f"{name}.log",
            free_port(),
            group,
        )

    first = notifier("a").start()
    second = notifier("b")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    now = time.time()
    incident = Incident(
        f"{settings.app_id}.svc/{int(now)}",
        ServiceRef(f"{settings.app_id}.svc", "op", "energy", "UA-30"),
        now - 5,
        now,
    )

    def emit(event: str, at: float) -> None:
        value = IncidentEvent(event, at, incident.snapshot()).to_dict()
        producer.send(
            settings.topics.incidents, key=incident.service_id.encode(), value=orjson.dumps(value)
        )
        producer.flush()

    try:
        emit("detected", now)
        eventually(lambda: all(receiver.at(f"/{s}") for s in ids), timeout=30, every=0.1,
                   what="opened notices for every subscriber")  # fmt: skip
        second.start()
        # Wait until the group settled with both members (the second one assigned).
        eventually(
            lambda: b"Executing _on_partitions_assigned" in second.log_path.read_bytes(),
            timeout=60, every=0.2, what="the second notifier to get partitions",
        )  # fmt: skip
        time.sleep(1.0)
        incident.restored_at = time.time()
        emit("restored", incident.restored_at)
        eventually(lambda: all(len(receiver.at(f"/{s}")) >= 2 for s in ids), timeout=60,
                   every=0.1, what="restored notices for every subscriber")  # fmt: skip
        time.sleep(1.5)  # a duplicate would arrive by now
    finally:
        producer.close()
        second.stop()
        first.stop()
    for sid in ids:
        assert [r.body["kind"] for r in receiver.at(f"/{sid}")] == [
            "incident_opened",
            "incident_restored",
        ], sid
    decided_by_second = second.log_path.read_text().count('"notice_decided"')
    assert 0 < decided_by_second < len(ids)  # it took over some subscribers, with state
