"""How the worker's input goes out: units of work committed and their sizes.

Each unit is one Kafka transaction under ``exactly_once``, so the rate of units is the rate of
transactions, and their size shows whether the worker is keeping up (small, paced units) or
behind (units of ``CW_BATCH_MAX`` records).

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> units = UnitMetrics(registry)
>>> units.committed("input", 120)
>>> registry.get_sample_value("continuity_worker_units_total", {"kind": "input"})
1.0
>>> registry.get_sample_value("continuity_worker_unit_records_sum")
120.0
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class UnitMetrics:
    """``continuity_worker_units_total`` by kind and ``continuity_worker_unit_records``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.units = Counter(
            "continuity_worker_units",
            "Units of work committed (each one Kafka transaction under exactly_once), by kind: "
            "input (a partition's records), ledger, check (silence), rollup (indicators), "
            "write (a quiet partition's deferred service states).",
            ["kind"],
            registry=registry,
        )
        self.records = Histogram(
            "continuity_worker_unit_records",
            "Input records per committed unit of input or ledger records.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=registry,
        )

    def committed(self, kind: str, records: int | None = None) -> None:
        """One unit of ``kind`` committed, holding ``records`` input records (if any)."""
        self.units.labels(kind).inc()
        if records is not None:
            self.records.observe(records)
