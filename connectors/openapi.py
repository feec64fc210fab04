"""OpenAPI 3.1 description of the push ingest API (served at ``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

_PROBLEM: dict[str, Any] = {
    "type": "object",
    "required": ["status", "error", "detail", "problems"],
    "properties": {
        "status": {"type": "integer"},
        "error": {"type": "string", "description": "machine-readable reason of the first problem"},
        "detail": {"type": "string"},
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": ["integer", "null"], "description": "item in the body"},
                    "field": {"type": ["string", "null"], "description": "the offending field"},
                    "reason": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}

_OBSERVATION: dict[str, Any] = {
    "type": "object",
    "description": (
        "Canonical observation, schema 1. operator_id, sector, region, source, schema and "
        "event_id may be omitted: the server fills them from the token and the service "
        "declaration (event_id from the content, so identical resends are idempotent)."
    ),
    "required": ["service_id", "kind", "observed_at"],
    "properties": {
        "schema": {"type": "integer", "const": 1},
        "event_id": {"type": "string", "maxLength": 256},
        "operator_id": {"type": "string"},
        "service_id": {"type": "string"},
        "sector": {"type": "string"},
        "region": {"type": "string", "description": "ISO 3166-1/-2, e.g. UA-30"},
        "kind": {
            "enum": ["probe", "heartbeat", "outage_report", "kpi", "status_report"],
        },
        "observed_at": {"type": "string", "format": "date-time"},
        "source": {"type": "string"},
        "vantage": {"type": "string"},
        "status": {"enum": ["up", "degraded", "down", "unknown", "maintenance"]},
        "metric": {"type": "string"},
        "value": {"type": "number"},
        "unit": {"type": "string"},
        "customers_served": {"type": "integer", "minimum": 0},
        "customers_affected": {"type": "integer", "minimum": 0},
        "attrs": {"type": "object"},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Continuity Watch push ingest", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Observation": _OBSERVATION, "Problem": _PROBLEM},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/observations": {
            "post": {
                "summary": "Push observations for your own declared services",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Observation"},
                                    {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Observation"},
                                    },
                                ]
                            }
                        },
                        "application/x-ndjson": {"schema": {"type": "string"}},
                        "text/csv": {
                            "schema": {"type": "string"},
                            "example": "service_id,kind,status,observed_at\n"
                            "grid.f12,probe,down,2024-03-01T12:00:00Z\n",
                        },
                    },
                },
                "responses": {
                    "202": {
                        "description": "Durably stored in Kafka (acks=all).",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "accepted": {"type": "integer"},
                                        "duplicates": {"type": "integer"},
                                        "event_ids": {"type": "array", "items": {"type": "string"}},
                                    },
                                }
                            }
                        },
                    },
                    "400": _error("Malformed body or invalid field; nothing was stored."),
                    "401": _error("Missing or unknown token."),
                    "403": _error("Another operator's id, or a service you did not declare."),
                    "413": _error("Body larger than the limit."),
                    "415": _error("Unsupported Content-Type."),
                    "429": _error("Rate limit exceeded; see Retry-After."),
                    "503": _error("Kafka did not acknowledge; retry (event_id dedupes)."),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}
