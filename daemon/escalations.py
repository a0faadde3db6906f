"""Escalation timers: page the next level of an incident nobody acknowledged in time.

The pipeline and the incident actions keep one timer per incident at the time its
policy's next step is due. Each tick takes the due ones and, in a checked commit on the
incident, records the step and re-arms the timer, so with several daemons each step
happens once. A maintenance window over the incident's labels defers the step to the
window's end.
"""

from __future__ import annotations

from typing import cast

import structlog
from redis.asyncio import Redis

from daemon import keys, store
from daemon.commit import Commit
from daemon.delivery import notifications_for, queue, transition
from daemon.metrics import Metrics
from daemon.notify_stage import incident_url
from daemon.routing_stage import RoutingRef, escalation_timers
from routing import (
    EscalationStep,
    RoutingTable,
    active_maintenance,
    next_escalation,
    resolve_recipients,
)
from routing.assign import apply_step, escalation_state
from triage.incident import SYSTEM_ACTOR, Incident, TimelineEntry

log = structlog.get_logger("triaged.escalations")


async def escalate_due(
    redis: Redis, routing: RoutingRef, metrics: Metrics, now: float, public_url: str | None = None
) -> int:
    """Take every due escalation step; returns how many were taken."""
    members = await redis.zrangebyscore(keys.ESCALATIONS, "-inf", now, start=0, num=500)
    taken = 0
    for member in members:
        incident_id = store.text(cast("bytes", member))
        for _attempt in range(10):
            outcome = await _escalate_one(redis, routing, incident_id, now, public_url)
            if outcome is not None:
                if outcome:
                    taken += 1
                    metrics.escalations.labels(outcome).inc()
                break
    return taken


async def _escalate_one(
    redis: Redis, routing: RoutingRef, incident_id: str, now: float, public_url: str | None
) -> str | None:
    """The step's reason when escalated; "" when nothing was due (timer re-armed or
    cleared); None on a conflict with another writer."""
    table = routing.table
    raw = await redis.get(keys.incident(incident_id))
    commit = Commit()
    commit.expect(keys.incident(incident_id), raw)
    if raw is None:
        commit.zrem(keys.ESCALATIONS, [incident_id])
        return "" if await commit.apply(redis) else None
    incident = store.decode_incident(raw)
    policy = table.policies.get(incident.escalation_policy or "")
    window = active_maintenance(table.silences, incident.labels, now)
    paused_until = window.ends_at if window is not None else None
    step = None
    if policy is not None:
        step = next_escalation(policy, escalation_state(incident), now, paused_until=paused_until)
    updated = incident
    if step is not None:
        updated, entry = take_step(commit, incident, step, table, now=now, public_url=public_url)
        store.write_incident(commit, incident, updated)
        commit.rpush(keys.incident_timeline(incident_id), [store.encode(entry)])
    timers = escalation_timers([updated], table)
    if step is None and paused_until is not None and incident_id in timers.due:
        timers.due[incident_id] = max(timers.due[incident_id], paused_until)
    store.write_timers(commit, keys.ESCALATIONS, timers.due, timers.cleared)
    if not await commit.apply(redis):
        return None
    if step is not None:
        log.info(
            "incident_escalated",
            incident_id=incident_id,
            level=step.level,
            policy=step.policy,
            reason=str(step.reason),
        )
    return str(step.reason) if step is not None else ""


def take_step(
    commit: Commit,
    incident: Incident,
    step: EscalationStep,
    table: RoutingTable,
    *,
    now: float,
    public_url: str | None,
) -> tuple[Incident, TimelineEntry]:
    """Record ``step`` on the incident and queue its pages to the people and channels it
    reaches now; the caller writes the incident and the entry in the same commit."""
    recipients = resolve_recipients(step.targets, table.groups, incident.group, now)
    updated, entry = apply_step(incident, step, recipients, now=now, actor=SYSTEM_ACTOR)
    kind = transition("escalated", step.level, cycle=incident.reopen_count)
    url = incident_url(public_url, incident.id)
    for recipient in recipients:
        target = recipient.person or recipient.group or ""
        queue(
            commit,
            notifications_for(updated, kind, recipient.channels, now=now, target=target, url=url),
        )
    return updated, entry
