"""OpenAPI 3.1 description of the push ingest API (served at ``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

import msgspec

from pipeline.core.schema import WireObservation

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

#: What the server fills in when a pushed observation leaves it out (from the token, the
#: service declaration and the content).
_FILLED_BY_SERVER = ("schema", "event_id", "operator_id", "sector", "region", "source")


def _schemas() -> dict[str, Any]:
    """The observation schema generated from the one wire declaration
    (:class:`~pipeline.core.schema.WireObservation`), as the push API takes it: the fields
    the server fills in are optional; ``Kind`` and ``Status`` come along as components.

    >>> schemas = _schemas()
    >>> schemas["Observation"]["required"], "probe" in schemas["Kind"]["enum"]
    (['service_id', 'kind', 'observed_at'], True)
    """
    (_ref,), components = msgspec.json.schema_components(
        [WireObservation], ref_template="#/components/schemas/{name}"
    )
    observation = components.pop(WireObservation.__name__)
    observation["title"] = "Observation"
    observation["description"] = (
        "Canonical observation, schema 1. "
        + ", ".join(_FILLED_BY_SERVER)
        + " may be omitted: the server fills them from the token and the service "
        "declaration (event_id from the content, so identical resends are idempotent)."
    )
    observation["required"] = [
        name for name in observation["required"] if name not in _FILLED_BY_SERVER
    ]
    # the docstring points at Python names; the API's readers get the plain sentence
    components["Status"]["description"] = "Service state, from healthy to failed."
    return {"Observation": observation, **components}


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
        "schemas": {**_schemas(), "Problem": _PROBLEM},
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
