"""Notifiers in one group: subscribers move with their state when a notifier joins or leaves;
every subscriber still gets exactly one "opened" and one "restored".

Recovery is slowed down (``STREAM_RECOVERY_DELAY``) so that the window between a new
assignment and the end of the table's recovery is as wide as on a loaded machine: nothing a
notifier does for a subscriber in that window may be based on a state it has not recovered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
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
#: Seconds faust waits after each assignment before recovering tables and resuming streams.
RECOVERY_DELAY_S = 1.0


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


def assignments(notifier: NotifierProcess) -> int:
    """How many assignments (rebalances) the notifier has finished recovering from."""
    return notifier.log_path.read_bytes().count(b"[^---Recovery]: Worker ready")


@dataclass
class Scenario:
    settings: Settings
    receiver: WebhookReceiver
    tmp_path: Path
    ids: list[str]
    subs: Path
    producer: KafkaProducer
    incident: Incident

    def notifier(self, name: str) -> NotifierProcess:
        return NotifierProcess(
            replace(self.settings, data_dir=str(self.tmp_path / name)),
            self.subs,
            self.tmp_path / f"{name}.log",
            free_port(),
            f"{self.settings.app_id}-notifier",
        )

    def emit(self, event: str, at: float) -> None:
        value = IncidentEvent(event, at, self.incident.snapshot()).to_dict()
        self.producer.send(
            self.settings.topics.incidents,
            key=self.incident.service_id.encode(),
            value=orjson.dumps(value),
        )
        self.producer.flush()

    def open_and_wait(self) -> None:
        self.emit("detected", self.incident.detected_at)
        eventually(lambda: all(self.receiver.at(f"/{s}") for s in self.ids), timeout=30,
                   every=0.1, what="opened notices for every subscriber")  # fmt: skip

    def restore_and_check(self) -> None:
        self.incident.restored_at = time.time()
        self.emit("restored", self.incident.restored_at)
        eventually(lambda: all(len(self.receiver.at(f"/{s}")) >= 2 for s in self.ids),
                   timeout=60, every=0.1, what="restored notices for every subscriber")  # fmt: skip
        time.sleep(1.5)  # a duplicate would arrive by now
        for sid in self.ids:
            assert [r.body["kind"] for r in self.receiver.at(f"/{sid}")] == [
                "incident_opened",
                "incident_restored",
            ], sid


@pytest.fixture
def scenario(
    settings: Settings, receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Scenario]:
    monkeypatch.setenv("REBALANCE_KEY", KEY)
    monkeypatch.setenv("STREAM_RECOVERY_DELAY", str(RECOVERY_DELAY_S))
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
    now = time.time()
    incident = Incident(
        f"{settings.app_id}.svc/{int(now)}",
        ServiceRef(f"{settings.app_id}.svc", "op", "energy", "UA-30"),
        now - 5,
        now,
    )
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        yield Scenario(settings, receiver, tmp_path, ids, subs, producer, incident)
    finally:
        producer.close()


def test_a_joining_notifier_takes_subscribers_with_their_state(scenario: Scenario) -> None:
    first = scenario.notifier("a").start()
    second = scenario.notifier("b")
    try:
        scenario.open_and_wait()
        second.start()
        # The group is stable with both members once each has recovered its assignment.
        eventually(lambda: assignments(first) >= 2 and assignments(second) >= 1, timeout=60,
                   every=0.2, what="both notifiers to recover their assignment")  # fmt: skip
        scenario.restore_and_check()
    finally:
        second.stop()
        first.stop()
    decided_by_second = second.log_path.read_text().count('"notice_decided"')
    assert 0 < decided_by_second < len(scenario.ids)  # it took over some subscribers


def test_a_notifier_already_running_takes_over_subscribers_it_never_held(
    scenario: Scenario,
) -> None:
    """b runs (timer ticking) when a leaves: it gets a's subscribers, whose state it has
    never seen, and must not act on them before their state is recovered."""
    first = scenario.notifier("a").start()
    second = scenario.notifier("b")
    try:
        scenario.open_and_wait()
        second.start()
        eventually(lambda: assignments(first) >= 2 and assignments(second) >= 1, timeout=60,
                   every=0.2, what="both notifiers to recover their assignment")  # fmt: skip
        first.stop()
        eventually(lambda: assignments(second) >= 2, timeout=60, every=0.2,
                   what="the remaining notifier to recover the whole assignment")  # fmt: skip
        scenario.restore_and_check()
    finally:
        second.stop()
        first.stop()
    decided_by_second = second.log_path.read_text().count('"notice_decided"')
    assert decided_by_second == len(scenario.ids)  # every "restored" came from b
