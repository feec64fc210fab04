"""Authentication and authorisation for a :class:`~pipeline.ops.kafka_cluster.KafkaCluster`.

With a :class:`BrokerAuth` the cluster's clients connect over SASL_PLAINTEXT (and SASL_SSL on a
second listener, a self-signed certificate for 127.0.0.1 in a PEM keystore) as SCRAM-SHA-512
users created when the storage is formatted (``--add-scram``); the StandardAuthorizer denies
whatever no ACL allows. This is the production configuration docs/reliability.md describes,
on loopback ports of a test's own.

>>> auth = BrokerAuth({"admin": "pw", "worker": "pw2"}, tls=False)
>>> auth.format_args()[:2]
['--add-scram', 'SCRAM-SHA-512=[name=admin,password=pw]']
>>> lines = auth.listener_config(9092, None, 9093, keystore=None).splitlines()
>>> lines[0]
'listeners=SASL_PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093'
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MECHANISM = "SCRAM-SHA-512"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


@dataclass(frozen=True)
class BrokerAuth:
    """SCRAM users (name -> password), the inter-broker super user ``admin``, a SASL_SSL
    listener beside SASL_PLAINTEXT (``tls``) and ACL authorisation (``authorizer``)."""

    users: Mapping[str, str]
    admin: str = "admin"
    tls: bool = True
    authorizer: bool = True

    def __post_init__(self) -> None:
        if self.admin not in self.users:
            raise ValueError(f"admin user {self.admin!r} needs a password in users")

    def format_args(self) -> list[str]:
        """``kafka-storage format`` arguments creating every user's SCRAM credentials."""
        return [
            arg
            for user, password in self.users.items()
            for arg in ("--add-scram", f"{MECHANISM}=[name={user},password={password}]")
        ]

    def listener_config(
        self, port: int, tls_port: int | None, controller_port: int, *, keystore: Path | None
    ) -> str:
        """The listener, SASL and authorizer lines of one node's server.properties."""
        client = [f"SASL_PLAINTEXT://127.0.0.1:{port}"]
        protocols = ["SASL_PLAINTEXT:SASL_PLAINTEXT"]
        if self.tls:
            client.append(f"SASL_SSL://127.0.0.1:{tls_port}")
            protocols.append("SASL_SSL:SASL_SSL")
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.admin}" password="{self.users[self.admin]}";'
        )
        lines = [
            f"listeners={','.join(client)},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners={','.join(client)}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            f"listener.security.protocol.map={','.join(protocols)},CONTROLLER:PLAINTEXT",
            f"sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            f"listener.name.sasl_plaintext.{MECHANISM.lower()}.sasl.jaas.config={jaas}",
        ]
        if self.tls:
            lines += [
                f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config={jaas}",
                f"ssl.keystore.location={keystore}",
                "ssl.keystore.type=PEM",
            ]
        if self.authorizer:
            lines += [
                f"authorizer.class.name={AUTHORIZER}",
                "allow.everyone.if.no.acl.found=false",
                # The controller listener is loopback-only PLAINTEXT (KRaft controllers cannot
                # use SCRAM), so its ANONYMOUS principal is the brokers themselves.
                f"super.users=User:{self.admin};User:ANONYMOUS",
            ]
        return "\n".join(lines)


def write_self_signed(ca_file: Path, keystore: Path) -> None:
    """A self-signed certificate for 127.0.0.1 and its key in one PEM file (Kafka's PEM
    keystore, mode 0600); the certificate alone goes to ``ca_file`` for the clients."""
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
    ca_file.write_bytes(cert_pem)
    keystore.write_bytes(key_pem + cert_pem)
    keystore.chmod(0o600)
