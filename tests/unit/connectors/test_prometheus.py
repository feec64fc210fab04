from __future__ import annotations

import json

import pytest

from connectors.parsers.prometheus import (
    PrometheusOptions,
    parse_exposition,
    parse_prometheus_query,
    parse_prometheus_text,
)
from pipeline.core.schema import Kind, Status

from .conftest import context, fixture_bytes, service

WEB = service("telecom.web")
PROBES = (
    "blackbox_http_probe_success.prom",
    "blackbox_icmp_probe_success.prom",
    "blackbox_dns_probe_success.prom",
    "blackbox_tcp_tls_probe_success.prom",
)
NOW = 1_700_000_000.0


def _value(text: str, name: str) -> float:
    line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
    return float(line.split()[1])


@pytest.mark.parametrize("name", PROBES)
def test_blackbox_probe_success_with_duration_as_latency(name: str) -> None:
    raw = fixture_bytes(name)
    text = raw.decode()
    result = parse_prometheus_text(raw, context(NOW, WEB), PrometheusOptions(vantage="dc1"))
    assert result.rejections == []
    [probe] = [o for o in result.observations if o.kind is Kind.PROBE]
    expected = Status.UP if _value(text, "probe_success") == 1 else Status.DOWN
    assert probe.status is expected
    assert probe.value == _value(text, "probe_duration_seconds")
    assert (probe.vantage, probe.observed_at) == ("dc1", NOW)


def test_tls_expiry_and_chosen_gauges_become_kpis() -> None:
    raw = fixture_bytes("blackbox_tcp_tls_probe_success.prom")
    expiry = _value(raw.decode(), "probe_ssl_earliest_cert_expiry")
    result = parse_prometheus_text(
        raw, context(NOW, WEB), PrometheusOptions(gauges={"probe_ip_protocol": "version"})
    )
    kpis = {o.metric: o.value for o in result.observations if o.kind is Kind.KPI}
    assert kpis["tls_expiry"] == expiry - NOW
    assert kpis["probe_ip_protocol"] == _value(raw.decode(), "probe_ip_protocol")


def test_every_sample_line_of_the_real_files_parses() -> None:
    for name in PROBES:
        raw = fixture_bytes(name)
        samples = parse_exposition(raw, context(NOW))
        assert isinstance(samples, list)
        lines = [ln for ln in raw.decode().splitlines() if ln and not ln.startswith("#")]
        assert len(samples) == len(lines)


def test_query_api_up_vector_and_matrix_map_by_instance() -> None:
    node = service("telecom.node")
    vector = fixture_bytes("api_v1_query_up_vector.json")
    doc = json.loads(vector)["data"]["result"]
    result = parse_prometheus_query(
        vector, context(1_435_781_500.0, None, {"localhost:9100": node})
    )
    [probe] = result.observations
    expected = next(r for r in doc if r["metric"]["instance"] == "localhost:9100")
    assert probe.status is (Status.UP if expected["value"][1] == "1" else Status.DOWN)
    assert probe.observed_at == pytest.approx(expected["value"][0], abs=1e-3)
    matrix = fixture_bytes("api_v1_query_range_up_matrix.json")
    series = json.loads(matrix)["data"]["result"]
    flapping = next(s for s in series if s["metric"]["job"] == "node")
    result = parse_prometheus_query(
        matrix, context(1_435_781_500.0, None, {flapping["metric"]["instance"]: node})
    )
    assert [o.status.value if o.status else None for o in result.observations] == [
        "up" if v == "1" else "down" for _, v in flapping["values"]
    ]
    assert len({o.event_id for o in result.observations}) == len(flapping["values"])


def test_malformed_exposition_names_the_line() -> None:
    raw = b'# HELP up x\nup 1\nprobe_success{job="a" 1\n'
    result = parse_prometheus_text(raw, context(NOW, WEB))
    assert [(r.reason, r.field) for r in result.rejections] == [("unexpected_format", "line 3")]
    odd = parse_prometheus_text(b"probe_success 0.5\n", context(NOW, WEB))
    assert [(r.reason, r.field) for r in odd.rejections] == [("invalid_field", "probe_success")]


def test_labels_with_escapes_and_timestamps() -> None:
    raw = b'up{instance="a\\"b",job="x\\\\y"} 0 1699999999000\n'
    samples = parse_exposition(raw, context(NOW))
    assert isinstance(samples, list)
    [sample] = samples
    assert sample.labels == {"instance": 'a"b', "job": "x\\y"}
    assert sample.timestamp == 1_699_999_999.0
