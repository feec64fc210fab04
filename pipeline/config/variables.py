"""Every ``CW_*`` environment variable, in one table: what reads it, its default, what it does.

:class:`~pipeline.config.settings.Settings` is built from the ``settings`` rows of this table
(connectors, ingest API, worker, bench and CLI all read the same object), and
``docs/configuration.md`` is generated from all of it (``continuity settings docs``), so the
reference cannot drift from what the code reads.

>>> by_name("CW_PARTITIONS").parse("12")
12
>>> by_name("CW_PARTITIONS").parse("six")
Traceback (most recent call last):
...
pipeline.config.variables.SettingsError: CW_PARTITIONS='six': must be a whole number
>>> try:
...     by_name("CW_PROCESSING_GUARANTEE").parse("once")
... except SettingsError as exc:
...     print(exc)
CW_PROCESSING_GUARANTEE='once': must be exactly_once or at_least_once
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class SettingsError(ValueError):
    """A ``CW_*`` variable whose value cannot be used; the message names it."""


def _whole(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: must be a whole number") from None


def _seconds(name: str, raw: str, *, zero: bool = False) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: must be a number of seconds") from None
    if zero and not value >= 0:
        raise SettingsError(f"{name}={raw!r}: must be 0 or more")
    if not zero and not value > 0:
        raise SettingsError(f"{name}={raw!r}: must be greater than 0")
    return value


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable.

    ``field`` is the :class:`Settings` field it sets (None: read by the local-stack scripts
    only); ``kind`` says how its text is read; ``default`` is shown when the Settings default
    is not what a person sees (derived from another variable, say).
    """

    name: str
    help: str
    field: str | None = None
    kind: str = "text"  # text | int | seconds | seconds_or_zero | optional | choice
    default: str | None = None
    #: The value used when the variable is unset, from other variables (None: the field's).
    derive: Callable[[Mapping[str, str]], str | None] | None = None
    #: The allowed values of a ``choice``.
    choices: tuple[str, ...] = ()

    def parse(self, raw: str) -> Any:
        if self.kind == "choice" and raw not in self.choices:
            allowed = f"{', '.join(self.choices[:-1])} or {self.choices[-1]}"
            raise SettingsError(f"{self.name}={raw!r}: must be {allowed}")
        if self.kind == "int":
            return _whole(self.name, raw)
        if self.kind == "seconds":
            return _seconds(self.name, raw)
        if self.kind == "seconds_or_zero":
            return _seconds(self.name, raw, zero=True)
        if self.kind == "optional":
            return raw or None
        return raw


def _kafka(env: Mapping[str, str]) -> str:
    return f"127.0.0.1:{env.get('CW_KAFKA_PORT', '19092')}"


def _influx(env: Mapping[str, str]) -> str:
    return f"http://127.0.0.1:{env.get('CW_INFLUX_PORT', '18086')}"


def _prometheus(env: Mapping[str, str]) -> str:
    return f"http://127.0.0.1:{env.get('CW_PROMETHEUS_PORT', '19090')}"


def _secret_file(name: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError as exc:
        raise SettingsError(f"{name}={path!r}: cannot read the file ({exc.strerror})") from None
    if not text:
        raise SettingsError(f"{name}={path!r}: the file is empty")
    return text


def _influx_token_file(env: Mapping[str, str]) -> str | None:
    path = env.get("CW_INFLUX_TOKEN_FILE")
    return _secret_file("CW_INFLUX_TOKEN_FILE", path) if path else None


#: Read into Settings by every Python component.
SETTINGS: tuple[Variable, ...] = (
    Variable(
        "CW_KAFKA_BOOTSTRAP",
        "Kafka bootstrap servers (host:port, comma-separated) for connectors, ingest API, "
        "worker, bench and CLI.",
        "kafka_bootstrap",
        default="127.0.0.1:19092 (port: CW_KAFKA_PORT)",
        derive=_kafka,
    ),
    Variable(
        "CW_TOPIC_PREFIX",
        "Prefix of every topic name (`<prefix>observations`, `<prefix>deadletter`, …).",
        "topics",
    ),
    Variable(
        "CW_PARTITIONS", "Partitions of each topic the pipeline creates.", "partitions", kind="int"
    ),
    Variable(
        "CW_REPLICATION_FACTOR",
        "Replicas of each topic the pipeline creates, the workers' changelog topics included "
        "(1 on the one local broker; 3 in production).",
        "replication_factor",
        kind="int",
    ),
    Variable(
        "CW_MIN_INSYNC_REPLICAS",
        "`min.insync.replicas` of each topic the pipeline creates: a write is acknowledged only "
        "once this many replicas have it (0: the broker's default; 2 with 3 replicas).",
        "min_insync_replicas",
        kind="int",
    ),
    Variable(
        "CW_APP_ID",
        "Worker consumer group and faust app id; names the state changelog topics.",
        "app_id",
    ),
    Variable("CW_METRICS_HOST", "Address the worker's /metrics endpoint binds.", "metrics_host"),
    Variable(
        "CW_METRICS_PORT", "Port of the worker's /metrics endpoint.", "metrics_port", kind="int"
    ),
    Variable(
        "CW_INFLUX_URL",
        "InfluxDB base URL (history sink).",
        "influx_url",
        default="http://127.0.0.1:18086 (port: CW_INFLUX_PORT)",
        derive=_influx,
    ),
    Variable("CW_INFLUX_BUCKET", "InfluxDB bucket (`database/retention`).", "influx_bucket"),
    Variable(
        "CW_INFLUX_TOKEN",
        "InfluxDB token (`user:password` for 1.8). Secret: prefer CW_INFLUX_TOKEN_FILE.",
        "influx_token",
        default="continuity:continuity (or the contents of CW_INFLUX_TOKEN_FILE)",
        derive=_influx_token_file,
    ),
    Variable("CW_INFLUX_ORG", "InfluxDB organisation (`-` for 1.8).", "influx_org"),
    Variable(
        "CW_PROMETHEUS_URL",
        "Prometheus base URL (health checks, the demo's hints).",
        "prometheus_url",
        default="http://127.0.0.1:19090 (port: CW_PROMETHEUS_PORT)",
        derive=_prometheus,
    ),
    Variable(
        "CW_DEFAULT_INTERVAL_S",
        "Reporting interval assumed for a service whose observations declare none "
        "(`attrs.expected_interval_s`); silence is judged in multiples of it.",
        "default_interval",
        kind="seconds",
    ),
    Variable(
        "CW_LATENESS_S",
        "Evidence older than a service's newest by more than this is too late to use.",
        "lateness_allowance",
        kind="seconds",
    ),
    Variable(
        "CW_SILENCE_CHECK_S",
        "How often the worker checks services for silence.",
        "silence_check_interval",
        kind="seconds",
    ),
    Variable(
        "CW_INFLUX_FLUSH_S",
        "How often buffered history points are written to InfluxDB.",
        "influx_flush_interval",
        kind="seconds",
    ),
    Variable(
        "CW_BATCH_MAX",
        "Most observations of one partition in one worker transaction (a fetch holding more is "
        "processed in pieces of this size; 1: record by record).",
        "batch_max",
        kind="int",
    ),
    Variable(
        "CW_BATCH_WITHIN_S",
        "Shortest time between the starts of one partition's units (transactions) while it "
        "keeps up: records arriving meanwhile join the next unit, so it is the most latency "
        "the wait adds; a partition with CW_BATCH_MAX records waiting starts at once.",
        "batch_within",
        kind="seconds",
    ),
    Variable(
        "CW_STATE_WRITE_AFTER_S",
        "Longest a service's state changed without any output (no status change, incident "
        "event, anomaly) waits before it is written to the state changelog, so a service "
        "reporting often is written once per wait instead of once per observation (0: every "
        "change is written in its own unit). The worker's committed input offsets stay behind "
        "the oldest unwritten change: a restart reads those observations again.",
        "state_write_after",
        kind="seconds_or_zero",
    ),
    Variable(
        "CW_EVENT_LOOP",
        "The worker's asyncio event loop: uvloop (faster) or asyncio (the standard one).",
        "event_loop",
    ),
    Variable(
        "CW_LIVE_STATES",
        "Decoded service states a worker keeps in memory.",
        "live_states",
        kind="int",
    ),
    Variable(
        "CW_BLIP_POLICY",
        "Failing probe rounds before probes may open an incident, per sector "
        "(`ROUNDS[,SECTOR=ROUNDS...]`, e.g. `3,health=2`; see docs/detection.md).",
        "blip_policy",
    ),
    Variable(
        "CW_INDICATOR_INTERVAL_S",
        "How often indicators are rolled up and published.",
        "indicator_interval",
        kind="seconds",
    ),
    Variable(
        "CW_CORRELATION_WINDOW_S",
        "Window in which overlapping incidents in one region form a concurrent disruption.",
        "correlation_window",
        kind="seconds",
    ),
    Variable(
        "CW_MAINTENANCE_FILE",
        "YAML calendar of declared maintenance windows (optional).",
        "maintenance_file",
        kind="optional",
    ),
    Variable("CW_WORKER_DATA_DIR", "Worker's local data directory (faust datadir).", "data_dir"),
    Variable(
        "CW_SESSION_TIMEOUT_S",
        "Kafka consumer session timeout: after a `kill -9`, the time until another worker "
        "takes the partitions over (faust's own default is 60 s).",
        "session_timeout",
        kind="seconds",
    ),
    Variable(
        "CW_COMMIT_INTERVAL_S",
        "How often a worker commits its consumed offsets under `at_least_once`; what a restart "
        "re-reads is at most this much input (under `exactly_once` each batch's transaction "
        "commits its offsets).",
        "commit_interval",
        kind="seconds",
    ),
    Variable(
        "CW_PROCESSING_GUARANTEE",
        "`exactly_once`: the worker's outputs, state changes and consumed offsets are "
        "committed in one Kafka transaction per batch and partition, so a `kill -9` neither "
        "loses nor duplicates an output; `at_least_once`: a few percent faster, and a crash "
        "may emit the last batch's outputs twice (see docs/reliability.md).",
        "processing_guarantee",
        kind="choice",
        choices=("exactly_once", "at_least_once"),
    ),
    Variable(
        "CW_STALL_AFTER_S",
        "A partition with unprocessed records and no progress this long fails `/healthz`.",
        "stall_after",
        kind="seconds",
    ),
    Variable(
        "CW_COMMAND_KEY",
        "Secret that signs commands on the commands topic (HMAC-SHA256); shared by workers, "
        "the ingest API and `continuity incidents ack`. Without it workers refuse every command.",
        "command_key",
        kind="optional",
    ),
    Variable(
        "CW_KAFKA_SECURITY_PROTOCOL",
        "How every Kafka client connects: PLAINTEXT (the local stack), SASL_PLAINTEXT or "
        "SASL_SSL (production; docs/reliability.md).",
        "kafka_security_protocol",
    ),
    Variable(
        "CW_KAFKA_SASL_MECHANISM",
        "SASL mechanism with SASL_*: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.",
        "kafka_sasl_mechanism",
    ),
    Variable(
        "CW_KAFKA_USERNAME",
        "Kafka user (principal) of this process with SASL_*: one per role (connectors, "
        "ingest API, workers), each allowed only its own topics by ACLs.",
        "kafka_username",
        kind="optional",
    ),
    Variable(
        "CW_KAFKA_PASSWORD_FILE",
        "File holding the Kafka user's password (read at start, never logged).",
        "kafka_password_file",
        kind="optional",
    ),
    Variable(
        "CW_KAFKA_CA_FILE",
        "PEM file of the CA that signed the brokers' certificates, with SASL_SSL "
        "(unset: the system's CAs).",
        "kafka_ca_file",
        kind="optional",
    ),
    Variable(
        "CW_INFLUX_TOKEN_FILE",
        "File holding the InfluxDB token (`user:password` for 1.8), used when CW_INFLUX_TOKEN "
        "is unset. Read at start, never logged.",
        "influx_token_file",
        kind="optional",
    ),
    Variable("CW_INGEST_HOST", "Address `connectors serve-ingest` binds.", "ingest_host"),
    Variable(
        "CW_INGEST_PORT",
        "Port of `connectors serve-ingest` (0: any free port).",
        "ingest_port",
        kind="int",
    ),
    Variable(
        "CW_SPOOL_DIR",
        "Where `connectors run` spools what Kafka does not acknowledge.",
        "spool_dir",
    ),
)

#: Read by the local-stack scripts (deploy/local/) and ``continuity up/down/status``.
STACK: tuple[Variable, ...] = (
    Variable(
        "CW_STATE",
        "Directory of the local stack's data, logs and pids.",
        default="<repository>/.state",
    ),
    Variable(
        "CW_CACHE",
        "Cache of downloads and builds, shared by checkouts.",
        default="~/.cache/continuity-watch",
    ),
    Variable(
        "CW_REPO",
        "The checkout's root; set by the scripts themselves, not read.",
        default="(computed)",
    ),
    Variable("CW_KAFKA_VERSION", "Kafka release fetched from Maven Central.", default="4.1.1"),
    Variable(
        "CW_KAFKA_PORT",
        "Kafka broker port (also the default of CW_KAFKA_BOOTSTRAP).",
        default="19092",
    ),
    Variable("CW_KAFKA_CONTROLLER_PORT", "Kafka KRaft controller port.", default="19093"),
    Variable("CW_KAFKA_HEAP", "Kafka JVM heap.", default="768m"),
    Variable(
        "CW_PROMETHEUS_PORT",
        "Prometheus port (also the default of CW_PROMETHEUS_URL).",
        default="19090",
    ),
    Variable("CW_INFLUX_VERSION", "InfluxDB release built with Go.", default="v1.8.10"),
    Variable(
        "CW_INFLUX_PORT", "InfluxDB HTTP port (also the default of CW_INFLUX_URL).", default="18086"
    ),
    Variable("CW_INFLUX_RPC_PORT", "InfluxDB backup/RPC port.", default="18088"),
    Variable(
        "CW_INFLUX_AUTH_ENABLED",
        "InfluxDB `[http] auth-enabled`: true makes every request need a user (production; "
        "docs/reliability.md).",
        default="false",
    ),
)

#: Read by one command each (as the default of one of its options); secrets among them are
#: never logged or printed.
COMMANDS: tuple[Variable, ...] = (
    Variable(
        "CW_SUBSCRIPTIONS_FILE",
        "`continuity notify` / `alerts`: the subscriptions YAML (docs/notices.md).",
        default="(none: --subscriptions is required)",
    ),
    Variable(
        "CW_NOTIFIER_HTTP_PORT",
        "`continuity notify`: port of its HTTP server (Atom feeds, /metrics).",
        default="19466",
    ),
    Variable(
        "CW_LEDGER_KEY",
        "`continuity ledger serve`: the log's Ed25519 signing key (PEM text) when no "
        "--key-file is given. Secret.",
        default="(unset)",
    ),
    Variable(
        "CW_WITNESS_KEY",
        "`continuity ledger witness`: the witness's Ed25519 signing key (PEM text) when no "
        "--key-file is given. Secret.",
        default="(unset)",
    ),
    Variable(
        "CW_LEDGER_POLICY",
        "`continuity ledger`: the redaction policy YAML (docs/ledger.md).",
        default="(the shipped policy)",
    ),
    Variable(
        "CW_LEDGER_STORE",
        "`continuity ledger serve` / `export`: where the log lives: a directory or "
        "sqlite:///DIR (embedded SQLite), or postgresql://USER@HOST:PORT/DB?schema=NAME "
        "(docs/ledger.md). Never holds the password.",
        default="(unset: --data-dir, .state/ledger)",
    ),
    Variable(
        "CW_LEDGER_STORE_PASSWORD_FILE",
        "`continuity ledger`: file holding the PostgreSQL password of CW_LEDGER_STORE "
        "(read, never logged). Secret.",
        default="(unset: no password)",
    ),
    Variable(
        "CW_LEDGER_DISCLOSURE_TOKEN",
        "`continuity ledger serve`: bearer token that may read openings (salts and values of "
        "redacted fields). Secret.",
        default="(unset: openings are refused)",
    ),
    Variable(
        "CW_PUBLISH_REDACTION_KEY",
        "`continuity serve-status` / `report`: key of the pseudonyms that replace hosts, IPs "
        "and URLs for verifiers (docs/audiences.md). Secret.",
        default="(unset: a random key per process)",
    ),
    Variable(
        "CW_INGEST_METRICS_TOKEN_SHA256",
        "`connectors serve-ingest`: SHA-256 of the bearer token that may read its /metrics.",
        default="(unset: /metrics is refused)",
    ),
)

ALL: tuple[Variable, ...] = SETTINGS + STACK + COMMANDS


def by_name(name: str) -> Variable:
    return next(v for v in ALL if v.name == name)
