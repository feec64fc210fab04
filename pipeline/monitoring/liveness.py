"""Which evidence is a sign of life for silence, and how often a service's evidence comes.

Silence is judged on one *class* of evidence per service, and only that class ends it:

* ``push``: what the service (or its operator's feed) sends itself: heartbeats, KPIs, status
  and outage reports. Once a service has pushed anything, only push evidence keeps it alive,
  so a frozen feed is not "restored" by a probe that still reaches the web front.
* ``probe``: a *successful* probe, for services that are only probed. A failing probe is
  never a sign of life (it is evidence of the opposite).

A connector's ``unknown`` report ("my feed is frozen") marks the service as a push service
but is not a sign of life itself.

>>> from typing import Protocol

from pipeline.core.schema import Kind, Observation, Status
>>> def obs(kind, status=None):
...     return Observation(event_id="e", operator_id="o", service_id="s", sector="energy",
...                        region="UA", kind=kind, observed_at=1.0, source="t", status=status)
>>> alive_class(obs(Kind.PROBE, Status.DOWN)), alive_class(obs(Kind.PROBE, Status.UP))
(None, 'probe')
>>> alive_class(obs(Kind.HEARTBEAT)), alive_class(obs(Kind.STATUS_REPORT, Status.UNKNOWN))
('push', None)
>>> round(learn_interval(None, 30.0), 1), round(learn_interval(30.0, 900.0), 1)
(30.0, 36.0)
"""

from __future__ import annotations

from typing import Protocol

from pipeline.core.schema import Kind, Observation, Status

PUSH = "push"
PROBE = "probe"
#: Weight of a new gap in the learned interval (about the last 10 gaps count).
LEARN_RATE = 0.1
#: A gap counts at most this many times the current estimate (an outage is not a cadence).
GAP_CAP = 3.0
#: Per push, the learned delivery lag forgets this much of itself (a late burst fades).
LAG_DECAY = 0.995


def alive_class(obs: Observation) -> str | None:
    """The liveness class of ``obs``, or None when it proves nothing is alive."""
    if obs.kind is Kind.PROBE:
        return PROBE if obs.status in (Status.UP, Status.DEGRADED) else None
    if obs.status is Status.UNKNOWN:
        return None  # a connector saying it does not know
    return PUSH


def is_push_source(obs: Observation) -> bool:
    """Evidence that the service has a push feed (even one saying it is frozen)."""
    return obs.kind is not Kind.PROBE


def learn_interval(learned: float | None, gap: float) -> float:
    """Update the typical gap between signs of life with one new gap."""
    if learned is None:
        return gap
    return learned + LEARN_RATE * (min(gap, GAP_CAP * learned) - learned)


class Liveness(Protocol):
    """What a service's signs of life look like so far (fields of its status state)."""

    @property
    def last_alive_at(self) -> float | None: ...
    @property
    def pushes(self) -> bool: ...
    @property
    def learned_interval(self) -> float | None: ...
    @property
    def delivery_lag(self) -> float: ...


#: :class:`Liveness` after one observation: (last_alive_at, pushes, learned_interval,
#: delivery_lag). A plain tuple: a NamedTuple in and one out per observation was ≈ 1 µs.
LivenessValues = tuple[float | None, bool, float | None, float]


def follow_liveness(
    life: Liveness,
    obs: Observation,
    *,
    alive: str | None,
    last_push: float | None,
    now: float | None,
) -> LivenessValues:
    """``life`` after ``obs``, whose :func:`alive_class` is ``alive``. ``last_push``: event
    time of the newest push evidence before it; ``now``: the clock when it arrived (None: do
    not learn the delivery lag from it)."""
    pushes = life.pushes or is_push_source(obs)
    # the cadence learned so far belongs to the old class when the service starts pushing
    learned = life.learned_interval if pushes == life.pushes else None
    # only the service's class is a sign of life: push evidence once it pushes with a known
    # cadence (until then, successful probes still count)
    sign_of_life = alive is not None and (alive == PUSH or not (pushes and learned))
    alive_at = life.last_alive_at
    fresh = sign_of_life and (alive_at is None or obs.observed_at > alive_at)
    if alive == PUSH:
        if last_push is not None and obs.observed_at > last_push:
            learned = learn_interval(learned, obs.observed_at - last_push)
    elif fresh and not pushes and alive_at is not None:
        learned = learn_interval(learned, obs.observed_at - alive_at)
    lag = life.delivery_lag
    if alive == PUSH and now is not None:
        lag = max(now - obs.observed_at, lag * LAG_DECAY, 0.0)
    return (obs.observed_at if fresh else alive_at, pushes, learned, lag)
