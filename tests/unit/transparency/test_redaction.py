"""Redaction to salted commitments, the policy file, and disclosure checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.transparency.redaction import (
    DEFAULT_POLICY,
    Opening,
    PolicyError,
    RedactionPolicy,
    check_opening,
    redact,
)

POLICY = """
version: 1
kinds:
  incident_transition:
    sensitive: [incident.attrs.endpoint, incident.attrs.notes, incident.evidence_ids]
    below_threshold:
      threshold: 100
      fields: [incident.customers_affected, incident.service.customers_served]
"""


def _record(customers: int) -> dict[str, object]:
    return {
        "event": "detected",
        "incident": {
            "incident_id": "svc/1",
            "service": {"service_id": "svc", "customers_served": 5000},
            "customers_affected": customers,
            "evidence_ids": ["probe-7"],
            "attrs": {"endpoint": "https://fhir.hospital.example/metadata", "effect": "NO_SERVICE"},
        },
    }


@pytest.fixture
def policy(tmp_path: Path) -> RedactionPolicy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return RedactionPolicy.load(path)


def test_sensitive_fields_become_commitments_public_fields_stay(policy: RedactionPolicy) -> None:
    public, openings = redact(policy, "incident_transition", _record(12))
    inc = public["incident"]
    assert inc["attrs"]["effect"] == "NO_SERVICE"
    assert inc["service"]["customers_served"] == 5000  # above the threshold: public
    assert "fhir.hospital" not in repr(public)
    assert set(inc["attrs"]["endpoint"]) == {"$commitment"}
    assert [o.path for o in openings] == [
        "incident.attrs.endpoint",
        "incident.customers_affected",
        "incident.evidence_ids",
    ]
    for opening in openings:
        assert check_opening(public, opening) is None


def test_counts_at_or_above_threshold_are_public(policy: RedactionPolicy) -> None:
    public, openings = redact(policy, "incident_transition", _record(100))
    assert public["incident"]["customers_affected"] == 100
    assert "incident.customers_affected" not in [o.path for o in openings]


def test_salts_differ_so_equal_values_do_not_link(policy: RedactionPolicy) -> None:
    first, _ = redact(policy, "incident_transition", _record(12))
    second, _ = redact(policy, "incident_transition", _record(12))
    assert first["incident"]["attrs"]["endpoint"] != second["incident"]["attrs"]["endpoint"]


def test_wrong_disclosures_are_named(policy: RedactionPolicy) -> None:
    public, openings = redact(policy, "incident_transition", _record(12))
    endpoint = openings[0]
    lie = Opening(endpoint.path, endpoint.salt, "https://elsewhere.example/")
    assert check_opening(public, lie) == (
        "incident.attrs.endpoint: the disclosed salt and value do not match the commitment"
    )
    wrong_salt = Opening(endpoint.path, bytes(32), endpoint.value)
    assert check_opening(public, wrong_salt) is not None
    nowhere = Opening("incident.attrs.effect", endpoint.salt, "NO_SERVICE")
    assert "holds no commitment" in str(check_opening(public, nowhere))


def test_unlisted_kinds_are_published_whole(policy: RedactionPolicy) -> None:
    record = {"name": "availability", "value": 0.99}
    assert redact(policy, "indicator", record) == (record, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kinds: {}", "version: 1"),
        ("version: 1\nkinds: {x: {sensitive: notalist}}", "policy.kinds.x.sensitive"),
        ("version: 1\nkinds: {x: {hidden: [a]}}", "unknown key"),
        ("version: 1\nkinds: {x: {below_threshold: {fields: [a]}}}", "threshold must be a number"),
    ],
)
def test_bad_policies_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message):
        RedactionPolicy.load(path)


def test_the_shipped_policy_loads() -> None:
    policy = RedactionPolicy.load(DEFAULT_POLICY)
    assert "incident_transition" in policy.kinds
