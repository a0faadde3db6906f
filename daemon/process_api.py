"""The process API: casework on incidents, the review, problem candidates and KPIs.

Actions, each ``POST /api/v1/incidents/{id}/{action}`` with a body of its own that names
the actor (every action appends to the timeline; decisions in ``triage.process.live``):

- ``resolve``: ``code`` (from the configured list) and ``notes``; 400 naming the field;
- ``close``: 409 with required steps open, unless ``force`` with a ``reason`` (400 without
  one), which becomes the close's timeline text;
- ``cancel``: ``reason`` duplicate, false-alarm or drill, ``message``; 409 when closed;
- ``update``: ``message``, a status update for subscribers; 409 when closed;
- ``complete-step``: ``step``, ``note``; 404 for an unknown step, 409 when done already;
- ``follow-up``: ``title``, ``owner``, ``due_at``; ``complete-follow-up``: ``follow_up``;
- ``link-problem``: ``problem`` (a problem record's id, or a candidate's ``PC-...``);
- ``pause`` (``reason`` customer or supplier) and ``resume``: the target clocks stop.

These routes are registered before the incidents API's generic ``{action}`` route, which
they take precedence over. Reads: ``GET /api/v1/incidents/{id}/report`` (the
post-incident review in Markdown), ``GET /api/v1/problems`` (problem candidates) and
``GET /api/v1/reports/kpis`` (the KPI report of ``triaged report``, as JSON or CSV).
A token without a restricted incident's scope gets 403 for all of them on that incident.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, cast

import msgspec
import structlog
from aiohttp import web

from daemon import stakeholders, store
from daemon.api_body import read_api_body
from daemon.api_times import iso
from daemon.appkeys import METRICS, REDIS, SETTINGS
from daemon.auth import require_api
from daemon.errors import error_response, json_response
from daemon.incident_facts import all_facts, occurrences
from daemon.incidents_api import apply_action, incident_response
from daemon.metrics import Metrics
from daemon.process_views import PROCESS_ACTIONS, can_read, forbidden
from daemon.validation import FieldError
from triage.incident import Incident
from triage.process import live
from triage.process.common import format_duration
from triage.process.kpis import GROUP_BY, GroupBy, compute_kpis, to_csv, to_json
from triage.process.procedures import Procedures, open_required
from triage.process.recurrence import problem_candidates
from triage.process.review import render_review
from triage.process.targets import incident_times, target_status

log = structlog.get_logger("triaged.process")

Actor = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Line = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Text = Annotated[str, msgspec.Meta(max_length=65536)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An action's body: who acts, and the change it makes (``apply``) and counts."""

    actor: Actor

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        raise NotImplementedError

    def count(self, metrics: Metrics, incident: Incident) -> None:
        """Metrics of the applied change, beyond the count of actions."""


class ResolveBody(_Body):
    code: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    notes: Text = ""

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.resolve(
            incident, code=self.code, notes=self.notes, actor=self.actor, now=now,
            procedures=procedures,
        )  # fmt: skip

    def count(self, metrics: Metrics, incident: Incident) -> None:
        metrics.incidents_resolved.labels("manual").inc()


class CloseBody(_Body):
    message: Text = ""
    force: bool = False
    reason: Annotated[str, msgspec.Meta(max_length=4096)] = ""

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.close(
            incident, force=self.force, reason=self.reason, message=self.message,
            actor=self.actor, now=now,
        )  # fmt: skip

    def count(self, metrics: Metrics, incident: Incident) -> None:
        forced = bool(open_required(live.record_of(incident).checklist))
        metrics.incidents_closed.labels("forced" if forced else "manual").inc()


class CancelBody(_Body):
    reason: Literal["duplicate", "false-alarm", "drill"]
    message: Text = ""

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.cancel(
            incident, reason=self.reason, message=self.message, actor=self.actor, now=now
        )

    def count(self, metrics: Metrics, incident: Incident) -> None:
        metrics.incidents_cancelled.labels(self.reason).inc()


class UpdateBody(_Body):
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=65536)]

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.post_update(incident, message=self.message, actor=self.actor, now=now)

    def count(self, metrics: Metrics, incident: Incident) -> None:
        metrics.incident_updates.inc()


class StepBody(_Body):
    step: Id
    note: Text = ""

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.complete(incident, self.step, actor=self.actor, note=self.note, now=now)


class FollowUpBody(_Body):
    title: Line
    owner: Actor
    due_at: datetime | None = None

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.add_follow_up(
            incident, title=self.title, owner=self.owner, actor=self.actor, now=now,
            due_at=None if self.due_at is None else _epoch(self.due_at),
        )  # fmt: skip


class FollowUpDoneBody(_Body):
    follow_up: Id

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.complete_follow_up(incident, self.follow_up, actor=self.actor, now=now)


class ProblemBody(_Body):
    problem: Id

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.link_problem(incident, problem=self.problem, actor=self.actor, now=now)


class PauseBody(_Body):
    reason: Literal["customer", "supplier"]
    message: Text = ""

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.pause(
            incident, reason=self.reason, message=self.message, actor=self.actor, now=now
        )


class ResumeBody(_Body):
    message: Text = ""

    def apply(self, incident: Incident, now: float, procedures: Procedures) -> live.Change:
        return live.resume(incident, message=self.message, actor=self.actor, now=now)


BODIES: Final[dict[str, type[_Body]]] = {
    "resolve": ResolveBody,
    "close": CloseBody,
    "cancel": CancelBody,
    "update": UpdateBody,
    "complete-step": StepBody,
    "follow-up": FollowUpBody,
    "complete-follow-up": FollowUpDoneBody,
    "link-problem": ProblemBody,
    "pause": PauseBody,
    "resume": ResumeBody,
}
assert tuple(BODIES) == PROCESS_ACTIONS


def _action(action: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    body_type = BODIES[action]

    async def handle(request: web.Request) -> web.Response:
        with structlog.contextvars.bound_contextvars(
            incident_id=request.match_info["id"], action=action
        ):
            body = await read_api_body(request, body_type, "invalid action body")
            if isinstance(body, web.Response):
                return body
            settings = request.app[SETTINGS]
            now = settings.clock()
            procedures = settings.process.procedures

            def decide(incident: Incident) -> live.Change:
                return body.apply(incident, now, procedures)

            incident_id = request.match_info["id"]
            decided = await apply_action(request, incident_id, action, body.actor, decide, now)
            if isinstance(decided, web.Response):
                return decided
            body.count(request.app[METRICS], decided)
            return await incident_response(request, decided)

    return handle


# ---------------------------------------------------------------------------- reads


async def review(request: web.Request) -> web.Response:
    """The post-incident review, drafted from the record (``triage.process.review``)."""
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    incident_id = request.match_info["id"]
    found = await store.incident_details(request.app[REDIS], incident_id)
    settings = request.app[SETTINGS]
    if found is None:
        return error_response(
            404, "incident not found", [FieldError("id", f"no incident {incident_id!r}")]
        )
    incident, alerts, timeline = found
    if not can_read(request, incident):
        return forbidden(incident, settings.process.procedures)
    record = live.record_of(incident)
    status = target_status(
        incident_times(incident, timeline),
        record.pauses,
        settings.clock(),
        settings.process.targets,
    )
    text = render_review(
        incident, alerts, timeline, status, record.follow_ups, checklist=record.checklist
    )
    return web.Response(text=text, content_type="text/markdown", charset="utf-8")


async def problems(request: web.Request) -> web.Response:
    """Problem candidates: incidents recurring within the recurrence window up to now."""
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    if request.query:
        errors = [FieldError(name, "unknown query parameter") for name in sorted(request.query)]
        return error_response(400, "invalid query", errors)
    settings = request.app[SETTINGS]
    recurrence = settings.process.recurrence
    now = settings.clock()
    found = await occurrences(
        request.app[REDIS],
        since=now - recurrence.window,
        readable=lambda incident: can_read(request, incident),
    )
    candidates = problem_candidates(found, now=now, settings=recurrence)
    views = []
    for candidate in candidates:
        view: dict[str, Any] = msgspec.to_builtins(candidate)
        view["first_seen"], view["last_seen"] = iso(candidate.first_seen), iso(candidate.last_seen)
        views.append(view)
    return json_response(
        {
            "problems": views,
            "window": format_duration(recurrence.window),
            "threshold": recurrence.threshold,
        }
    )


_KPI_PARAMS: Final = ("from", "to", "group_by", "format")


async def kpis(request: web.Request) -> web.Response:
    """The KPI report over live incidents and imported history, as ``triaged report``."""
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    settings = request.app[SETTINGS]
    now = settings.clock()
    query = request.query
    errors = [
        FieldError(n, "unknown query parameter") for n in sorted(set(query) - set(_KPI_PARAMS))
    ]
    start = _moment(query.get("from"), "from", 0.0, errors)
    end = _moment(query.get("to"), "to", now, errors)
    group_by = query.get("group_by") or None
    if group_by is not None and group_by not in GROUP_BY:
        errors.append(FieldError("group_by", f"one of: {', '.join(GROUP_BY)}"))
    form = query.get("format", "json")
    if form not in ("json", "csv"):
        errors.append(FieldError("format", "json or csv"))
    if not errors and end <= start:
        errors.append(FieldError("to", "must be after from"))
    if errors:
        return error_response(400, "invalid query", errors)
    facts = await all_facts(request.app[REDIS])
    report = compute_kpis(
        facts,
        start=start,
        end=end,
        now=now,
        targets=settings.process.targets,
        group_by=cast("GroupBy | None", group_by),
        settings=settings.process.kpis,
    )
    if form == "csv":
        return web.Response(text=to_csv(report), content_type="text/csv", charset="utf-8")
    return web.Response(text=to_json(report), content_type="application/json")


def _moment(text: str | None, name: str, default: float, errors: list[FieldError]) -> float:
    if not text:
        return default
    try:
        return _epoch(datetime.fromisoformat(text))
    except ValueError:
        errors.append(FieldError(name, f"not an ISO 8601 date or time: {text!r}"))
        return default


def _epoch(moment: datetime) -> float:
    """A time without a zone is UTC, as everywhere in triaged."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def add_routes(app: web.Application) -> None:
    """Register before the incidents API's ``/api/v1/incidents/{id}/{action}``."""
    for action in PROCESS_ACTIONS:
        app.router.add_post(f"/api/v1/incidents/{{id}}/{action}", _action(action))
    app.router.add_get("/api/v1/incidents/{id}/report", review)
    app.router.add_get("/api/v1/problems", problems)
    app.router.add_get("/api/v1/reports/kpis", kpis)
    stakeholders.add_routes(app)
