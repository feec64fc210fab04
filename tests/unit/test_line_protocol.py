"""The worker's evidence lines are byte-for-byte influxdb-client's ``Point`` line protocol."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.schema import Kind, Observation, Status
from pipeline.sinks.influx import evidence_point
from pipeline.sinks.line_protocol import EvidenceLines, escape_tag_value, float_field
from tests.support.awkward_text import AWKWARD


def observation(
    text: str,
    *,
    status: Status | None = Status.UP,
    value: float | None = None,
    kind: Kind = Kind.PROBE,
    observed_at: float = 1_795_999_056.139,
    vantage: str | None = None,
) -> Observation:
    return Observation(
        event_id="e",
        operator_id=f"op{text}",
        service_id=text,
        sector=text,
        region=f"{text}r",
        kind=kind,
        observed_at=observed_at,
        source="test",
        vantage=text if vantage is None else vantage,
        status=status,
        value=value,
    )


def reference(obs: Observation) -> str | None:
    point = evidence_point(obs)
    return None if point is None else str(point.to_line_protocol())  # type: ignore[no-untyped-call]


def test_awkward_tags_statuses_and_values_match_the_client() -> None:
    lines = EvidenceLines()
    values: list[float | None] = [None, 0.0, -0.0, 1.0, 12.5, 0.1, 1e-7, 1e22, 123456789.0]
    values += [math.inf, -math.inf, math.nan, 3]  # an int value is written as a float
    statuses: list[Status | None] = [None, *Status]
    checked = 0
    for text in AWKWARD:
        for status in statuses:
            for value in values:
                for kind in (Kind.PROBE, Kind.KPI):
                    obs = observation(text, status=status, value=value, kind=kind)
                    # twice: the second time from the remembered tags
                    assert lines.line(obs) == reference(obs) == lines.line(obs), obs
                    checked += 1
    assert checked == len(AWKWARD) * len(statuses) * len(values) * 2


def test_points_the_client_drops_or_empties() -> None:
    lines = EvidenceLines()
    # no vantage: no point at all
    no_vantage = Observation(
        event_id="e", operator_id="o", service_id="s", sector="energy", region="UA",
        kind=Kind.HEARTBEAT, observed_at=1.0, source="t",
    )  # fmt: skip
    assert lines.line(no_vantage) is None
    assert evidence_point(no_vantage) is None
    # no field left (no status, a non-finite value): the client writes an empty line
    empty = observation("s", status=None, value=math.nan)
    assert lines.line(empty) == reference(empty) == ""
    # an empty tag value leaves the tag out, in the middle and at the end of the tags
    for obs in (observation("", vantage="v"), observation("s", vantage="")):
        assert lines.line(obs) == reference(obs)
        assert "=," not in str(lines.line(obs))
        assert "= " not in str(lines.line(obs))


def test_cached_tags_follow_each_observation() -> None:
    lines = EvidenceLines()
    for index in range(200):
        obs = observation(
            f"s{index % 7}", status=list(Status)[index % 5], value=index / 3,
            vantage=f"v {index % 3}", observed_at=1_700_000_000 + index * 0.001,
        )  # fmt: skip
        assert lines.line(obs) == reference(obs)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(min_size=0, max_size=12), min_size=5, max_size=5),
    status=st.sampled_from([None, *Status]),
    value=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    observed_at=st.floats(min_value=0.0, max_value=4_000_000_000.0),
)
def test_any_text_matches_the_client(
    texts: list[str], status: Status | None, value: float | None, observed_at: float
) -> None:
    operator, service, sector, region, vantage = texts
    obs = Observation(
        event_id="e", operator_id=operator, service_id=service, sector=sector, region=region,
        kind=Kind.PROBE, observed_at=observed_at, source="t", vantage=vantage, status=status,
        value=value,
    )  # fmt: skip
    assert EvidenceLines().line(obs) == reference(obs)


def test_helpers() -> None:
    assert escape_tag_value("a\\") == "a\\ "
    assert escape_tag_value("a=b c,d") == "a\\=b\\ c\\,d"
    assert float_field(-0.0) == "-0"
    assert float_field(2.5) == "2.5"
    assert float_field(-math.inf) is None
