"""The form a table's values are kept in memory, however they arrived (written or restored).

faust decodes a JSON changelog value into a ``dict``; the ledger keeps one service
reference per service, so at a million services those dicts (≈ 0.7 KB each with their five
separate value strings) were the largest part of a restored worker's memory after the
service states themselves (docs/benchmarks.md, "Round 5: state per service"). The ledger
keeps them as :class:`~pipeline.core.identity.ServiceRef` instead (a slotted object, its
operator, sector and region strings interned: shared by every service that has them), and
:class:`~pipeline.worker.bulk_store.BulkLoadStore` converts restored values with
:data:`RESTORED_FORMS`. The changelog record is unchanged: ``orjson`` writes a
``ServiceRef`` exactly as its ``to_dict()``.

>>> ref = service_ref({"service_id": "s", "operator_id": "op", "sector": "energy",
...                    "region": "UA", "customers_served": 5})
>>> ref.operator_id, ref.customers_served, service_ref(ref) is ref
('op', 5, True)
>>> import orjson
>>> orjson.dumps(ref) == orjson.dumps(ref.to_dict())
True
"""

from __future__ import annotations

from collections.abc import Callable
from sys import intern
from typing import Any

from pipeline.core.identity import ServiceRef

#: The ledger's table of service references (its name in the worker app).
LEDGER_SERVICES_TABLE = "ledger-services"


def service_ref(value: Any) -> ServiceRef:
    """A ledger service reference in its in-memory form, from a ``ServiceRef`` or the
    ``to_dict()`` form a changelog record decodes to."""
    if isinstance(value, ServiceRef):
        return value
    return compact_ref(ServiceRef.from_dict(value))


def compact_ref(ref: ServiceRef) -> ServiceRef:
    """``ref`` with its dimension strings interned (one copy per distinct value)."""
    return ServiceRef(
        ref.service_id,
        intern(ref.operator_id),
        intern(ref.sector),
        intern(ref.region),
        ref.customers_served,
    )


#: Table name → the function giving a restored (decoded) value its in-memory form.
#: Tables not listed keep what faust's serializer decoded.
RESTORED_FORMS: dict[str, Callable[[Any], Any]] = {LEDGER_SERVICES_TABLE: service_ref}
