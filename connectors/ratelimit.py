"""Per-key token buckets (per-operator rate limits for the push API), on an injected clock.

>>> now = [0.0]
>>> limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=lambda: now[0])
>>> [limiter.take("op") for _ in range(3)]
[0.0, 0.0, 1.0]
>>> now[0] = 1.0
>>> limiter.take("op")
0.0
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import Clock


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int, clock: Clock) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate = rate_per_s
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens: 0.0 when allowed, else seconds to wait before retrying."""
        now = self.clock()
        bucket = self._buckets.setdefault(key, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate
