from __future__ import annotations

import orjson
import pytest

from pipeline.core.schema import Kind, Status
from pipeline.core.validation import (
    ObservationRejected,
    ValidationLimits,
    parse_observation,
    parse_observation_dict,
)
from tests.support.observations import make_obs, wire

NOW = 1_700_000_000.0


def reject_reason(raw: bytes, limits: ValidationLimits | None = None) -> tuple[str, str | None]:
    with pytest.raises(ObservationRejected) as info:
        parse_observation(raw, now=NOW, limits=limits or ValidationLimits())
    return info.value.reason, info.value.field


def test_valid_observation_round_trips() -> None:
    obs = make_obs(
        status=Status.DOWN,
        vantage="vp-1",
        value=0.25,
        metric="latency",
        unit="s",
        customers_served=10,
        customers_affected=3,
        attrs={"k": "v"},
    )
    assert parse_observation(obs.to_json(), now=NOW) == obs


def test_fields_are_parsed_to_types() -> None:
    obs = parse_observation(wire(observed_at="2023-11-14T22:13:20+00:00"), now=NOW)
    assert obs.kind is Kind.PROBE
    assert obs.status is Status.UP
    assert obs.observed_at == NOW


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (b"{not json", "malformed_json", None),
        (b"[1, 2]", "not_an_object", None),
        (wire(schema=2), "unsupported_schema", "schema"),
        (wire(schema=None), "missing_field", "schema"),
        (wire(service_id=None), "missing_field", "service_id"),
        (wire(service_id=""), "invalid_field", "service_id"),
        (wire(sector="Mining!"), "invalid_field", "sector"),
        (wire(kind="guess"), "invalid_field", "kind"),
        (wire(status="fine"), "invalid_field", "status"),
        (wire(observed_at="yesterday"), "invalid_field", "observed_at"),
        (wire(observed_at="2023-11-14T22:13:20"), "invalid_field", "observed_at"),
        (wire(observed_at="2099-01-01T00:00:00Z"), "future_timestamp", "observed_at"),
        (wire(observed_at="1990-01-01T00:00:00Z"), "stale_timestamp", "observed_at"),
        (wire(value="12"), "invalid_field", "value"),
        (wire(value=True), "invalid_field", "value"),
        (b'{"schema":1,"value":NaN}', "malformed_json", None),
        (wire(customers_served=-1), "invalid_field", "customers_served"),
        (
            wire(customers_served=5, customers_affected=6),
            "inconsistent_customers",
            "customers_affected",
        ),
        (wire(status=None), "missing_field", "status"),
        (wire(attrs=[1]), "invalid_field", "attrs"),
        # Issue 17: beyond int64 InfluxDB refused the point and history stopped.
        (wire(customers_served=18446744073709551615), "invalid_field", "customers_served"),
        (wire(customers_affected=10**12), "invalid_field", "customers_affected"),
        (wire(attrs={"n": {"deep": [2**63]}}), "invalid_field", "attrs.n.deep[0]"),
        (wire(attrs={"users_affected": 10**12}), "invalid_field", "attrs.users_affected"),
    ],
)
def test_bad_input_is_rejected_with_reason_and_field(
    raw: bytes, reason: str, field: str | None
) -> None:
    assert reject_reason(raw) == (reason, field)


def test_oversize_payload_is_rejected_before_parsing() -> None:
    raw = wire(attrs={"blob": "x" * 200})
    assert reject_reason(raw, ValidationLimits(max_bytes=100)) == ("oversize", None)


def test_huge_attrs_are_rejected() -> None:
    assert reject_reason(wire(attrs={"blob": "x" * 9000})) == ("oversize", "attrs")


def test_infinite_value_is_rejected() -> None:
    # orjson refuses NaN/Infinity literals and overflowing numbers alike.
    raw = wire(value=1.0).replace(b'"value":1.0', b'"value":1e999')
    assert reject_reason(raw) == ("malformed_json", None)


def test_non_finite_value_from_a_decoded_dict_is_rejected() -> None:

    data = orjson.loads(wire())
    data["value"] = float("nan")
    with pytest.raises(ObservationRejected) as info:
        parse_observation_dict(data, now=NOW)
    assert (info.value.reason, info.value.field) == ("non_finite_value", "value")


def test_outage_report_may_carry_only_customer_counts() -> None:
    obs = parse_observation(
        wire(kind="outage_report", status=None, customers_served=100, customers_affected=0), now=NOW
    )
    assert obs.customers_affected == 0


def test_heartbeat_needs_no_status() -> None:
    assert parse_observation(wire(kind="heartbeat", status=None), now=NOW).status is None


def test_validation_without_clock_skips_time_bounds() -> None:
    raw = wire(observed_at="2099-01-01T00:00:00Z")
    assert parse_observation(raw, now=None).observed_at > NOW


def test_validating_the_wire_dict_gives_the_observation_back() -> None:
    obs = make_obs(kind=Kind.KPI, status=None, value=3.0, metric="cells_in_service")
    assert parse_observation_dict(obs.to_dict(), now=None) == obs
