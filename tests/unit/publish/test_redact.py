"""Verifier scrubbing: hostnames, IPs, URLs and credentials never survive; ids do."""

from __future__ import annotations

import pytest

from pipeline.publish.redact import scrub, scrub_tree

KEY = b"test-key"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET https://fhir.hospital.example.org/metadata failed", "fhir.hospital.example.org"),
        ("probe from 10.20.30.40:443 timed out", "10.20.30.40"),
        ("neighbour fe80::1ff:fe23:4567:890a down", "fe80::1ff:fe23:4567:890a"),
        ("scada-01.plant.internal unreachable", "scada-01.plant.internal"),
        ("login admin:hunter2@gw.lan", "hunter2"),
        ("api_key=AKIA1234SECRET", "AKIA1234SECRET"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi"),
        ("redis://:pw@cache:6379/0", "pw@cache"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost:8080 refused", "localhost"),
    ],
)
def test_sensitive_values_are_replaced(text: str, secret: str) -> None:
    out = scrub(text, KEY)
    assert secret not in out
    assert "[" in out


@pytest.mark.parametrize(
    "text",
    [
        "grid.ua-30.feeder-12",
        "hospital.ee-78.fhir",
        "mob.ua-30.core-1",
        "up",
        "silence",
        "12:30:45",
    ],
)
def test_service_ids_and_plain_words_are_kept(text: str) -> None:
    assert scrub(text, KEY) == text


def test_pseudonyms_are_stable_per_key_and_differ_between_keys() -> None:
    a = scrub("host 10.0.0.1", KEY)
    assert a == scrub("host 10.0.0.1", KEY)
    assert a != scrub("host 10.0.0.2", KEY)
    assert a != scrub("host 10.0.0.1", b"other-key")


def test_scrub_tree_walks_nested_values_and_keeps_numbers() -> None:
    tree = {"a": ["http://x.example.com/", {"b": "10.1.2.3"}], "n": 3, "none": None}
    out = scrub_tree(tree, KEY)
    assert "example.com" not in str(out)
    assert "10.1.2.3" not in str(out)
    assert out["n"] == 3
    assert out["none"] is None
