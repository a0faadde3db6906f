"""The process timer: service targets, stakeholder notices, update reminders and auto-close.

Every incident whose process has something ahead (a target clock to turn at risk or
breach, a notice owed to subscribers, an update owed to them, an auto-close) has one
member in ``triaged:timers:process`` at the time of the earliest (``live.next_due``).
Each scheduler tick takes the due ones and, per incident, in one checked commit:

1. evaluates the process (``triage.process.live.evaluate``) and records on the incident
   and its timeline what changed: a clock at risk or breached, a clock met;
2. acts on it: at risk is posted to the group's channels; a breach of a running clock
   takes the next step of the incident's escalation policy (``target_breached``, through
   routing like any escalation step, re-arming the escalation timer), or is posted to the
   group's channels when the policy has no step left (neither while a silence mutes the
   incident or a maintenance window covers it: then both are only recorded); an overdue
   update is a reminder to the group's channels; owed notices go to the incident's and
   its service's subscribers; an auto-close releases the key as any close does;
3. re-arms the timer for the next look, or clears it.

With several daemons each change happens once: the commit checks the incident, and the
incident records what was already reported, so a second evaluation finds nothing new.
Metrics are counted after the commit applied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import cast

import msgspec
import structlog
from redis.asyncio import Redis

from daemon import keys, stakeholders, store
from daemon.commit import Commit
from daemon.delivery import Notification, notifications_for, queue, transition
from daemon.escalations import take_step
from daemon.metrics import Metrics
from daemon.notify_stage import incident_url
from daemon.process_stage import arm, index
from daemon.routing_stage import RoutingRef, escalation_timers
from routing import EscalationStep, RoutingTable, active_maintenance, manual_escalation
from routing.assign import escalation_state
from routing.escalation import EscalationReason
from triage.incident import Incident, TimelineEntry
from triage.process import live
from triage.process.config import ProcessSettings
from triage.process.kpis import IncidentFacts, compute_kpis, is_drill
from triage.process.targets import ClockState

log = structlog.get_logger("triaged.process")

_BATCH = 500


class _Outcome(msgspec.Struct):
    """What one evaluation led to, kept for the metrics once its commit applied."""

    evaluation: live.Evaluation
    escalated: str | None = None  # the escalation step's reason


async def run_due(
    redis: Redis,
    routing: RoutingRef,
    settings: ProcessSettings,
    metrics: Metrics,
    now: float,
    public_url: str | None = None,
) -> int:
    """Handle every process timer due at ``now``; returns how many incidents were looked at."""
    members = await redis.zrangebyscore(keys.PROCESS_TIMERS, "-inf", now, start=0, num=_BATCH)
    for member in members:
        incident_id = store.text(cast("bytes", member))
        for _attempt in range(10):
            outcome = await _one(redis, routing.table, settings, incident_id, now, public_url)
            if isinstance(outcome, _Outcome):
                _observe(outcome, metrics)
            if outcome is not None:
                break
    return len(members)


async def _one(
    redis: Redis,
    table: RoutingTable,
    settings: ProcessSettings,
    incident_id: str,
    now: float,
    public_url: str | None,
) -> _Outcome | bool | None:
    """The outcome when evaluated, True when the incident is gone, None on a conflict."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.incident(incident_id))
        pipe.lrange(keys.incident_timeline(incident_id), 0, -1)
        raw, timeline_raw = await pipe.execute()
    commit = Commit()
    commit.expect(keys.incident(incident_id), raw)
    if raw is None:
        commit.zrem(keys.PROCESS_TIMERS, [incident_id])
        return True if await commit.apply(redis) else None
    incident = store.decode_incident(raw)
    timeline = [store.decode_entry(e) for e in timeline_raw]
    evaluation = live.evaluate(incident, timeline, settings, now=now)
    updated = evaluation.incident
    entries = list(evaluation.entries)
    url = incident_url(public_url, incident_id)
    notices: list[Notification] = []
    escalated = None
    # Muted (a silence) or in a maintenance window: recorded, but nobody is paged.
    quiet = bool(updated.suppressed_by) or (
        active_maintenance(table.silences, updated.labels, now) is not None
    )
    for change in evaluation.changes:
        if change.state is ClockState.AT_RISK and not quiet:
            text = _text(entries, "target", change.clock)
            notices += _to_group(updated, "target_at_risk", change.clock, text, now, url)
    if evaluation.escalate and not quiet:
        step = _breach_step(updated, table, now)
        if step is None:
            for clock in evaluation.escalate:
                text = _text(entries, "target", clock)
                notices += _to_group(updated, "target_breached", clock, text, now, url)
        else:
            updated, entry = take_step(commit, updated, step, table, now=now, public_url=public_url)
            entries.append(entry)
            escalated = str(step.reason)
    if evaluation.reminder is not None:
        text = _text(entries, "update_due")
        notices += _to_group(updated, "update_due", evaluation.reminder, text, now, url)
    if evaluation.notices:
        subscribers = await stakeholders.subscriptions(redis, stakeholders.incident_scopes(updated))
        notices += stakeholders.notifications(
            updated, evaluation.notices, subscribers, now=now, url=url
        )
    if evaluation.auto_closed:
        await store.release_key(redis, commit, incident)
    if updated != incident:
        store.write_incident(commit, incident, updated)
    if entries:
        commit.rpush(keys.incident_timeline(incident_id), [store.encode(e) for e in entries])
    queue(commit, notices)
    due = escalation_timers([updated], table)
    store.write_timers(commit, keys.ESCALATIONS, due.due, due.cleared)
    arm(commit, incident_id, evaluation.next_at)
    index(commit, incident, updated, settings, now)
    if not await commit.apply(redis):
        return None
    _log(updated, evaluation, escalated)
    return _Outcome(evaluation, escalated)


def _text(entries: Sequence[TimelineEntry], kind: str, clock: str | None = None) -> str:
    """The message of the entry a post announces, so the channel reads what the record says."""
    return next(
        (
            e.message
            for e in entries
            if e.kind == kind and (clock is None or e.data.get("clock") == clock)
        ),
        "",
    )


def _to_group(
    incident: Incident, kind: str, detail: str | int, text: str, now: float, url: str
) -> list[Notification]:
    """A post to the incident's group channels."""
    return notifications_for(
        incident,
        transition(kind, detail, cycle=incident.reopen_count),
        incident.channels,
        now=now,
        target=incident.group,
        url=url,
        message=text,
    )


def _breach_step(incident: Incident, table: RoutingTable, now: float) -> EscalationStep | None:
    """The policy's next step for a breached target; None without a policy or a step left."""
    policy = table.policies.get(incident.escalation_policy or "")
    if policy is None:
        return None
    return manual_escalation(
        policy, escalation_state(incident), now, reason=EscalationReason.TARGET_BREACHED
    )


def _observe(outcome: _Outcome, metrics: Metrics) -> None:
    evaluation = outcome.evaluation
    priority = evaluation.incident.priority
    for change in evaluation.changes:
        metrics.service_targets.labels(change.clock, str(change.state)).inc()
    for clock in evaluation.met:
        metrics.service_targets.labels(clock, "met").inc()
    for clock, seconds in evaluation.stopped.items():
        histogram = metrics.respond_seconds if clock == "respond" else metrics.resolve_seconds
        histogram.labels(priority).observe(seconds)
    if evaluation.reminder is not None:
        metrics.update_reminders.inc()
    if evaluation.auto_closed:
        metrics.incidents_closed.labels("auto").inc()
    if outcome.escalated is not None:
        metrics.escalations.labels(outcome.escalated).inc()


def _log(incident: Incident, evaluation: live.Evaluation, escalated: str | None) -> None:
    bound = log.bind(incident_id=incident.id, priority=incident.priority)
    for change in evaluation.changes:
        bound.info(f"service_target_{change.state}", clock=change.clock, due_at=change.due_at)
    if escalated is not None:
        bound.info("incident_escalated", reason=escalated, level=incident.escalation_level)
    if evaluation.reminder is not None:
        bound.info("update_reminder_queued", update=evaluation.reminder)
    if evaluation.notices:
        bound.info("stakeholder_notices_queued", notices=[n.kind for n in evaluation.notices])
    if evaluation.auto_closed:
        bound.info("incident_auto_closed")


class _OpenIncident(msgspec.Struct):
    """The fields of an open incident the backlog gauges read. Decoding only these is
    about 25 times cheaper than whole incidents, which at 50,000 open took 5 s of the
    event loop every housekeeping pass (measured); open incidents are never cancelled,
    so no timeline is needed."""

    id: str
    priority: str
    procedure: str
    created_at: float
    updated_at: float
    labels: dict[str, str] = {}

    def facts(self) -> IncidentFacts:
        return IncidentFacts(
            id=self.id,
            priority=self.priority,
            procedure=self.procedure,
            created_at=self.created_at,
            last_updated_at=self.updated_at,
            drill=is_drill(self.labels),
        )


_open_incident = msgspec.json.Decoder(_OpenIncident)


async def process_gauges(
    redis: Redis, settings: ProcessSettings, metrics: Metrics, now: float
) -> None:
    """The backlog gauges: open incidents by age and procedure, and the stale ones."""
    ids: list[str] = []
    for status in ("triggered", "acknowledged"):
        members = await redis.zrange(keys.index("status", status), 0, -1)
        ids += [store.text(cast("bytes", m)) for m in members]
    incidents: list[_OpenIncident] = []
    for start in range(0, len(ids), _BATCH):
        docs = await redis.mget([keys.incident(i) for i in ids[start : start + _BATCH]])
        incidents += [_open_incident.decode(d) for d in docs if d is not None]
    report = compute_kpis(
        (incident.facts() for incident in incidents),
        start=now,
        end=now,
        now=now,
        targets=settings.targets,
        settings=settings.kpis,
    )
    backlog = report.total.backlog
    for age, count in backlog.by_age.items():
        metrics.backlog.labels(age).set(count)
    metrics.backlog_stale.set(backlog.stale)
    by_procedure = Counter(i.procedure for i in incidents)
    for name in {*settings.procedures.by_name, *by_procedure}:
        metrics.open_by_procedure.labels(name).set(by_procedure.get(name, 0))
