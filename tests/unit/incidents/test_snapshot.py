"""``Incident.snapshot``: the same incident as ``copy.deepcopy``, and independent of it."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.incidents import Incident, ServiceRef

REF = ServiceRef("svc", "op", "telecom", "UA-30", customers_served=5_000)


def full_incident() -> Incident:
    return Incident(
        incident_id="svc/60",
        service=REF,
        started_at=60.0,
        detected_at=120.0,
        acknowledged_at=130.0,
        ack_method="api",
        ack_by="noc",
        operator_status="investigating",
        restored_at=None,
        severity="down",
        customers_affected=12,
        users_affected=34,
        evidence_ids=["e-1", "e-2"],
        detectors=["consensus"],
        maintenance=False,
        reopened=1,
        attrs={
            "maintenance_window": {"service_id": "svc", "start": 1.0, "end": 2.0},
            "alert_ids": ["a", "b"],
            "not_before": 5.0,
            "evidence_gap": True,
        },
    )


def test_snapshot_equals_deepcopy_and_is_independent() -> None:
    inc = full_incident()
    snap = inc.snapshot()
    assert snap == copy.deepcopy(inc)
    assert snap is not inc
    before = copy.deepcopy(inc)
    # mutate every mutable part of the original, then every field
    inc.evidence_ids.append("e-3")
    inc.detectors.append("silence")
    inc.attrs["maintenance_window"]["end"] = 99.0
    inc.attrs["alert_ids"].append("c")
    inc.attrs["new"] = 1
    del inc.attrs["not_before"]
    inc.incident_id = "other"
    inc.service = ServiceRef("x", "y", "energy", "UA-46")
    inc.started_at = inc.detected_at = 0.0
    inc.acknowledged_at = inc.restored_at = 7.0
    inc.ack_method = inc.ack_by = inc.operator_status = "changed"
    inc.severity = "degraded"
    inc.customers_affected = inc.users_affected = 0
    inc.maintenance = True
    inc.reopened = 9
    assert snap == before
    assert snap != inc
    # ... and the other way round: mutating the snapshot leaves the original alone
    after = copy.deepcopy(inc)
    snap.evidence_ids.clear()
    snap.detectors.clear()
    snap.attrs.clear()
    assert inc == after


def test_snapshot_of_a_default_incident() -> None:
    inc = Incident("svc/1", REF, 1.0, 2.0)
    snap = inc.snapshot()
    assert snap == copy.deepcopy(inc)
    inc.evidence_ids.append("e")
    inc.detectors.append("d")
    inc.attrs["k"] = "v"
    assert snap.evidence_ids == []
    assert snap.detectors == []
    assert snap.attrs == {}


_JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_JSON: st.SearchStrategy[Any] = st.recursive(
    _JSON_LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_OPT_FLOAT = st.one_of(st.none(), st.floats(allow_nan=False))
_OPT_TEXT = st.one_of(st.none(), st.text(max_size=8))
_OPT_INT = st.one_of(st.none(), st.integers(min_value=0))


@settings(max_examples=200, deadline=None)
@given(
    incident=st.builds(
        Incident,
        incident_id=st.text(max_size=10),
        service=st.builds(
            ServiceRef,
            st.text(max_size=5),
            st.text(max_size=5),
            st.text(max_size=5),
            st.text(max_size=5),
            _OPT_INT,
        ),
        started_at=st.floats(allow_nan=False),
        detected_at=st.floats(allow_nan=False),
        acknowledged_at=_OPT_FLOAT,
        ack_method=_OPT_TEXT,
        ack_by=_OPT_TEXT,
        operator_status=_OPT_TEXT,
        restored_at=_OPT_FLOAT,
        severity=st.sampled_from(["down", "degraded"]),
        customers_affected=_OPT_INT,
        users_affected=_OPT_INT,
        evidence_ids=st.lists(st.text(max_size=6), max_size=5),
        detectors=st.lists(st.text(max_size=6), max_size=3),
        maintenance=st.booleans(),
        reopened=st.integers(min_value=0, max_value=5),
        attrs=st.dictionaries(st.text(max_size=6), _JSON, max_size=4),
    )
)
def test_snapshot_equals_deepcopy_over_varied_incidents(incident: Incident) -> None:
    reference = copy.deepcopy(incident)
    snap = incident.snapshot()
    assert snap == reference
    assert snap.to_dict() == reference.to_dict()
    # nested containers in attrs are copies too: mutating them in the original leaves the
    # snapshot as it was
    for value in incident.attrs.values():
        if isinstance(value, list):
            value.append("mutated")
        elif isinstance(value, dict):
            value["mutated"] = True
    incident.attrs["__added__"] = 1
    assert snap == reference
