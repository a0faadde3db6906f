"""The incidents API: list, read, and act on incidents (DESIGN.md, "Incidents").

Times are ISO 8601 UTC strings on the wire. Every action names its actor and appends to
the timeline; a transition the lifecycle forbids is a 409 saying what is allowed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from aiohttp import web

from daemon import store
from daemon.appkeys import METRICS, REDIS, SETTINGS
from daemon.auth import require_api
from daemon.errors import error_response, json_response
from daemon.keys import incident_alerts
from daemon.sources.common import PayloadError, decode
from daemon.validation import FieldError
from triage.dedup import AlertState
from triage.incident import Action, Incident, IncidentStatus, TimelineEntry, TransitionError

_FILTERS = ("status", "group", "priority", "category")
_MAX_LIMIT = 500


class ActionBody(msgspec.Struct, forbid_unknown_fields=True):
    actor: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    message: Annotated[str, msgspec.Meta(max_length=65536)] = ""


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def incident_view(incident: Incident, fingerprints: list[str]) -> dict[str, Any]:
    return {
        "id": incident.id,
        "key": incident.key,
        "title": incident.title,
        "status": str(incident.status),
        "priority": incident.priority,
        "category": incident.category,
        "group": incident.group,
        "procedure": incident.procedure,
        "alert_count": incident.alert_count,
        "firing_count": incident.firing_count,
        "fingerprints": fingerprints,
        "labels": incident.labels,
        "created_at": iso(incident.created_at),
        "updated_at": iso(incident.updated_at),
        "started_at": iso(incident.started_at),
        "acknowledged_at": iso(incident.acknowledged_at),
        "resolved_at": iso(incident.resolved_at),
        "closed_at": iso(incident.closed_at),
        "escalation_level": incident.escalation_level,
        "reopen_count": incident.reopen_count,
        "triage": incident.triage,
    }


def alert_view(state: AlertState) -> dict[str, Any]:
    return {
        "fingerprint": state.fingerprint,
        "source": state.source,
        "status": str(state.status),
        "labels": state.labels,
        "annotations": state.annotations,
        "starts_at": iso(state.starts_at),
        "ends_at": iso(state.ends_at),
        "first_seen": iso(state.first_seen),
        "last_seen": iso(state.last_seen),
        "count": state.count,
        "generator_url": state.generator_url,
    }


def timeline_view(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "at": iso(entry.at),
        "kind": entry.kind,
        "actor": entry.actor,
        "message": entry.message,
        "data": entry.data,
    }


def _denied(request: web.Request) -> web.Response | None:
    return require_api(request.app[SETTINGS].api, request)


async def list_incidents(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    query = request.query
    errors: list[FieldError] = []
    filters = {name: query[name] for name in _FILTERS if query.get(name)}
    if "status" in filters and filters["status"] not in set(IncidentStatus):
        errors.append(FieldError("status", f"one of {', '.join(IncidentStatus)}"))
    limit = _int_param(query.get("limit", "50"), "limit", 1, _MAX_LIMIT, errors)
    cursor = (
        _int_param(query["cursor"], "cursor", 1, 2**62, errors) if query.get("cursor") else None
    )
    unknown = set(query) - {*_FILTERS, "limit", "cursor"}
    errors += [FieldError(name, "unknown query parameter") for name in sorted(unknown)]
    if errors:
        return error_response(400, "invalid query", errors)
    redis = request.app[REDIS]
    page, next_cursor = await store.list_incidents(redis, filters, limit=limit, before=cursor)
    async with redis.pipeline(transaction=False) as pipe:
        for incident in page:
            pipe.smembers(incident_alerts(incident.id))
        members = await pipe.execute()
    body = {
        "incidents": [
            incident_view(incident, sorted(store.text(m) for m in fps))
            for incident, fps in zip(page, members, strict=True)
        ],
        "next": str(next_cursor) if next_cursor is not None else None,
    }
    return json_response(body)


def _int_param(text: str, name: str, low: int, high: int, errors: list[FieldError]) -> int:
    try:
        value = int(text)
    except ValueError:
        errors.append(FieldError(name, f"not an integer: {text!r}"))
        return low
    if not low <= value <= high:
        errors.append(FieldError(name, f"must be between {low} and {high}"))
    return value


async def get_incident(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    incident_id = request.match_info["id"]
    found = await store.incident_details(request.app[REDIS], incident_id)
    if found is None:
        return _not_found(incident_id)
    incident, alerts, timeline = found
    body = incident_view(incident, [a.fingerprint for a in alerts])
    body["alerts"] = [alert_view(a) for a in alerts]
    body["timeline"] = [timeline_view(e) for e in timeline]
    return json_response(body)


async def act(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    incident_id = request.match_info["id"]
    try:
        action = Action(request.match_info["action"])
    except ValueError:
        supported = ", ".join(Action)
        return error_response(
            400,
            "unknown action",
            [FieldError("action", f"{request.match_info['action']!r}; supported: {supported}")],
        )
    if request.content_type != "application/json":
        return error_response(
            415, "unsupported content type", [FieldError("Content-Type", "send application/json")]
        )
    try:
        body = decode(await request.read(), ActionBody)
    except PayloadError as exc:
        return error_response(400, "invalid action body", exc.errors)
    if action is Action.NOTE and not body.message.strip():
        return error_response(
            400, "invalid action body", [FieldError("message", "a note needs a message")]
        )
    try:
        incident = await store.act_on_incident(
            request.app[REDIS],
            incident_id,
            action,
            actor=body.actor,
            message=body.message,
            now=time.time(),
        )
    except store.IncidentNotFound:
        return _not_found(incident_id)
    except TransitionError as exc:
        return error_response(409, "impossible transition", [FieldError("action", str(exc))])
    metrics = request.app[METRICS]
    metrics.incident_actions.labels(str(action)).inc()
    if action is Action.RESOLVE:
        metrics.incidents_resolved.labels("manual").inc()
    fingerprints = sorted(
        store.text(m) for m in await request.app[REDIS].smembers(incident_alerts(incident_id))
    )
    return json_response(incident_view(incident, fingerprints))


def _not_found(incident_id: str) -> web.Response:
    return error_response(
        404, "incident not found", [FieldError("id", f"no incident {incident_id!r}")]
    )
