"""Accounting for the fault-injection runs: what was expected, what the topics and InfluxDB hold.

The input is a flapping pattern: in round ``r`` every service reports ``down`` (even ``r``) or
``up`` (odd ``r``) at ``t0 + r``, so every observation is exactly one status change, every
``down`` one ``detected`` incident event and every ``up`` one ``restored``.

>>> expected = expected_changes(["a"], rounds=2, t0=100.0)
>>> sorted(expected)
[('a', 100000, 'down'), ('a', 101000, 'up')]
>>> got = [{"service_id": "a", "at": "1970-01-01T00:01:40Z", "status": "down"}] * 2
>>> account_status(expected, got)
{'expected': 2, 'lost': 1, 'duplicated': 1}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.core.timeutil import parse_rfc3339

Change = tuple[str, int, str]


def expected_changes(services: Sequence[str], *, rounds: int, t0: float) -> set[Change]:
    """(service, event time in ms, status) of every change the flapping input must cause."""
    return {
        (service, round((t0 + r) * 1000), "down" if r % 2 == 0 else "up")
        for r in range(rounds)
        for service in services
    }


def status_change(record: dict[str, Any]) -> Change:
    return (record["service_id"], round(parse_rfc3339(record["at"]) * 1000), record["status"])


def account_status(expected: set[Change], records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Changes lost (expected, never on the topic) and duplicated (on the topic twice)."""
    counts = Counter(status_change(r) for r in records)
    return {
        "expected": len(expected),
        "lost": len(expected - set(counts)),
        "duplicated": sum(n - 1 for n in counts.values()),
    }


def account_incidents(
    services: Sequence[str], rounds: int, records: Iterable[dict[str, Any]]
) -> dict[str, int]:
    """Incident events duplicated (same incident, kind and time twice) and services whose
    incident history ends wrong: without any incident, or open/restored against the last
    round (flapping may reopen one incident instead of opening another, so the number of
    incidents is not fixed, but the last event is)."""
    events = list(records)
    counts = Counter((r["incident"]["incident_id"], r["event"], r["at"]) for r in events)
    # A service's events share its partition, so topic order is their order.
    last = {r["incident"]["service"]["service_id"]: r["event"] for r in events}
    should_be_restored = rounds % 2 == 0  # the last round (rounds - 1) is odd: "up"
    wrong = sum(
        1
        for service in services
        if service not in last or (last[service] == "restored") != should_be_restored
    )
    return {"events": len(counts), "duplicated": sum(n - 1 for n in counts.values()), "lost": wrong}


def account_points(topic: set[Change], influx: set[Change]) -> dict[str, int]:
    """Status changes on the topic missing from InfluxDB (points are idempotent, so a
    duplicate is impossible there by construction)."""
    return {"on_topic": len(topic), "lost": len(topic - influx), "extra": len(influx - topic)}
