"""The latency stage's load, as data: its schedule, its flips and its payload templates."""

from __future__ import annotations

import pytest

from pipeline.bench.data import evidence_shapes
from pipeline.bench.load_plan import (
    LoadPlan,
    LoadReport,
    PayloadTemplate,
    Templates,
    stamp_text,
    stamp_value,
)
from pipeline.bench.stages.latency import latency_loads, parse_loads
from pipeline.core.schema import Kind, Status
from pipeline.core.validation import parse_observation

NOW = 1_764_460_800.123


def test_schedule_sends_rate_times_seconds_in_order() -> None:
    plan = LoadPlan(run="r", rate=1_000.0, seconds=3.0, background_services=50)
    dues = [plan.due(t / 100) for t in range(0, 400)]
    assert dues == sorted(dues)
    assert dues[0] == 0
    assert plan.due(1.0) == 1_000
    assert plan.due(3.0) == plan.due(99.0) == plan.total == 3_000


def test_flips_alternate_and_each_service_goes_down_first() -> None:
    plan = LoadPlan(run="r", rate=100.0, seconds=60.0, background_services=5, flip_services=4)
    flips = [plan.flip(i) for i in range(0, 200)]
    assert sum(flip is not None for flip in flips) == 20  # every 10th
    targets: dict[int, list[str]] = {}
    for flip in flips:
        if flip is not None:
            targets.setdefault(flip[0], []).append(flip[1])
    assert sorted(targets) == [0, 1, 2, 3]
    for sequence in targets.values():
        assert sequence == ["down", "up", "down", "up", "down"]
    assert {plan.background(i) for i in range(1, 10)} <= set(range(5))


def test_quiet_services_send_inside_the_steady_phase() -> None:
    plan = LoadPlan(run="r", rate=10.0, seconds=9.0, background_services=5)
    times = plan.quiet_times()
    assert len(times) == plan.silent_services == len(plan.quiet_refs())
    assert times == sorted(times)
    assert 0 < times[0] < times[-1] < plan.seconds


def test_plan_refuses_an_event_id_prefix_it_cannot_paste_into_json() -> None:
    with pytest.raises(ValueError, match="only letters"):
        LoadPlan(run='bad"id', rate=1.0, seconds=1.0, background_services=1)
    with pytest.raises(ValueError, match="must be > 0"):
        LoadPlan(run="r", rate=0.0, seconds=1.0, background_services=1)


def test_every_template_renders_an_observation_the_worker_accepts() -> None:
    plan = LoadPlan(run="bench-ab12", rate=500.0, seconds=2.0, background_services=12)
    templates = Templates.build(plan)
    refs = plan.background_refs()
    at = stamp_text(NOW)
    for service, ref in enumerate(refs):
        kinds = [kind for kind, _ in evidence_shapes(ref.sector)]
        for shape, template in enumerate(templates.background[service]):
            obs = parse_observation(template.render(b"bench-ab12-b7", at), now=NOW + 1)
            assert (obs.event_id, obs.service_id, obs.kind) == (
                "bench-ab12-b7",
                ref.service_id,
                kinds[shape],
            )
            assert obs.observed_at == stamp_value(at) == 1_764_460_800.123
            assert template.key == ref.service_id.encode()
            # Background evidence says the service is fine (or asserts nothing).
            assert obs.status in (Status.UP, None)
            assert obs.customers_affected in (0, None)
    for service, ref in enumerate(plan.flip_refs()):
        for target in ("up", "down"):
            raw = templates.flip_template(service, target).render(b"e-f0", at)
            obs = parse_observation(raw, now=NOW + 1)
            assert (obs.service_id, obs.kind, obs.status) == (
                ref.service_id,
                Kind.STATUS_REPORT,
                Status(target),
            )


def test_background_messages_follow_the_mix_weights() -> None:
    plan = LoadPlan(run="r", rate=1.0, seconds=1.0, background_services=4)
    templates = Templates.build(plan)
    sectors = [ref.sector for ref in plan.background_refs()]
    # Service 1 is "health": probes 5, heartbeats 3, status reports 2.
    kinds = [
        parse_observation(
            templates.background_template(i, plan, sectors).render(b"e", stamp_text(NOW)), now=None
        ).kind
        for i in range(1, 40_000, 4)
    ]
    share = kinds.count(Kind.PROBE) / len(kinds)
    assert 0.4 < share < 0.6, share


def test_template_fills_either_field_order() -> None:
    template = PayloadTemplate(b"k", (b'{"a":"', b'","b":"', b'"}'), event_first=False)
    assert template.render(b"E", b"T") == b'{"a":"T","b":"E"}'


def test_schedule_figures_flag_a_generator_that_fell_behind() -> None:
    kept = LoadReport(sent=9_990, seconds=10.0, behind_at_end=10, max_behind=40, cpu_s=0.2)
    figures = kept.schedule_figures(1_000.0)
    assert figures["achieved_rate_obs_per_s"] == 999.0
    assert figures["generator_fell_behind"] is False
    assert figures["generator_cpu_us_per_obs"] == pytest.approx(0.2e6 / 9_990)
    late = LoadReport(sent=8_000, seconds=10.0, behind_at_end=2_000, max_behind=2_000)
    figures = late.schedule_figures(1_000.0)
    assert figures["generator_fell_behind"] is True
    assert figures["generator_behind_at_end_s"] == 2.0


def test_latency_loads_from_the_command_line() -> None:
    assert [p.rate for p in latency_loads(parse_loads("0.5,0.9"), None, 8_000.0)] == [
        4_000.0,
        7_200.0,
    ]
    assert [p.load for p in latency_loads(None, None, 8_000.0)] == [0.5]
    for bad, message in (("", "at least one"), ("x", "not a number"), ("0", r"\(0, 2\]")):
        with pytest.raises(ValueError, match=message):
            parse_loads(bad)


def test_latency_load_needs_the_worker_stage_and_no_rate() -> None:
    from click.testing import CliRunner

    from pipeline.bench.cli import bench_group

    runner = CliRunner()
    for argv, message in (
        (["--stages", "latency", "--latency-load", "0.5"], "needs the 'worker' stage"),
        (
            ["--stages", "worker,latency", "--latency-load", "0.5", "--latency-rate", "9"],
            "not both",
        ),
        (["--stages", "worker,latency", "--latency-load", "5"], "(0, 2]"),
    ):
        result = runner.invoke(bench_group, ["run", *argv])
        assert result.exit_code == 2, result.output
        assert message in result.output
