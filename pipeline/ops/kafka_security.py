"""How every Kafka client of the project authenticates: the one place that turns the
``CW_KAFKA_SECURITY_PROTOCOL``/``_SASL_MECHANISM``/``_USERNAME``/``_PASSWORD_FILE``/``_CA_FILE``
settings into options for kafka-python, aiokafka and faust, and that explains the broker's
refusals in terms of those settings.

The local stack is PLAINTEXT and needs none of it; production uses SASL_SSL with one SCRAM
user per role, each allowed only its own topics by ACLs (docs/reliability.md).

>>> KafkaSecurity().kafka_python()
{'security_protocol': 'PLAINTEXT'}
>>> KafkaSecurity("SASL_SSL", username="worker").who()
"user 'worker' (SCRAM-SHA-512 over SASL_SSL)"
>>> KafkaSecurity("TLS")
Traceback (most recent call last):
...
pipeline.config.variables.SettingsError: CW_KAFKA_SECURITY_PROTOCOL='TLS': must be one of \
PLAINTEXT, SASL_PLAINTEXT, SASL_SSL, SSL
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

from pipeline.config.settings import Settings
from pipeline.config.variables import SettingsError

__all__ = ["PLAINTEXT", "KafkaAccessError", "KafkaSecurity", "check_access", "explain"]

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")

_CREDENTIALS = "check CW_KAFKA_USERNAME and the password in CW_KAFKA_PASSWORD_FILE"


class KafkaAccessError(RuntimeError):
    """The broker refused this process's credentials or certificate; the message says which
    setting to check."""


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """The Kafka security settings of one process; the password stays in its file until a
    client is built (never in Settings, logs or reprs)."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise SettingsError(
                f"CW_KAFKA_SECURITY_PROTOCOL={self.protocol!r}: must be one of "
                + ", ".join(PROTOCOLS)
            )
        if self.sasl and self.mechanism not in MECHANISMS:
            raise SettingsError(
                f"CW_KAFKA_SASL_MECHANISM={self.mechanism!r}: must be one of "
                + ", ".join(MECHANISMS)
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSecurity:
        security = cls(
            settings.kafka_security_protocol,
            settings.kafka_sasl_mechanism,
            settings.kafka_username,
            settings.kafka_password_file,
            settings.kafka_ca_file,
        )
        if security.sasl and not (security.username and security.password_file):
            raise SettingsError(
                f"CW_KAFKA_SECURITY_PROTOCOL={security.protocol}: needs CW_KAFKA_USERNAME and "
                "CW_KAFKA_PASSWORD_FILE (a file holding the password)"
            )
        return security

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def who(self) -> str:
        """This identity in words, for messages (never the password)."""
        if not self.sasl:
            return f"no user ({self.protocol})"
        return f"user {self.username!r} ({self.mechanism} over {self.protocol})"

    def password(self) -> str:
        """The password, read from its file now (so a rotated file is used on restart)."""
        assert self.password_file is not None
        try:
            with open(self.password_file, encoding="utf-8") as handle:
                text = handle.read().strip()
        except OSError as exc:
            raise SettingsError(
                f"CW_KAFKA_PASSWORD_FILE={self.password_file!r}: cannot read the file "
                f"({exc.strerror})"
            ) from None
        if not text:
            raise SettingsError(f"CW_KAFKA_PASSWORD_FILE={self.password_file!r}: the file is empty")
        return text

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context (hostname included) trusting CW_KAFKA_CA_FILE or the
        system's CAs; None without TLS."""
        if not self.tls:
            return None
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(
                f"CW_KAFKA_CA_FILE={self.ca_file!r}: not a readable PEM certificate ({exc})"
            ) from None

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaProducer``/``AIOKafkaConsumer``/``create_conn``."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options["sasl_mechanism"] = self.mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password()
        return options

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's producer, consumer and admin client."""
        options = self.aiokafka()
        if self.tls:
            options["ssl_check_hostname"] = True
        return options

    def faust(self) -> dict[str, Any]:
        """faust app settings: ``broker_credentials`` (nothing for PLAINTEXT)."""
        import faust  # here: the connectors and CLI use this module without faust

        if self.sasl:
            credentials: Any = faust.SASLCredentials(
                username=self.username,
                password=self.password(),
                mechanism=self.mechanism,
                ssl_context=self.ssl_context(),
            )
            return {"broker_credentials": credentials}
        if self.tls:
            return {"broker_credentials": faust.SSLCredentials(self.ssl_context())}
        return {}


PLAINTEXT = KafkaSecurity()


def explain(error: BaseException, security: KafkaSecurity, *, topic: str | None = None) -> str:
    """A broker refusal (kafka-python or aiokafka) in terms of the settings to check; other
    errors as they are."""
    kind = type(error).__name__
    if "SaslAuthentication" in kind:
        return f"Kafka refused {security.who()}: wrong credentials; {_CREDENTIALS}"
    if "AuthorizationFailed" in kind:
        what = f"topic {topic!r}" if topic else "this operation"
        return (
            f"Kafka's ACLs do not allow {security.who()} {what} ({kind}): this role may not "
            "use it; run it as the role that may (CW_KAFKA_USERNAME) or grant an ACL"
        )
    return f"{kind}: {error}"


async def _probe(host: str, port: int, security: KafkaSecurity, timeout_s: float) -> None:
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    try:
        conn = await asyncio.wait_for(
            create_conn(
                host,
                port,
                client_id="continuity-access-check",
                request_timeout_ms=int(timeout_s * 1000),
                **security.aiokafka(),
            ),
            timeout_s,
        )
        try:
            await asyncio.wait_for(conn.send(MetadataRequest([])), timeout_s)
        finally:
            conn.close()
    finally:
        await asyncio.sleep(0.05)  # closed transports finish closing before the loop ends


def check_access(bootstrap: str, security: KafkaSecurity, *, timeout_s: float = 10.0) -> bool:
    """Authenticate once against the bootstrap servers: True when one accepted us, False when
    none can be reached (callers that spool may start anyway). Raises
    :class:`KafkaAccessError` naming the setting when a broker refused the credentials or TLS."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        if _check_one(bootstrap, host.strip("[]"), int(port), security, timeout_s):
            return True
    return False


def _check_one(
    bootstrap: str, host: str, port: int, security: KafkaSecurity, timeout_s: float
) -> bool:
    try:
        asyncio.run(_probe(host, port, security, timeout_s))
    except ssl.SSLError as exc:
        raise KafkaAccessError(
            f"TLS with Kafka at {bootstrap} failed ({exc.reason}): check CW_KAFKA_CA_FILE "
            "and that CW_KAFKA_SECURITY_PROTOCOL matches the broker's listener"
        ) from None
    except (ConnectionRefusedError, TimeoutError, OSError):
        return False
    except Exception as exc:
        kind = type(exc).__name__
        if "SaslAuthentication" in kind:
            raise KafkaAccessError(f"Kafka at {bootstrap}: {explain(exc, security)}") from None
        if not security.sasl and "Connection" in kind:
            raise KafkaAccessError(
                f"Kafka at {bootstrap} closed the connection of a client without credentials "
                f"({kind}): the listener needs authentication; set CW_KAFKA_SECURITY_PROTOCOL "
                "(SASL_SSL or SASL_PLAINTEXT), CW_KAFKA_USERNAME and CW_KAFKA_PASSWORD_FILE"
            ) from None
        raise KafkaAccessError(
            f"Kafka at {bootstrap} refused {security.who()}: {kind}: {exc}"
        ) from None
    return True


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """kafka-python keyword arguments for this process's identity (see :class:`KafkaSecurity`)."""
    return KafkaSecurity.from_settings(settings).kafka_python()


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for this process's identity (see :class:`KafkaSecurity`)."""
    return KafkaSecurity.from_settings(settings).aiokafka()
