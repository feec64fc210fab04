"""Probe hysteresis for a service watched from one vantage point only.

Consensus needs two vantages to corroborate; a service probed from one place (an operator's
own FHIR endpoint check, say) still deserves detection, so here N consecutive failures open
and M consecutive successes close (defaults 3 and 2), which keeps one flaky probe from paging.

>>> sp = SingleProbe("svc")
>>> [sp.observe(t, False, f"e{t}") for t in (0.0, 60.0)]
[None, None]
>>> sp.observe(120.0, False, "e120").state.value
'down'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.schema import Status
from pipeline.detection.verdict import Verdict

DETECTOR = "single_probe"


@dataclass(frozen=True, slots=True)
class SingleProbeParams:
    open_after: int = 3
    close_after: int = 2
    max_evidence: int = 16


class SingleProbe:
    """Consecutive-result hysteresis; results older than the newest seen are ignored."""

    def __init__(self, service_id: str, params: SingleProbeParams | None = None) -> None:
        self.service_id = service_id
        self.params = params or SingleProbeParams()
        self.down = False
        self.run_ok: bool | None = None
        self.run_length = 0
        self.run_started = 0.0
        self.run_ids: list[str] = []
        self.latest = float("-inf")

    def observe(self, at: float, ok: bool, event_id: str) -> Verdict | None:
        """Add one probe result; returns a verdict when the service changes state."""
        if at < self.latest:
            return None
        self.latest = at
        if ok is not self.run_ok:
            self.run_ok, self.run_length, self.run_started, self.run_ids = ok, 0, at, []
        self.run_length += 1
        if len(self.run_ids) < self.params.max_evidence:
            self.run_ids.append(event_id)
        p = self.params
        if not self.down and not ok and self.run_length >= p.open_after:
            self.down = True
            return Verdict(
                self.service_id,
                DETECTOR,
                Status.DOWN,
                at,
                self.run_started,
                tuple(self.run_ids),
                detail=f"{self.run_length} consecutive failed probes",
            )
        if self.down and ok and self.run_length >= p.close_after:
            self.down = False
            return Verdict(
                self.service_id,
                DETECTOR,
                Status.UP,
                at,
                self.run_started,
                tuple(self.run_ids),
                detail=f"{self.run_length} consecutive good probes",
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "down": self.down,
            "run_ok": self.run_ok,
            "run_length": self.run_length,
            "run_started": self.run_started,
            "run_ids": list(self.run_ids),
            "latest": self.latest if self.latest != float("-inf") else None,
        }

    @classmethod
    def from_dict(
        cls, service_id: str, data: dict[str, Any], params: SingleProbeParams | None = None
    ) -> SingleProbe:
        probe = cls(service_id, params)
        probe.down = bool(data["down"])
        probe.run_ok = data["run_ok"]
        probe.run_length = int(data["run_length"])
        probe.run_started = float(data["run_started"])
        probe.run_ids = list(data["run_ids"])
        latest = data.get("latest")
        probe.latest = float(latest) if latest is not None else float("-inf")
        return probe
