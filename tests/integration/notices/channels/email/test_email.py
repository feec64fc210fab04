"""E-mail channel against a real aiosmtpd server: plain text + HTML, Message-ID, SMTP AUTH."""

from __future__ import annotations

import asyncio
import gc
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pipeline.notices.channels.base import DeliveryError
from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.common import Delivery
from pipeline.notices.channels.email.config import EmailConfig
from pipeline.notices.channels.email.sender import EmailSender
from pipeline.notices.secrets import SecretRef
from pipeline.notices.subscriptions import Subscriber
from tests.support.notice_samples import opened_and_restored
from tests.support.notices import SmtpServer, _Inbox
from tests.support.stack import free_port

pytestmark = pytest.mark.integration

SUBSCRIBER = Subscriber("cert", (AtomConfig(Delivery("atom")),))


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


def send(config: EmailConfig, *notices: Any) -> list[str]:
    sender = EmailSender(config)

    async def run() -> list[str]:
        return [await sender.send(n) for n in notices]

    return asyncio.run(run())


def test_plain_and_html_with_the_notice_id(smtp: SmtpServer) -> None:
    opened, restored = opened_and_restored(SUBSCRIBER)
    config = EmailConfig(
        Delivery("email", timeout_s=5), "127.0.0.1", "cw@example.org", ("duty@example.org",),
        port=smtp.port,
    )  # fmt: skip
    results = send(config, opened, restored)
    assert all(r.startswith("SMTP") for r in results)
    first, second = smtp.messages
    assert first["Message-ID"] == f"<{opened.notice_id}@continuity-watch>"
    assert first["To"] == "duty@example.org"
    assert first["Subject"].strip().startswith("[Continuity Watch] Outage: grid.kyiv.f14 (UA-30)")
    plain = first.get_body(preferencelist=("plain",))
    html = first.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert "grid.kyiv.f14" in plain.get_content()
    assert "<table>" in html.get_content()
    assert second["Subject"].strip().startswith("[Continuity Watch] Restored:")


# The test server takes AUTH over plain TCP on loopback; aiosmtpd warns that this is unsafe.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_uses_the_secret_and_a_wrong_one_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"cw", b"pw-1")
        return AuthResult(success=ok, handled=False)

    port = free_port()
    inbox = _Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
        auth_require_tls=False, auth_required=True,
    )  # fmt: skip
    controller.start()
    try:
        opened, _ = opened_and_restored(SUBSCRIBER)
        config = EmailConfig(
            Delivery("email", timeout_s=5), "127.0.0.1", "cw@example.org", ("d@example.org",),
            port=port, username="cw", password=SecretRef("env", "TEST_SMTP_PASSWORD"),
        )  # fmt: skip
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "pw-1")
        send(config, opened)
        assert len(inbox.messages) == 1
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
        with pytest.raises(DeliveryError) as failure:
            send(config, opened)
        assert failure.value.detail.startswith("SMTP 535")
        assert not failure.value.retryable
        assert "wrong" not in failure.value.detail
    finally:
        controller.stop()


# asyncio leaves the plain socket of a failed start_tls handshake (the untrusted-certificate
# case) to the garbage collector; collect it here so its ResourceWarning stays with this test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_starttls_with_a_private_ca(tmp_path: Path) -> None:
    """The server requires STARTTLS with a certificate only the configured CA file vouches for."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    port = free_port()
    inbox = _Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        opened, _ = opened_and_restored(SUBSCRIBER)
        base = EmailConfig(
            Delivery("email", timeout_s=5), "127.0.0.1", "a@b.org", ("c@d.org",), port=port
        )
        with pytest.raises(DeliveryError, match="SMTP 530"):  # refused without STARTTLS
            send(base, opened)
        with pytest.raises(DeliveryError):  # the system CAs do not know this certificate
            send(replace(base, security="starttls"), opened)
        assert inbox.messages == []
        send(replace(base, security="starttls", ca_file=str(cert)), opened)
        assert len(inbox.messages) == 1
    finally:
        controller.stop()
        gc.collect()


def test_an_unreachable_server_is_a_retryable_failure() -> None:
    opened, _ = opened_and_restored(SUBSCRIBER)
    config = EmailConfig(
        Delivery("email", timeout_s=2), "127.0.0.1", "a@b.org", ("c@d.org",), port=free_port()
    )
    with pytest.raises(DeliveryError) as failure:
        send(config, opened)
    assert failure.value.retryable
