"""The contract between connectors and workers: what one side declares, the other honours.

Each test goes from a deployment config (or a connector's own builders) through the wire
bytes to the worker's validation and monitoring, the way evidence really travels.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from connectors.base import FeedContext
from connectors.config import load_config, validate_config
from connectors.ingest import check_push
from pipeline.core.deadletter import DeadLetter, dead_letter_record
from pipeline.core.schema import Kind, Observation, Status
from pipeline.core.validation import ObservationRejected, parse_observation
from pipeline.monitoring.monitor import Monitoring, MonitorParams
from pipeline.monitoring.status import SilencePolicy
from tests.support.observations import wire

NOW = 1_700_000_000.0

CONFIG = """\
version: 1
operators:
  - id: grid-op
    token_sha256: {token}
    services:
      - {{id: grid.slow, sector: energy, region: UA-30, expected_interval_s: 3600}}
    feeds:
      - {{id: grid-feed, type: feeder_status, path: feed.csv, service: grid.slow}}
"""


def _config(tmp_path: Path, text: str = CONFIG) -> Path:
    (tmp_path / "feed.csv").write_text("feeder,status\n")
    path = tmp_path / "deploy.yaml"
    path.write_text(text.format(token="0" * 64))
    return path


def _deadline_after_one_report(raw: bytes) -> float | None:
    """The worker's silence deadline for a service after it received ``raw``."""
    monitoring = Monitoring(MonitorParams(silence=SilencePolicy(default_interval=60.0)))
    observation = parse_observation(raw, now=NOW)
    monitor, _ = monitoring.observe(None, observation, partition=0, now=NOW)
    return monitoring.tracker.silence_deadline(monitor.state)


def test_declared_interval_from_a_feed_reaches_the_worker(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    service = config.services["grid.slow"]
    ctx = FeedContext(source="grid-feed", now=NOW, default_service=service)
    observation = ctx.observe(service, kind=Kind.HEARTBEAT, observed_at=NOW, status=Status.UP)
    raw = observation.to_json()
    # Unknown after two declared intervals (2 x 3600 s), not after 2 x the 60 s default.
    assert _deadline_after_one_report(raw) == NOW + 2 * 3600


def test_declared_interval_of_a_pushed_observation_reaches_the_worker(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    body = b'{"service_id": "grid.slow", "kind": "heartbeat", '
    body += b'"observed_at": "2023-11-14T22:13:20Z"}'
    [observation] = check_push(body, "application/json", "grid-op", config.services, now=NOW)
    assert _deadline_after_one_report(observation.to_json()) == NOW + 2 * 3600


WATER = """\
version: 1
sectors: [water]
operators:
  - id: utility
    token_sha256: {token}
    services:
      - {{id: water.pumps, sector: water, region: UA-30, expected_interval_s: 300}}
"""


def test_a_sector_the_config_declares_is_accepted_by_the_worker(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, WATER))
    service = config.services["water.pumps"]
    ctx = FeedContext(source="pumps", now=NOW, default_service=service)
    observation = ctx.observe(service, kind=Kind.HEARTBEAT, observed_at=NOW)
    assert isinstance(observation, Observation), observation
    assert parse_observation(observation.to_json(), now=NOW).sector == "water"


def test_config_and_worker_refuse_the_same_sector_names(tmp_path: Path) -> None:
    bad = "Water Supply"
    errors = validate_config(_config(tmp_path, WATER.replace("[water]", f"['{bad}']")))
    config_says = [e.message for e in errors if e.field == "sectors[0]"]
    with pytest.raises(ObservationRejected) as worker_says:
        parse_observation(wire(sector=bad), now=NOW)
    assert (worker_says.value.field, worker_says.value.detail) == ("sector", config_says[0])


def test_connectors_and_worker_write_one_dead_letter_shape() -> None:
    ctx = FeedContext(source="feed-1", now=NOW)
    from_connector = orjson.loads(ctx.reject("malformed_xml", None, "no root", b"<a").to_json())
    from_worker = orjson.loads(
        dead_letter_record(
            b"{", reason="malformed_json", field=None, detail="eof",
            topic="cw.observations", partition=2, offset=9, at=NOW,
        )
    )  # fmt: skip
    assert from_connector.keys() == from_worker.keys()
    for wire_form in (from_connector, from_worker):
        assert DeadLetter.from_dict(wire_form).to_dict() == wire_form
    assert (from_connector["source"], from_connector["source_offset"]) == ("feed-1", None)
    assert (from_worker["source"], from_worker["source_offset"]) == ("worker", 9)
