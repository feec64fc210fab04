"""Messages a newcomer meets first: each says what is wrong, in their terms, and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.base import FeedContext, OptionsError, ServiceSpec
from connectors.cli import connectors_group
from connectors.parsers.gtfs_rt import parse_gtfs_rt
from connectors.parsers.http_probe import HttpProbeOptions
from connectors.parsers.outage import OutageOptions, parse_outage
from connectors.registry import build_options
from pipeline.cli.main import main
from pipeline.core.timeutil import format_rfc3339
from pipeline.core.validation import ObservationRejected, parse_observation
from tests.support.observations import wire

NOW = 1_700_000_000.0
SERVICE = ServiceSpec("op", "svc", "transport", "US-MA", 60.0)
CTX = FeedContext(source="feed", now=NOW, default_service=SERVICE)


def test_a_config_that_does_not_exist(tmp_path: Path) -> None:
    result = CliRunner().invoke(connectors_group, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert result.stderr == f"{tmp_path / 'nope.yaml'}: no such file; check the path " + (
        "(continuity connectors validate PATH)\n"
    )


def test_stale_evidence_says_how_old_in_days_and_hints_at_now() -> None:
    old = format_rfc3339(NOW - 400 * 86400)
    with pytest.raises(ObservationRejected) as caught:
        parse_observation(wire(observed_at=old), now=NOW)
    assert caught.value.detail == (
        f"{old} is 400 days old; evidence older than 366 days is refused (replaying an old "
        "sample through the connectors? give its time with --now)"
    )


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b'{"header": {"gtfs_realtime_version": "2.0"}, "entity": []}', "JSON"),
        (b'header {\n  gtfs_realtime_version: "2.0"\n}\n', "protobuf text format"),
    ],
)
def test_gtfs_rt_in_another_format_says_which(raw: bytes, found: str) -> None:
    [rejection] = parse_gtfs_rt(raw, CTX).rejections
    assert rejection.reason == "malformed_protobuf"
    assert rejection.detail.startswith(f"this is {found}, not a binary GTFS-RT FeedMessage")


def test_an_unexpected_xml_root_is_named_whole() -> None:
    cap = b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><status>Actual</status></alert>'
    options = OutageOptions(format="aes_xml", timezone="America/New_York")
    [rejection] = parse_outage(cap, CTX, options).rejections
    assert rejection.detail == (
        "the root element is <alert> (namespace urn:oasis:names:tc:emergency:cap:1.2), not "
        "<Incidents>: format aes_xml expects AES Ohio's outage XML"
    )


@pytest.mark.parametrize(
    ("written", "read"),
    [(200, "200"), ([200, 204], "200,204"), ([200, "301-302"], "200,301-302"), ("2xx", None)],
)
def test_expect_status_accepts_numbers_and_lists(written: object, read: str | None) -> None:
    if read is not None:
        options = build_options(HttpProbeOptions, {"expect_status": written})
        assert options.expect_status == read
        return
    with pytest.raises(OptionsError) as caught:
        build_options(HttpProbeOptions, {"expect_status": written})
    assert '200, "200-399" or [200, 204, "301-302"]' in caught.value.message


def test_expect_status_of_another_shape_shows_the_accepted_forms() -> None:
    with pytest.raises(OptionsError) as caught:
        build_options(HttpProbeOptions, {"expect_status": {"ok": 200}})
    assert caught.value.message == (
        '{\'ok\': 200} is not accepted; write it as 200, "200-399" or [200, 204, "301-302"]'
    )


def test_scenarios_into_a_missing_directory_is_a_usage_error_not_a_traceback() -> None:
    result = CliRunner().invoke(main, ["scenarios", "--out", "/nonexistent/dir/x.jsonl"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "directory /nonexistent/dir does not exist; create it or choose another" in (
        result.output
    )


ONE_FEEDER = """\
version: 1
operators:
  - id: grid
    services:
      - {id: grid.f12, sector: energy, region: UA-30, expected_interval_s: 60}
    feeds:
      - {id: scada, type: feeder_status, path: feeders.csv, service: grid.f12}
"""


def test_one_observation_is_one_observation(tmp_path: Path) -> None:
    (tmp_path / "feeders.csv").write_text("observed_at,feeder_id,state\n1700000000,f12,energized\n")
    (tmp_path / "deploy.yaml").write_text(ONE_FEEDER)
    now = format_rfc3339(NOW)
    args = ["run", str(tmp_path / "deploy.yaml"), "--dry-run", "--now", now]
    result = CliRunner().invoke(connectors_group, args)
    assert result.exit_code == 0, result.output
    assert "scada: 1 observation, 0 rejected" in result.stderr
