"""The incident record and its lifecycle.

``triggered → acknowledged → resolved → closed``, with ``reopen`` from resolved. Every
change returns a new value plus the timeline entry that documents it, so the shell can
persist both in one transaction. Impossible transitions raise ``TransitionError`` with a
message fit for an API answer.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from triage.process.record import ProcessRecord


class IncidentStatus(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self in (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED)


class TimelineEntry(msgspec.Struct, frozen=True):
    at: float
    kind: str
    actor: str
    message: str
    data: dict[str, Any] = {}


class Incident(msgspec.Struct, frozen=True):
    id: str
    key: str
    title: str
    status: IncidentStatus
    priority: str
    category: str
    group: str
    procedure: str
    created_at: float
    updated_at: float
    started_at: float
    acknowledged_at: float | None = None
    resolved_at: float | None = None
    closed_at: float | None = None
    escalation_level: int = 0
    last_escalated_at: float | None = None
    escalation_policy: str | None = None
    channels: list[str] = []
    source: str = ""
    suppressed_by: list[str] = []
    notified: bool = False
    process: ProcessRecord | None = None  # procedure checklist and casework (triage.process)
    alert_count: int = 0
    firing_count: int = 0
    reopen_count: int = 0
    labels: dict[str, str] = {}
    triage: dict[str, Any] = {}
    description: str = ""


class TransitionError(Exception):
    """The action is impossible in the incident's current status (an API 409)."""


class Action(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    NOTE = "note"


SYSTEM_ACTOR = "triaged"

_ALLOWED_FROM: dict[Action, tuple[IncidentStatus, ...]] = {
    Action.ACKNOWLEDGE: (IncidentStatus.TRIGGERED,),
    Action.RESOLVE: (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED),
    Action.CLOSE: (IncidentStatus.RESOLVED,),
    Action.REOPEN: (IncidentStatus.RESOLVED,),
    Action.NOTE: tuple(IncidentStatus),
}


def perform(
    incident: Incident, action: Action, *, actor: str, message: str, now: float
) -> tuple[Incident, TimelineEntry]:
    """Apply an operator's (or the system's) action, or raise TransitionError."""
    if incident.status not in _ALLOWED_FROM[action]:
        allowed = ", ".join(_ALLOWED_FROM[action])
        raise TransitionError(
            f"cannot {action} incident {incident.id}: it is {incident.status}"
            f" (allowed from: {allowed})"
        )
    changes: dict[str, Any] = {"updated_at": now}
    if action is Action.ACKNOWLEDGE:
        changes |= {"status": IncidentStatus.ACKNOWLEDGED, "acknowledged_at": now}
    elif action is Action.RESOLVE:
        changes |= {"status": IncidentStatus.RESOLVED, "resolved_at": now}
    elif action is Action.CLOSE:
        changes |= {"status": IncidentStatus.CLOSED, "closed_at": now}
    elif action is Action.REOPEN:
        changes |= _reopened(incident)
    entry = TimelineEntry(
        at=now,
        kind=str(action),
        actor=actor,
        message=message or _default_message(action, incident),
        data={"from": str(incident.status)},
    )
    return msgspec.structs.replace(incident, **changes), entry


def _reopened(incident: Incident) -> dict[str, Any]:
    return {
        "status": IncidentStatus.TRIGGERED,
        "acknowledged_at": None,
        "resolved_at": None,
        "reopen_count": incident.reopen_count + 1,
    }


def _default_message(action: Action, incident: Incident) -> str:
    return f"{action} ({incident.status} before)"


def reopen_by_alert(
    incident: Incident, *, fingerprint: str, at: float
) -> tuple[Incident, TimelineEntry]:
    """An alert fired again within the reopen window of its resolved incident."""
    entry = TimelineEntry(
        at=at,
        kind="reopen",
        actor=SYSTEM_ACTOR,
        message=f"alert {fingerprint} fired again within the reopen window",
        data={"fingerprint": fingerprint, "from": str(incident.status)},
    )
    return msgspec.structs.replace(incident, updated_at=at, **_reopened(incident)), entry


def auto_resolve(incident: Incident, *, at: float) -> tuple[Incident, TimelineEntry]:
    """All alerts of an open incident have resolved."""
    entry = TimelineEntry(
        at=at,
        kind="resolve",
        actor=SYSTEM_ACTOR,
        message="all alerts resolved",
        data={"from": str(incident.status), "auto": True},
    )
    resolved = msgspec.structs.replace(
        incident, status=IncidentStatus.RESOLVED, resolved_at=at, updated_at=at
    )
    return resolved, entry
