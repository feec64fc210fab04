"""The latency stage and its load generator process, through the real Kafka and worker.

Small and slow-paced on purpose (a few seconds at tens of obs/s): these check the machinery,
never a speed.
"""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path

import pytest

from pipeline.bench import stages as st
from pipeline.bench.kafka_io import delete_run, read_topic
from pipeline.bench.load_generator import LoadGenerator, LoadGeneratorError
from pipeline.bench.load_plan import LoadPlan
from pipeline.config.settings import Settings
from pipeline.core.progress import Progress
from pipeline.core.validation import parse_observation
from pipeline.ops.kafka_security import KafkaSecurity
from pipeline.ops.topics import ensure_topics
from tests.support.stack import free_port

pytestmark = [pytest.mark.bench, pytest.mark.integration]


def test_generator_process_sends_what_it_reports(bench_stack: Settings) -> None:
    security = KafkaSecurity.from_settings(bench_stack)
    run = f"bench-{uuid.uuid4().hex[:10]}"
    topic = f"{run}-gen.observations"
    ensure_topics(bench_stack.kafka_bootstrap, [topic], partitions=3, security=security)
    plan = LoadPlan(run=run, rate=400.0, seconds=1.5, background_services=20, silent_services=2)
    try:
        with LoadGenerator(
            plan, bootstrap=bench_stack.kafka_bootstrap, topic=topic, security=security
        ) as generator:
            warm = generator.warm_up()
            report = generator.run()
        values = read_topic(bench_stack.kafka_bootstrap, topic, security=security)
    finally:
        delete_run(bench_stack.kafka_bootstrap, run, [], security=security)

    assert warm == report.warm_up == 20 + plan.flip_services
    assert report.sent == plan.total - report.behind_at_end
    assert report.sent > 0.8 * plan.total
    assert len(report.quiet) == 2
    assert len(values) == warm + report.sent + len(report.quiet)
    by_id = {obs.event_id: obs for obs in (parse_observation(v, now=None) for v in values)}
    assert len(by_id) == len(values), "event ids repeat"
    # Every flip is on the topic with the send time as its event time (to the millisecond).
    assert report.flips
    for event_id, sent_at in report.flips:
        assert by_id[event_id].observed_at == pytest.approx(sent_at, abs=0.001)
    assert len(report.first_downs) == len({service for service, _, _ in report.first_downs})
    flip_ids = {ref.service_id for ref in plan.flip_refs()}
    for service, opened_at, sent_at in report.first_downs:
        assert service in flip_ids
        assert opened_at == pytest.approx(sent_at, abs=0.001)
    assert {service for service, _ in report.quiet} == {r.service_id for r in plan.quiet_refs()}


def test_generator_failure_fails_clearly_and_fast(bench_stack: Settings) -> None:
    plan = LoadPlan(run="bench-x", rate=10.0, seconds=1.0, background_services=1)
    started = time.monotonic()
    with (
        pytest.raises(LoadGeneratorError, match="load generator failed"),
        LoadGenerator(
            plan,
            bootstrap=f"127.0.0.1:{free_port()}",  # nothing listens there
            topic="unused",
            security=KafkaSecurity(),
        ) as generator,
    ):
        generator.warm_up(timeout=60)
    assert time.monotonic() - started < 60


def test_latency_stage_end_to_end(bench_stack: Settings, tmp_path: Path) -> None:
    bench = st.BenchRun(base=bench_stack, progress=Progress(io.StringIO()), workdir=tmp_path)
    bench.prepare()
    try:
        result = st.latency(bench, rate=40.0, seconds=3.0, name="lat0")
    finally:
        bench.cleanup()

    assert result["target_rate_obs_per_s"] == 40.0
    assert result["achieved_rate_obs_per_s"] > 30.0
    assert result["generator_fell_behind"] is False
    status = result["evidence_to_status_s"]
    assert status["count"] == 12  # 120 messages, every 10th a flip
    assert result["missing_status_changes"] == 0
    assert 0 < status["p50"] <= status["max"]
    assert result["evidence_to_incident_s"]["count"] == 12  # each flip service's first down
    assert result["missing_incidents"] == 0
    assert result["silence_delay_past_deadline_s"]["count"] > 0
    assert result["silence_missing"] == 0
