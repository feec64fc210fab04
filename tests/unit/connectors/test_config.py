from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import ConfigInvalidError, load_config, validate_config
from connectors.parsers.outage import OutageOptions

DEMO = Path(__file__).resolve().parents[3] / "connectors" / "examples" / "demo.yaml"
TOKEN = "a" * 64

GOOD = f"""\
version: 1
operators:
  - id: grid-north
    token_sha256: {TOKEN}
    services:
      - id: grid.north.f12
        sector: energy
        region: UA-30
        expected_interval_s: 300
        customers_served: 1200
    feeds:
      - id: outages
        type: outage
        url: https://grid.example/outages.json
        service: grid.north.f12
  - id: mobile
    token_sha256: {TOKEN}
    services:
      - id: mobile.kyiv
        sector: telecom
        region: UA-30
        expected_interval_s: 60
    feeds: []
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deploy.yaml"
    path.write_text(text)
    return path


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_demo_config_is_valid_and_wires_one_operator_per_sector() -> None:
    assert validate_config(DEMO) == []
    config = load_config(DEMO)
    sectors = [{s.sector for s in op.services} for op in config.operators]
    assert all(len(s) == 1 for s in sectors)
    assert {next(iter(s)) for s in sectors} == {"energy", "health", "telecom", "transport"}
    for feed in config.feeds:
        assert feed.path is not None
        assert feed.path.is_file(), feed.path


def test_good_config_loads_typed_values(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    [feed] = config.feeds
    assert (feed.feed_id, feed.operator_id, feed.service, feed.url) == (
        "outages",
        "grid-north",
        "grid.north.f12",
        "https://grid.example/outages.json",
    )
    assert feed.options == OutageOptions()
    assert config.services["grid.north.f12"].customers_served == 1200


@pytest.mark.parametrize(
    ("old", "new", "field", "needle", "message"),
    [
        (
            "sector: energy",
            "sector: enrgy",
            "operators[0].services[0].sector",
            "enrgy",
            "not one of",
        ),
        (
            "region: UA-30\n    ",
            "region: Ukraine\n    ",
            "operators[0].services[0].region",
            "Ukraine",
            "does not match",
        ),
        (
            "expected_interval_s: 300",
            "expected_interval_s: -5",
            "operators[0].services[0].expected_interval_s",
            "-5",
            "greater than 0",
        ),
        (
            "customers_served: 1200",
            "customers_served: lots",
            "operators[0].services[0].customers_served",
            "lots",
            "whole number",
        ),
        (
            "type: outage",
            "type: carrier_pigeon",
            "operators[0].feeds[0].type",
            "pigeon",
            "not one of",
        ),
        (
            "url: https://grid.example/outages.json",
            "url: ftp://grid.example/o",
            "operators[0].feeds[0].url",
            "ftp://",
            "http",
        ),
        (
            "service: grid.north.f12",
            "service: mobile.kyiv",
            "operators[0].feeds[0].service",
            "service: mobile.kyiv",
            "is declared at operators[1].services[0] under operator 'mobile'",
        ),
        (
            "service: grid.north.f12",
            "service: ghost",
            "operators[0].feeds[0].service",
            "ghost",
            "unknown service",
        ),
        (
            f"token_sha256: {TOKEN}\n    services:\n      - id: grid",
            "token_sha256: hunter2\n    services:\n      - id: grid",
            "operators[0].token_sha256",
            "hunter2",
            "sha256",
        ),
        (
            "        service: grid.north.f12\n",
            "        service: grid.north.f12\n        intervl: 5\n",
            "operators[0].feeds[0].intervl",
            "intervl",
            "unknown key",
        ),
        (
            "        service: grid.north.f12\n",
            "        service: grid.north.f12\n        options: {format: aes_xml}\n",
            "operators[0].feeds[0].options.timezone",
            "options:",
            "IANA zone",
        ),
        (
            "        service: grid.north.f12\n",
            "        service: grid.north.f12\n        options: {down_ratio: 2}\n",
            "operators[0].feeds[0].options.down_ratio",
            "options:",
            "(0, 1]",
        ),
        (
            "  - id: mobile",
            "  - id: grid-north",
            "operators[1].id",
            "- id: grid-north\n",
            "declared twice",
        ),
    ],
)
def test_each_error_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, needle: str, message: str
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = _write(tmp_path, text)
    errors = validate_config(path)
    matching = [e for e in errors if e.field == field]
    assert matching, [str(e) for e in errors]
    error = matching[0]
    assert message in error.message
    assert error.file == str(path)
    # Find the line where the offending text sits (last occurrence for duplicated ids).
    lines = [i for i, ln in enumerate(text.splitlines(), 1) if needle.strip("\n") in ln]
    assert error.line in lines
    assert str(error).startswith(f"{path}:{error.line}:{error.column}: {field}: ")


def test_duplicate_keys_and_bad_yaml_are_located(tmp_path: Path) -> None:
    text = GOOD.replace(
        "        sector: energy\n", "        sector: energy\n        sector: health\n"
    )
    [error] = validate_config(_write(tmp_path, text))
    assert (error.field, error.message, error.line) == (
        "operators[0].services[0].sector",
        "duplicate key",
        _line_of(text, "sector: health"),
    )
    broken = GOOD.replace("sector: energy", "sector: [energy")
    [syntax] = validate_config(_write(tmp_path, broken))
    assert syntax.field == "(yaml)"
    assert syntax.line >= _line_of(broken, "[energy")


def test_missing_pieces_are_reported_together(tmp_path: Path) -> None:
    text = "version: 2\noperators:\n  - id: x\n    services:\n      - id: s\n"
    errors = {(e.field, e.message) for e in validate_config(_write(tmp_path, text))}
    assert ("version", "only version 1 is supported") in errors
    assert (
        "operators[0].token_sha256",
        "is required for an operator without feeds (it can only push observations)",
    ) in errors
    assert ("operators[0].services[0].sector", "is required") in errors
    with pytest.raises(ConfigInvalidError) as raised:
        load_config(_write(tmp_path, text))
    assert len(raised.value.errors) == len(errors)


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    [missing] = validate_config(tmp_path / "nope.yaml")
    assert missing.field == "(file)"
    [empty] = validate_config(_write(tmp_path, ""))
    assert empty.message == "file is empty"


def test_feed_needs_exactly_one_source_and_some_service(tmp_path: Path) -> None:
    text = GOOD.replace("        url: https://grid.example/outages.json\n", "").replace(
        "        service: grid.north.f12\n", ""
    )
    fields = {e.field for e in validate_config(_write(tmp_path, text))}
    assert {"operators[0].feeds[0].url", "operators[0].feeds[0].service"} <= fields


def test_digit_only_tokens_and_map_keys_keep_their_text(tmp_path: Path) -> None:
    text = GOOD.replace(TOKEN, "0" * 64, 1).replace(
        "        service: grid.north.f12\n",
        "        service: grid.north.f12\n        map: {0011: grid.north.f12}\n",
    )
    config = load_config(_write(tmp_path, text))
    assert config.operators[0].token_sha256 == "0" * 64
    assert dict(config.feeds[0].mapping) == {"0011": "grid.north.f12"}


def test_subscription_feeds_need_a_broker_url_and_topic_map(tmp_path: Path) -> None:
    mqtt = GOOD.replace("type: outage", "type: mqtt_heartbeat").replace(
        "url: https://grid.example/outages.json", "url: https://broker.example"
    )
    errors = {(e.field, e.message) for e in validate_config(_write(tmp_path, mqtt))}
    assert ("operators[0].feeds[0].url", "must be an mqtt:// or mqtts:// URL") in errors
    assert ("operators[0].feeds[0].map", "a mqtt_heartbeat feed maps each topic to a service") in (
        errors
    )
    fixed = mqtt.replace("url: https://broker.example", "url: mqtt://127.0.0.1:1883").replace(
        "        service: grid.north.f12\n", "        map: {sites/f12/heartbeat: grid.north.f12}\n"
    )
    assert validate_config(_write(tmp_path, fixed)) == []


VALIDATE = """\
version: 1
operators:
  - id: op-a
    services:
      - {id: svc.a, sector: energy, expected_interval_s: 60}
      - {id: svc.a, sector: energy, region: UA-30, expected_interval_s: 60}
    feeds:
      - {id: poll, type: feeder_status, path: gone.csv, service: svc.b}
  - id: op-b
    services:
      - {id: svc.b, sector: energy, region: UA-30, expected_interval_s: 60}
    feeds:
      - {id: poll-b, type: feeder_status, path: here.csv, service: svc.b}
"""


def test_validate_reports_everything_in_one_pass(tmp_path: Path) -> None:
    (tmp_path / "here.csv").write_text("feeder,status\n")
    path = _write(tmp_path, VALIDATE)
    errors = {(e.field, e.message) for e in validate_config(path)}
    assert errors == {
        # The first declaration lacks a region: still, the duplicate is reported now.
        ("operators[0].services[0].region", "is required"),
        (
            "operators[0].services[1].id",
            "service 'svc.a' declared twice (first at operators[0].services[0], operator 'op-a')",
        ),
        (
            "operators[0].feeds[0].path",
            f"no such file: {tmp_path / 'gone.csv'} "
            "(a path is relative to the config file's directory)",
        ),
        (
            "operators[0].feeds[0].service",
            "service 'svc.b' is declared at operators[1].services[0] under operator 'op-b'; "
            "a feed of operator 'op-a' may only report on that operator's services",
        ),
    }  # and no token_sha256 is asked of operators that only poll feeds


def test_a_missing_config_file_is_said_in_words(tmp_path: Path) -> None:
    [error] = validate_config(tmp_path / "nope.yaml")
    assert str(error) == (
        f"{tmp_path / 'nope.yaml'}: no such file; check the path "
        "(continuity connectors validate PATH)"
    )
