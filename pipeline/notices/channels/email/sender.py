"""Send a notice over SMTP with aiosmtplib (STARTTLS / implicit TLS / AUTH as configured).

Permanent SMTP refusals (5xx) are not retried; transient ones (4xx) and connection
problems are.
"""

from __future__ import annotations

import aiosmtplib

from pipeline.notices.channels.base import DeliveryError, resolve_secret
from pipeline.notices.channels.email.config import EmailConfig
from pipeline.notices.channels.email.message import render_email
from pipeline.notices.notice import Notice


class EmailSender:
    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    async def send(self, notice: Notice) -> str:
        config = self.config
        password = (
            resolve_secret(config.password, "SMTP password")
            if config.password is not None
            else None
        )
        message = render_email(notice, config.sender, config.recipients)
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            start_tls=config.security == "starttls",
            use_tls=config.security == "tls",
            username=config.username,
            password=password,
            timeout=config.delivery.timeout_s,
            cert_bundle=config.ca_file,
        )
        try:
            await client.connect()
            errors, response = await client.send_message(message)
            await client.quit()
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.code} {exc.message}"[:300], retryable=exc.code < 500
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None
        finally:
            # A refused login or a failed TLS handshake must not leave the socket open.
            client.close()
        if errors:
            refused = ", ".join(f"{addr} ({code})" for addr, (code, _msg) in errors.items())
            raise DeliveryError(f"recipients refused: {refused}"[:300], retryable=False)
        return f"SMTP {response}"[:200]

    async def close(self) -> None:
        return None
