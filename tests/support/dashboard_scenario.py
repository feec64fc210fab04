"""A short scenario that gives every dashboard panel something to show.

Evidence from the last ~15 minutes for one service per concern: a sustained and a momentary
energy interruption, a telecom core that goes silent (an open NORS outage), a telecom KPI
that spikes, a tram route with reduced service, a hospital endpoint seen down by three
vantages, a malformed record; plus a connectors config whose feeds parse, skip, reject and
fall silent, and push-ingest requests good and bad.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.schema import Kind, Observation, Status
from tests.support.observations import make_obs
from tests.support.stack import free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "connectors"
PUSH_TOKEN = "dashboard-test-token"
REGION = "UA-30"


def _obs(service_id: str, operator: str, sector: str, at: float, **extra: Any) -> Observation:
    return make_obs(
        service_id,
        at=at,
        operator_id=operator,
        sector=sector,
        region=extra.pop("region", REGION),
        source="dashboard-scenario",
        **extra,
    )


def _outage(service_id: str, operator: str, at: float, affected: int) -> Observation:
    return _obs(
        service_id,
        operator,
        "energy",
        at,
        kind=Kind.OUTAGE_REPORT,
        status=None,
        customers_served=10_000,
        customers_affected=affected,
    )


def observations(now: float) -> list[Observation]:
    """Every service's evidence, in event-time order per service."""
    out: list[Observation] = []
    # Energy: a 10-minute (sustained) and a 50-second (momentary) interruption.
    for at, affected in ((now - 960, 0), (now - 900, 6_000), (now - 300, 0), (now - 60, 0)):
        out.append(_outage("energy.grid-a.feeder-1", "grid-a", at, affected))
    for at, affected in ((now - 260, 0), (now - 200, 2_500), (now - 150, 0)):
        out.append(_outage("energy.grid-b.feeder-7", "grid-b", at, affected))
    # Telecom: a mobile core's heartbeats stop (silence -> unknown -> down, incident open).
    for at in (now - 30, now - 28, now - 26):
        out.append(
            _obs(
                "telecom.tel-a.core",
                "tel-a",
                "telecom",
                at,
                kind=Kind.HEARTBEAT,
                status=None,
                customers_served=1_000_000,
                attrs={"expected_interval_s": 2.0},
            )
        )
    # Telecom KPI: 40 calm points, then a spike the anomaly scorer publishes.
    for i in range(41):
        value = 50.0 if i == 40 else 1.0 + (i % 3) * 0.01
        out.append(
            _obs(
                "telecom.tel-a.call-drops",
                "tel-a",
                "telecom",
                now - 420 + 10 * i,
                kind=Kind.KPI,
                status=None,
                metric="call_drop_rate",
                value=value,
                unit="%",
            )
        )
    # Transport: a tram route on reduced service for 100 s.
    for at, status in ((now - 720, Status.UP), (now - 700, Status.DOWN), (now - 600, Status.UP)):
        out.append(
            _obs(
                "transport.tram-a.route-3",
                "tram-a",
                "transport",
                at,
                kind=Kind.STATUS_REPORT,
                status=status,
                region="UA-46",
                attrs={"effect": "REDUCED_SERVICE", "route_id": "3"},
            )
        )
    # Health: three vantages see the FHIR endpoint fail, then recover.
    for at, status in ((now - 320, Status.UP), (now - 250, Status.DOWN), (now - 190, Status.UP)):
        for vantage in ("vp-kyiv", "vp-lviv", "vp-warsaw"):
            out.append(
                _obs(
                    "health.hosp-a.fhir",
                    "hosp-a",
                    "health",
                    at,
                    kind=Kind.PROBE,
                    status=status,
                    vantage=vantage,
                    metric="latency" if status is Status.UP else None,
                    value=0.12 if status is Status.UP else None,
                    unit="s" if status is Status.UP else None,
                    region="UA-46",
                )
            )
    return out


def connectors_config(folder: Path) -> Path:
    """A deployment whose feeds read real public samples: one parses and skips, one is
    rejected as stale, one cannot be read and falls silent; one operator may push."""
    token_sha = hashlib.sha256(PUSH_TOKEN.encode()).hexdigest()
    config = {
        "version": 1,
        "operators": [
            {
                "id": "aes-ohio",
                "token_sha256": token_sha,
                "services": [
                    {
                        "id": "energy.aes.grid",
                        "sector": "energy",
                        "region": "US-OH",
                        "expected_interval_s": 300,
                        "customers_served": 535_000,
                    },
                    {
                        "id": "energy.aes.montgomery",
                        "sector": "energy",
                        "region": "US-OH",
                        "expected_interval_s": 300,
                        "customers_served": 250_000,
                    },
                    {
                        "id": "energy.aes.lost",
                        "sector": "energy",
                        "region": "US-OH",
                        "expected_interval_s": 1,
                    },
                ],
                "feeds": [
                    {
                        "id": "aes-outage-map",
                        "type": "outage",
                        "path": str(FIXTURES / "aes_ohio_outages_latest.xml"),
                        "interval_s": 1,
                        "service": "energy.aes.grid",
                        "map": {"MONTGOMERY": "energy.aes.montgomery"},
                        "options": {"format": "aes_xml", "timezone": "America/New_York"},
                    },
                    {
                        "id": "aes-lost-feed",
                        "type": "outage",
                        # The export server is down: every fetch fails, the feed falls silent.
                        "url": f"http://127.0.0.1:{free_port()}/no-such-export.xml",
                        "interval_s": 0.5,
                        "service": "energy.aes.lost",
                        "options": {"format": "aes_xml", "timezone": "America/New_York"},
                    },
                ],
            },
            {
                "id": "carrier-north",
                "token_sha256": hashlib.sha256(b"carrier-north-token").hexdigest(),
                "services": [
                    {
                        "id": "telecom.north.dns",
                        "sector": "telecom",
                        "region": "UA",
                        "expected_interval_s": 240,
                        "vantages": ["atlas:6001", "atlas:6002", "atlas:6003"],
                    }
                ],
                "feeds": [
                    {
                        "id": "atlas-k-root",
                        "type": "atlas_ping",
                        "path": str(FIXTURES / "atlas_ping_results.json"),
                        "interval_s": 1,
                        "service": "telecom.north.dns",
                    }
                ],
            },
        ],
    }
    path = folder / "connectors.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
