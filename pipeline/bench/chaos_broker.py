"""Faults of the broker itself, on a Kafka of the run's own (the shared one is never restarted).

``broker-restart``: a worker consumes a paced stream from a one-node KRaft cluster
(:mod:`pipeline.ops.kafka_cluster`); one second into the first half the broker is killed
(``kill -9``), stays down for ``down_s`` and is started again over its data; then the second
half is produced. The report is the other scenarios' (status changes and incident events lost
or duplicated on the topics, InfluxDB points lost) plus the broker's restart time and the time
from the kill until every change is on the topic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from kafka import KafkaProducer

from pipeline.bench.chaos_run import ChaosRun
from pipeline.ops.kafka_cluster import KafkaCluster
from pipeline.ops.kafka_security import PLAINTEXT
from pipeline.ops.topics import ensure_topic_layout


@contextmanager
def quiet_kafka_clients() -> Iterator[None]:
    """kafka-python logs every refused reconnect while the broker is down, as errors; they are
    the fault being injected, so they would only bury the scenario's progress lines."""
    logger = logging.getLogger("kafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class PacedProducer(threading.Thread):
    """Sends ``records`` in chunks over ``seconds`` through one producer that outlives a broker
    outage (acks from every in-sync replica, idempotent, retried until ``deadline_s``)."""

    def __init__(
        self, bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]], seconds: float
    ) -> None:
        super().__init__(name="paced-producer", daemon=True)
        self.topic, self.records, self.seconds = topic, records, seconds
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            delivery_timeout_ms=180_000,
            max_block_ms=180_000,
            **PLAINTEXT.kafka_python(),  # the scenario's own broker listens in plaintext
        )
        self.failures: list[BaseException] = []
        self.sent = 0

    def run(self) -> None:
        chunk = max(1, len(self.records) // 20)
        try:
            for start in range(0, len(self.records), chunk):
                for key, value in self.records[start : start + chunk]:
                    future = self.producer.send(self.topic, key=key, value=value)
                    future.add_errback(self.failures.append)
                    self.sent += 1
                time.sleep(self.seconds / 20)
            self.producer.flush(timeout=180)
        finally:
            self.producer.close(timeout=30)


def restart_mid_stream(
    run: ChaosRun,
    cluster: KafkaCluster,
    *,
    down_s: float = 5.0,
    stream_s: float = 3.0,
    before_kill: Callable[[], None] | None = None,
    while_down: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The scenario over ``cluster`` (``run.settings`` must point at it). The first half is
    produced over ``stream_s``; one second in, ``before_kill`` runs (another fault, say),
    then the broker is killed; ``while_down`` runs while it is down (within ``down_s``)."""
    worker = run.worker()
    half = run.rounds // 2
    paced = PacedProducer(
        cluster.bootstrap, run.settings.topics.observations, run.observations(range(half)), stream_s
    )
    paced.start()
    time.sleep(1.0)
    if before_kill is not None:
        before_kill()
    killed = time.monotonic()
    cluster.kill(1)
    sent_before_kill = paced.sent
    if while_down is not None:
        while_down()
    time.sleep(max(0.0, down_s - (time.monotonic() - killed)))
    cluster.start_node(1, timeout=180)
    back_at = time.monotonic()
    paced.join()
    run.produce(run.observations(range(half, run.rounds)))
    run.wait_all_changes(timeout=180)
    recovered_at = time.monotonic()
    influx = run.wait_influx(run.settings.influx_url, timeout=120)
    assert worker.proc is not None
    return {
        **run.report(run.settings.influx_url),
        "observations_sent_before_kill": f"{sent_before_kill} of {half * len(run.services)}",
        "observations_refused": len(paced.failures),
        "worker_survived": worker.proc.poll() is None,
        "broker_down_s": round(down_s, 1),
        "kill_to_broker_serving_s": round(back_at - killed, 1),
        "kill_to_all_changes_s": round(recovered_at - killed, 1),
        "serving_to_all_changes_s": round(recovered_at - back_at, 1),
        "influx_caught_up_after_s": round(influx, 1),
    }


@quiet_kafka_clients()
def broker_restart(run: ChaosRun) -> dict[str, Any]:
    """``broker-restart`` on a one-node cluster of the run's own, removed afterwards."""
    shared = run.settings
    cluster = KafkaCluster(run.workdir / "kafka", 1).start()
    try:
        run.settings = replace(shared, kafka_bootstrap=cluster.bootstrap)
        ensure_topic_layout(
            cluster.bootstrap, run.settings.topics, partitions=run.settings.partitions
        )
        return restart_mid_stream(run, cluster)
    finally:
        for worker in run.workers:  # while their broker still answers
            worker.stop(timeout=30)
        run.settings = shared  # the run's topics on the shared Kafka are deleted by close()
        cluster.close()


@quiet_kafka_clients()
def broker_kill_of_three(run: ChaosRun) -> dict[str, Any]:
    """``broker-kill-of-three``: three KRaft nodes of the run's own (replication factor 3,
    ``min.insync.replicas=2``); one is killed 1 s into the first half and stays down while
    the second half is produced, then comes back and catches up."""
    shared = run.settings
    cluster = KafkaCluster(run.workdir / "kafka", 3).start()
    try:
        run.settings = replace(
            shared, kafka_bootstrap=cluster.bootstrap, replication_factor=3, min_insync_replicas=2
        )
        ensure_topic_layout(
            cluster.bootstrap,
            run.settings.topics,
            partitions=run.settings.partitions,
            replication=3,
            min_insync=2,
        )
        worker = run.worker()
        half = run.rounds // 2
        topic = run.settings.topics.observations
        paced = PacedProducer(cluster.bootstrap, topic, run.observations(range(half)), 3.0)
        paced.start()
        time.sleep(1.0)
        killed = time.monotonic()
        cluster.kill(1)
        sent_before_kill = paced.sent
        paced.join()
        rest = PacedProducer(cluster.bootstrap, topic, run.observations(range(half, run.rounds)), 0)
        rest.run()
        run.wait_all_changes(timeout=180)
        recovered = time.monotonic() - killed
        influx = run.wait_influx(run.settings.influx_url, timeout=120)
        report = run.report(run.settings.influx_url)
        restarted = time.monotonic()
        cluster.start_node(1, timeout=180)
        cluster.wait_in_sync(list(run.settings.topics.all()), timeout=180)
        assert worker.proc is not None
        return {
            **report,
            "observations_sent_before_kill": f"{sent_before_kill} of {half * len(run.services)}",
            "observations_refused": len(paced.failures) + len(rest.failures),
            "worker_survived": worker.proc.poll() is None,
            "kill_to_all_changes_s": round(recovered, 1),
            "influx_caught_up_after_s": round(influx, 1),
            "restart_to_in_sync_s": round(time.monotonic() - restarted, 1),
        }
    finally:
        for worker in run.workers:
            worker.stop(timeout=30)
        run.settings = shared
        cluster.close()
