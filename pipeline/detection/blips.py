"""When probe failures become an incident: an explicit, per-sector blip policy.

A failure shorter than a few probe intervals is a blip (a dropped packet, a restarting load
balancer), not an outage to page anyone about. The policy says how many consecutive probe
rounds must fail before probe evidence may open an incident, per sector:

* multi-vantage consensus opens only when the failing evidence spans at least
  ``rounds - 1`` probe intervals (``rounds`` failing rounds), however strong the statistics;
* a service probed from one vantage opens after ``rounds`` consecutive failures.

Anchors: Gatus opens an alert after 3 consecutive failures (``failure-threshold``, default 3);
Uptime Kuma marks a monitor down only after its ``retries`` have failed too. The default here is
3 rounds everywhere, i.e. a failure must outlast two probe intervals; a sector can be made
faster (fewer rounds) or slower. Reports, silence and level drops are not affected.

>>> policy = BlipPolicy(rounds=3, by_sector=(("health", 2),))
>>> policy.rounds_for("health"), policy.rounds_for("energy")
(2, 3)
>>> policy.min_span(60.0, "energy")
120.0
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BlipPolicy:
    """rounds: failing probe rounds before an incident may open (1 = no blip filter);
    by_sector: (sector, rounds) overrides."""

    rounds: int = 3
    by_sector: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.rounds < 1 or any(r < 1 for _, r in self.by_sector):
            raise ValueError("blip policy rounds must be at least 1")

    def rounds_for(self, sector: str) -> int:
        """Failing rounds needed in ``sector``."""
        return dict(self.by_sector).get(sector, self.rounds)

    def min_span(self, interval_s: float, sector: str) -> float:
        """Seconds the failing probe evidence must span in ``sector``."""
        return (self.rounds_for(sector) - 1) * interval_s

    @classmethod
    def parse(cls, text: str) -> BlipPolicy:
        """From ``"3"`` or ``"3,health=2,telecom=4"`` (a default, then sector overrides).

        >>> BlipPolicy.parse("3,health=2")
        BlipPolicy(rounds=3, by_sector=(('health', 2),))
        """
        parts = [p.strip() for p in text.split(",") if p.strip()]
        rounds, overrides = 3, []
        for part in parts:
            sector, sep, value = part.partition("=")
            try:
                if sep:
                    overrides.append((sector.strip(), int(value)))
                else:
                    rounds = int(part)
            except ValueError:
                raise ValueError(
                    f"blip policy {text!r}: expected ROUNDS[,SECTOR=ROUNDS...], e.g. 3,health=2"
                ) from None
        return cls(rounds, tuple(overrides))
