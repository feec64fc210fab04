"""format_rfc3339's isoformat path writes what its strftime path always wrote."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from pipeline.core.timeutil import _format_strftime, format_rfc3339


def test_format_rfc3339_matches_strftime_over_the_range() -> None:
    rng = random.Random(13)
    values = [0.0, -0.0, 1e-9, 0.9995, 0.99951, 1.9999999, -1.5, 1_700_000_000.9995]
    values += [253_402_300_799.999, -62_135_596_800.0, -30_000_000_000.0]  # years 9999, 1, 1019
    values += [rng.uniform(-6.2e10, 2.5e11) for _ in range(5_000)]
    values += [round(1.7e9 + rng.uniform(-1e8, 1e8), rng.choice((0, 3, 6))) for _ in range(5_000)]
    for value in values:
        expected = _format_strftime(datetime.fromtimestamp(value, tz=UTC))
        assert format_rfc3339(value) == expected, value
