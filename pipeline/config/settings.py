"""The one settings object of connectors, ingest API, worker, bench and CLI, read once from the
environment (``CW_*``, see pipeline.config.variables and docs/configuration.md) at start-up.

>>> Settings.from_env({"CW_TOPIC_PREFIX": "t1."}).topics.observations
't1.observations'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.config.variables import SETTINGS, SettingsError, by_name

__all__ = ["DEFAULT_LIVE_STATES", "SERVICE_STATE_TABLE", "Settings", "SettingsError", "TopicNames"]


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Kafka topic names under one prefix (default ``cw.``)."""

    prefix: str = "cw."

    @property
    def observations(self) -> str:
        return f"{self.prefix}observations"

    @property
    def status(self) -> str:
        return f"{self.prefix}status"

    @property
    def anomalies(self) -> str:
        return f"{self.prefix}anomalies"

    @property
    def incidents(self) -> str:
        return f"{self.prefix}incidents"

    @property
    def indicators(self) -> str:
        return f"{self.prefix}indicators"

    @property
    def notices(self) -> str:
        return f"{self.prefix}notices"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}deadletter"

    @property
    def commands(self) -> str:
        """Operator/CLI commands (acknowledgements), keyed and partitioned like observations."""
        return f"{self.prefix}commands"

    @property
    def ledger(self) -> str:
        """One-partition topic feeding the global view (see pipeline.worker.ledger_records)."""
        return f"{self.prefix}ledger"

    def partition_counts(self, partitions: int) -> dict[str, int]:
        """Every topic with its partition count: the ledger has one, the others ``partitions``."""
        counts = {name: partitions for name in self.all()}
        counts[self.ledger] = 1
        return counts

    def all(self) -> tuple[str, ...]:
        return (
            self.observations,
            self.status,
            self.anomalies,
            self.incidents,
            self.indicators,
            self.notices,
            self.deadletter,
            self.commands,
            self.ledger,
        )


#: The workers' per-service table; its changelog topic is ``<app_id>-service-state-changelog``.
SERVICE_STATE_TABLE = "service-state"

#: Decoded service states a worker keeps in memory (``CW_LIVE_STATES``).
DEFAULT_LIVE_STATES = 100_000


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a worker needs to find its peers; defaults match deploy/local."""

    kafka_bootstrap: str = "127.0.0.1:19092"
    topics: TopicNames = field(default_factory=TopicNames)
    partitions: int = 6
    #: Replicas of every pipeline topic (faust changelogs too) and their ``min.insync.replicas``
    #: (0: the broker's default); production runs 3 and 2 (docs/reliability.md).
    replication_factor: int = 1
    min_insync_replicas: int = 0
    app_id: str = "continuity-worker"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 19464
    influx_url: str = "http://127.0.0.1:18086"
    influx_bucket: str = "continuity/autogen"
    influx_token: str = field(default="continuity:continuity", repr=False)
    influx_org: str = "-"
    prometheus_url: str = "http://127.0.0.1:19090"
    default_interval: float = 60.0
    lateness_allowance: float = 300.0
    silence_check_interval: float = 1.0
    influx_flush_interval: float = 1.0
    #: Observations handled per unit (one transaction, one table write per changed service)
    #: and the shortest time between a partition's units while it keeps up: the latency the
    #: wait adds at low load (pipeline.worker.task_queues).
    batch_max: int = 4000
    batch_within: float = 0.1
    #: How long a service's state changed without any output may wait before it is written
    #: to its changelog (0: every change is written in its own unit); the committed input
    #: offsets wait for it (pipeline.worker.deferred_writes).
    state_write_after: float = 2.0
    #: The worker's event loop: "uvloop" or "asyncio" (docs/benchmarks.md measures both).
    event_loop: str = "uvloop"
    #: Decoded service states kept in memory per worker (the rest are decoded on use).
    live_states: int = DEFAULT_LIVE_STATES
    indicator_interval: float = 15.0
    correlation_window: float = 900.0
    maintenance_file: str | None = None
    data_dir: str = ".state/worker"
    #: Failing probe rounds before probes may open an incident, per sector
    #: (``ROUNDS[,SECTOR=ROUNDS...]``, see pipeline.detection.blips).
    blip_policy: str = "3"

    #: ``connectors serve-ingest`` address and ``connectors run``'s spool directory.
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8480
    spool_dir: str = ".state/connectors/spool"
    #: How long Kafka waits for a silent worker before giving its partitions to another:
    #: after a ``kill -9`` this is the time until processing resumes (faust's default is 60 s).
    session_timeout: float = 10.0
    #: A partition with unprocessed records and no progress this long fails /healthz.
    stall_after: float = 30.0
    #: How often the worker commits its consumed offsets (faust's default cadence).
    commit_interval: float = 2.8
    #: "exactly_once": each unit of work's outputs, state and input offsets are one Kafka
    #: transaction; "at_least_once": a crash may emit a unit's outputs twice.
    processing_guarantee: str = "exactly_once"
    #: Key that signs commands (HMAC-SHA256); without it the worker refuses every command.
    command_key: str | None = field(default=None, repr=False)
    #: How every Kafka client authenticates (pipeline.ops.kafka_security builds the options).
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password_file: str | None = None
    kafka_ca_file: str | None = None
    #: Where ``influx_token`` was read from (CW_INFLUX_TOKEN_FILE), for error messages.
    influx_token_file: str | None = None

    @property
    def exactly_once(self) -> bool:
        """Whether ``processing_guarantee`` asks for transactions (checked again here for
        settings built in code rather than read from CW_PROCESSING_GUARANTEE).

        >>> Settings(processing_guarantee="at_least_once").exactly_once
        False
        """
        guarantee = by_name("CW_PROCESSING_GUARANTEE").parse(self.processing_guarantee)
        return bool(guarantee == "exactly_once")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from ``CW_*`` variables (pipeline.config.variables); unset ones keep
        their defaults. Raises :class:`SettingsError` naming a variable it cannot use."""
        values: dict[str, Any] = {}
        for variable in SETTINGS:
            assert variable.field is not None
            raw = env.get(variable.name)
            if raw is None and variable.derive is not None:
                raw = variable.derive(env)
            if raw is None:
                continue
            value = variable.parse(raw)
            values[variable.field] = TopicNames(value) if variable.field == "topics" else value
        return cls(**values)
