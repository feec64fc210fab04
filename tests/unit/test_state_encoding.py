"""The compact service state (issue 13, round 5): hashed id ring, lean records, ledger refs.

Records written by the previous code must still restore and still drop redelivered ids.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pipeline.config.settings import Settings
from pipeline.core.identity import ServiceRef
from pipeline.core.schema import Kind, Observation
from pipeline.monitoring import id_ring
from pipeline.monitoring.monitor import Monitoring, MonitorParams, ServiceMonitor
from pipeline.monitoring.status import Outcome, SilencePolicy, StatusTracker
from pipeline.worker.batch_send import BatchedChangelog
from pipeline.worker.faust_app import pipeline_app
from pipeline.worker.live_states import LiveStates, _decode_summary
from pipeline.worker.table_values import LEDGER_SERVICES_TABLE, service_ref

# A first sighting's record exactly as the previous code (git 1c69085) wrote it: 829 bytes.
OLD_RECORD = (
    b'{"state":{"service_id":"energy.size.0000000","operator_id":"energy-op0","sector":"energy",'
    b'"region":"UA-30","status":"up","since":1795990322.073,"last_evidence_at":1795990322.073,'
    b'"expected_interval":86400.0,"partition":0,"customers_served":null,'
    b'"customers_affected":null,"recent_event_ids":["size-s0"],"reason":"evidence",'
    b'"signals":{"probe|bench||bench-vantage-1":1795990322.073},"asserted_at":null,'
    b'"last_alive_at":1795990322.073,"pushes":false,"declared_interval":null,'
    b'"learned_interval":null,"delivery_lag":0.0},"incidents":{"service_id":'
    b'"energy.size.0000000","open":null,"maintenance_open":null,"asserting":{},"closed":[]},'
    b'"consensus":null,"single_probe":{"down":false,"run_ok":true,"run_length":1,'
    b'"run_started":1795990322.073,"run_ids":["size-s0"],"latest":1795990322.073},'
    b'"levels":{},"kpis":{},"vantages":["bench-vantage-1"]}'
)
KEY = "energy.size.0000000"


def _obs(event_id: str, at: float) -> Observation:
    return Observation(
        event_id=event_id, operator_id="energy-op0", service_id=KEY, sector="energy",
        region="UA-30", kind=Kind.PROBE, observed_at=at, source="bench",
        vantage="bench-vantage-1", attrs={"status": "up"},
    )  # fmt: skip


def test_ring_round_trips_and_keeps_the_newest() -> None:
    ring = b""
    for number in range(40):
        ring = id_ring.remember(ring, id_ring.digest(f"e{number}"), limit=32)
    assert id_ring.count(ring) == 32
    assert len(ring) == 256
    assert [id_ring.seen(ring, id_ring.digest(f"e{n}")) for n in (7, 8, 39, 40)] == [
        False, True, True, False,
    ]  # fmt: skip
    stored = id_ring.to_stored(ring)
    assert len(stored) == 344
    assert id_ring.from_stored(stored) == ring
    assert id_ring.from_stored([f"e{n}" for n in range(8, 40)]) == ring  # the old list form
    with pytest.raises(ValueError, match="recent_id_hashes"):
        id_ring.from_stored("qYijCxnRHe==")  # base64, but not whole 8-byte digests


def test_a_match_across_two_digests_is_not_a_duplicate() -> None:
    # Collisions are only ever judged digest against digest: a new id's digest equal to
    # the tail of one and the head of the next remembered digest does not count.
    first, second = id_ring.digest("a"), id_ring.digest("b")
    ring = first + second
    assert not id_ring.seen(ring, first[4:] + second[:4])
    assert id_ring.seen(ring, second)


def test_digests_of_many_ids_are_distinct() -> None:
    # 64 bits: a wrong "duplicate" needs one of a service's 32 remembered digests to equal
    # the new one (p ≈ 1.7e-18 per observation, see pipeline.monitoring.id_ring); here no two
    # of 200 000 ids of the usual shapes collide, truncation or a weak hash would show.
    ids = [f"ev-{n}" for n in range(100_000)] + [f"{n:032x}" for n in range(100_000)]
    assert len({id_ring.digest(event_id) for event_id in ids}) == len(ids)


def test_a_record_of_the_previous_code_restores_and_still_drops_its_redelivery() -> None:
    monitoring = Monitoring(MonitorParams())
    live = LiveStates({KEY: OLD_RECORD}, monitoring)
    monitor = live.get(KEY)
    assert monitor is not None
    assert monitor.state.recent_id_hashes == id_ring.digest("size-s0")
    tracker = StatusTracker(SilencePolicy())
    at = 1795990322.073
    _state, _change, outcome = tracker.observe(monitor.state, _obs("size-s0", at), partition=0)
    assert outcome is Outcome.DUPLICATE
    _state, _change, outcome = tracker.observe(monitor.state, _obs("size-s1", at + 60), partition=0)
    assert outcome is Outcome.APPLIED
    # Written back in the new form: smaller, and the same monitor when read again.
    new_record = orjson.dumps(monitor.to_dict())
    assert len(new_record) < len(OLD_RECORD) - 150
    again = ServiceMonitor.from_dict(orjson.loads(new_record), monitoring.params)
    assert again.to_dict() == monitor.to_dict()
    # The deadline rebuild reads both forms alike.
    old_summary, new_summary = _decode_summary(OLD_RECORD), _decode_summary(new_record)
    assert monitoring.stored_check_deadline(old_summary) == monitoring.stored_check_deadline(
        new_summary
    )
    assert old_summary["state"]["last_alive_at"] == new_summary["state"]["last_alive_at"]


def test_ledger_refs_are_written_as_before_and_restored_compact() -> None:
    app = pipeline_app(Settings(), session_timeout=10.0)
    table: Any = app.Table(LEDGER_SERVICES_TABLE, default=None, key_type=bytes, partitions=1)
    services = BatchedChangelog(table, orjson.dumps)
    ref = ServiceRef("grid.f12", "op", "energy", "UA-30", 1200)
    services[ref.service_id] = service_ref(ref.to_dict())
    [(_key, record)] = services.take_pending()
    assert record == orjson.dumps(ref.to_dict())  # the previous code's record, byte for byte
    store: Any = table.data
    # Restored (the bulk read from raw records, and faust's own replay of values its
    # serializer decoded): a ServiceRef, its dimensions shared.
    store._apply(0, [(b"a", orjson.dumps({**ref.to_dict(), "service_id": "a"}))])
    store.apply_changelog_batch(
        [_event(b"b", {**ref.to_dict(), "service_id": "b"})],
        table._to_key,
        table._to_value,
    )
    restored_a, restored_b = store.data[b"a"], store.data[b"b"]
    assert restored_a == ServiceRef("a", "op", "energy", "UA-30", 1200)
    assert isinstance(restored_b, ServiceRef)
    assert restored_a.region is restored_b.region
    # A value of another shape is kept as decoded rather than failing the restore.
    store._apply(0, [(b"odd", b'{"service_id": "odd"}')])
    assert store.data[b"odd"] == {"service_id": "odd"}


def _event(key: bytes, value: object) -> object:
    from types import SimpleNamespace

    message = SimpleNamespace(value=value, partition=0)
    return SimpleNamespace(key=key, value=value, message=message)


def test_recovered_services_are_decoded_as_the_export_reads_them() -> None:
    monitoring = Monitoring(MonitorParams())
    new_record = orjson.dumps(
        ServiceMonitor.from_dict(orjson.loads(OLD_RECORD), MonitorParams()).to_dict()
    )
    store = {KEY: OLD_RECORD, "other": new_record.replace(KEY.encode(), b"other")}
    live = LiveStates(store, monitoring)
    live.due(1795990322.073, owned={0})
    recovered = live.take_membership_changes().recovered
    assert len(recovered) == 2
    summaries = dict(recovered)
    assert sorted(summaries) == [KEY, "other"]
    for key, summary in recovered:
        assert summary["state"]["service_id"] is key  # shared with the deadlines, not a copy
    assert summaries[KEY]["state"]["sector"] is summaries["other"]["state"]["sector"]  # interned
    assert summaries[KEY]["state"]["status"] == "up"
