"""Shared helpers for connector unit tests: fixture files, services, contexts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connectors.base import FeedContext, FetchInfo, ServiceSpec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "connectors"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def service(
    service_id: str,
    sector: str = "telecom",
    *,
    operator: str = "op",
    region: str = "UA",
    served: int | None = None,
) -> ServiceSpec:
    return ServiceSpec(operator, service_id, sector, region, 60.0, served)


def context(
    now: float,
    default: ServiceSpec | None = None,
    services: Mapping[str, ServiceSpec] | None = None,
    fetch: FetchInfo | None = None,
) -> FeedContext:
    return FeedContext(
        source="test-feed",
        now=now,
        default_service=default,
        services=dict(services or {}),
        fetch=fetch,
    )
