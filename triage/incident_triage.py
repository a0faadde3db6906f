"""Between an incident and the models: what they read of it, and what their answer changes.

The classify stage calls ``triage_input`` for every new incident, hands the batch to the
models, and writes each ``TriageResult`` back with ``apply_triage``: category, priority and
the trace (confidences, runners-up, model versions, the rule that set the priority) that lets
a person see why. ``rescope`` raises the priority of an open incident when its blast radius
grows past what it was classified with, and ``reclassify`` is the operator's correction.
"""

from __future__ import annotations

from typing import Any

import msgspec

from triage.classify.priority import LEVELS, PRIORITIES, PriorityPolicy, prioritise
from triage.classify.values import (
    Correction,
    Prediction,
    PriorityDecision,
    TriageInput,
    TriageResult,
)
from triage.incident import Incident, TimelineEntry, TransitionError

INSTANCE_LABELS = ("instance", "pod", "host", "node", "container")
"""Labels that name one replica; an incident's instance count is their distinct values."""


def scope_of(incident: Incident) -> tuple[list[str], int]:
    """Services and instances the incident covers: the correlation profile's figures when
    correlation computed them, else what the opening alert names."""
    impact = incident.triage.get("impact")
    if isinstance(impact, dict):
        services = [str(s) for s in impact.get("services", [])]
        instances = impact.get("instances")
        if services and isinstance(instances, int):
            return services, max(1, instances)
    service = incident.labels.get("service")
    return ([service] if service else []), 1


def triage_input(incident: Incident) -> TriageInput:
    services, instances = scope_of(incident)
    return TriageInput(
        title=incident.title,
        description=incident.description,
        labels=dict(incident.labels),
        source=incident.source,
        severity=incident.labels.get("severity"),
        service=incident.labels.get("service") or None,
        alert_count=max(1, incident.alert_count),
        services=services,
        instances=instances,
    )


def prediction_trace(prediction: Prediction) -> dict[str, Any]:
    return {
        "value": prediction.label,
        "confidence": prediction.confidence,
        "decided_by": prediction.decided_by,
        "model": prediction.model,
        "model_version": prediction.model_version,
        "alternatives": [
            {"value": a.label, "confidence": a.confidence} for a in prediction.alternatives
        ],
    }


def priority_trace(
    decision: PriorityDecision, urgency_model: Prediction | None = None
) -> dict[str, Any]:
    """``urgency_model`` is the text model's reading, with its confidence, when it decided."""
    trace: dict[str, Any] = {
        "value": decision.priority,
        "decided_by": decision.rule,
        "impact": decision.impact,
        "urgency": decision.urgency,
        "urgency_source": decision.urgency_source,
        "reasons": list(decision.reasons),
    }
    if urgency_model is not None:
        trace["urgency_model"] = prediction_trace(urgency_model)
    return trace


def apply_triage(incident: Incident, result: TriageResult) -> Incident:
    """The models' decision on a new incident; the group is the route stage's to decide,
    so the model's choice is kept as ``group_suggestion`` for it."""
    triage = dict(incident.triage)
    triage["kind"] = result.kind
    triage["category"] = prediction_trace(result.category)
    if result.service is not None:
        triage["service"] = prediction_trace(result.service)
    triage["priority"] = priority_trace(result.priority, result.urgency)
    triage["group_suggestion"] = prediction_trace(result.group)
    triage["model_versions"] = dict(result.model_versions)
    return msgspec.structs.replace(
        incident,
        category=result.category.label,
        priority=result.priority.priority,
        triage=triage,
    )


def rescope(incident: Incident, policy: PriorityPolicy, *, now: float) -> TimelineEntry | None:
    """A timeline entry when the incident's current scope calls for a higher priority than
    it has; ``None`` otherwise. Never lowers a priority, and never touches one an operator
    set: a person's decision outranks a growing alert count."""
    trace = incident.triage.get("priority")
    if not isinstance(trace, dict) or trace.get("decided_by") == "operator":
        return None
    if not incident.status.is_open:
        return None
    services, instances = scope_of(incident)
    read = trace.get("urgency") if trace.get("urgency_source") == "text-model" else None
    decision = prioritise(
        policy,
        severity=incident.labels.get("severity"),
        category=incident.category,
        service=incident.labels.get("service"),
        services=services,
        instances=instances,
        alert_count=incident.alert_count,
        # Without a severity the urgency was read from the text at opening; scope is impact.
        text_urgency=read if read in LEVELS else None,
        environment=incident.labels.get("environment") or incident.labels.get("env"),
    )
    if PRIORITIES.index(decision.priority) >= PRIORITIES.index(incident.priority):
        return None
    return TimelineEntry(
        at=now,
        kind="reprioritise",
        actor="triaged",
        message=f"priority {incident.priority} -> {decision.priority}: {decision.reasons[-1]}",
        data={"from": incident.priority, **priority_trace(decision)},
    )


def apply_rescope(incident: Incident, entry: TimelineEntry) -> Incident:
    data = entry.data
    triage = dict(incident.triage)
    triage["priority"] = {k: v for k, v in data.items() if k != "from"}
    return msgspec.structs.replace(
        incident, priority=str(data["value"]), triage=triage, updated_at=entry.at
    )


def training_label(old: Incident, new: Incident) -> Correction | None:
    """What an operator's change teaches the models: the incident as they first saw it,
    with the group and category a person chose."""
    group = new.group if new.group != old.group else None
    category = new.category if new.category != old.category else None
    if group is None and category is None:
        return None
    return Correction(item=triage_input(old), group=group, category=category)


def reclassify(
    incident: Incident,
    *,
    category: str | None,
    priority: str | None,
    known_categories: frozenset[str],
    actor: str,
    reason: str,
    now: float,
) -> tuple[Incident, TimelineEntry]:
    """An operator's category and/or priority; both become the incident's trace with
    ``decided_by: operator``, and the change is a training label for the models."""
    if category is None and priority is None:
        raise ValueError("give category, priority or both")
    if category is not None and known_categories and category not in known_categories:
        known = ", ".join(sorted(known_categories))
        raise ValueError(f"unknown category {category!r} for this incident; known: {known}")
    if priority is not None and priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}")
    if category == incident.category:
        category = None
    if priority == incident.priority:
        priority = None
    if category is None and priority is None:
        raise TransitionError(
            f"incident {incident.id} already has category {incident.category}"
            f" and priority {incident.priority}"
        )
    triage = dict(incident.triage)
    changed: dict[str, Any] = {}
    data: dict[str, Any] = {}
    if category is not None:
        data["category"] = {"from": incident.category, "to": category}
        triage["category"] = {
            **triage.get("category", {}),
            "value": category,
            "decided_by": "operator",
            "actor": actor,
        }
        changed["category"] = category
    if priority is not None:
        data["priority"] = {"from": incident.priority, "to": priority}
        triage["priority"] = {
            **triage.get("priority", {}),
            "value": priority,
            "decided_by": "operator",
            "actor": actor,
        }
        changed["priority"] = priority
    parts = [f"{field} {change['from']} -> {change['to']}" for field, change in data.items()]
    entry = TimelineEntry(
        at=now,
        kind="reclassify",
        actor=actor,
        message="; ".join(parts) + (f": {reason}" if reason else ""),
        data=data,
    )
    return msgspec.structs.replace(incident, triage=triage, updated_at=now, **changed), entry
