"""The latency stage's load generator, in a process of its own.

The stage times the worker's outputs with reader threads that stamp each record on arrival;
a generator in the same process would compete with them for the GIL at high rates and
inflate what they measure. So the generator runs in a child process (spawn context): it
connects, sends the warm-up when told, reports how many, waits for "go", runs the steady phase of a
:class:`~pipeline.bench.load_plan.LoadPlan` from templates prepared beforehand, and sends
back a :class:`~pipeline.bench.load_plan.LoadReport` (or the traceback of its failure).

Sending is aiokafka's ``create_batch``/``send_batch``, one batch per partition per tick:
a message costs a template fill and a (C) batch append, not a producer call of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
import traceback
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from pipeline.bench.data import ObservationMix
from pipeline.bench.load_plan import LoadPlan, LoadReport, Templates, stamp_text, stamp_value
from pipeline.core.progress import Progress
from pipeline.core.schema import Kind, Status
from pipeline.ops.kafka_security import KafkaSecurity

#: Largest batch the generator builds for one partition (bytes); the broker takes 1 MiB.
BATCH_BYTES = 256 * 1024
#: Shortest time between ticks (at high rates a message waits up to this long past its due
#: time; it is stamped when it is sent, so the latency measured does not include the wait).
TICK_S = 0.02
#: Most of the schedule one tick sends when behind (seconds of the rate).
CATCH_UP_S = 0.05
#: How often the child reports how many it sent (for the progress display).
PROGRESS_EVERY_S = 0.5


class LoadGeneratorError(RuntimeError):
    """The generator process failed; the message holds its traceback."""


def _partitioner(partitions: list[int]) -> Any:
    """key → partition as aiokafka's (Kafka's) default partitioner hashes it."""
    from aiokafka.partitioner import murmur2

    cache: dict[bytes, int] = {}

    def partition(key: bytes) -> int:
        found = cache.get(key)
        if found is None:
            found = cache[key] = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
        return found

    return partition


async def _warm_up(producer: Any, plan: LoadPlan, topic: str, mix: ObservationMix) -> int:
    """Every service seen once, so the steady phase changes only what it means to."""
    warm = mix.first_sightings(
        0, plan.background_services, run=f"{plan.run}-w", observed_at=time.time()
    )
    for i, ref in enumerate(plan.flip_refs()):
        obs = mix.observation(
            ref,
            event_id=f"{plan.run}-fw{i}",
            observed_at=time.time(),
            status=Status.UP,
            kind=Kind.PROBE,
        )
        warm.append((ref.service_id.encode(), obs.to_json()))
    for key, value in warm:
        await producer.send(topic, value, key=key)
    await producer.flush()
    return len(warm)


class _Steady:
    """The steady phase: sends what the schedule says is due, a tick at a time."""

    def __init__(self, producer: Any, plan: LoadPlan, topic: str, mix: ObservationMix) -> None:
        self.producer = producer
        self.plan = plan
        self.topic = topic
        self.mix = mix
        self.templates = Templates.build(plan)
        self.sectors = [ref.sector for ref in plan.background_refs()]
        self.flip_ids = [ref.service_id for ref in plan.flip_refs()]
        self.quiet_refs = plan.quiet_refs()
        self.quiet_times = plan.quiet_times()
        self.report = LoadReport()
        self.opened: set[int] = set()
        self.delivered: list[asyncio.Future[Any]] = []
        self.partition_of: Any = None

    async def prepare(self) -> None:
        self.partition_of = _partitioner(sorted(await self.producer.partitions_for(self.topic)))

    async def send(self, first: int, last: int) -> None:
        """Messages ``first..last-1``, stamped now: they go to the producer together."""
        stamp = time.time()
        at = stamp_text(stamp)
        run, plan, report = self.plan.run, self.plan, self.report
        batches: dict[int, Any] = {}
        for index in range(first, last):
            flip = plan.flip(index)
            if flip is None:
                template = self.templates.background_template(index, plan, self.sectors)
                event_id = f"{run}-b{index}"
            else:
                service, target = flip
                template = self.templates.flip_template(service, target)
                event_id = f"{run}-f{index}"
                report.flips.append((event_id, stamp))
                if target == "down" and service not in self.opened:
                    # Only a service's first outage opens an incident ("detected"); its
                    # later flips within minutes reopen that one (flapping).
                    self.opened.add(service)
                    report.first_downs.append((self.flip_ids[service], stamp_value(at), stamp))
            value = template.render(event_id.encode(), at)
            partition = self.partition_of(template.key)
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = self.producer.create_batch()
            if batch.append(key=template.key, value=value, timestamp=None) is None:
                await self._submit(batch, partition)
                batch = batches[partition] = self.producer.create_batch()
                batch.append(key=template.key, value=value, timestamp=None)
        for partition, batch in batches.items():
            await self._submit(batch, partition)

    async def _submit(self, batch: Any, partition: int) -> None:
        # Waits while the partition's previous batch is still queued, which keeps order.
        self.delivered.append(
            await self.producer.send_batch(batch, self.topic, partition=partition)
        )

    async def send_quiet(self, elapsed: float) -> None:
        """The next silent service's only heartbeat, once its time has come."""
        sent = len(self.report.quiet)
        if sent == len(self.quiet_refs) or elapsed < self.quiet_times[sent]:
            return
        ref = self.quiet_refs[sent]
        stamp = round(time.time(), 3)
        obs = self.mix.observation(
            ref,
            event_id=f"{self.plan.run}-q{sent}",
            observed_at=stamp,
            kind=Kind.HEARTBEAT,
            attrs={"expected_interval_s": 1},
        )
        await self.producer.send(self.topic, obs.to_json(), key=ref.service_id.encode())
        self.report.quiet.append((ref.service_id, stamp))

    def check_delivered(self) -> None:
        """Raise the first failed delivery; forget the delivered ones."""
        for future in self.delivered:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        self.delivered = [f for f in self.delivered if not f.done()]

    async def run(self, conn: Connection) -> LoadReport:
        plan, report = self.plan, self.report
        catch_up = max(100, int(plan.rate * CATCH_UP_S))
        cpu_started = time.process_time()
        started = time.monotonic()
        reported = started
        sent = 0
        final = False
        while not final:
            elapsed = time.monotonic() - started
            # Past the end, one last tick sends what fell due during the previous one.
            final = elapsed >= plan.seconds
            due = plan.due(elapsed)
            report.max_behind = max(report.max_behind, due - sent)
            # Far behind, catch up a slice at a time, so the clock, the quiet services and
            # the progress report are still looked at.
            due = min(due, sent + catch_up)
            if due > sent:
                await self.send(sent, due)
                sent = due
            await self.send_quiet(elapsed)
            now = time.monotonic()
            if now - reported >= PROGRESS_EVERY_S:
                reported = now
                conn.send(("progress", sent))
                self.check_delivered()
            if not final:
                # A tick sends what fell due since the last one: one produce request per
                # tick, not one per message (at low rates the next message is further off).
                wake = max(now + TICK_S, started + (sent + 1) / plan.rate)
                await asyncio.sleep(min(wake, started + plan.seconds) - now)
        report.seconds = time.monotonic() - started
        report.sent = sent
        report.behind_at_end = plan.total - sent
        report.cpu_s = time.process_time() - cpu_started
        await self.producer.flush()
        await asyncio.gather(*self.delivered)
        return report


async def _generate(
    plan: LoadPlan, bootstrap: str, topic: str, security: KafkaSecurity, conn: Connection
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, max_batch_size=BATCH_BYTES, **security.aiokafka()
    )
    await producer.start()
    try:
        mix = ObservationMix(plan.background_services, namespace=plan.namespace)
        conn.send(("started", None))
        if (await asyncio.to_thread(conn.recv))[0] != "warm":
            return
        warm = await _warm_up(producer, plan, topic, mix)
        conn.send(("warm", warm))
        steady = _Steady(producer, plan, topic, mix)
        await steady.prepare()
        conn.send(("ready", None))
        if (await asyncio.to_thread(conn.recv))[0] != "go":
            return
        report = await steady.run(conn)
        report.warm_up = warm
        conn.send(("done", report))
    finally:
        await producer.stop()


def _child(
    plan: LoadPlan, bootstrap: str, topic: str, security: KafkaSecurity, conn: Connection
) -> None:
    """The child's entry point: every failure goes back to the parent as text."""
    try:
        asyncio.run(_generate(plan, bootstrap, topic, security, conn))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class LoadGenerator:
    """The parent's handle on one generator process (use as a context manager)."""

    def __init__(
        self,
        plan: LoadPlan,
        *,
        bootstrap: str,
        topic: str,
        security: KafkaSecurity,
        progress: Progress | None = None,
    ) -> None:
        self.plan = plan
        self.progress = progress
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process: BaseProcess = context.Process(
            target=_child,
            args=(plan, bootstrap, topic, security, child_conn),
            name="bench-load-generator",
            daemon=True,
        )
        self._process.start()
        # Only the child holds its end now, so its exit reads as end-of-file here.
        child_conn.close()

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def warm_up(self, timeout: float = 120.0) -> int:
        """Send the warm-up and wait until it is flushed; returns how many messages it was."""
        self._receive("started", timeout)
        self._conn.send(("warm", None))
        count: int = self._receive("warm", timeout)
        return count

    def run(self, timeout: float | None = None) -> LoadReport:
        """Start the steady phase once its payloads are prepared, and wait for its report."""
        self._receive("ready", 120.0)
        self._conn.send(("go", None))
        limit = timeout if timeout is not None else self.plan.seconds + 120.0
        report: LoadReport = self._receive("done", limit)
        return report

    def close(self) -> None:
        """Stop the child (if it still runs) and reap it."""
        if self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(("stop", None))
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)
        self._conn.close()

    def _receive(self, wanted: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._conn.poll(0.5):
                if not self._process.is_alive():
                    raise LoadGeneratorError(self._exited(wanted))
                continue
            try:
                kind, payload = self._conn.recv()
            except EOFError:
                self._process.join(timeout=5)
                raise LoadGeneratorError(self._exited(wanted)) from None
            if kind == "error":
                raise LoadGeneratorError(f"the load generator failed:\n{payload}")
            if kind == "progress" and self.progress is not None:
                self.progress.update(payload, self.plan.total)
            elif kind == wanted:
                return payload
        raise LoadGeneratorError(f"no {wanted!r} from the load generator in {timeout:.0f} s")

    def _exited(self, wanted: str) -> str:
        return f"the load generator exited (code {self._process.exitcode}) before {wanted!r}"
