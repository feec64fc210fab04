"""The latency stage's load, as data: what its generator sends, when, and what it reports.

Pure (no Kafka): the generator process (:mod:`pipeline.bench.load_generator`) follows a
:class:`LoadPlan`, filling :class:`PayloadTemplate` s built before the steady phase, so a
message costs a few byte joins instead of building and serialising an ``Observation``.

Message ``i`` of the steady phase is due ``i / rate`` seconds after its start; every
``flip_every``-th is a status report flipping one of the flip services (up, down, up, ...),
the rest are "up" evidence for the background services:

>>> plan = LoadPlan(run="r", rate=100.0, seconds=2.0, background_services=50)
>>> [plan.due(t) for t in (0.0, 0.005, 0.5, 2.0, 9.0)]
[0, 0, 50, 200, 200]
>>> plan.flip(0), plan.flip(10), plan.flip(640)
((0, 'down'), (1, 'down'), (0, 'up'))
>>> plan.flip(3) is None
True
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.bench.data import SECTORS, ObservationMix, evidence_shapes, service_ref
from pipeline.core.identity import ServiceRef
from pipeline.core.schema import Kind, Status
from pipeline.core.timeutil import format_rfc3339, parse_rfc3339

_EVENT_MARK = "@@EVENT_ID@@"
_STAMP_MARK = "@@OBSERVED_AT@@"
#: Event ids are pasted into the JSON unescaped, so they may hold only these characters.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]+")
#: Background messages pick their evidence shape from this many seeded draws, in turn.
_SHAPE_DRAWS = 4093


@dataclass(frozen=True)
class LoadPlan:
    """One steady load: ``rate`` obs/s for ``seconds`` (picklable: it crosses to the child)."""

    run: str
    rate: float
    seconds: float
    background_services: int
    flip_every: int = 10
    flip_services: int = 64
    silent_services: int = 8
    namespace: str = "lat"

    def __post_init__(self) -> None:
        if not _SAFE_ID.fullmatch(self.run):
            raise ValueError(f"run {self.run!r}: only letters, digits and ._:- are allowed")
        if self.rate <= 0 or self.seconds <= 0:
            raise ValueError(f"rate {self.rate} and seconds {self.seconds} must be > 0")
        if self.background_services < 1 or self.flip_every < 2 or self.flip_services < 1:
            raise ValueError("background_services, flip_services >= 1 and flip_every >= 2")

    @property
    def total(self) -> int:
        """Messages the steady phase sends if it keeps to its schedule."""
        return int(self.rate * self.seconds)

    def due(self, elapsed: float) -> int:
        """How many messages should have been sent ``elapsed`` s into the steady phase."""
        return min(self.total, int(elapsed * self.rate))

    def flip(self, index: int) -> tuple[int, str] | None:
        """(flip service, "down" or "up") when message ``index`` is a flip, else None.

        Flip services start "up" (the warm-up), so each one's first flip is to "down".
        """
        if index % self.flip_every:
            return None
        nth = index // self.flip_every
        service = nth % self.flip_services
        return service, ("down" if (nth // self.flip_services) % 2 == 0 else "up")

    def background(self, index: int) -> int:
        """The background service of (non-flip) message ``index``."""
        return index % self.background_services

    def quiet_times(self) -> list[float]:
        """Offsets into the steady phase at which each silent service sends its heartbeat."""
        every = self.seconds / (self.silent_services + 1)
        return [every / 2 + k * every for k in range(self.silent_services)]

    def flip_refs(self) -> list[ServiceRef]:
        return [service_ref(i, namespace="flip") for i in range(self.flip_services)]

    def quiet_refs(self) -> list[ServiceRef]:
        return [service_ref(i, namespace="quiet") for i in range(self.silent_services)]

    def background_refs(self) -> list[ServiceRef]:
        return [service_ref(i, namespace=self.namespace) for i in range(self.background_services)]


@dataclass(frozen=True, slots=True)
class PayloadTemplate:
    """An observation's JSON with its event id and ``observed_at`` left out, to fill per send.

    >>> mix = ObservationMix(1, namespace="t")
    >>> template = PayloadTemplate.build(mix, service_ref(0, namespace="t"), kind=Kind.PROBE)
    >>> raw = template.render(b"e-1", stamp_text(1_700_000_000.25))
    >>> from pipeline.core.validation import parse_observation
    >>> obs = parse_observation(raw, now=1_700_000_001.0)
    >>> obs.event_id, obs.observed_at, obs.status.value, obs.service_id
    ('e-1', 1700000000.25, 'up', 'energy.t.0000000')
    """

    key: bytes
    parts: tuple[bytes, bytes, bytes]
    #: Whether the event id comes before ``observed_at`` in ``parts``.
    event_first: bool

    @classmethod
    def build(
        cls,
        mix: ObservationMix,
        ref: ServiceRef,
        *,
        kind: Kind,
        status: Status = Status.UP,
    ) -> PayloadTemplate:
        obs = mix.observation(ref, event_id=_EVENT_MARK, observed_at=0.0, status=status, kind=kind)
        wire = obs.to_dict()
        wire["observed_at"] = _STAMP_MARK
        raw = orjson.dumps(wire)
        head, rest = raw.split(b'"' + _EVENT_MARK.encode() + b'"')
        if _STAMP_MARK.encode() in head:
            first, mid = head.split(b'"' + _STAMP_MARK.encode() + b'"')
            return cls(
                ref.service_id.encode(), (first + b'"', b'"' + mid + b'"', b'"' + rest), False
            )
        mid, tail = rest.split(b'"' + _STAMP_MARK.encode() + b'"')
        return cls(ref.service_id.encode(), (head + b'"', b'"' + mid + b'"', b'"' + tail), True)

    def render(self, event_id: bytes, observed_at: bytes) -> bytes:
        """The wire bytes with this event id and RFC 3339 stamp (from :func:`stamp_text`)."""
        first, second = (event_id, observed_at) if self.event_first else (observed_at, event_id)
        head, mid, tail = self.parts
        return b"".join((head, first, mid, second, tail))


def stamp_text(epoch_seconds: float) -> bytes:
    """``observed_at`` as the worker reads it (RFC 3339, milliseconds)."""
    return format_rfc3339(epoch_seconds).encode()


def stamp_value(text: bytes) -> float:
    """The event time the worker parses from :func:`stamp_text` (milliseconds, rounded)."""
    return round(parse_rfc3339(text.decode()), 3)


@dataclass
class Templates:
    """Every payload of the steady phase, prepared before it starts."""

    #: Per flip service: (up, down) status reports.
    flips: list[tuple[PayloadTemplate, PayloadTemplate]]
    #: Per background service: one "up" template per evidence shape of its sector.
    background: list[list[PayloadTemplate]]
    #: Seeded draws of a shape (index into the sector's shapes, weighted like the mix).
    draws: dict[str, list[int]]

    @classmethod
    def build(cls, plan: LoadPlan, *, seed: int = 5) -> Templates:
        mix = ObservationMix(plan.background_services, seed=seed, namespace=plan.namespace)
        # A status report asserts the status itself; a single probe does not (the detectors
        # decide from several), so a flip of probes would measure nothing here.
        flips = [
            (
                PayloadTemplate.build(mix, ref, kind=Kind.STATUS_REPORT, status=Status.UP),
                PayloadTemplate.build(mix, ref, kind=Kind.STATUS_REPORT, status=Status.DOWN),
            )
            for ref in plan.flip_refs()
        ]
        background = [
            [PayloadTemplate.build(mix, ref, kind=kind) for kind, _ in evidence_shapes(ref.sector)]
            for ref in plan.background_refs()
        ]
        rng = random.Random(seed)
        draws = {}
        for sector in SECTORS:
            weights = [weight for _, weight in evidence_shapes(sector)]
            draws[sector] = rng.choices(range(len(weights)), weights, k=_SHAPE_DRAWS)
        return cls(flips, background, draws)

    def flip_template(self, service: int, target: str) -> PayloadTemplate:
        """The status report flipping flip service ``service`` to ``target`` (up/down)."""
        up, down = self.flips[service]
        return down if target == "down" else up

    def background_template(
        self, index: int, plan: LoadPlan, sectors: list[str]
    ) -> PayloadTemplate:
        """The template of background message ``index`` (``sectors``: per background service)."""
        service = plan.background(index)
        return self.background[service][self.draws[sectors[service]][index % _SHAPE_DRAWS]]


@dataclass
class LoadReport:
    """What the generator process sends back: its sends and how well it kept to schedule."""

    warm_up: int = 0
    sent: int = 0
    seconds: float = 0.0
    #: Messages due by the end of the steady phase but not sent (0 = kept to schedule).
    behind_at_end: int = 0
    #: The most messages the generator was ever behind its schedule.
    max_behind: int = 0
    cpu_s: float = 0.0
    #: (event id, send time) of every flip.
    flips: list[tuple[str, float]] = field(default_factory=list)
    #: (service id, incident start as the worker parses it, send time) of each first "down".
    first_downs: list[tuple[str, float, float]] = field(default_factory=list)
    #: (service id, send time) of each silent service's heartbeat.
    quiet: list[tuple[str, float]] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def schedule_figures(self, rate: float) -> dict[str, Any]:
        """The result's generator fields: achieved rate, and how far behind it fell.

        >>> LoadReport(sent=850, seconds=1.0, behind_at_end=150, max_behind=160,
        ...            cpu_s=0.1).schedule_figures(1000.0)["generator_fell_behind"]
        True
        """
        behind_s = self.behind_at_end / rate
        return {
            "achieved_rate_obs_per_s": self.achieved_rate,
            "generator_behind_at_end": self.behind_at_end,
            "generator_behind_at_end_s": behind_s,
            "generator_max_behind": self.max_behind,
            # Behind by more than 1 % of the load (or 0.1 s of it) at the end: the rate asked
            # for was not the rate measured.
            "generator_fell_behind": self.behind_at_end
            > max(0.01 * rate * self.seconds, 0.1 * rate),
            "generator_cpu_us_per_obs": 1e6 * self.cpu_s / max(1, self.sent),
        }
