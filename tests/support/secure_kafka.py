"""A Kafka broker of the test's own that authenticates and authorises, never the shared one.

One KRaft node from the cached jars (``deploy/local/kafka.sh install``) with two client
listeners, SASL_PLAINTEXT and SASL_SSL (a self-signed certificate for 127.0.0.1 in a PEM
keystore), SCRAM-SHA-512 users created when the storage is formatted (``--add-scram``),
and the StandardAuthorizer denying whatever no ACL allows. One user per role:

* ``admin``: super user (creates topics and ACLs);
* ``connector``: may write the observations and dead-letter topics, nothing else;
* ``ingest``: may write observations and commands;
* ``worker``: reads observations and commands, writes the outputs and its own changelog
  topics (prefix ``<app_id>``), uses its own consumer groups and transactional ids.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.config.settings import TopicNames
from pipeline.ops.kafka_security import KafkaSecurity, check_access
from tests.support.stack import free_port

USERS = ("admin", "connector", "ingest", "worker")
#: A test broker handles a few hundred records: start fast (no optimising JIT) on busy cores.
_QUICK_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


def kafka_libs() -> Path:
    cache = Path(os.environ.get("CW_CACHE", Path.home() / ".cache" / "continuity-watch"))
    version = os.environ.get("CW_KAFKA_VERSION", "4.1.1")
    return cache / f"kafka-{version}" / "libs"


class SecureKafka:
    """The broker under ``state``; :meth:`start` it, :meth:`grant` the roles, :meth:`stop`."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.sasl_port, self.ssl_port, self.controller_port = (free_port() for _ in range(3))
        self.passwords = {user: f"{user}-{uuid.uuid4().hex[:12]}" for user in USERS}
        self.ca_file = state / "ca.pem"
        self._proc: subprocess.Popen[bytes] | None = None

    def bootstrap(self, *, tls: bool = False) -> str:
        return f"127.0.0.1:{self.ssl_port if tls else self.sasl_port}"

    def password_file(self, user: str, password: str | None = None) -> Path:
        path = self.state / f"{user}.password"
        path.write_text((password or self.passwords[user]) + "\n")
        path.chmod(0o600)
        return path

    def security(
        self, user: str, *, tls: bool = False, password: str | None = None
    ) -> KafkaSecurity:
        suffix = "-wrong" if password else ""
        path = self.password_file(user + suffix, password)
        return KafkaSecurity(
            "SASL_SSL" if tls else "SASL_PLAINTEXT",
            "SCRAM-SHA-512",
            user,
            str(path),
            str(self.ca_file) if tls else None,
        )

    def env(self, user: str, *, tls: bool = False) -> dict[str, str]:
        """The Kafka variables (bootstrap, security) of a process running as ``user``."""
        security = self.security(user, tls=tls)
        env = {
            "CW_KAFKA_BOOTSTRAP": self.bootstrap(tls=tls),
            "CW_KAFKA_SECURITY_PROTOCOL": security.protocol,
            "CW_KAFKA_SASL_MECHANISM": security.mechanism,
            "CW_KAFKA_USERNAME": user,
            "CW_KAFKA_PASSWORD_FILE": str(security.password_file),
        }
        if tls:
            env["CW_KAFKA_CA_FILE"] = str(self.ca_file)
        return env

    def _keystore(self) -> Path:
        """A self-signed certificate for 127.0.0.1 and its key, in one PEM file (Kafka's PEM
        keystore); the certificate alone is the clients' CA file."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),  # Java reads no PBES2-encrypted PKCS#8; mode 0600
        )
        self.ca_file.write_bytes(cert_pem)
        keystore = self.state / "broker.pem"
        keystore.write_bytes(key_pem + cert_pem)
        keystore.chmod(0o600)
        return keystore

    def _config(self, keystore: Path) -> Path:
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="admin" password="{self.passwords["admin"]}";'
        )
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners=SASL_PLAINTEXT://127.0.0.1:{self.sasl_port},"
            f"SASL_SSL://127.0.0.1:{self.ssl_port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{self.sasl_port},"
            f"SASL_SSL://127.0.0.1:{self.ssl_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,"
            "CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
            f"ssl.keystore.location={keystore}",
            "ssl.keystore.type=PEM",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            # The controller listener is loopback-only PLAINTEXT (KRaft controllers cannot
            # use SCRAM), so its ANONYMOUS principal is the broker itself.
            "super.users=User:admin;User:ANONYMOUS",
            f"log.dirs={self.state / 'data'}",
            "num.partitions=2",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
        ]
        config = self.state / "server.properties"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout_s: float = 120.0) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        config = self._config(self._keystore())
        libs = f"{kafka_libs()}/*"
        cluster = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        users = [
            arg
            for user, password in self.passwords.items()
            for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]")
        ]
        subprocess.run(
            ["java", *_QUICK_JVM, "-cp", libs, "kafka.tools.StorageTool", "format", "-t", cluster,
             "-c", str(config), "--standalone", *users],
            check=True, capture_output=True,
        )  # fmt: skip
        with (self.state / "kafka.log").open("wb") as log:
            self._proc = subprocess.Popen(
                ["java", "-Xms128m", "-Xmx384m", *_QUICK_JVM, "-Djava.awt.headless=true",
                 "-cp", libs, "kafka.Kafka", str(config)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        admin = self.security("admin")
        deadline = time.monotonic() + timeout_s
        while not check_access(self.bootstrap(), admin, timeout_s=5):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"secure Kafka did not start: see {self.state / 'kafka.log'}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def admin_options(self) -> dict[str, object]:
        return {"bootstrap_servers": self.bootstrap(), **self.security("admin").kafka_python()}

    def grant(self, topics: TopicNames, app_id: str) -> None:
        """The role ACLs for the pipeline's ``topics`` and the worker app ``app_id``."""
        from kafka.admin import (
            ACL,
            ACLOperation,
            ACLPermissionType,
            ACLResourcePatternType,
            KafkaAdminClient,
            ResourcePattern,
            ResourceType,
        )

        def allow(
            user: str,
            operation: ACLOperation,
            name: str,
            kind: ResourceType = ResourceType.TOPIC,
            pattern: ACLResourcePatternType = ACLResourcePatternType.LITERAL,
        ) -> ACL:
            return ACL(
                f"User:{user}",
                "*",
                operation,
                ACLPermissionType.ALLOW,
                ResourcePattern(kind, name, pattern),
            )

        prefixed = ACLResourcePatternType.PREFIXED
        outputs = [
            topics.status,
            topics.anomalies,
            topics.incidents,
            topics.indicators,
            topics.notices,
            topics.deadletter,
            topics.ledger,
        ]
        acls = [allow("connector", ACLOperation.WRITE, t) for t in (topics.observations,)]
        acls += [allow("connector", ACLOperation.WRITE, topics.deadletter)]
        acls += [allow("ingest", ACLOperation.WRITE, t) for t in (topics.observations,)]
        acls += [allow("ingest", ACLOperation.WRITE, topics.commands)]
        acls += [allow("worker", ACLOperation.READ, t) for t in (topics.observations,)]
        acls += [allow("worker", ACLOperation.READ, topics.commands)]
        for topic in outputs:
            acls += [
                allow("worker", ACLOperation.WRITE, topic),
                allow("worker", ACLOperation.READ, topic),
            ]
        acls += [
            allow("worker", ACLOperation.ALL, app_id, ResourceType.TOPIC, prefixed),
            allow("worker", ACLOperation.ALL, app_id, ResourceType.GROUP, prefixed),
            allow("worker", ACLOperation.ALL, app_id, ResourceType.TRANSACTIONAL_ID, prefixed),
        ]
        admin = KafkaAdminClient(**self.admin_options())
        try:
            result = admin.create_acls(acls)
        finally:
            admin.close()
        if result["failed"]:
            raise RuntimeError(f"ACLs refused: {result['failed']}")


@contextmanager
def secure_kafka(state: Path) -> Iterator[SecureKafka]:
    """A started :class:`SecureKafka` under ``state``, stopped at exit."""
    broker = SecureKafka(state)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
