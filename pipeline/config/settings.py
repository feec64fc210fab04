"""Worker and stack settings, read once from the environment (``CW_*``) at start-up.

>>> Settings.from_env({"CW_TOPIC_PREFIX": "t1."}).topics.observations
't1.observations'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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


#: Decoded service states a worker keeps in memory (``CW_LIVE_STATES``).
DEFAULT_LIVE_STATES = 100_000


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a worker needs to find its peers; defaults match deploy/local."""

    kafka_bootstrap: str = "127.0.0.1:19092"
    topics: TopicNames = field(default_factory=TopicNames)
    partitions: int = 6
    app_id: str = "continuity-worker"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 19464
    influx_url: str = "http://127.0.0.1:18086"
    influx_bucket: str = "continuity/autogen"
    influx_token: str = "continuity:continuity"
    influx_org: str = "-"
    prometheus_url: str = "http://127.0.0.1:19090"
    default_interval: float = 60.0
    lateness_allowance: float = 300.0
    silence_check_interval: float = 1.0
    influx_flush_interval: float = 1.0
    #: Observations handled per batch (one table write per changed service per batch) and
    #: how long a batch waits to fill: the latency added at low load.
    batch_max: int = 2000
    batch_within: float = 0.05
    #: Decoded service states kept in memory per worker (the rest are decoded on use).
    live_states: int = DEFAULT_LIVE_STATES
    indicator_interval: float = 15.0
    correlation_window: float = 900.0
    maintenance_file: str | None = None
    data_dir: str = ".state/worker"
    #: How long Kafka waits for a silent worker before giving its partitions to another:
    #: after a ``kill -9`` this is the time until processing resumes (faust's default is 60 s).
    session_timeout: float = 10.0
    #: A partition with unprocessed records and no progress this long fails /healthz.
    stall_after: float = 30.0
    #: Key that signs commands (HMAC-SHA256); without it the worker refuses every command.
    command_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        base = cls()
        return cls(
            kafka_bootstrap=env.get(
                "CW_KAFKA_BOOTSTRAP", f"127.0.0.1:{env.get('CW_KAFKA_PORT', '19092')}"
            ),
            topics=TopicNames(env.get("CW_TOPIC_PREFIX", base.topics.prefix)),
            partitions=int(env.get("CW_PARTITIONS", base.partitions)),
            app_id=env.get("CW_APP_ID", base.app_id),
            metrics_host=env.get("CW_METRICS_HOST", base.metrics_host),
            metrics_port=int(env.get("CW_METRICS_PORT", base.metrics_port)),
            influx_url=env.get(
                "CW_INFLUX_URL", f"http://127.0.0.1:{env.get('CW_INFLUX_PORT', '18086')}"
            ),
            influx_bucket=env.get("CW_INFLUX_BUCKET", base.influx_bucket),
            influx_token=env.get("CW_INFLUX_TOKEN", base.influx_token),
            influx_org=env.get("CW_INFLUX_ORG", base.influx_org),
            prometheus_url=env.get(
                "CW_PROMETHEUS_URL", f"http://127.0.0.1:{env.get('CW_PROMETHEUS_PORT', '19090')}"
            ),
            default_interval=float(env.get("CW_DEFAULT_INTERVAL_S", base.default_interval)),
            lateness_allowance=float(env.get("CW_LATENESS_S", base.lateness_allowance)),
            silence_check_interval=float(
                env.get("CW_SILENCE_CHECK_S", base.silence_check_interval)
            ),
            influx_flush_interval=float(env.get("CW_INFLUX_FLUSH_S", base.influx_flush_interval)),
            batch_max=int(env.get("CW_BATCH_MAX", base.batch_max)),
            batch_within=float(env.get("CW_BATCH_WITHIN_S", base.batch_within)),
            live_states=int(env.get("CW_LIVE_STATES", base.live_states)),
            indicator_interval=float(env.get("CW_INDICATOR_INTERVAL_S", base.indicator_interval)),
            correlation_window=float(env.get("CW_CORRELATION_WINDOW_S", base.correlation_window)),
            maintenance_file=env.get("CW_MAINTENANCE_FILE") or None,
            data_dir=env.get("CW_WORKER_DATA_DIR", base.data_dir),
            session_timeout=float(env.get("CW_SESSION_TIMEOUT_S", base.session_timeout)),
            command_key=env.get("CW_COMMAND_KEY") or None,
            stall_after=float(env.get("CW_STALL_AFTER_S", base.stall_after)),
        )
