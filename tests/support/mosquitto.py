"""A real Mosquitto broker for tests (plain, or TLS with a password), and an aiomqtt publisher."""

from __future__ import annotations

import getpass
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from tests.support.stack import free_port

USER, PASSWORD = "heartbeats", "s3cret-pw"


@dataclass(frozen=True, slots=True)
class Broker:
    port: int
    #: Set for a TLS broker: the self-signed certificate clients must trust.
    ca_file: Path | None = None

    def client_tls(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None


def _binary() -> str:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.fail("needs the mosquitto broker (Debian package mosquitto)")
    return binary


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def configure(directory: Path, port: int, *, tls: bool) -> tuple[Path, Path | None]:
    """Write mosquitto.conf (and, for TLS, a certificate and a password file)."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "mosquitto.conf"
    # Started as root, mosquitto would switch to its own user, who cannot read pytest's
    # private tmp directory: stay whoever runs the tests.
    lines = [f"listener {port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}"]
    ca_file = None
    if tls:
        cert, key = _self_signed(directory)
        passwords = directory / "passwords"
        subprocess.run(
            ["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD],
            check=True,
            capture_output=True,
        )
        passwords.chmod(0o600)
        lines += [
            f"certfile {cert}",
            f"keyfile {key}",
            "allow_anonymous false",
            f"password_file {passwords}",
        ]
        ca_file = cert
    else:
        lines.append("allow_anonymous true")
    conf.write_text("\n".join(lines) + "\n")
    return conf, ca_file


@contextmanager
def running(conf: Path, port: int) -> Iterator[None]:
    """Mosquitto on ``conf`` until the block ends (stopped by its own handle)."""
    log = (conf.parent / "mosquitto.log").open("ab")
    broker = subprocess.Popen([_binary(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or broker.poll() is not None:
                    pytest.fail(f"mosquitto did not start: {(conf.parent / 'mosquitto.log')}")
                time.sleep(0.05)
        yield
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        log.close()


@contextmanager
def broker(directory: Path, *, tls: bool = False) -> Iterator[Broker]:
    port = free_port()
    conf, ca_file = configure(directory, port, tls=tls)
    with running(conf, port):
        yield Broker(port, ca_file)


async def publish(
    target: Broker | int, messages: list[tuple[str, bytes, bool]], *, qos: int = 1
) -> None:
    """Publish (topic, payload, retain) messages and disconnect once the broker has them."""
    found = target if isinstance(target, Broker) else Broker(target)
    tls = found.client_tls()
    async with aiomqtt.Client(
        "127.0.0.1",
        found.port,
        identifier="test-publisher",
        username=USER if tls else None,
        password=PASSWORD if tls else None,
        tls_context=tls,
        timeout=10,
    ) as client:
        for topic, payload, retain in messages:
            await client.publish(topic, payload, qos=qos, retain=retain)
