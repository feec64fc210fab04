"""Subscriptions config: defaults, located errors, secrets never inline and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.main import main
from pipeline.notices.channels.email.config import EmailConfig
from pipeline.notices.channels.mqtt.config import MqttConfig
from pipeline.notices.channels.webhook.config import WebhookConfig
from pipeline.notices.secrets import SecretRef
from pipeline.notices.subscriptions import (
    NOTICE_KINDS,
    Scope,
    load_subscriptions,
    parse_subscriptions,
    region_within,
)
from pipeline.notices.yamlnodes import ConfigInvalidError

EXAMPLE = Path(__file__).parents[3] / "deploy" / "notices" / "subscriptions.example.yaml"

MINIMAL = """\
version: 1
subscribers:
  - id: cert
    channels:
      - {type: webhook, url: "http://127.0.0.1:9/h", secret: {env: HOOK_KEY}}
"""


def errors_of(text: str) -> list[str]:
    subs, errors = parse_subscriptions(text, "subs.yaml")
    assert (subs is None) == bool(errors)
    return [str(e) for e in errors]


def test_the_shipped_example_is_valid() -> None:
    subs = load_subscriptions(EXAMPLE)
    assert [s.subscriber_id for s in subs.subscribers] == [
        "cert-ua",
        "public-warning",
        "regulator-bus",
    ]
    cert = subs.subscribers[0]
    assert cert.scope.regions == ("UA",)
    email = cert.channel("email")
    assert isinstance(email, EmailConfig)
    assert email.security == "starttls"
    assert email.password == SecretRef("file", str(EXAMPLE.parent / "secrets/smtp-password"))
    mqtt = subs.subscribers[1].channel("mqtt")
    assert isinstance(mqtt, MqttConfig)
    assert (mqtt.host, mqtt.port, mqtt.qos) == ("127.0.0.1", 1883, 1)


def test_defaults_fill_every_part() -> None:
    subs, errors = parse_subscriptions(MINIMAL, "subs.yaml")
    assert not errors
    assert subs is not None
    sub = subs.subscribers[0]
    assert sub.kinds == NOTICE_KINDS
    assert sub.min_severity == "degraded"
    assert not sub.include_maintenance
    assert sub.timing.group_wait_s + 0.5 <= 1.0  # leaves room for the first notice within ~1 s
    hook = sub.channels[0]
    assert isinstance(hook, WebhookConfig)
    assert hook.delivery.name == "webhook"
    assert hook.delivery.max_attempts == 5


def test_defaults_section_applies_to_every_subscriber_unless_overridden() -> None:
    text = MINIMAL.replace("version: 1\n", "version: 1\ndefaults: {group_wait_s: 0.2}\n")
    text += "    group_wait_s: 0.1\n  - id: other\n    channels: [{type: atom}]\n"
    subs, errors = parse_subscriptions(text, "subs.yaml")
    assert not errors, errors
    assert subs is not None
    assert [s.timing.group_wait_s for s in subs.subscribers] == [0.1, 0.2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL.replace("{env: HOOK_KEY}", "hunter2"), "subs.yaml:5:62: subscribers[0]"
         ".channels[0].secret: write {env: VAR_NAME} or {file: path}"),
        (MINIMAL + "    min_severity: sever\n", "subs.yaml:6:19: subscribers[0].min_severity: "
         "'sever' is not one of: degraded, down"),
        (MINIMAL + "    scope: {regions: [ua-30]}\n", "subs.yaml:6:23: subscribers[0].scope"
         ".regions[0]: 'ua-30' is not valid"),
        (MINIMAL + "    kinds: [opened]\n", "subs.yaml:6:13: subscribers[0].kinds[0]: 'opened'"),
        (MINIMAL.replace("type: webhook", "type: pager"), "subs.yaml:5:16: subscribers[0]"
         ".channels[0].type: 'pager' is not one of: webhook, email, mqtt, atom, kafka"),
        (MINIMAL + "    colour: red\n", "subs.yaml:6:5: subscribers[0].colour: unknown key"),
        (MINIMAL + "    kinds: [incident_restored]\n", "subs.yaml:6:12: subscribers[0].kinds: "
         "incident_restored follow an opening this subscriber was told of"),
        (MINIMAL + "  - id: cert\n    channels: [{type: atom}]\n",
         "subs.yaml:6:5: subscribers[1].id: subscriber 'cert' declared twice"),
        ("version: 2\nsubscribers: []\n", "subs.yaml:1:10: version: only version 1"),
        ("version: 1\nsubscribers: [\n", "subs.yaml:3:1: (yaml):"),
    ],
)  # fmt: skip
def test_errors_name_file_line_column_and_field(text: str, expected: str) -> None:
    found = errors_of(text)
    assert any(e.startswith(expected) for e in found), found


def test_every_problem_is_reported_in_one_run() -> None:
    text = MINIMAL + "    min_severity: sever\n    group_wait_s: -1\n    kinds: [nope]\n"
    assert len(errors_of(text)) == 3


def test_secrets_resolve_from_env_or_file_and_never_show(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("file-secret\n")
    env_ref, file_ref = SecretRef("env", "HOOK_KEY"), SecretRef("file", str(tmp_path / "key"))
    assert env_ref.resolve({"HOOK_KEY": "env-secret"}) == "env-secret"
    assert file_ref.resolve({}) == "file-secret"
    assert "file-secret" not in repr(file_ref)
    text = MINIMAL.replace("{env: HOOK_KEY}", "{file: key}")
    config = tmp_path / "subs.yaml"
    config.write_text(text)
    subs = load_subscriptions(config)
    assert subs.missing_secrets({}) == []
    missing = parse_subscriptions(MINIMAL, "s.yaml")[0]
    assert missing is not None
    assert missing.missing_secrets({}) == [
        "cert.webhook.secret: environment variable HOOK_KEY is not set"
    ]


def test_load_raises_with_every_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsubscribers: [{id: x}]\n")
    with pytest.raises(ConfigInvalidError, match=r"bad.yaml:2:15: subscribers\[0\].channels"):
        load_subscriptions(bad)


def test_region_prefix_covers_subdivisions_only_at_a_boundary() -> None:
    assert region_within("UA-30", "UA")
    assert region_within("UA", "UA")
    assert not region_within("UAX", "UA")
    assert not region_within("US-OH", "UA")
    scope = Scope(sectors=("energy",), operators=("op1",))
    assert scope.matches("energy", "PL", "op1", "s")
    assert not scope.matches("health", "PL", "op1", "s")
    assert not scope.matches("energy", "PL", "op2", "s")


def test_cli_validate_reports_located_errors_and_hides_secrets(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    runner = CliRunner()
    ok = runner.invoke(main, ["alerts", "validate", str(good)], env={"HOOK_KEY": "topsecret"})
    assert ok.exit_code == 0, ok.output
    assert "cert: webhook (webhook)" in ok.output
    assert "topsecret" not in ok.output
    unset = runner.invoke(main, ["alerts", "validate", str(good)], env={"HOOK_KEY": ""})
    assert unset.exit_code == 0
    assert "environment variable HOOK_KEY is not set" in unset.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL + "    min_severity: sever\n")
    failed = runner.invoke(main, ["alerts", "validate", str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}:6:19: subscribers[0].min_severity" in failed.output
