"""InfluxDB history driven by the status and incidents topics, not by the worker's memory.

A writer thread consumes both topics in its own consumer group, turns each record into the
line of the point the worker used to buffer (written directly: :mod:`.history_lines`), writes
a polled batch and commits the batch's offsets only after InfluxDB took it. A crash (even
``kill -9``) or an InfluxDB outage of any length therefore replays from the last committed
offset; points are idempotent (same series and timestamp overwrite), so the replay duplicates
nothing. A record InfluxDB refuses, or one that is not a valid status/incident record (a
field of a type the line protocol has no form for included), is dead-lettered and counted; it
never blocks the records behind it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import structlog
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError

from pipeline.config.settings import Settings
from pipeline.core.deadletter import dead_letter_record
from pipeline.core.schema import Status
from pipeline.core.timeutil import parse_rfc3339
from pipeline.incidents.model import Incident, IncidentEvent
from pipeline.monitoring.status import StatusChange
from pipeline.ops.influx_admin import InfluxAuthError, ensure_database
from pipeline.ops.kafka_security import kafka_python_options
from pipeline.sinks.history_lines import incident_line, status_line
from pipeline.sinks.influx_write import raise_refusal, write_isolating_refusals

log = structlog.get_logger(__name__)

Item = tuple[ConsumerRecord, str]


def status_record_line(value: bytes) -> str:
    """The ``service_status`` line of one status-topic record (as ``status_point``'s)."""
    data: dict[str, Any] = orjson.loads(value)
    previous = data.get("previous")
    return status_line(
        StatusChange(
            service_id=data["service_id"],
            operator_id=data["operator_id"],
            sector=data["sector"],
            region=data["region"],
            previous=Status(previous) if previous else None,
            current=Status(data["status"]),
            at=parse_rfc3339(data["at"]),
            reason=data["reason"],
            event_id=data.get("event_id"),
            customers_served=data.get("customers_served"),
            customers_affected=data.get("customers_affected"),
        )
    )


def incident_record_line(value: bytes) -> str:
    """The ``incident`` line of one incidents-topic record (as ``incident_point``'s)."""
    data: dict[str, Any] = orjson.loads(value)
    event = IncidentEvent(
        str(data["event"]), float(data["at"]), Incident.from_dict(data["incident"])
    )
    return incident_line(event)


#: ``count(outcome, points)``: points ``written``, ``retried`` or ``rejected`` by InfluxDB
#: (the worker adds them to ``continuity_sink_points_total``, see
#: :mod:`pipeline.sinks.history_process`).
PointCount = Callable[[str, int], None]


class TopicHistory:
    """Status and incident history from the topics to InfluxDB, exactly once in effect."""

    def __init__(
        self,
        settings: Settings,
        client: InfluxDBClient,
        count: PointCount,
        *,
        batch: int = 5_000,
        max_backoff: float = 5.0,
    ) -> None:
        self._settings = settings
        self._write_api = client.write_api(write_options=SYNCHRONOUS)
        self._count = count
        self._batch = batch
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._database_ready = False
        topics = settings.topics
        self._converters = {
            topics.status: status_record_line,
            topics.incidents: incident_record_line,
        }

    @property
    def group(self) -> str:
        """The consumer group whose committed offsets say what InfluxDB already has."""
        return f"{self._settings.app_id}-history"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="influx-history", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._consume()
                return
            except KafkaError as exc:
                # Kafka went away (a broker restart, say): a new consumer rejoins the group at
                # its committed offsets, so what was not committed is written again (points
                # are idempotent) and nothing is skipped.
                log.warning("history_kafka_unavailable", error=str(exc)[:300])
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            except Exception:
                log.exception("history_writer_failed")
                return

    def _consume(self) -> None:
        settings = self._settings
        consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",  # never an aborted transaction's records
            # kafka-python checks record batch CRCs in pure Python (≈ 3 % of the worker's CPU
            # under load, with no C crc32c installed); the broker checked them on produce.
            check_crcs=False,
            max_poll_records=self._batch,
            metadata_max_age_ms=30_000,
            # After a kill -9 the group waits this long for the dead member before the
            # restarted worker gets its partitions back.
            session_timeout_ms=int(settings.session_timeout * 1000),
            heartbeat_interval_ms=int(settings.session_timeout * 1000 / 3),
            **kafka_python_options(settings),
        )
        producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, acks="all", **kafka_python_options(settings)
        )
        try:
            # Subscribing before the topics' metadata is known gets no partitions assigned
            # until the next metadata refresh, so wait for it.
            while not self._stop.is_set() and not all(
                consumer.partitions_for_topic(topic) for topic in self._converters
            ):
                self._stop.wait(1.0)
            consumer.subscribe(list(self._converters))
            log.info("history_subscribed", group=self.group)
            # Records gathered for up to `linger` seconds (or `batch` records) make one
            # write and one commit: under steady load a write and a commit per poll of a
            # few records cost the worker ≈ 0.1 core (docs/benchmarks.md, "Round 6").
            linger = self._settings.influx_flush_interval
            records: list[ConsumerRecord] = []
            first_at = 0.0
            while not self._stop.is_set():
                wait = 0.5 if not records else first_at + linger - time.monotonic()
                polled = consumer.poll(
                    timeout_ms=max(0, int(wait * 1000)), max_records=self._batch - len(records)
                )
                fresh = [record for batch in polled.values() for record in batch]
                if fresh and not records:
                    first_at = time.monotonic()
                records.extend(fresh)
                due = len(records) >= self._batch or time.monotonic() - first_at >= linger
                if not records or not due:
                    continue
                if self._write(records, producer):
                    log.info("history_written", records=len(records))
                    producer.flush(timeout=30)
                    try:
                        consumer.commit()
                    except CommitFailedError:
                        # Partitions moved while we wrote: their new owner rewrites the same
                        # points, which overwrite ours.
                        log.warning("history_commit_failed", records=len(records))
                records = []
        finally:
            consumer.close(autocommit=False)
            producer.close(timeout=5)

    def _write(self, records: list[ConsumerRecord], producer: KafkaProducer) -> bool:
        """Write one polled batch; False when stopped before InfluxDB took it."""
        items: list[Item] = []
        for record in records:
            try:
                items.append((record, self._converters[record.topic](record.value)))
            except Exception as exc:
                self._dead_letter(producer, record, "invalid_record", repr(exc))
        backoff = 0.2
        while not self._stop.is_set():
            try:
                refused = write_isolating_refusals(self._write_points, items)
            except Exception as exc:
                self._count("retried", len(items))
                log.warning("history_write_failed", points=len(items), error=str(exc)[:300])
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            for (record, _line), reason in refused:
                self._dead_letter(producer, record, "influx_rejected", reason)
            self._count("rejected", len(refused))
            self._count("written", len(items) - len(refused))
            return True
        return False

    def _write_points(self, items: Sequence[Item]) -> None:
        settings = self._settings
        if not self._database_ready:
            with contextlib.suppress(InfluxAuthError):  # a write-only user: an admin made it
                ensure_database(
                    settings.influx_url, settings.influx_bucket, token=settings.influx_token
                )
            self._database_ready = True
        try:
            self._write_api.write(
                bucket=settings.influx_bucket,
                org=settings.influx_org,
                record=[line for _record, line in items],
            )
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status == 404:  # database dropped or not yet created
                self._database_ready = False
            if status in (401, 403):  # retried like an outage: fixing the token heals it
                raise InfluxAuthError.for_status(settings.influx_url, status) from exc
            raise_refusal(exc)
            raise

    def _dead_letter(
        self, producer: KafkaProducer, record: ConsumerRecord, reason: str, detail: str
    ) -> None:
        log.warning(
            "history_record_dead_lettered", topic=record.topic, offset=record.offset, reason=reason
        )
        producer.send(
            self._settings.topics.deadletter,
            value=dead_letter_record(
                record.value or b"",
                reason=reason,
                field=None,
                detail=detail[:500],
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                at=time.time(),
            ),
        )
