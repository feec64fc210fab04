"""The batch path gives what the per-record path gives: records, states, metrics, points."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import orjson
import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from pipeline.bench.data import ObservationMix
from pipeline.config.settings import Settings
from pipeline.metrics.worker import WorkerMetrics, observe_many
from pipeline.sinks.influx import InfluxSink, line_of
from pipeline.worker.live_states import LiveStates
from pipeline.worker.processor import ObservationProcessor, Outputs
from pipeline.worker.wiring import build_processor
from tests.support.observations import wire

START = 1_700_000_000.0


def _records() -> list[bytes | None]:
    """A mix with first sightings, status changes, incidents, duplicates and refusals."""
    payloads = ObservationMix(12, seed=3).payloads(1_500, run="b", start=START, span=1_800.0)
    values: list[bytes | None] = [value for _key, value in payloads]
    values[10:10] = [None, b"not json", b'{"schema": 1}', values[3], values[4]]
    return values


def _run(batched: bool) -> tuple[list[Any], dict[str, Any], bytes, str]:
    metrics = WorkerMetrics(CollectorRegistry())
    # The client never connects: the sink's buffer is what is compared.
    client = InfluxDBClient(url="http://127.0.0.1:9", token="-", org="-")
    sink = InfluxSink(client, bucket="b", org="-", metrics=metrics, max_buffer=400)
    ticks = iter(START + 1.2 * i for i in range(10_000))
    processor = build_processor(
        replace(Settings(), default_interval=30.0), metrics, sink=sink, clock=lambda: next(ticks)
    )
    store: dict[str, Any] = {}
    live = LiveStates(store, processor.monitoring)
    values = _records()
    produced: list[Any] = []
    for start in range(0, len(values), 200):
        out = Outputs()
        chunk = values[start : start + 200]
        if batched:
            batch = [(raw, "obs", 1, start + i) for i, raw in enumerate(chunk)]
            processor.handle_batch(batch, live, out=out)
        else:
            for i, raw in enumerate(chunk):
                processor.handle(raw, live, topic="obs", partition=1, offset=start + i, out=out)
        processor.flush(live)
        checked = processor.check(live, owned={1})
        produced.append((out, checked))
    exposition = b"\n".join(
        line for line in generate_latest(metrics.registry).splitlines() if b"_created" not in line
    )
    points = "\n".join(line_of(point) for point in sink._buffer)
    client.close()  # type: ignore[no-untyped-call]
    return produced, dict(store), exposition, points


def test_handle_batch_equals_handle_one_by_one() -> None:
    produced, store, exposition, points = _run(batched=False)
    assert _run(batched=True) == (produced, store, exposition, points)
    # the mix exercised what matters: changes, refusals, a full sink that dropped points
    outputs = [out for pair in produced for out in pair]
    assert sum(len(out.status) for out in outputs) > 10
    assert sum(len(out.deadletter) for out in outputs) == 3
    assert b'continuity_sink_points_total{result="dropped",sink="influxdb"}' in exposition
    assert b'outcome="duplicate"' in exposition


def test_a_record_that_raises_is_dead_lettered_and_the_batch_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    processor: ObservationProcessor = build_processor(Settings(), metrics, clock=lambda: START)
    live = LiveStates({}, processor.monitoring)
    # first sightings: each has a status change to emit
    batch = [(wire(service_id=f"svc-{i}"), "obs", 0, i) for i in range(2)]

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("sink broke")

    monkeypatch.setattr(processor, "_emit", refuse)
    out = processor.handle_batch(batch, live)
    refused = [orjson.loads(value) for _key, value in out.deadletter]
    assert [(r["reason"], r["source_offset"]) for r in refused] == [
        ("processing_error", 0),
        ("processing_error", 1),
    ]
    assert "sink broke" in refused[0]["detail"]
    with pytest.raises(RuntimeError):  # one by one, the caller isolates the record
        processor.handle(wire(service_id="svc-3"), live, topic="obs", partition=0, offset=2)
    counted = sum(
        sample.value
        for metric in metrics.observations.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    assert counted == 3  # counted before their outputs failed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_observe_many_equals_observe_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    buckets = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
    values = [rng.choice([rng.expovariate(0.3), rng.choice(buckets), 0.0]) for _ in range(3000)]
    values.append(float("inf"))
    one = Histogram("one", "h", buckets=buckets, registry=CollectorRegistry())
    many = Histogram("many", "h", buckets=buckets, registry=CollectorRegistry())
    one.observe(0.7)
    many.observe(0.7)
    for value in values:
        one.observe(value)
    observe_many(many, values[:1000])
    observe_many(many, values[1000:])

    def samples(histogram: Histogram) -> list[tuple[str, dict[str, str], float]]:
        return [
            (s.name.split("_", 1)[1], s.labels, s.value)
            for metric in histogram.collect()
            for s in metric.samples
            if not s.name.endswith("_created")
        ]

    assert samples(many) == samples(one)
