"""Blips: an explicit per-sector policy for how long probe failures last before an incident
opens (issue 14, class 5)."""

from __future__ import annotations

import pytest

from pipeline.core.schema import Kind, Observation, Status
from pipeline.detection.blips import BlipPolicy
from pipeline.monitoring.monitor import Monitoring, MonitorParams, ServiceMonitor
from tests.support.observations import make_obs

T0 = 1_700_000_000.0
VANTAGES = ("fra", "waw", "ams", "kyiv")


def probes(failing: tuple[float, float], sector: str = "energy") -> list[Observation]:
    """4 vantages every 60 s for 30 min; every probe inside ``failing`` fails."""
    out = []
    for r in range(30):
        for i, v in enumerate(VANTAGES):
            at = T0 + 60.0 * r + 15.0 * i
            ok = not failing[0] <= at < failing[1]
            status = Status.UP if ok else Status.DOWN
            out.append(
                make_obs("svc", at=at, kind=Kind.PROBE, status=status, vantage=v, sector=sector)
            )
    return out


def detected(
    policy: BlipPolicy, failing: tuple[float, float], sector: str = "energy"
) -> list[float]:
    monitoring = Monitoring(MonitorParams(blips=policy))
    monitor: ServiceMonitor | None = None
    out = []
    for obs in probes(failing, sector):
        monitor, result = monitoring.observe(monitor, obs, partition=0, now=obs.observed_at)
        out += [e.at for e in result.incident_events if e.kind == "detected"]
    return out


BLIP = (T0 + 600.0, T0 + 700.0)  # 100 s: shorter than two probe intervals
OUTAGE = (T0 + 600.0, T0 + 1200.0)


def test_a_blip_shorter_than_two_probe_intervals_opens_nothing_by_default() -> None:
    assert detected(BlipPolicy(), BLIP) == []
    assert len(detected(BlipPolicy(rounds=1), BLIP)) == 1  # without the policy it paged


def test_an_outage_opens_after_the_policy_s_rounds() -> None:
    (at,) = detected(BlipPolicy(), OUTAGE)
    assert OUTAGE[0] + 120.0 <= at <= OUTAGE[0] + 180.0


def test_a_sector_can_be_made_faster_or_slower() -> None:
    policy = BlipPolicy.parse("3,health=1,transport=6")
    assert len(detected(policy, BLIP, sector="health")) == 1
    assert detected(policy, BLIP, sector="energy") == []
    (at,) = detected(policy, OUTAGE, sector="transport")
    assert at >= OUTAGE[0] + 300.0


def test_a_bad_policy_is_refused_with_the_expected_form() -> None:
    with pytest.raises(ValueError, match=r"ROUNDS\[,SECTOR=ROUNDS"):
        BlipPolicy.parse("three")
    with pytest.raises(ValueError, match="at least 1"):
        BlipPolicy(rounds=0)


def test_the_worker_reads_the_policy_from_cw_blip_policy() -> None:
    from pipeline.config.settings import Settings

    settings = Settings.from_env({"CW_BLIP_POLICY": "2,health=1"})
    assert BlipPolicy.parse(settings.blip_policy).rounds_for("health") == 1
    assert BlipPolicy.parse(Settings.from_env({}).blip_policy) == BlipPolicy()
