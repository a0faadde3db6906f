"""Operators correct grouping: ``POST /api/v1/incidents/{id}/merge`` and ``.../split``.

``merge`` moves every alert of ``incidents`` into ``{id}`` and closes them as merged;
``split`` moves ``fingerprints`` of ``{id}`` into a new incident. Both are recorded as
grouping corrections (``triaged:stream:corrections:grouping``) and pin the keys involved,
so later alerts of those keys follow the operator (``daemon.grouping``). Unknown fields,
missing fields and wrong types are 400s naming the field; an unknown ``{id}`` is a 404,
a closed incident a 409.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import structlog
from aiohttp import web

from daemon import store
from daemon.api_body import read_api_body
from daemon.appkeys import METRICS, REDIS, ROUTING, SETTINGS, TOPOLOGY
from daemon.errors import error_response, json_response
from daemon.grouping import Grouper, GroupingError
from daemon.incidents_api import incident_view
from daemon.keys import incident_alerts
from daemon.validation import FieldError
from triage.incident import Incident

log = structlog.get_logger("triaged.grouping")

Actor = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Reason = Annotated[str, msgspec.Meta(max_length=4096)]
IncidentId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Fingerprint = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class MergeBody(msgspec.Struct, forbid_unknown_fields=True):
    """Merge ``incidents`` into the incident of the path."""

    incidents: Annotated[list[IncidentId], msgspec.Meta(min_length=1, max_length=100)]
    actor: Actor
    reason: Reason = ""


class SplitBody(msgspec.Struct, forbid_unknown_fields=True):
    """Move the alerts ``fingerprints`` of the incident of the path into a new incident."""

    fingerprints: Annotated[list[Fingerprint], msgspec.Meta(min_length=1, max_length=10000)]
    actor: Actor
    reason: Reason = ""


def grouper(app: web.Application) -> Grouper:
    settings = app[SETTINGS]
    fold = settings.fold
    return Grouper(
        app[REDIS],
        fold.correlation,
        app[TOPOLOGY],
        app[METRICS],
        key_labels=fold.key_labels,
        routing=app[ROUTING],
        public_url=settings.config.server.public_url,
    )


async def merge(request: web.Request) -> web.Response:
    body = await read_api_body(request, MergeBody, "invalid merge body")
    if isinstance(body, web.Response):
        return body
    app = request.app
    target = request.match_info["id"]
    try:
        incident = await grouper(app).merge(
            target,
            body.incidents,
            actor=body.actor,
            reason=body.reason,
            now=app[SETTINGS].clock(),
        )
    except GroupingError as exc:
        return _refused(exc)
    return json_response(await _view(request, incident))


async def split(request: web.Request) -> web.Response:
    body = await read_api_body(request, SplitBody, "invalid split body")
    if isinstance(body, web.Response):
        return body
    app = request.app
    try:
        source, created = await grouper(app).split(
            request.match_info["id"],
            body.fingerprints,
            actor=body.actor,
            reason=body.reason,
            now=app[SETTINGS].clock(),
        )
    except GroupingError as exc:
        return _refused(exc)
    return json_response(
        {"source": await _view(request, source), "split": await _view(request, created)}
    )


async def _view(request: web.Request, incident: Incident) -> dict[str, object]:
    members = await request.app[REDIS].smembers(incident_alerts(incident.id))
    return incident_view(incident, sorted(store.text(m) for m in members))


def _refused(exc: GroupingError) -> web.Response:
    titles = {404: "incident not found", 409: "impossible correction"}
    title = titles.get(exc.status, "invalid correction")
    return error_response(exc.status, title, [FieldError(exc.field, exc.message)])


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/incidents/{id}/merge", merge)
    app.router.add_post("/api/v1/incidents/{id}/split", split)
