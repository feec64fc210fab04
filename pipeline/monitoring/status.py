"""Per-service status from evidence and from its absence (silence).

Pure logic: :class:`StatusTracker` takes the previous :class:`ServiceState` (or None) and one
observation, or a clock reading for the silence check, and returns the new state plus a
:class:`StatusChange` when the status moved. The faust agent keeps states in a table.

>>> from pipeline.core.schema import Kind, Observation, Status
>>> tracker = StatusTracker(SilencePolicy(default_interval=60.0))
>>> obs = Observation(event_id="e1", operator_id="op", service_id="svc", sector="energy",
...                   region="UA", kind=Kind.HEARTBEAT, observed_at=1000.0, source="t")
>>> state, change, outcome = tracker.observe(None, obs, partition=0)
>>> (state.status, change.current if change else None)
(<Status.UP: 'up'>, <Status.UP: 'up'>)
>>> state, change = tracker.check_silence(state, now=1000.0 + 3 * 60)
>>> state.status, change.reason
(<Status.UNKNOWN: 'unknown'>, 'silence')
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.core.schema import Kind, Observation, Status, declared_interval
from pipeline.monitoring import id_ring
from pipeline.monitoring.liveness import (
    PUSH,
    alive_class,
    follow_liveness,
    is_push_source,
)
from pipeline.monitoring.signals import remember_signal, signal_key

#: How many recent event ids per service are remembered to drop redelivered duplicates.
RECENT_EVENT_IDS = 32


@dataclass(frozen=True, slots=True)
class SilencePolicy:
    """When missing evidence turns a service unknown, then down.

    ``unknown_after`` and ``down_after`` are multiples of the service's expected interval:
    one missed report is common jitter, two is suspicious, four is an outage in practice.
    """

    default_interval: float = 60.0
    unknown_after: float = 2.0
    down_after: float = 4.0
    #: Evidence this much older than the newest seen for a service is too late to use
    #: (unless it is the newest of its own signal, see :func:`signal_key`).
    lateness_allowance: float = 300.0


@dataclass(slots=True)
class ServiceState:
    """What the worker knows about one service; JSON-able for the changelog.

    Treated as immutable (every step builds a new one and the previous one is still read),
    but not ``frozen``: a frozen dataclass sets each of these 20 fields through
    ``object.__setattr__``, which made building one the largest cost of an observation's
    status step (docs/benchmarks.md, round 4).
    """

    service_id: str
    operator_id: str
    sector: str
    region: str
    status: Status
    since: float
    last_evidence_at: float
    expected_interval: float
    partition: int
    customers_served: int | None = None
    customers_affected: int | None = None
    #: Digests of the recent event ids, oldest first (:mod:`pipeline.monitoring.id_ring`).
    recent_id_hashes: bytes = b""
    #: What set the current status: "evidence", "silence" or a detector's name.
    reason: str = "evidence"
    #: Newest event time per signal (:func:`signal_key`): ordering is judged per signal.
    signals: dict[str, float] = field(default_factory=dict)
    #: Event time of the newest evidence that asserted a status (a late assertion older than
    #: it must not override it).
    asserted_at: float | None = None
    #: Newest sign of life of the service's liveness class (see ``liveness``); silence is
    #: measured from it. None in states stored before it existed: last_evidence_at then.
    last_alive_at: float | None = None
    #: The service has a push feed: only push evidence is a sign of life.
    pushes: bool = False
    #: An interval the service declared (``expected_interval_s``) and the learned typical
    #: gap between its signs of life; the silence interval is the declared one, else the
    #: policy default unless the learned one is far slower (``StatusTracker._interval``).
    declared_interval: float | None = None
    learned_interval: float | None = None
    #: How far behind the clock push evidence usually arrives (batched feeds deliver minutes
    #: of points at once): silence counts from ``alive_at + delivery_lag``.
    delivery_lag: float = 0.0

    @property
    def alive_at(self) -> float:
        """Newest sign of life (see :attr:`last_alive_at`)."""
        return self.last_evidence_at if self.last_alive_at is None else self.last_alive_at

    @property
    def quiet_since(self) -> float:
        """From when missing evidence counts as silence (clock time)."""
        return self.alive_at + self.delivery_lag

    def to_dict(self) -> dict[str, Any]:
        # Written out by hand: dataclasses.asdict deep-copies every field and was the largest
        # single cost per observation in the benchmark profile (docs/benchmarks.md).
        data: dict[str, Any] = {
            "service_id": self.service_id,
            "operator_id": self.operator_id,
            "sector": self.sector,
            "region": self.region,
            "status": self.status.value,
            "since": self.since,
            "last_evidence_at": self.last_evidence_at,
            "expected_interval": self.expected_interval,
            "partition": self.partition,
            "recent_id_hashes": id_ring.to_stored(self.recent_id_hashes),
            "signals": dict(self.signals),
        }
        # Fields at their default are left out (from_dict restores them): ≈ 170 bytes less
        # per changelog record, and per service held in the table (docs/benchmarks.md,
        # "Round 5: state per service").
        if self.customers_served is not None:
            data["customers_served"] = self.customers_served
        if self.customers_affected is not None:
            data["customers_affected"] = self.customers_affected
        if self.reason != "evidence":
            data["reason"] = self.reason
        if self.asserted_at is not None:
            data["asserted_at"] = self.asserted_at
        if self.last_alive_at is not None:
            data["last_alive_at"] = self.last_alive_at
        if self.pushes:
            data["pushes"] = True
        if self.declared_interval is not None:
            data["declared_interval"] = self.declared_interval
        if self.learned_interval is not None:
            data["learned_interval"] = self.learned_interval
        if self.delivery_lag:
            data["delivery_lag"] = self.delivery_lag
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceState:
        values = dict(data)
        values["status"] = Status(values["status"])
        # Records written before the ring was hashed hold the ids themselves.
        old_ids = values.pop("recent_event_ids", None)
        values["recent_id_hashes"] = id_ring.from_stored(values.get("recent_id_hashes", old_ids))
        values["signals"] = dict(values.get("signals", {}))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A service moved from one status to another at an event time."""

    service_id: str
    operator_id: str
    sector: str
    region: str
    previous: Status | None
    current: Status
    at: float
    reason: str
    event_id: str | None
    customers_served: int | None
    customers_affected: int | None

    def to_dict(self) -> dict[str, Any]:
        from pipeline.core.timeutil import format_rfc3339

        return {
            "service_id": self.service_id,
            "operator_id": self.operator_id,
            "sector": self.sector,
            "region": self.region,
            "previous": self.previous.value if self.previous else None,
            "status": self.current.value,
            "at": format_rfc3339(self.at),
            "reason": self.reason,
            "event_id": self.event_id,
            "customers_served": self.customers_served,
            "customers_affected": self.customers_affected,
        }


class Outcome:
    """Why an observation did or did not change state (a metric label)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    LATE = "late"
    STALE = "stale"
    #: Read again after a restart or rebalance, and already in the service's stored state.
    REPLAYED = "replayed"


def status_from_observation(obs: Observation) -> Status | None:
    """The status an observation asserts, or None when it only proves liveness.

    An explicit ``status`` wins. An outage report without one is read from its customer
    counts: everyone out is ``down``, some out is ``degraded``, none out is ``up``.
    Heartbeats prove the reporting system is alive, hence ``up``.
    """
    if obs.status is not None:
        return obs.status
    if obs.kind is Kind.OUTAGE_REPORT and obs.customers_affected is not None:
        if obs.customers_affected == 0:
            return Status.UP
        if obs.customers_served is not None and obs.customers_affected >= obs.customers_served:
            return Status.DOWN
        return Status.DEGRADED
    if obs.kind is Kind.HEARTBEAT:
        return Status.UP
    return None


def _copy(state: ServiceState) -> ServiceState:
    """A copy to update, leaving ``state`` (and its signals) as they are."""
    return replace(state, signals=dict(state.signals))


class StatusTracker:
    """Folds evidence and silence into per-service status. Holds no state itself."""

    def __init__(self, policy: SilencePolicy) -> None:
        self.policy = policy

    def observe(
        self,
        state: ServiceState | None,
        obs: Observation,
        *,
        partition: int,
        asserts: bool = True,
        now: float | None = None,
        in_place: bool = False,
    ) -> tuple[ServiceState, StatusChange | None, str]:
        """Apply one observation; returns (new state, change or None, outcome).

        ``asserts``: whether the observation's own status counts (probes do not: their
        status is the detectors' call; they still count as signs of life when successful).
        ``now``: the clock when it arrived, to learn how late the service's pushes arrive.
        ``in_place``: update ``state`` itself and return it (the worker's path: building a
        new 20-field state, and a copy of its signals, per observation was ≈ 3 µs,
        docs/benchmarks.md, round 6); otherwise ``state`` is left as it was.
        """
        declared = declared_interval(obs.attrs)
        asserted = status_from_observation(obs) if asserts else None
        alive = alive_class(obs)
        key = signal_key(obs)
        if state is None:
            current = asserted or Status.UP
            new = ServiceState(
                service_id=obs.service_id,
                operator_id=obs.operator_id,
                sector=obs.sector,
                region=obs.region,
                status=current,
                since=obs.observed_at,
                last_evidence_at=obs.observed_at,
                expected_interval=declared or self.policy.default_interval,
                partition=partition,
                customers_served=obs.customers_served,
                customers_affected=obs.customers_affected,
                recent_id_hashes=id_ring.digest(obs.event_id),
                signals={key: obs.observed_at},
                asserted_at=obs.observed_at if asserted is not None else None,
                last_alive_at=obs.observed_at if alive else None,
                pushes=is_push_source(obs),
                declared_interval=declared,
            )
            return (
                new,
                _change(
                    new, None, obs.observed_at, "evidence", obs.event_id, new.customers_affected
                ),
                Outcome.APPLIED,
            )
        event_hash = id_ring.digest(obs.event_id)
        if id_ring.seen(state.recent_id_hashes, event_hash):
            return state, None, Outcome.DUPLICATE
        remembered = id_ring.remember(state.recent_id_hashes, event_hash, limit=RECENT_EVENT_IDS)
        newest_of_signal = state.signals.get(key)
        too_late = obs.observed_at < state.last_evidence_at - self.policy.lateness_allowance
        if newest_of_signal is not None and obs.observed_at < newest_of_signal:
            if too_late:
                return state, None, Outcome.LATE
            # Newer evidence of the same signal already spoke: only remember the id.
            new = state if in_place else _copy(state)
            new.recent_id_hashes = remembered
            return new, None, Outcome.STALE
        if newest_of_signal is None and too_late:
            return state, None, Outcome.LATE
        in_order = obs.observed_at >= state.last_evidence_at
        served = (
            obs.customers_served if obs.customers_served is not None else state.customers_served
        )
        affected = (
            obs.customers_affected
            if obs.customers_affected is not None
            else state.customers_affected
        )
        target = asserted
        newest_assertion = max(state.since, state.asserted_at or state.since)
        if not in_order and obs.observed_at < newest_assertion:
            # In order for its own signal, but newer evidence already asserted the status.
            target = None
        alive_at, pushes, learned, lag = follow_liveness(
            state,
            obs,
            alive=alive,
            # only push evidence learns from it (the scan costs a generator per observation)
            last_push=_newest_push(state.signals) if alive == PUSH else None,
            now=None if _silent(state) else now,  # a backlog after a silence is no cadence
        )
        fresh = alive_at == obs.observed_at != state.last_alive_at
        if (
            target is None
            and fresh
            and (state.status is Status.UNKNOWN or state.reason == "silence")
        ):
            # A sign of life after silence (or a connector's "unknown"): reporting again.
            target = Status.UP
        declared = declared or state.declared_interval
        previous = state.status
        changes = target is not None and target is not previous
        status = target if changes and target is not None else previous
        since = obs.observed_at if changes else state.since
        last_evidence_at = max(obs.observed_at, state.last_evidence_at)
        expected_interval = declared or self._interval(learned)
        reason = "evidence" if changes else state.reason
        asserted_at = (
            max(obs.observed_at, state.asserted_at or obs.observed_at)
            if asserted is not None
            else state.asserted_at
        )
        new = state if in_place else _copy(state)
        remember_signal(new.signals, key, obs.observed_at)
        new.status = status
        new.since = since
        new.last_evidence_at = last_evidence_at
        new.expected_interval = expected_interval
        new.partition = partition
        new.customers_served = served
        new.customers_affected = affected
        new.recent_id_hashes = remembered
        new.reason = reason
        new.asserted_at = asserted_at
        new.last_alive_at = alive_at
        new.pushes = pushes
        new.declared_interval = declared
        new.learned_interval = learned
        new.delivery_lag = lag
        if not changes:
            return new, None, Outcome.APPLIED
        return (
            new,
            _change(new, previous, obs.observed_at, "evidence", obs.event_id, affected),
            Outcome.APPLIED,
        )

    def _interval(self, learned: float | None) -> float:
        """The silence interval of a service that declared none: the policy default, unless
        the service's usual cadence is clearly slower (KPIs every 5 min, say); then that."""
        default = self.policy.default_interval
        if learned is not None and learned > SLOW_CADENCE * default:
            return learned
        return default

    def silence_deadline(self, state: ServiceState) -> float | None:
        """Event time at which silence would next change this service's status."""
        return self._deadline(state.status, state.quiet_since, state.expected_interval)

    def stored_silence_deadline(self, stored: dict[str, Any]) -> float | None:
        """:meth:`silence_deadline` read off the stored dict, without building the state:
        the periodic check looks at every service and must stay cheap."""
        return self._deadline(
            Status(stored["status"]),
            float(stored.get("last_alive_at") or stored["last_evidence_at"])
            + float(stored.get("delivery_lag") or 0.0),
            float(stored["expected_interval"]),
        )

    def _deadline(self, status: Status, last_evidence_at: float, interval: float) -> float | None:
        if status in (Status.DOWN, Status.MAINTENANCE):
            return None
        multiple = self.policy.down_after if status is Status.UNKNOWN else self.policy.unknown_after
        return last_evidence_at + multiple * interval

    def check_silence(
        self, state: ServiceState, *, now: float
    ) -> tuple[ServiceState, StatusChange | None]:
        """Turn a quiet service unknown, then down; ``now`` is the wall clock in epoch seconds."""
        quiet_for = now - state.quiet_since
        if state.status is Status.MAINTENANCE:
            return state, None
        target: Status | None = None
        if quiet_for >= self.policy.down_after * state.expected_interval:
            target = Status.DOWN
        elif quiet_for >= self.policy.unknown_after * state.expected_interval:
            target = Status.UNKNOWN
        if target is None or target is state.status or state.status is Status.DOWN:
            return state, None
        # The status changed when the deadline passed, not when we happened to look.
        multiple = self.policy.down_after if target is Status.DOWN else self.policy.unknown_after
        at = state.quiet_since + multiple * state.expected_interval
        new = replace(state, status=target, since=at, reason="silence")
        # Silence says nothing of who is affected; a silent service down affects everyone.
        affected = state.customers_served if target is Status.DOWN else None
        return new, _change(new, state.status, at, "silence", None, affected)


#: A learned cadence this many times the default interval replaces it.
SLOW_CADENCE = 1.5


def _newest_push(signals: dict[str, float]) -> float | None:
    """Event time of the newest push evidence among ``signals`` (every signal but probes).

    >>> _newest_push({"probe|p||v": 9.0, "kpi|s|m|": 5.0, "heartbeat|s||": 7.0})
    7.0
    """
    newest: float | None = None
    for key, at in signals.items():
        if (newest is None or at > newest) and not key.startswith("probe|"):
            newest = at
    return newest


def _silent(state: ServiceState) -> bool:
    return state.status is Status.UNKNOWN or state.reason == "silence"


def assert_status(
    state: ServiceState, status: Status, *, at: float, reason: str, event_id: str | None = None
) -> tuple[ServiceState, StatusChange | None]:
    """Set the status a detector concluded (e.g. probe consensus); no change if already so."""
    if status is state.status:
        return state, None
    new = replace(state, status=status, since=at, reason=reason)
    return new, _change(new, state.status, at, reason, event_id, new.customers_affected)


def _change(
    new: ServiceState,
    previous: Status | None,
    at: float,
    reason: str,
    event_id: str | None,
    customers_affected: int | None,
) -> StatusChange:
    """The change that led to ``new`` (whose status is the current one)."""
    return StatusChange(
        service_id=new.service_id,
        operator_id=new.operator_id,
        sector=new.sector,
        region=new.region,
        previous=previous,
        current=new.status,
        at=at,
        reason=reason,
        event_id=event_id,
        customers_served=new.customers_served,
        customers_affected=customers_affected,
    )
