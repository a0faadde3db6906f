"""The route stage: give a new incident its resolver group, escalation policy and channels.

The routing decision's trace goes into the incident's ``triage`` record, so anyone looking
at the incident can see which route (or the model's suggestion, or the default) decided.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from routing.escalation import EscalationState, EscalationStep, Recipient
from routing.matchers import Subject
from routing.table import RoutingTable
from routing.tree import ModelSuggestion, RoutingDecision
from triage.incident import Incident, IncidentStatus, TimelineEntry, TransitionError


def subject_of(incident: Incident) -> Subject:
    """What routes match on: the opening alert's labels plus the incident's fields."""
    return Subject(
        labels=incident.labels,
        category=incident.category,
        priority=incident.priority,
        service=incident.labels.get("service", ""),
        source=incident.source,
        procedure=incident.procedure,
    )


def assign(
    incident: Incident,
    table: RoutingTable,
    now: float,
    suggestion: ModelSuggestion | None = None,
) -> tuple[Incident, RoutingDecision]:
    decision = table.tree.route(subject_of(incident), now, suggestion)
    first = decision.targets[0]
    channels = list(dict.fromkeys(c for target in decision.targets for c in target.channels))
    triage = dict(incident.triage)
    triage["group"] = {
        "value": first.group,
        "decided_by": str(decision.trace.decided_by),
        "route": first.route_key,
        "routes": [t.route_key for t in decision.targets],
        "also": [t.group for t in decision.targets[1:]],
    }
    triage["route"] = msgspec.to_builtins(decision.trace)
    routed = msgspec.structs.replace(
        incident,
        group=first.group,
        escalation_policy=first.escalation_policy,
        channels=channels,
        triage=triage,
    )
    return routed, decision


def escalation_state(incident: Incident) -> EscalationState:
    return EscalationState(
        status=incident.status,
        created_at=incident.created_at,
        acknowledged_at=incident.acknowledged_at,
        escalation_level=incident.escalation_level,
        last_escalated_at=incident.last_escalated_at,
    )


def apply_step(
    incident: Incident,
    step: EscalationStep,
    recipients: Sequence[Recipient],
    *,
    now: float,
    actor: str,
) -> tuple[Incident, TimelineEntry]:
    """Record an escalation step on the incident; the caller notifies the recipients."""
    people = [r.person for r in recipients if r.person]
    channels = list(dict.fromkeys(c for r in recipients for c in r.channels))
    entry = TimelineEntry(
        at=now,
        kind="escalate",
        actor=actor,
        message=f"escalated to level {step.level} ({step.reason}): "
        + (", ".join(people + channels) or "nobody to notify"),
        data={
            "policy": step.policy,
            "level": step.level,
            "position": step.position,
            "cycle": step.cycle,
            "reason": str(step.reason),
            "people": people,
            "channels": channels,
        },
    )
    escalated = msgspec.structs.replace(
        incident, escalation_level=step.level, last_escalated_at=now, updated_at=now
    )
    return escalated, entry


def reassign(
    incident: Incident, table: RoutingTable, group: str, *, actor: str, reason: str, now: float
) -> tuple[Incident, TimelineEntry]:
    """An operator moves the incident to another group; its policy and channels follow."""
    target = table.groups.get(group)
    if target is None:
        known = ", ".join(sorted(table.groups))
        raise ValueError(f"unknown group {group!r}; known: {known}")
    if incident.status is IncidentStatus.CLOSED:
        raise TransitionError(f"cannot reassign incident {incident.id}: it is closed")
    triage = dict(incident.triage)
    triage["group"] = {
        "value": group,
        "decided_by": "operator",
        "actor": actor,
        "previous": incident.group,
    }
    entry = TimelineEntry(
        at=now,
        kind="reassign",
        actor=actor,
        message=reason or f"reassigned from {incident.group} to {group}",
        data={"from": incident.group, "to": group, "reason": reason},
    )
    moved = msgspec.structs.replace(
        incident,
        group=group,
        escalation_policy=target.escalation_policy,
        channels=list(target.channels),
        escalation_level=0,
        last_escalated_at=None,
        triage=triage,
        updated_at=now,
    )
    return moved, entry
