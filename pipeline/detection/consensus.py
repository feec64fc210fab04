"""Multi-vantage probe consensus for one service: per-vantage binomial tests, leave-one-out.

Each vantage keeps its last ``keep`` results. After every probe, for sliding windows of the
last 1..``open_rounds`` probe intervals, every vantage ``v`` with ``k_v`` failures out of
``n_v`` results gets the tail ``P(X >= k_v)``, ``X ~ Binomial(n_v, p_v)``
(``scipy.stats.binom.sf``), where ``p_v`` is the service's own learned failure rate as seen
from that vantage. The evidence statistic is the product of the tails **leaving out the most
surprising vantage**; the service is declared down when it is below ``alpha`` in any window.

Why this shape:

* *Leave one out*: a single broken vantage (its own network is down) can never page, however
  many failures it reports; at least two vantages must corroborate.
* *Per-vantage baselines*: a vantage that is routinely flaky (5 % failures) is weak evidence,
  a vantage that never fails is strong evidence.
* *Windows of 1..3 intervals*: a full outage seen by 3 of 4 vantages opens within one probe
  interval; a partial outage (some probes failing) accumulates evidence over three.
* *Prior*: ``p_v`` starts at ``Beta(prior_failures, prior_successes)`` (1 % with the weight of
  100 probes). A new service with 4 vantages pages after one interval when all fail, but
  never on a single failure.
* *Hysteresis*: up again only after ``close_rounds`` consecutive intervals in which at least
  ``min_vantages`` vantages reported and at most ``close_fail_share`` of them failed.
* *Impaired vantages* (see :class:`~pipeline.detection.vantage.VantageHealth`: a vantage failing
  for most services at once) are ignored entirely while impaired.

Results of the service while it is up are learned (exponential forgetting over ``memory``
probes); results while down or from impaired vantages are not, and neither is a failure
that another vantage corroborates within one probe interval (an outage nobody detected yet,
a partial one say, must not teach the detector that failing is normal and hide the next).

*Probe interval*: the windows are probe intervals of the service, learned from the spacing
of each vantage's own results (``interval_s`` until two results of a vantage are seen), never
taken from the service's heartbeat interval: 30 s heartbeats and 60 s probes are common.

Duplicates (same ``event_id``) and results older than the
kept history are ignored; late results inside it are inserted in event-time order.

>>> pc = ProbeConsensus("svc")
>>> _ = [pc.observe(60.0 * r + 10 * i, v, True, f"ok{r}{v}")
...      for r in range(5) for i, v in enumerate("abcd")]
>>> [pc.observe(300.0 + i, v, False, f"f{v}") for i, v in enumerate("abcd")][-1].state.value
'down'
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scipy.stats import binom

from pipeline.core.flat import flat_dict
from pipeline.core.schema import Status
from pipeline.detection.verdict import Verdict

DETECTOR = "consensus"


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """Parameters of :class:`ProbeConsensus` (defaults: each vantage probes once a minute)."""

    interval_s: float = 60.0
    open_rounds: int = 3
    alpha: float = 1e-5
    min_vantages: int = 2
    close_rounds: int = 2
    close_fail_share: float = 0.25
    prior_failures: float = 1.0
    prior_successes: float = 99.0
    memory: float = 5_000.0
    baseline_floor: float = 1e-3
    baseline_cap: float = 0.3
    keep: int = 6
    max_vantages: int = 32
    max_evidence: int = 32
    #: failing rounds the evidence must span before opening (blip policy; 1 = no filter)
    confirm_rounds: int = 1


@lru_cache(maxsize=65_536)
def _tail(k: int, n: int, p0: float) -> float:
    return float(binom.sf(k - 1, n, p0))


def binomial_tail(k: int, n: int, p0: float) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p0)``; ``p0`` is rounded *up* onto a 2 % log grid
    so the cache is effective and the test stays conservative.

    >>> round(binomial_tail(3, 9, 0.01), 5)
    8e-05
    """
    if k <= 0:
        return 1.0
    grid = math.exp(math.ceil(math.log(p0) * 50.0) / 50.0)
    return _tail(k, n, min(grid, 1.0))


# one probe result: (event time, ok, event id, learnable)
_Result = tuple[float, bool, str, bool]


class ProbeConsensus:
    """Consensus state of one service; :meth:`to_dict` makes it storable in a table."""

    def __init__(self, service_id: str, params: ConsensusParams | None = None) -> None:
        self.service_id = service_id
        self.params = params or ConsensusParams()
        self.down = False
        self.latest = -math.inf
        self.floor = -math.inf  # results before this belong to a closed outage
        self.results: dict[str, list[_Result]] = {}
        self.weights: dict[str, list[float]] = {}  # vantage -> [failures, successes]
        self.last_fail: dict[str, float] = {}  # fast path: < 2 vantages failing lately
        self.interval: float | None = None  # learned probe interval (None: params.interval_s)

    def baseline(self, vantage: str) -> float:
        """Current failure rate ``p_v`` of the service seen from ``vantage``."""
        p = self.params
        f, s = self.weights.get(vantage, (p.prior_failures, p.prior_successes))
        return min(max(f / (f + s), p.baseline_floor), p.baseline_cap)

    def observe(
        self,
        at: float,
        vantage: str,
        ok: bool,
        event_id: str,
        impaired: Iterable[str] = (),
    ) -> Verdict | None:
        """Add one probe result; returns a verdict when the service changes state.

        ``impaired``: vantages currently judged broken themselves (their results are ignored).
        """
        p = self.params
        bad = frozenset(impaired)
        rs = self.results.get(vantage)
        if rs is None:
            if len(self.results) >= p.max_vantages:
                return None
            rs = self.results[vantage] = []
        if (len(rs) >= p.keep and at < rs[0][0]) or event_id in [r[2] for r in rs]:
            return None  # older than anything we keep, or a duplicate
        if rs and at > rs[-1][0]:
            self._learn_interval(at - rs[-1][0])
        bisect.insort(rs, (at, ok, event_id, not self.down and vantage not in bad))
        while len(rs) > p.keep:
            self._learn(vantage, rs.pop(0))
        self.latest = max(self.latest, at)
        if not ok:
            self.last_fail[vantage] = max(self.last_fail.get(vantage, at), at)
        return self._close_check(bad) if self.down else self._open_check(bad)

    @property
    def step(self) -> float:
        """The probe interval the windows are made of."""
        return self.params.interval_s if self.interval is None else self.interval

    def _learn_interval(self, gap: float) -> None:
        if self.interval is None:
            self.interval = gap
        else:  # a gap of a vantage that was dark for a while is not the cadence
            self.interval += 0.05 * (min(gap, 2.0 * self.interval) - self.interval)

    def _corroborated(self, vantage: str, at: float) -> bool:
        """Another vantage failed within one probe interval of ``at``."""
        step = self.step
        return any(
            not r[1] and abs(r[0] - at) <= step
            for v, rs in self.results.items()
            if v != vantage
            for r in rs
        )

    def _learn(self, vantage: str, result: _Result) -> None:
        if not result[3] or self.down:
            return
        if not result[1] and self._corroborated(vantage, result[0]):
            return  # a shared failure is about the service, not this vantage's noise
        p = self.params
        w = self.weights.setdefault(vantage, [p.prior_failures, p.prior_successes])
        decay = 1.0 - 1.0 / p.memory
        w[0] = w[0] * decay + (0.0 if result[1] else 1.0)
        w[1] = w[1] * decay + (1.0 if result[1] else 0.0)

    def _window(self, bad: frozenset[str], lo: float, hi: float) -> dict[str, list[_Result]]:
        lo = max(lo, self.floor)
        return {
            v: [r for r in rs if lo < r[0] <= hi] for v, rs in self.results.items() if v not in bad
        }

    def _open_check(self, bad: frozenset[str]) -> Verdict | None:
        p = self.params
        step = self.step
        lo = max(self.floor, self.latest - p.open_rounds * step)
        if sum(1 for v, t in self.last_fail.items() if t > lo and v not in bad) < p.min_vantages:
            return None
        for w in range(1, p.open_rounds + 1):
            window = self._window(bad, self.latest - w * step, self.latest)
            tails = []
            for v, rs in window.items():
                k = sum(1 for r in rs if not r[1])
                if k:
                    tails.append((binomial_tail(k, len(rs), self.baseline(v)), v))
            if len(tails) < p.min_vantages:
                continue
            tails.sort()
            stat = math.prod(t for t, _ in tails[1:])  # leave out the most surprising vantage
            if stat >= p.alpha:
                continue
            failing = sorted(
                (r for v, rs in window.items() for r in rs if not r[1]), key=lambda r: r[0]
            )
            if p.confirm_rounds > 1:
                span = self._failing_span(bad)
                if span < (p.confirm_rounds - 1) * step:
                    return None  # a blip so far (see pipeline.detection.blips)
            self.down = True
            return Verdict(
                self.service_id,
                DETECTOR,
                Status.DOWN,
                at=self.latest,
                started_at=failing[0][0],
                evidence_ids=tuple(r[2] for r in failing)[: p.max_evidence],
                detail=f"{len(tails)} vantages failing over {w} interval(s), stat={stat:.2e}",
            )
        return None

    def _failing_span(self, bad: frozenset[str]) -> float:
        """Seconds the current run of failures lasts: back from the newest failure, as long
        as failures (of any counted vantage) follow each other within one probe interval."""
        step = self.step
        fails = sorted(
            r[0]
            for v, rs in self.results.items()
            if v not in bad
            for r in rs
            if not r[1] and r[0] > self.floor
        )
        if not fails:
            return 0.0
        first = fails[-1]
        for t in reversed(fails[:-1]):
            if first - t > step:
                break
            first = t
        return fails[-1] - first

    def _close_check(self, bad: frozenset[str]) -> Verdict | None:
        p = self.params
        first: list[_Result] = []
        seen: list[_Result] = []
        step = self.step
        for j in range(p.close_rounds):
            hi = self.latest - j * step
            window = self._window(bad, hi - step, hi)
            reporting = {v: rs for v, rs in window.items() if rs}
            failing = sum(1 for rs in reporting.values() if any(not r[1] for r in rs))
            if len(reporting) < p.min_vantages or failing > p.close_fail_share * len(reporting):
                return None
            first = [r for rs in reporting.values() for r in rs]
            seen += first
        self.down = False
        # restored: the first success after the last failure of the oldest good interval
        last_bad = max((r[0] for r in first if not r[1]), default=-math.inf)
        good_from = min(r[0] for r in seen if r[1] and r[0] > last_bad)
        self.floor = good_from - 1e-9
        return Verdict(
            self.service_id,
            DETECTOR,
            Status.UP,
            at=self.latest,
            started_at=good_from,
            evidence_ids=tuple(r[2] for r in sorted(first) if r[1])[: p.max_evidence],
            detail="probes succeed again",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "service_id": self.service_id,
            "params": flat_dict(self.params),
            "down": self.down,
            "latest": None if self.latest == -math.inf else self.latest,
            "floor": None if self.floor == -math.inf else self.floor,
            "last_fail": dict(self.last_fail),
            "interval": self.interval,
            "results": {v: [list(r) for r in rs] for v, rs in self.results.items()},
            "weights": {v: list(w) for v, w in self.weights.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeConsensus:
        """Inverse of :meth:`to_dict`."""
        pc = cls(data["service_id"], ConsensusParams(**data["params"]))
        pc.down = bool(data["down"])
        pc.latest = -math.inf if data["latest"] is None else float(data["latest"])
        pc.floor = -math.inf if data["floor"] is None else float(data["floor"])
        pc.last_fail = {v: float(t) for v, t in data["last_fail"].items()}
        interval = data.get("interval")
        pc.interval = None if interval is None else float(interval)
        pc.results = {
            v: [(float(t), bool(ok), str(e), bool(lr)) for t, ok, e, lr in rs]
            for v, rs in data["results"].items()
        }
        pc.weights = {v: [float(x) for x in w] for v, w in data["weights"].items()}
        return pc
