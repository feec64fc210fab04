"""HL7 FHIR → health evidence: ``GET [base]/metadata`` probes and Endpoint ``status``.

``parse_fhir_metadata`` turns one probe (response bytes plus :class:`FetchInfo`) into a
``probe``: *up* with the latency when the server answers 2xx with a CapabilityStatement (R4,
STU3) or Conformance (DSTU2); *down* otherwise, with the cause in ``attrs.error``.  A broken
``/metadata`` answer is evidence that the endpoint is down, not a dead-letter record.

``parse_fhir_endpoints`` reads an Endpoint resource or a Bundle of them: each Endpoint mapped
by ``id`` or ``address`` gets a ``status_report``; the default service gets a ``kpi``
``endpoints_active`` (the level signal for a directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from connectors.base import FeedContext, ParseResult, Rejection, ServiceSpec
from connectors.parsers._common import as_time, load_json, rejected, snippet, too_big
from pipeline.core.schema import Kind, Status

CAPABILITY_TYPES = frozenset({"CapabilityStatement", "Conformance"})

#: FHIR Endpoint.status (CodeSystem endpoint-status) → service status; None = not evidence.
ENDPOINT_STATUS: dict[str, Status | None] = {
    "active": Status.UP,
    "suspended": Status.DOWN,  # "temporarily unavailable"
    "error": Status.DOWN,
    "off": Status.DOWN,
    "entered-in-error": None,  # the record itself is void
    "test": None,  # not a production endpoint
}


@dataclass(frozen=True, slots=True)
class FhirMetadataOptions:
    vantage: str | None = None


@dataclass(frozen=True, slots=True)
class FhirEndpointOptions:
    """Endpoint directories have no options today."""


def parse_fhir_metadata(
    raw: bytes, ctx: FeedContext, options: FhirMetadataOptions | None = None
) -> ParseResult:
    """One ``/metadata`` probe → one probe observation for the default service."""
    opts = options or FhirMetadataOptions()
    service = ctx.default_service
    if service is None:
        return rejected(ctx.reject("unknown_service", "service", "feed has no service", raw))
    fetch = ctx.fetch
    attrs: dict[str, Any] = {}
    error = _metadata_error(raw, ctx, attrs)
    if fetch is not None:
        if fetch.url:
            attrs["url"] = fetch.url
        if fetch.http_status is not None:
            attrs["http_status"] = fetch.http_status
        if fetch.http_status is not None and not 200 <= fetch.http_status < 300:
            error = f"HTTP {fetch.http_status}"
        elif fetch.error:
            error = f"fetch: {fetch.error}"
    if error:
        attrs["error"] = error[:200]
    latency = fetch.latency_s if fetch is not None and not error else None
    result = ParseResult()
    result.add(
        ctx.observe(
            service,
            kind=Kind.PROBE,
            observed_at=ctx.now,
            status=Status.DOWN if error else Status.UP,
            vantage=opts.vantage,
            metric="latency" if latency is not None else None,
            value=latency,
            unit="s" if latency is not None else None,
            attrs=attrs,
            original=raw if error else b"",
        )
    )
    return result


def _metadata_error(raw: bytes, ctx: FeedContext, attrs: dict[str, Any]) -> str | None:
    if too_big(raw, ctx) is not None:
        return "response too large"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "response is not JSON"
    if not isinstance(data, dict):
        return "response is not a JSON object"
    kind = data.get("resourceType")
    if not isinstance(kind, str) or kind not in CAPABILITY_TYPES:
        return f"resourceType {str(kind)[:40]!r} is not a CapabilityStatement"
    for key in ("fhirVersion", "status", "kind"):
        if isinstance(data.get(key), str):
            attrs[key] = data[key][:64]
    software = data.get("software")
    if isinstance(software, dict):
        attrs["software"] = " ".join(
            str(software[k])[:64] for k in ("name", "version") if isinstance(software.get(k), str)
        )
    return None


def parse_fhir_endpoints(
    raw: bytes, ctx: FeedContext, options: FhirEndpointOptions | None = None
) -> ParseResult:
    """An Endpoint or a Bundle of Endpoints → status reports and an active-count KPI."""
    data = load_json(raw, ctx)
    if isinstance(data, Rejection):
        return rejected(data)
    if not isinstance(data, dict):
        return rejected(ctx.reject("unexpected_format", None, "expected a FHIR resource", raw))
    kind = data.get("resourceType")
    if kind == "Endpoint":
        resources: list[tuple[str, Any]] = [("", data)]
        stamp = None
    elif kind == "Bundle":
        entries = data.get("entry", [])
        if not isinstance(entries, list):
            return rejected(ctx.reject("invalid_field", "entry", "must be a list", raw))
        resources = [
            (f"entry[{i}].resource", e.get("resource") if isinstance(e, dict) else None)
            for i, e in enumerate(entries)
        ]
        # Bundle.timestamp is when the directory was assembled; meta.lastUpdated is only
        # when the record last changed, so it is not the observation time.
        stamp = as_time(data.get("timestamp"))
    else:
        return rejected(
            ctx.reject("unexpected_format", "resourceType", f"{kind!r} is not Endpoint/Bundle", raw)
        )
    observed_at = stamp if stamp is not None else ctx.now
    result = ParseResult()
    counts = {"active": 0, "total": 0}
    for where, resource in resources:
        _endpoint(resource, where, observed_at, ctx, result, counts)
    if ctx.default_service is not None and counts["total"]:
        result.add(
            ctx.observe(
                ctx.default_service,
                kind=Kind.KPI,
                observed_at=observed_at,
                metric="endpoints_active",
                value=float(counts["active"]),
                unit="endpoints",
                attrs={"endpoints_total": counts["total"]},
            )
        )
    return result


def _endpoint(
    resource: Any,
    where: str,
    observed_at: float,
    ctx: FeedContext,
    result: ParseResult,
    counts: dict[str, int],
) -> None:
    if not isinstance(resource, dict):
        result.add(
            ctx.reject("invalid_field", where or None, "must be an object", snippet(resource))
        )
        return
    if resource.get("resourceType") != "Endpoint":
        result.skipped["not_an_endpoint"] += 1
        return
    prefix = f"{where}." if where else ""
    code = resource.get("status")
    if not isinstance(code, str) or code not in ENDPOINT_STATUS:
        result.add(
            ctx.reject(
                "invalid_field",
                f"{prefix}status",
                f"{code!r} is not one of {list(ENDPOINT_STATUS)}",
                snippet(resource),
            )
        )
        return
    status = ENDPOINT_STATUS[code]
    if status is None:
        result.skipped[f"endpoint_{code}"] += 1
        return
    counts["total"] += 1
    counts["active"] += status is Status.UP
    service = _mapped(ctx, resource)
    if service is None:
        result.skipped["unmapped_endpoint"] += 1
        return
    rid, address = resource.get("id"), resource.get("address")
    result.add(
        ctx.observe(
            service,
            kind=Kind.STATUS_REPORT,
            observed_at=observed_at,
            status=status,
            attrs={
                "endpoint_id": str(rid)[:128],
                "address": str(address)[:256],
                "fhir_status": code,
            },
            id_parts=(rid, address),
            original=snippet(resource),
        )
    )


def _mapped(ctx: FeedContext, resource: dict[str, Any]) -> ServiceSpec | None:
    for key in (resource.get("id"), resource.get("address")):
        if isinstance(key, str) and key in ctx.services:
            return ctx.services[key]
    return None
