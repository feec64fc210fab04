"""Acknowledgements through the authenticated ingest API: own services only, signed, audited."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from connectors.ingest_server import (
    IngestLimits,
    kafka_send_command,
    make_ingest_app,
    producer_deliver,
)
from pipeline.core.commands import parse_command
from tests.support.stack import read_to_end

from .conftest import AppThread, Connectors
from .test_push_ingest import GRID, TELCO, _config, post

pytestmark = pytest.mark.integration


def test_an_operator_acknowledges_only_its_own_services_and_the_command_is_signed(
    connectors: Connectors, http: AppThread
) -> None:
    settings = connectors.settings
    assert settings.command_key
    key = settings.command_key.encode()
    app = make_ingest_app(
        _config(connectors),
        producer_deliver(connectors.producer),
        clock=time.time,
        registry=connectors.registry,
        limits=IngestLimits(rate_per_s=50.0, burst=100),
        send_command=kafka_send_command(settings.kafka_bootstrap, settings.topics.commands),
        command_key=key,
    )
    url = http.serve(app) + "/v1/acknowledgements"

    def ack(body: dict[str, object], token: str | None = GRID) -> tuple[int, dict[str, Any]]:
        answer = post(url, orjson.dumps(body), token=token)
        return answer.status, answer.body

    status, body = ack({"service_id": "energy.grid.f12", "by": "duty-engineer"})
    assert (status, body["by"]) == (202, "grid/duty-engineer"), body
    assert ack({"service_id": "energy.grid.f12", "by": "x"}, token=None)[0] == 401
    # Another operator's service, under any name: refused.
    assert ack({"service_id": "energy.grid.f12", "by": "x"}, token=TELCO)[0] == 403
    status, body = ack({"service_id": "energy.grid.f12", "by": "\x1b[2Jroot"})
    assert status == 400
    assert body["problems"][0]["field"] == "by"
    status, body = ack({"service_id": "energy.grid.f12", "by": "x" * 200})
    assert status == 400

    records = read_to_end(settings, settings.topics.commands)
    assert len(records) == 1
    record = records[0]
    # Signed for the workers, with who, when and from where.
    command = parse_command(orjson.dumps(record), now=time.time(), key=key)
    assert (command.service_id, command.by, command.method) == (
        "energy.grid.f12",
        "grid/duty-engineer",
        "api",
    )
    assert (record["issued_by"], record["from"]) == ("grid", "127.0.0.1")
    assert abs(record["at"] - time.time()) < 60
