"""How the incident process shows in the incidents API: the record, and what a token
without an incident's scope may see of it."""

from __future__ import annotations

from typing import Any, Final

import msgspec
from aiohttp import web

from daemon.api_times import iso, iso_fields
from daemon.appkeys import SETTINGS
from daemon.auth import granted_scopes
from daemon.errors import error_response
from daemon.validation import FieldError
from triage.incident import Incident
from triage.process import live
from triage.process.procedures import Procedures
from triage.process.targets import TargetStatus

_TIMES: Final = frozenset(
    {"done_at", "created_at", "due_at", "start", "end", "last_update_at", "reminded_at"}
    | {"at_risk_at", "stopped_at"}
)
# Bookkeeping of the process timer: what was already reported, not part of the record.
_INTERNAL: Final = (
    "targets", "stopped", "announced_opening", "announced_updates", "announced_resolutions",
    "evaluated_at",
)  # fmt: skip

# The actions of the process on an incident, each at POST /api/v1/incidents/{id}/{action}
# with a body of its own (daemon.process_api); the incidents API lists them with its own.
PROCESS_ACTIONS: Final = (
    "resolve", "close", "cancel", "update", "complete-step", "follow-up",
    "complete-follow-up", "link-problem", "pause", "resume",
)  # fmt: skip

# What anyone may see of a restricted incident: that it exists, how urgent it is, where
# it is and how far along; not what it is about (title, key, labels, alerts, timeline).
VISIBLE_WHEN_RESTRICTED: Final = (
    "id", "status", "priority", "category", "group", "procedure", "created_at",
    "updated_at", "acknowledged_at", "resolved_at", "closed_at", "escalation_level",
)  # fmt: skip


def process_view(incident: Incident, status: TargetStatus | None = None) -> dict[str, Any] | None:
    """The process record for the API (times as ISO 8601); ``status`` gives both target
    clocks as of now in full, otherwise only the states last recorded are shown."""
    record = incident.process
    if record is None:
        return None
    view: dict[str, Any] = _plain(record)
    for name in _INTERNAL:
        view.pop(name, None)
    view["targets"] = (
        msgspec.to_builtins(status)
        if status is not None
        else {clock: {"state": state} for clock, state in record.targets.items()}
    )
    view["next_update_due"] = iso(live.reminder_due(incident))
    converted: dict[str, Any] = iso_fields(view, _TIMES)
    return converted


def _plain(value: Any) -> Any:
    """Builtins of a stored value with every field, defaults included (the stored JSON
    leaves them out; the API shows them)."""
    if isinstance(value, msgspec.Struct):
        return {name: _plain(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return msgspec.to_builtins(value)


def redacted(view: dict[str, Any], incident: Incident, procedures: Procedures) -> dict[str, Any]:
    """``view`` cut to what a token without the incident's scope may see."""
    kept: dict[str, Any] = {n: view[n] for n in VISIBLE_WHEN_RESTRICTED if n in view}
    kept["restricted"] = procedures.get(incident.procedure).restricted_scope
    return kept


def forbidden(incident: Incident, procedures: Procedures) -> web.Response:
    scope = procedures.get(incident.procedure).restricted_scope
    return error_response(
        403,
        "restricted incident",
        [FieldError("Authorization", f"incident {incident.id} needs a token with scope {scope}")],
    )


def can_read(request: web.Request, incident: Incident) -> bool:
    """Whether the request's token may read the incident's details."""
    settings = request.app[SETTINGS]
    scopes = granted_scopes(settings.api, request)
    return live.visible(incident, settings.process.procedures, scopes)
