"""Settings every channel shares: its name, timeout and retry schedule."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import yaml

from pipeline.notices.yamlnodes import Keys, NodeReader

COMMON_KEYS = {"type", "name", "timeout_s", "max_attempts", "backoff_s", "max_backoff_s"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Delivery:
    """How one channel retries: exponential backoff with full jitter, capped.

    >>> d = Delivery("hook", timeout_s=5, max_attempts=4, backoff_s=1.0, max_backoff_s=3.0)
    >>> [d.ceiling(n) for n in (1, 2, 3)]
    [1.0, 2.0, 3.0]
    >>> 0.0 <= d.delay(3, random.Random(1)) <= 3.0
    True
    """

    name: str
    timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the wait after failed attempt ``attempt`` (1-based)."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: spreads retries of many subscribers hitting one failing peer."""
        return rng.uniform(0.0, self.ceiling(attempt))

    @classmethod
    def parse(cls, reader: NodeReader, keys: Keys, where: str, default_name: str) -> Delivery:
        def number(key: str, default: float) -> float:
            return reader.number(keys[key][1], f"{where}.{key}") if key in keys else default

        name = (
            reader.text(keys["name"][1], f"{where}.name", _NAME, "letters, digits, . _ -")
            if "name" in keys
            else default_name
        )
        attempts = (
            reader.integer(keys["max_attempts"][1], f"{where}.max_attempts")
            if "max_attempts" in keys
            else cls.max_attempts
        )
        return cls(
            name=name,
            timeout_s=number("timeout_s", cls.timeout_s),
            max_attempts=attempts,
            backoff_s=number("backoff_s", cls.backoff_s),
            max_backoff_s=number("max_backoff_s", cls.max_backoff_s),
        )


def optional_text(reader: NodeReader, keys: Keys, key: str, where: str, default: str) -> str:
    return reader.text(keys[key][1], f"{where}.{key}") if key in keys else default


def scalar_node(keys: Keys, key: str) -> yaml.Node:
    return keys[key][1]
