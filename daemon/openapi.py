"""The OpenAPI document for what this daemon serves, built from the same types that
decode requests (the adapters' registry included), so the published schema cannot drift
from the validation."""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.grouping_api import MergeBody, SplitBody
from daemon.heartbeats import CheckIn
from daemon.incidents_api import ACTIONS, ActionBody
from daemon.process_api import BODIES
from daemon.silences_api import Expire, NewSilence
from daemon.sources import ADAPTERS, PROMETHEUS, Adapter
from daemon.stakeholders import NewSubscription
from daemon.topology import TopologyDocument
from daemon.validation import mark_times
from triage.process.kpis import GROUP_BY

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(codes: dict[str, str]) -> dict[str, Any]:
    return {
        code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        for code, text in codes.items()
    }


_INGEST_ERRORS = _errors(
    {
        "400": "invalid JSON or schema; every bad field is named",
        "401": "missing or wrong credentials (WWW-Authenticate says which kind)",
        "403": "sender identity not on the source's allow-list",
        "413": "body or alert count over the limit",
        "415": "wrong content type",
        "429": "over the source's alert rate; retry after Retry-After",
        "503": "store unavailable; retry after Retry-After",
    }
)
_ACCEPTED = {
    "202": {
        "description": "accepted: durably queued ({accepted: n}, or the vendor's own answer)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_API_ERRORS = _errors({"400": "invalid request", "401": "missing or wrong bearer token"})


class _Schemas:
    """Collects component schemas from msgspec types, referenced by name."""

    def __init__(self) -> None:
        self.types: list[Any] = []

    def ref(self, type_: Any) -> dict[str, Any]:
        self.types.append(type_)
        return {"$ref": f"#/$types/{len(self.types) - 1}"}

    def resolve(self, document: Any) -> Any:
        schemas, components = msgspec.json.schema_components(
            self.types, ref_template="#/components/schemas/{name}"
        )
        mark_times(self.types, components)

        def swap(node: Any) -> Any:
            if isinstance(node, dict):
                ref = node.get("$ref", "")
                if isinstance(ref, str) and ref.startswith("#/$types/"):
                    return schemas[int(ref.rsplit("/", 1)[1])]
                return {k: swap(v) for k, v in node.items()}
            if isinstance(node, list):
                return [swap(v) for v in node]
            return node

        return swap(document), components


def _body(
    schemas: _Schemas, types: tuple[Any, ...], content_types: frozenset[str]
) -> dict[str, Any]:
    refs = [schemas.ref(t) for t in types]
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {"required": True, "content": {ct: {"schema": schema} for ct in sorted(content_types)}}


def _ingest(schemas: _Schemas, adapter: Adapter, summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": _body(schemas, adapter.schemas, adapter.content_types),
            "responses": {**_ACCEPTED, **_INGEST_ERRORS},
        }
    }


def _json_post(schemas: _Schemas, type_: Any, summary: str, ok: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "requestBody": _body(schemas, (type_,), frozenset({"application/json"})),
        "responses": {"200": {"description": ok}, **_API_ERRORS},
    }


def _get(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": {"description": "ok"}, **_API_ERRORS}}}


_PROCESS_SUMMARIES = {
    "resolve": "Resolve with a configured resolution code and notes",
    "close": "Close; 409 with required steps open unless forced with a reason",
    "cancel": "Cancel as a duplicate, false alarm or drill (left out of the KPIs)",
    "update": "Post a status update to the incident's subscribers",
    "complete-step": "Complete a step of the procedure's checklist",
    "follow-up": "Add a follow-up action (a tracked item)",
    "complete-follow-up": "Complete a follow-up action",
    "link-problem": "Link the incident to a problem",
    "pause": "Stop the target clocks while waiting on the customer or a supplier",
    "resume": "Start the target clocks again",
}
_QUERY = {"in": "query", "schema": {"type": "string"}}


def _process(schemas: _Schemas, paths: dict[str, Any], incident_id: dict[str, Any]) -> None:
    """The incident process: its actions, the review, subscriptions, problems and KPIs."""
    for name, body in BODIES.items():
        operation = _json_post(schemas, body, _PROCESS_SUMMARIES[name], "the updated incident")
        operation["parameters"] = [incident_id]
        operation["responses"].update(
            _errors(
                {
                    "403": "restricted incident: the token lacks its scope",
                    "404": "unknown id, step or follow-up",
                    "409": "impossible in the incident's state",
                }
            )
        )
        paths[f"/api/v1/incidents/{{id}}/{name}"] = {"post": operation}
    paths["/api/v1/incidents/{id}/report"] = {
        "get": {
            "summary": "The post-incident review in Markdown",
            "parameters": [incident_id],
            "responses": {
                "200": {"description": "the review", "content": {"text/markdown": {}}},
                **_errors({"403": "restricted incident", "404": "unknown id"}),
            },
        }
    }
    for base, what in (
        ("/api/v1/services/{service}", "a service"),
        ("/api/v1/incidents/{id}", "an incident"),
    ):
        paths[f"{base}/subscribers"] = {
            "post": _json_post(
                schemas, NewSubscription, f"Subscribe a stakeholder to {what}", "subscribed"
            ),
            **_get(f"The stakeholders subscribed to {what}"),
        }
        paths[f"{base}/subscribers/{{sub}}"] = {
            "delete": {
                "summary": f"Remove a stakeholder from {what} (?actor= names who)",
                "parameters": [{"name": "actor", "required": True, **_QUERY}],
                "responses": {"200": {"description": "removed"}, **_errors({"404": "unknown"})},
            }
        }
    paths["/api/v1/problems"] = _get(
        "Problem candidates: incidents recurring within the recurrence window"
    )
    paths["/api/v1/reports/kpis"] = {
        "get": {
            "summary": "Incident KPIs (MTTA, MTTR, targets, rates, backlog) as JSON or CSV",
            "parameters": [
                {"name": "from", **_QUERY},
                {"name": "to", **_QUERY},
                {"name": "group_by", "in": "query", "schema": {"enum": list(GROUP_BY)}},
                {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}},
            ],
            "responses": {"200": {"description": "the report"}, **_API_ERRORS},
        }
    }


def build() -> dict[str, Any]:
    schemas = _Schemas()
    incident_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    paths: dict[str, Any] = {
        f"/api/v1/alerts/{name}": _ingest(schemas, adapter, f"Alerts from {name}")
        for name, adapter in ADAPTERS.items()
    }
    paths["/api/v2/alerts"] = _ingest(schemas, PROMETHEUS, "Prometheus posting directly")
    paths["/v2/enqueue"] = _ingest(schemas, ADAPTERS["pagerduty"], "PagerDuty Events API v2")
    paths["/api/alert"] = _ingest(schemas, ADAPTERS["alerta"], "Alerta's own path")
    paths["/api/v1/heartbeats/{name}"] = {
        "post": _json_post(
            schemas, CheckIn, "Heartbeat check-in (interval also as ?interval=)", "recorded"
        )
    }
    paths["/api/v1/incidents"] = {
        "get": {
            "summary": "List incidents, newest first; {incidents: [...], next: cursor|null}",
            "parameters": [
                {"name": n, "in": "query", "schema": {"type": "string"}}
                for n in ("status", "group", "priority", "category", "cursor")
            ]
            + [{"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 500}}],
            "responses": {"200": {"description": "a page of incidents"}, **_API_ERRORS},
        }
    }
    paths["/api/v1/incidents/{id}"] = {
        "get": {
            "summary": "One incident with its alerts, timeline and triage trace",
            "parameters": [incident_id],
            "responses": {"200": {"description": "the incident"}, **_errors({"404": "unknown id"})},
        }
    }
    action = _json_post(schemas, ActionBody, "An action on an incident", "the updated incident")
    action["parameters"] = [
        incident_id,
        {"name": "action", "in": "path", "required": True, "schema": {"enum": list(ACTIONS)}},
    ]
    action["responses"].update(_errors({"404": "unknown id", "409": "impossible transition"}))
    paths["/api/v1/incidents/{id}/{action}"] = {"post": action}
    _process(schemas, paths, incident_id)
    corrections = {
        "merge": (MergeBody, "Merge incidents into this one (a grouping correction)", "the target"),
        "split": (
            SplitBody,
            "Move alerts of this incident into a new one (a grouping correction)",
            "{source, split}: both incidents",
        ),
    }
    for name, (body, summary, ok) in corrections.items():
        correction = _json_post(schemas, body, summary, ok)
        correction["parameters"] = [incident_id]
        correction["responses"].update(
            _errors({"404": "unknown id", "409": "an incident involved is closed"})
        )
        paths[f"/api/v1/incidents/{{id}}/{name}"] = {"post": correction}
    paths["/api/v1/silences"] = {
        "post": _json_post(
            schemas, NewSilence, "Create a silence or maintenance window", "created"
        ),
        **_get("Silences (filter state=active|pending|expired)"),
    }
    paths["/api/v1/silences/{id}/expire"] = {
        "post": _json_post(schemas, Expire, "End a silence now (recorded, not deleted)", "expired")
    }
    paths["/api/v1/topology"] = {
        "put": _json_post(schemas, TopologyDocument, "Replace the service topology", "stored"),
        **_get("The service topology"),
    }
    paths["/api/v1/routing/reload"] = {
        "post": {
            "summary": "Reload the routing file",
            "responses": {"200": {"description": "reloaded"}, **_API_ERRORS},
        }
    }
    paths["/api/v1/sources/{source}/subscriptions"] = _get("SNS subscriptions seen")
    paths["/api/v1/deliveries/dead"] = _get("Notifications that could not be delivered")
    paths["/api/v1/deliveries/dead/{id}/redrive"] = {
        "post": {
            "summary": "Re-queue one dead letter",
            "responses": {"200": {"description": "re-queued"}},
        }
    }
    paths["/api/v1/deliveries/dead/redrive"] = {
        "post": {
            "summary": "Re-queue every dead letter",
            "responses": {"200": {"description": "re-queued"}},
        }
    }
    paths["/api/v1/models"] = _get("The models in service, their versions and test figures")
    paths["/api/v1/models/retrain"] = {
        "post": {
            "summary": "Train challengers from base data plus corrections; promote the better",
            "responses": {
                "200": {"description": "{version, promoted, metrics, corrections}"},
                **_API_ERRORS,
                **_errors(
                    {
                        "409": "no base data configured, or a retrain is running",
                        "500": "the training raised or its process died; the message says why",
                    }
                ),
            },
        }
    }
    paths["/api/v1/schemas/generic-alert.json"] = _get("JSON Schema of the generic alert")
    for path, summary in {
        "/metrics": "Prometheus metrics",
        "/healthz": "The process is up",
        "/readyz": "Redis reachable and workers alive (503 otherwise)",
        "/api/v1/openapi.json": "This document",
    }.items():
        paths[path] = {"get": {"summary": summary, "responses": {"200": {"description": "ok"}}}}
    for path, item in paths.items():
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        declared = {p["name"] for op in item.values() for p in op.get("parameters", [])}
        missing = [n for n in names if n not in declared]
        if missing:
            item["parameters"] = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in missing
            ]
    resolved, components = schemas.resolve(paths)
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
    return {
        "openapi": "3.1.0",
        "info": {"title": "triaged", "version": "1"},
        "paths": resolved,
        "components": {"schemas": components},
    }
