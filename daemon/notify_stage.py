"""The notify stage: which incident changes reach the incident's channels.

An incident's channels hear of it when it opens (unless a silence or maintenance window
muted it, in which case when the muting ends), and then of acknowledgement, resolution
and reopening. Once an incident was announced, its resolution is announced too, even if
a silence started in between, so nobody is left believing it still burns. Escalation
steps notify their own recipients (``daemon.escalations``). Notifications are queued in
the same commit as the change, so they go out if and only if the change is recorded.
"""

from __future__ import annotations

import msgspec

from daemon.commit import Commit
from daemon.delivery import notifications_for, queue, transition
from triage.incident import Incident, IncidentStatus


def transitions(old: Incident | None, new: Incident) -> list[str]:
    """The announcements ``old`` -> ``new`` calls for (``old`` None: just opened)."""
    cycle = new.reopen_count
    if not new.notified:
        opening = old is None or bool(old.suppressed_by)
        if opening and not new.suppressed_by and new.status.is_open:
            return [transition("opened")]
        return []
    if old is None or old.status is new.status:
        return []
    if new.status is IncidentStatus.ACKNOWLEDGED:
        return [transition("acknowledged", cycle=cycle)]
    if new.status is IncidentStatus.RESOLVED:
        return [transition("resolved", cycle=cycle)]
    if new.status is IncidentStatus.TRIGGERED and old.status is IncidentStatus.RESOLVED:
        return [transition("reopened", cycle=cycle)]
    return []


def announce(
    commit: Commit, old: Incident | None, new: Incident, *, now: float, public_url: str | None
) -> Incident:
    """Queue what the change calls for; returns the incident marked as announced."""
    kinds = transitions(old, new)
    if not kinds:
        return new
    url = incident_url(public_url, new.id)
    for kind in kinds:
        queue(
            commit, notifications_for(new, kind, new.channels, now=now, target=new.group, url=url)
        )
    return new if new.notified else msgspec.structs.replace(new, notified=True)


def incident_url(public_url: str | None, incident_id: str) -> str:
    return f"{public_url.rstrip('/')}/api/v1/incidents/{incident_id}" if public_url else ""
