"""The OpenAPI document for what this daemon serves, built from the same types that
decode requests, so the published schema cannot drift from the validation."""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.incidents_api import ActionBody
from daemon.sources.alertmanager import Webhook
from daemon.sources.generic import GenericAlert, GenericBatch
from daemon.sources.prometheus import PostableAlert

_ERROR = {"$ref": "#/components/schemas/Error"}
_INGEST_RESPONSES = {
    "202": {"description": "accepted: durably queued", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"accepted": {"type": "integer"}}}}}},
    **{
        code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        for code, text in {
            "400": "invalid JSON or schema; every bad field is named",
            "401": "missing or wrong bearer token",
            "413": "body or alert count over the limit",
            "415": "not application/json",
            "503": "store unavailable; retry after Retry-After",
        }.items()
    },
}  # fmt: skip


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def build() -> dict[str, Any]:
    (webhook, prom, generic_one, generic_many, action), components = msgspec.json.schema_components(
        [Webhook, list[PostableAlert], GenericAlert, GenericBatch, ActionBody],
        ref_template="#/components/schemas/{name}",
    )
    components["Error"] = {
        "type": "object",
        "required": ["error", "status", "errors"],
        "properties": {
            "error": {"type": "string"},
            "status": {"type": "integer"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }
    incident_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "triaged", "version": "1"},
        "paths": {
            "/api/v1/alerts/alertmanager": {
                "post": {
                    "summary": "Alertmanager webhook (version 4)",
                    "requestBody": _body(webhook),
                    "responses": _INGEST_RESPONSES,
                }
            },
            "/api/v1/alerts/generic": {
                "post": {
                    "summary": "triaged's own alert schema: one alert or {alerts: [...]}",
                    "requestBody": _body({"oneOf": [generic_one, generic_many]}),
                    "responses": _INGEST_RESPONSES,
                }
            },
            "/api/v2/alerts": {
                "post": {
                    "summary": "Prometheus posting alerts directly, as to an Alertmanager",
                    "requestBody": _body(prom),
                    "responses": _INGEST_RESPONSES,
                }
            },
            "/api/v1/incidents": {
                "get": {
                    "summary": "List incidents, newest first",
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": "string"}}
                        for n in ("status", "group", "priority", "category", "cursor")
                    ]
                    + [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "maximum": 500},
                        }
                    ],
                    "responses": {"200": {"description": "{incidents: [...], next: cursor|null}"}},
                }
            },
            "/api/v1/incidents/{id}": {
                "get": {
                    "summary": "One incident with its alerts and timeline",
                    "parameters": [incident_id],
                    "responses": {
                        "200": {"description": "the incident"},
                        "404": {"description": "unknown id"},
                    },
                }
            },
            "/api/v1/incidents/{id}/{action}": {
                "post": {
                    "summary": "acknowledge, resolve, close, reopen or note",
                    "parameters": [
                        incident_id,
                        {
                            "name": "action",
                            "in": "path",
                            "required": True,
                            "schema": {
                                "enum": ["acknowledge", "resolve", "close", "reopen", "note"]
                            },
                        },
                    ],
                    "requestBody": _body(action),
                    "responses": {
                        "200": {"description": "the updated incident"},
                        "404": {"description": "unknown id"},
                        "409": {"description": "impossible transition"},
                    },
                }
            },
            "/api/v1/schemas/generic-alert.json": {
                "get": {
                    "summary": "JSON Schema of the generic alert",
                    "responses": {"200": {"description": "schema"}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text"}},
                }
            },
            "/healthz": {
                "get": {"summary": "the process is up", "responses": {"200": {"description": "ok"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Redis reachable and workers alive",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not ready"},
                    },
                }
            },
        },
        "components": {"schemas": components},
    }
