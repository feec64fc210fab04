"""Prometheus metrics of the log and of a witness, registered on a registry passed in."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass(frozen=True, slots=True)
class LedgerMetrics:
    """The log server's metrics."""

    tree_size: Gauge
    head_timestamp: Gauge
    appended: Counter
    rejected: Counter
    head_cosignatures: Gauge
    witness_cosigned_size: Gauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> LedgerMetrics:
        """Create and register every metric on ``registry``."""
        return cls(
            tree_size=Gauge(
                "continuity_ledger_tree_size_entries",
                "Entries in the transparency log.",
                registry=registry,
            ),
            head_timestamp=Gauge(
                "continuity_ledger_head_timestamp_seconds",
                "Timestamp of the latest signed tree head.",
                registry=registry,
            ),
            appended=Counter(
                "continuity_ledger_entries_appended_total",
                "Entries appended to the log.",
                registry=registry,
            ),
            rejected=Counter(
                "continuity_ledger_records_rejected_total",
                "Kafka records sent to the dead-letter topic instead of the log, by reason.",
                ["reason"],
                registry=registry,
            ),
            head_cosignatures=Gauge(
                "continuity_ledger_head_cosignatures",
                "Witnesses that co-signed a head of the latest signed tree size.",
                registry=registry,
            ),
            witness_cosigned_size=Gauge(
                "continuity_ledger_witness_cosigned_size_entries",
                "Tree size of the latest head each witness co-signed.",
                ["witness"],
                registry=registry,
            ),
        )


@dataclass(frozen=True, slots=True)
class WitnessMetrics:
    """A witness process's metrics."""

    checks: Counter
    head_size: Gauge
    head_timestamp: Gauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> WitnessMetrics:
        """Create and register every metric on ``registry``."""
        return cls(
            checks=Counter(
                "continuity_witness_checks_total",
                "Heads the witness checked, by result (consistent, inconsistent, bad_signature, "
                "unreachable).",
                ["result"],
                registry=registry,
            ),
            head_size=Gauge(
                "continuity_witness_head_size_entries",
                "Tree size of the latest head the witness found consistent and co-signed.",
                registry=registry,
            ),
            head_timestamp=Gauge(
                "continuity_witness_head_timestamp_seconds",
                "Timestamp of the latest head the witness co-signed.",
                registry=registry,
            ),
        )
