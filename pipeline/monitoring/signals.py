"""Signals: evidence is ordered within one signal of a service, never across signals."""

from __future__ import annotations

from pipeline.core.schema import Observation

#: How many signals per service keep their own newest time (the least recent is forgotten).
MAX_SIGNALS = 32


def signal_key(obs: Observation) -> str:
    """The signal an observation belongs to: evidence is ordered within a signal (kind,
    source, metric, vantage), never across signals, so a batched KPI or an outage-map report
    stamped before the newest probe is still in order for its own feed.

    >>> from pipeline.core.schema import Kind, Observation
    >>> signal_key(Observation(event_id="e", operator_id="o", service_id="s", sector="energy",
    ...     region="UA", kind=Kind.KPI, observed_at=1.0, source="scada", metric="load_mw"))
    'kpi|scada|load_mw|'
    """
    # ``kind`` formats as its value (a StrEnum) without the slower ``.value`` lookup.
    return f"{obs.kind}|{obs.source}|{obs.metric or ''}|{obs.vantage or ''}"


def remember_signal(signals: dict[str, float], key: str, at: float) -> None:
    """Advance ``key`` in ``signals`` to ``at`` (never back); past the cap the least recent
    signal is forgotten.

    >>> signals = {"a": 1.0, "b": 5.0}
    >>> remember_signal(signals, "a", 3.0); remember_signal(signals, "b", 4.0)
    >>> signals, list(signals)
    ({'a': 3.0, 'b': 5.0}, ['a', 'b'])
    """
    signals[key] = max(at, signals.get(key, at))
    if len(signals) > MAX_SIGNALS:
        del signals[min(signals, key=signals.__getitem__)]
