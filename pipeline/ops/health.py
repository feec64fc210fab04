"""Health checks of the stack's servers, for ``continuity status`` and the tests."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from pipeline.config.settings import Settings
from pipeline.ops.kafka_security import PLAINTEXT, KafkaSecurity


@dataclass(frozen=True, slots=True)
class Health:
    name: str
    ok: bool
    detail: str


def check_http(name: str, url: str, timeout: float = 2.0) -> Health:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            version = response.headers.get("X-Influxdb-Version", "")
            return Health(name, 200 <= response.status < 300, f"{url} {version}".strip())
    except OSError as exc:
        return Health(name, False, f"{url}: {exc}")


def check_kafka(
    bootstrap: str, timeout_ms: int = 3000, security: KafkaSecurity = PLAINTEXT
) -> Health:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=timeout_ms,
            client_id="continuity-status",
            **security.kafka_python(),
        )
    except (KafkaError, OSError) as exc:
        return Health("kafka", False, f"{bootstrap}: {exc!r}")
    try:
        topics = admin.list_topics()
        return Health("kafka", True, f"{bootstrap} ({len(topics)} topics)")
    except (KafkaError, OSError) as exc:
        return Health("kafka", False, f"{bootstrap}: {exc!r}")
    finally:
        admin.close()


def check_stack(settings: Settings) -> list[Health]:
    return [
        check_kafka(settings.kafka_bootstrap, security=KafkaSecurity.from_settings(settings)),
        check_http("prometheus", f"{settings.prometheus_url}/-/ready"),
        check_http("influxdb", f"{settings.influx_url}/ping"),
    ]
