"""Kafka brokers of a test's or chaos run's own: 1 or 3 KRaft nodes on free loopback ports.

The shared local Kafka (deploy/local/kafka.sh) must never be restarted, so faults of the broker
itself run against a cluster started here: the same Maven-resolved jars from the cache
(``kafka.sh install`` fetches them once), a private state directory, ports the OS just handed
out. Every node is broker and controller; three nodes form a three-voter quorum with
replication factor 3 and ``min.insync.replicas=2`` as the defaults for every topic. Clients
connect in plaintext, or with a :class:`~pipeline.ops.kafka_cluster_auth.BrokerAuth` as SCRAM
users over SASL (and TLS) under ACLs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import structlog
from kafka import KafkaAdminClient

from pipeline.ops.kafka_cluster_auth import BrokerAuth, write_self_signed
from pipeline.ops.kafka_node import KafkaNode, cluster_id, free_port, kafka_libs, node_config
from pipeline.ops.kafka_security import PLAINTEXT, KafkaSecurity
from pipeline.ops.localstack import DEPLOY

log = structlog.get_logger(__name__)

T = TypeVar("T")


class KafkaCluster:
    """``size`` KRaft nodes under ``root``; a context manager that removes everything on exit.

    With ``auth`` clients must be its SCRAM users (:meth:`security`, :meth:`client_env`); the
    TLS listener's certificate is :attr:`ca_file`."""

    def __init__(
        self, root: Path, size: int = 1, *, heap: str = "320m", auth: BrokerAuth | None = None
    ) -> None:
        if size not in (1, 3):
            raise ValueError(f"size={size}: a cluster here has 1 or 3 nodes")
        self.root, self.size, self.heap, self.auth = root, size, heap, auth
        tls = auth is not None and auth.tls
        self.nodes = [
            KafkaNode(i, free_port(), free_port(), root / f"node-{i}", free_port() if tls else None)
            for i in range(1, size + 1)
        ]
        self.libs = kafka_libs()
        self.ca_file = root / "ca.pem"
        self.keystore = root / "broker.pem"

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def tls_bootstrap(self) -> str:
        """The SASL_SSL listeners (a cluster with ``BrokerAuth(tls=True)`` only)."""
        if self.auth is None or not self.auth.tls:
            raise ValueError("this cluster has no TLS listener: start it with BrokerAuth(tls=True)")
        return ",".join(f"127.0.0.1:{node.tls_port}" for node in self.nodes)

    def security(self, user: str, *, tls: bool = False) -> KafkaSecurity:
        """Client security of SCRAM ``user`` (its password in a file under ``root``), or
        plaintext for a cluster without ``auth``."""
        if self.auth is None:
            return PLAINTEXT
        path = self.root / f"{user}.password"
        if not path.exists():
            path.write_text(self.auth.users[user] + "\n")
            path.chmod(0o600)
        return KafkaSecurity(
            "SASL_SSL" if tls else "SASL_PLAINTEXT",
            "SCRAM-SHA-512",
            user,
            str(path),
            str(self.ca_file) if tls else None,
        )

    def client_env(self, user: str, *, tls: bool = False) -> dict[str, str]:
        """The Kafka variables (bootstrap, security) of a process connecting as ``user``."""
        security = self.security(user, tls=tls)
        env = {
            "CW_KAFKA_BOOTSTRAP": self.tls_bootstrap if tls else self.bootstrap,
            "CW_KAFKA_SECURITY_PROTOCOL": security.protocol,
        }
        if security.sasl:
            env["CW_KAFKA_SASL_MECHANISM"] = security.mechanism
            env["CW_KAFKA_USERNAME"] = user
            env["CW_KAFKA_PASSWORD_FILE"] = str(security.password_file)
        if tls:
            env["CW_KAFKA_CA_FILE"] = str(self.ca_file)
        return env

    def _admin_security(self) -> KafkaSecurity:
        return PLAINTEXT if self.auth is None else self.security(self.auth.admin)

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, timeout: float = 120.0) -> KafkaCluster:
        """Install the jars if needed, format every node, launch them, wait until all serve
        (on failure every node is killed and the state removed before the error is raised)."""
        started = time.monotonic()
        self._install()
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        ident = cluster_id()
        self.root.mkdir(parents=True, exist_ok=True)
        if self.auth is not None and self.auth.tls:
            write_self_signed(self.ca_file, self.keystore)
        users = [] if self.auth is None else self.auth.format_args()
        formats = []
        for node in self.nodes:
            shutil.rmtree(node.directory, ignore_errors=True)  # a fresh cluster, always
            node.directory.mkdir(parents=True)
            config = node.directory / "server.properties"
            config.write_text(
                node_config(node, voters, size=self.size, auth=self.auth, keystore=self.keystore)
            )
            formats.append(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    ident,
                    "-c",
                    str(config),
                    *users,
                    out=node.directory / "format.log",
                )
            )
        for node, proc in zip(self.nodes, formats, strict=True):
            if proc.wait(timeout=120) != 0:
                raise RuntimeError(f"formatting {node.directory} failed: see format.log there")
        try:
            for node in self.nodes:
                self.start_node(node.node_id, wait=False)
            self.wait_healthy(timeout=timeout)
        except BaseException:
            self.close()  # leave no JVM behind: callers only close what started
            raise
        log.info(
            "kafka_cluster_started",
            size=self.size,
            bootstrap=self.bootstrap,
            seconds=round(time.monotonic() - started, 1),
        )
        return self

    def start_node(self, node_id: int, *, wait: bool = True, timeout: float = 120.0) -> None:
        """(Re)start one node over its existing data."""
        node = self.node(node_id)
        if node.alive:
            return
        jvm = [
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
        ]
        node.proc = self._java(
            "kafka.Kafka",
            str(node.directory / "server.properties"),
            out=node.directory / "kafka.log",
            jvm=jvm,
        )
        if wait:
            self.wait_healthy(timeout=timeout)

    def kill(self, node_id: int) -> None:
        """``kill -9``: no controlled shutdown, nothing flushed beyond what the OS has."""
        node = self.node(node_id)
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait()
        log.info("kafka_node_killed", node=node_id)

    def stop_node(self, node_id: int, *, timeout: float = 30.0) -> None:
        """Controlled shutdown (SIGTERM); SIGKILL if it takes longer than ``timeout``."""
        node = self.node(node_id)
        if node.proc is None or node.proc.poll() is not None:
            return
        node.proc.send_signal(signal.SIGTERM)
        try:
            node.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait()

    def restart(self, node_id: int, *, hard: bool = True, timeout: float = 120.0) -> float:
        """Kill (``hard``) or stop one node, start it again; seconds until the cluster serves."""
        began = time.monotonic()
        (self.kill if hard else self.stop_node)(node_id)
        self.start_node(node_id, timeout=timeout)
        return time.monotonic() - began

    def close(self) -> None:
        """Kill every node and remove the state directory (nothing of it is kept)."""
        for node in self.nodes:
            self.kill(node.node_id)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- health ------------------------------------------------------------------------------

    def serving(self, node_id: int) -> bool:
        """The node answers on its own port and the cluster lists it as an unfenced broker."""
        node = self.node(node_id)
        if not node.alive:
            return False
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=node.address,
                request_timeout_ms=3000,
                bootstrap_timeout_ms=3000,
                **self._admin_security().kafka_python(),
            )
        except Exception:  # not listening yet
            return False
        try:
            brokers: list[dict[str, Any]] = admin.describe_cluster()["brokers"]
            return any(b["broker_id"] == node_id and not b.get("is_fenced") for b in brokers)
        except Exception:
            return False
        finally:
            admin.close()

    def wait_healthy(self, *, timeout: float = 120.0) -> float:
        """Block until every running node serves; returns the seconds waited."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            for node in self.nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise RuntimeError(
                        f"Kafka node {node.node_id} exited with {node.proc.returncode}: "
                        f"see {node.directory / 'kafka.log'}"
                    )
            running = [n.node_id for n in self.nodes if n.alive]
            if running and all(self.serving(node_id) for node_id in running):
                return time.monotonic() - began
            time.sleep(0.5)
        raise TimeoutError(f"Kafka cluster at {self.bootstrap} not healthy after {timeout:.0f} s")

    def wait_in_sync(self, topics: list[str], *, timeout: float = 120.0) -> float:
        """Block until every partition of ``topics`` has all its replicas in sync."""
        began = time.monotonic()
        while True:
            try:
                if not self.under_replicated(topics):
                    break
            except RuntimeError:  # no node answered this time
                pass
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"partitions still under-replicated after {timeout:.0f} s")
            time.sleep(0.5)
        return time.monotonic() - began

    def under_replicated(self, topics: list[str]) -> list[tuple[str, int]]:
        """Partitions of ``topics`` whose in-sync replicas are fewer than their replicas."""
        described = self.admin_call(lambda admin: admin.describe_topics(topics))
        return [
            (t["name"], p["partition_index"])
            for t in described
            for p in t["partitions"]
            if len(p["isr_nodes"]) < len(p["replica_nodes"])
        ]

    def admin_call(self, call: Callable[[KafkaAdminClient], T], *, attempts: int = 6) -> T:
        """``call`` on an admin client of a running node, trying the next on failure.

        kafka-python's admin client sends to a broker the metadata still lists even when it
        is dead, so a call after a kill may be refused; another running node answers."""
        failure: Exception | None = None
        for attempt in range(attempts):
            running = [n.address for n in self.nodes if n.alive]
            if not running:
                raise RuntimeError("no Kafka node is running")
            address = running[attempt % len(running)]
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=address,
                    request_timeout_ms=5000,
                    bootstrap_timeout_ms=5000,
                    **self._admin_security().kafka_python(),
                )
            except Exception as exc:  # not listening (yet)
                failure = exc
                time.sleep(0.5)
                continue
            try:
                return call(admin)
            except Exception as exc:
                failure = exc
                time.sleep(0.5)
            finally:
                admin.close()
        raise RuntimeError(f"no running Kafka node answered: {failure}") from failure

    # -- helpers -----------------------------------------------------------------------------

    def _install(self) -> None:
        if not (self.libs.parent / ".complete").exists():
            subprocess.run(
                ["bash", str(DEPLOY / "kafka.sh"), "install"],
                env={**os.environ, "CW_STATE": str(self.root)},
                check=True,
            )

    def _java(
        self, main: str, *args: str, out: Path, jvm: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        with out.open("ab") as sink:
            return subprocess.Popen(
                [
                    "java",
                    *(jvm or ["-Xmx128m", "-XX:TieredStopAtLevel=1"]),
                    "-cp",
                    f"{self.libs}/*",
                    main,
                    *args,
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
