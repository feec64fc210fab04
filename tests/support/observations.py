"""Builders that keep a test about observations to a few lines."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from pipeline.core.schema import Kind, Observation, Status
from pipeline.core.timeutil import format_rfc3339

_ids = itertools.count()


def make_obs(
    service_id: str = "svc-1",
    *,
    at: float = 1_700_000_000.0,
    status: Status | None = Status.UP,
    kind: Kind = Kind.PROBE,
    event_id: str | None = None,
    **extra: Any,
) -> Observation:
    """A valid observation; override any field by keyword."""
    fields: dict[str, Any] = {
        "operator_id": "op-1",
        "sector": "energy",
        "region": "UA-30",
        "source": "test",
    }
    fields.update(extra)
    return Observation(
        event_id=event_id or f"ev-{next(_ids)}",
        service_id=service_id,
        kind=kind,
        observed_at=at,
        status=status,
        **fields,
    )


def wire(**overrides: Any) -> bytes:
    """Wire bytes of a valid observation dict with ``overrides`` applied (None deletes)."""
    data: dict[str, Any] = {
        "schema": 1,
        "event_id": f"ev-{next(_ids)}",
        "operator_id": "op-1",
        "service_id": "svc-1",
        "sector": "health",
        "region": "EE-78",
        "kind": "probe",
        "observed_at": format_rfc3339(1_700_000_000.0),
        "source": "test",
        "status": "up",
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return orjson.dumps(data)
