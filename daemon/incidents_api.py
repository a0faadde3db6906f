"""The incidents API: list, read, and act on incidents (DESIGN.md, "Incidents").

Times are ISO 8601 UTC strings on the wire. Every action names its actor and appends to
the timeline; a transition the lifecycle forbids is a 409 saying what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import msgspec
import structlog
from aiohttp import web

from daemon import corrections, store
from daemon.api_body import read_api_body
from daemon.api_times import iso
from daemon.appkeys import METRICS, MODELS, REDIS, ROUTING, SETTINGS
from daemon.auth import granted_scopes, require_api
from daemon.commit import Commit
from daemon.corrections import CorrectionRecord
from daemon.errors import error_response, json_response
from daemon.keys import incident_alerts
from daemon.process_stage import Restricted, after_action, after_change
from daemon.process_views import (
    PROCESS_ACTIONS,
    can_read,
    forbidden,
    process_view,
    redacted,
)
from daemon.validation import FieldError
from routing import RoutingTable, manual_escalation, resolve_recipients
from routing.assign import apply_step, escalation_state, reassign
from triage.classify import Correction
from triage.dedup import AlertState
from triage.incident import (
    Action,
    Incident,
    IncidentStatus,
    TimelineEntry,
    TransitionError,
    perform,
)
from triage.incident_triage import reclassify, training_label
from triage.process import live
from triage.process.common import InvalidInput, UnknownItem
from triage.process.targets import incident_times, target_status

log = structlog.get_logger("triaged.incidents")

_FILTERS = ("status", "group", "priority", "category")
_MAX_LIMIT = 500


class ActionBody(msgspec.Struct, forbid_unknown_fields=True):
    actor: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    message: Annotated[str, msgspec.Meta(max_length=65536)] = ""
    reason: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    group: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    category: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    priority: Annotated[str, msgspec.Meta(pattern="^P[1-5]$")] | None = None


ROUTING_ACTIONS = ("escalate", "reassign")
TRIAGE_ACTIONS = ("reclassify",)
ACTIONS = tuple(
    dict.fromkeys((*(str(a) for a in Action), *ROUTING_ACTIONS, *TRIAGE_ACTIONS, *PROCESS_ACTIONS))
)


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
        "escalation_policy": incident.escalation_policy,
        "channels": incident.channels,
        "source": incident.source,
        "description": incident.description,
        "suppressed_by": incident.suppressed_by,
        "triage": incident.triage,
        "process": process_view(incident),
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
        "suppressed_by": state.suppressed_by,
        "flapping": state.flap is not None and state.flap.flapping,
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
    procedures = request.app[SETTINGS].process.procedures
    views = [
        (incident, incident_view(incident, sorted(store.text(m) for m in fps)))
        for incident, fps in zip(page, members, strict=True)
    ]
    body = {
        "incidents": [
            view if can_read(request, incident) else redacted(view, incident, procedures)
            for incident, view in views
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
    settings = request.app[SETTINGS]
    if not can_read(request, incident):
        return forbidden(incident, settings.process.procedures)
    body = incident_view(incident, [a.fingerprint for a in alerts])
    status = target_status(
        incident_times(incident, timeline),
        live.record_of(incident).pauses,
        settings.clock(),
        settings.process.targets,
    )
    body["process"] = process_view(incident, status)
    body["alerts"] = [alert_view(a) for a in alerts]
    body["timeline"] = [timeline_view(e) for e in timeline]
    return json_response(body)


async def act(request: web.Request) -> web.Response:
    with structlog.contextvars.bound_contextvars(
        incident_id=request.match_info["id"], action=request.match_info["action"]
    ):
        return await _act(request)


async def _act(request: web.Request) -> web.Response:
    body = await read_api_body(request, ActionBody, "invalid action body")
    if isinstance(body, web.Response):
        return body
    incident_id = request.match_info["id"]
    action = request.match_info["action"]
    if action not in ACTIONS:
        return error_response(
            400,
            "unknown action",
            [FieldError("action", f"{action!r}; supported: {', '.join(ACTIONS)}")],
        )
    categories = request.app[MODELS].categories
    problem = _body_problem(action, body, categories())
    if problem is not None:
        return error_response(400, "invalid action body", [problem])
    table = request.app[ROUTING].table
    if action == "reassign" and body.group not in table.groups:
        known = ", ".join(sorted(table.groups))
        return error_response(
            400, "invalid action body", [FieldError("group", f"unknown group; known: {known}")]
        )
    now = request.app[SETTINGS].clock()
    decision = _decision(action, body, table, categories, now)
    decided = await apply_action(request, incident_id, action, body.actor, decision, now)
    if isinstance(decided, web.Response):
        return decided
    if action == "escalate":
        request.app[METRICS].escalations.labels("manual").inc()
    return await incident_response(request, decided)


async def apply_action(
    request: web.Request,
    incident_id: str,
    action: str,
    actor: str,
    decide: store.Decision,
    now: float,
) -> Incident | web.Response:
    """Commit an action's decision with what every change calls for (escalation timer,
    process bookkeeping, announcements); the changed incident, or the refusal: 404,
    403 for a restricted incident, 400 for an invalid request, 409 for an impossible
    transition."""
    settings = request.app[SETTINGS]
    table = request.app[ROUTING].table

    labels: list[Correction | None] = [None]  # of the attempt that committed

    def follow_up(commit: Commit, old: Incident, new: Incident) -> Incident:
        labels[0] = label = training_label(old, new)
        if label is not None:
            corrections.queue(
                commit,
                CorrectionRecord(
                    incident_id=old.id, actor=actor, at=now, action=action, correction=label
                ),
            )
        return after_change(
            commit, old, new, table=table, settings=settings.process, now=now,
            public_url=settings.config.server.public_url,
        )  # fmt: skip

    scopes = granted_scopes(settings.api, request)
    checked = after_action(decide, settings.process, scopes, now)
    try:
        incident = await store.update_incident(request.app[REDIS], incident_id, checked, follow_up)
    except store.IncidentNotFound:
        return _not_found(incident_id)
    except Restricted as exc:
        return forbidden(exc.incident, settings.process.procedures)
    except InvalidInput as exc:
        return error_response(400, "invalid action body", [FieldError(exc.field, str(exc))])
    except UnknownItem as exc:
        return error_response(404, "no such item", [FieldError(exc.field, str(exc))])
    except TransitionError as exc:
        return error_response(409, "impossible transition", [FieldError("action", str(exc))])
    except ValueError as exc:  # a value only the stored incident rules out (its kind)
        field = "category" if action == "reclassify" else "group"
        return error_response(400, "invalid action body", [FieldError(field, str(exc))])
    metrics = request.app[METRICS]
    metrics.incident_actions.labels(action).inc()
    for field in ("group", "category"):
        if labels[0] is not None and getattr(labels[0], field) is not None:
            metrics.triage_corrections.labels(field).inc()
    log.info("incident_action", actor=actor, status=str(incident.status))
    return incident


async def incident_response(request: web.Request, incident: Incident) -> web.Response:
    members = await request.app[REDIS].smembers(incident_alerts(incident.id))
    return json_response(incident_view(incident, sorted(store.text(m) for m in members)))


def _body_problem(
    action: str, body: ActionBody, known_categories: frozenset[str]
) -> FieldError | None:
    if action == "note" and not body.message.strip():
        return FieldError("message", "a note needs a message")
    if action == "reassign" and body.group is None:
        return FieldError("group", "reassign needs the group to move the incident to")
    if action == "reclassify":
        if body.category is None and body.priority is None:
            return FieldError("category", "reclassify needs a category, a priority or both")
        if body.category is not None and body.category not in known_categories:
            known = ", ".join(sorted(known_categories))
            return FieldError("category", f"unknown category {body.category!r}; known: {known}")
    elif body.category is not None or body.priority is not None:
        field = "category" if body.category is not None else "priority"
        return FieldError(field, f"only reclassify takes a {field}")
    return None


def _decision(
    action: str,
    body: ActionBody,
    table: RoutingTable,
    categories: Callable[[str | None], frozenset[str]],
    now: float,
) -> store.Decision:
    """The pure change each action makes, given the incident as currently stored."""
    message = body.message or body.reason

    def decide(incident: Incident) -> tuple[Incident, list[TimelineEntry]]:
        if action == "reassign":
            assert body.group is not None
            new, entry = reassign(
                incident, table, body.group, actor=body.actor, reason=message, now=now
            )
        elif action == "escalate":
            new, entry = _escalate(incident, table, actor=body.actor, now=now)
        elif action == "reclassify":
            kind = incident.triage.get("kind")
            new, entry = reclassify(
                incident,
                category=body.category,
                priority=body.priority,
                known_categories=categories(kind if isinstance(kind, str) else None),
                actor=body.actor,
                reason=message,
                now=now,
            )
        else:
            new, entry = perform(
                incident, Action(action), actor=body.actor, message=message, now=now
            )
        return new, [entry]

    return decide


def _escalate(
    incident: Incident, table: RoutingTable, *, actor: str, now: float
) -> tuple[Incident, TimelineEntry]:
    policy = table.policies.get(incident.escalation_policy or "")
    if policy is None:
        raise TransitionError(
            f"incident {incident.id} has no escalation policy (group {incident.group})"
        )
    step = manual_escalation(policy, escalation_state(incident), now)
    if step is None:
        raise TransitionError(
            f"cannot escalate incident {incident.id}: it is {incident.status}"
            f" at level {incident.escalation_level} of {policy.total_steps}"
        )
    recipients = resolve_recipients(step.targets, table.groups, incident.group, now)
    return apply_step(incident, step, recipients, now=now, actor=actor)


def _not_found(incident_id: str) -> web.Response:
    return error_response(
        404, "incident not found", [FieldError("id", f"no incident {incident_id!r}")]
    )
