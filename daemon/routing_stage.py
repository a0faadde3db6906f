"""The route stage and escalation timers, between the fold and the commit.

New incidents are routed with the current routing table; every incident a batch touches
gets its escalation timer set to when the policy's next step is due (or cleared when no
step remains, or while a silence mutes it), so the scheduler only ever looks at incidents
that have something due.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from daemon.metrics import Metrics
from routing import RoutingTable, plan_escalation
from routing.assign import assign, escalation_state
from routing.tree import ModelSuggestion
from triage.batch import Outcome
from triage.incident import Incident


class RoutingRef:
    """The routing table in service; hot reload replaces ``table`` in one assignment."""

    def __init__(self, table: RoutingTable):
        self.table = table


def route_new(
    outcome: Outcome,
    table: RoutingTable,
    now: float,
    suggestions: Mapping[str, ModelSuggestion],
) -> None:
    for incident_id in outcome.created:
        routed, _ = assign(outcome.incidents[incident_id], table, now, suggestions.get(incident_id))
        outcome.incidents[incident_id] = routed


def count_route_hits(outcome: Outcome, metrics: Metrics) -> None:
    """Per-route counters from a committed batch (a batch folded again after a conflict
    routes again, and must not count twice)."""
    for incident_id in outcome.created:
        group = outcome.incidents[incident_id].triage.get("group", {})
        for route_key in group.get("routes", ()):
            metrics.route_hits.labels(route_key).inc()


class Timers(msgspec.Struct):
    due: dict[str, float] = {}
    cleared: list[str] = []


def escalation_timers(incidents: list[Incident], table: RoutingTable) -> Timers:
    timers = Timers()
    for incident in incidents:
        policy = table.policies.get(incident.escalation_policy or "")
        muted = bool(incident.suppressed_by)
        step = (
            None
            if policy is None or muted
            else plan_escalation(policy, escalation_state(incident)).step
        )
        if step is None:
            timers.cleared.append(incident.id)
        else:
            timers.due[incident.id] = step.due_at
    return timers
