"""Credentials: operator tokens from the connectors config, verifier tokens from ours."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from connectors.config import load_config
from pipeline.publish.audience import PUBLIC, Audience, Credentials, Unauthenticated, Viewer
from pipeline.publish.config import (
    PublishConfigError,
    VerifierCredential,
    load_publish_config,
    parse_publish_config,
)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def write_deployment(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.yaml"
    path.write_text(
        f"""version: 1
operators:
  - id: op-a
    token_sha256: "{digest("token-a")}"
    services:
      - {{id: grid.a1, sector: energy, region: UA-30, expected_interval_s: 60}}
  - id: op-b
    token_sha256: "{digest("token-b")}"
    services:
      - {{id: grid.b1, sector: energy, region: UA-30, expected_interval_s: 60}}
""",
        encoding="utf-8",
    )
    return path


def test_operator_tokens_come_from_the_ingest_config(tmp_path: Path) -> None:
    creds = Credentials.from_configs(
        load_config(write_deployment(tmp_path)), [VerifierCredential("osce", digest("v"))]
    )
    assert creds.identify("Bearer token-a") == Viewer(Audience.OPERATOR, "op-a")
    assert creds.identify("bearer  token-b ") == Viewer(Audience.OPERATOR, "op-b")
    assert creds.identify("Bearer v") == Viewer(Audience.VERIFIER, "osce")
    assert creds.identify(None) == PUBLIC
    assert creds.identify("") == PUBLIC


@pytest.mark.parametrize(
    "header", ["Bearer wrong", "Basic dG9rZW4tYQ==", "token-a", "Bearer ", digest("token-a")]
)
def test_bad_credentials_are_refused_not_downgraded(tmp_path: Path, header: str) -> None:
    creds = Credentials.from_configs(load_config(write_deployment(tmp_path)), [])
    with pytest.raises(Unauthenticated):
        creds.identify(header)


def test_a_token_cannot_be_both_operator_and_verifier() -> None:
    with pytest.raises(ValueError, match="both"):
        Credentials({digest("x"): "op"}, {digest("x"): "v"})


def test_publish_config_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "publish.yaml"
    path.write_text(
        f"""version: 1
verifiers:
  - id: osce
    token_sha256: "{digest("v")}"
public: {{min_group_services: 4, min_group_operators: 3, delay_s: 900}}
links: {{notices_feed: "https://example.org/notices.atom"}}
""",
        encoding="utf-8",
    )
    cfg = load_publish_config(path)
    assert cfg.verifiers == (VerifierCredential("osce", digest("v")),)
    assert (cfg.policy.min_group_services, cfg.policy.min_group_operators) == (4, 3)
    assert cfg.policy.delay_s == 900.0
    assert cfg.notices_feed == "https://example.org/notices.atom"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"version": 2}, "version"),
        ({"version": 1, "verifiers": [{"id": "v", "token_sha256": "abc"}]}, "token_sha256"),
        ({"version": 1, "verifiers": [{"id": "v", "token": "plain"}]}, "verifiers[0].token"),
        ({"version": 1, "public": {"min_group_services": 0}}, "public.min_group_services"),
        ({"version": 1, "public": {"delay_s": -5}}, "public.delay_s"),
        ({"version": 1, "links": {"notices_feed": "ftp://x"}}, "links.notices_feed"),
        ({"version": 1, "extra": 1}, "(top).extra"),
    ],
)
def test_publish_config_errors_name_the_field(data: object, field: str) -> None:
    with pytest.raises(PublishConfigError, match=re.escape(field)):
        parse_publish_config(data)
