"""The process stage: each new incident starts its procedure; every change keeps the process
timer and the recurrence index in step.

In the pipeline it runs right after route, on the incidents of the batch:

- a new incident (or one whose priority, category or labels changed, or one recorded
  before the process existed) gets its procedure selected and started
  (``triage.process.live.start_procedure``): checklist, engaged roles, cadence, review
  requirement and the reason, in the record, the ``triage`` trace and the timeline;
- a new incident is counted against the recent incidents like it ("seen 4 times in
  30d", ``triage.process.recurrence.seen``), read from the recurrence index;
- every incident gets its process timer (``triaged:timers:process``) set to when its
  process next needs a look (``live.next_due``), or cleared; the scheduler takes it from
  there (``daemon.process_timers``).

The API's actions and the scheduler's own changes call ``after_change`` with the same
bookkeeping, so whoever changes an incident, its timer follows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import msgspec
from redis.asyncio import Redis

from daemon import keys, store
from daemon.commit import Commit
from daemon.metrics import Metrics
from daemon.notify_stage import announce
from daemon.routing_stage import escalation_timers
from routing import RoutingTable
from triage.batch import Outcome, Snapshot
from triage.incident import Incident, TimelineEntry
from triage.process import live
from triage.process.config import ProcessSettings
from triage.process.recurrence import Occurrence, seen

Decide = Callable[[Incident], tuple[Incident, list[TimelineEntry]]]

_KEY = "key"
_SERVICE = "service+category"


class Restricted(Exception):
    """The caller's token lacks the scope the incident's procedure restricts it to (403)."""

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        super().__init__(f"incident {incident.id} needs a token with its scope")


def bases(incident: Incident) -> list[tuple[str, str]]:
    """What recurrence counts an incident under: its key, and its service with category."""
    found = [(_KEY, incident.key)] if incident.key else []
    service = incident.labels.get("service", "")
    if service:
        found.append((_SERVICE, f"{service}/{incident.category}"))
    return found


def occurrence(basis: str, value: str, created_at: float, id: str) -> Occurrence:
    """An incident found under one basis of the index, as recurrence sees it."""
    if basis == _KEY:
        return Occurrence(id=id, key=value, service="", category="", created_at=created_at)
    service, _, category = value.partition("/")
    return Occurrence(id=id, key="", service=service, category=category, created_at=created_at)


class ProcessStage:
    def __init__(self, redis: Redis, settings: ProcessSettings):
        self.redis = redis
        self.settings = settings

    async def apply(self, outcome: Outcome, snapshot: Snapshot, now: float) -> None:
        """Start procedures and count recurrence for the batch's incidents, in place."""
        procedures = self.settings.procedures
        for incident_id, new in list(outcome.incidents.items()):
            old = snapshot.incidents.get(incident_id)
            fresh = incident_id in outcome.created or new.process is None
            changed = old is not None and new.status.is_open and live.reclassified(old, new)
            if not (fresh or changed):
                continue
            started, entries = live.start_procedure(new, procedures, now=now)
            outcome.incidents[incident_id] = started
            if entries:
                outcome.timeline.setdefault(incident_id, []).extend(entries)
        if outcome.created:
            await self._count_recurrence(outcome)

    async def _count_recurrence(self, outcome: Outcome) -> None:
        """How often each new incident was seen: the recent incidents like it, from the
        index and from the batch itself (whose incidents are not in the index yet)."""
        created = [outcome.incidents[i] for i in outcome.created]
        lookups = list(dict.fromkeys(b for incident in created for b in bases(incident)))
        if not lookups:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for basis, value in lookups:
                pipe.zrangebyscore(keys.recurrence(basis, value), "-inf", "+inf", withscores=True)
            found = cast("list[list[tuple[bytes, float]]]", await pipe.execute())
        history = [
            occurrence(basis, value, score, store.text(member))
            for (basis, value), members in zip(lookups, found, strict=True)
            for member, score in members
        ]
        history += [_whole(incident) for incident in created]
        for incident in created:
            if not bases(incident):
                continue  # neither key nor service: nothing to be like
            counted = seen(_whole(incident), history, settings=self.settings.recurrence)
            record = msgspec.structs.replace(live.record_of(incident), seen=counted)
            outcome.incidents[incident.id] = msgspec.structs.replace(incident, process=record)

    def write(self, commit: Commit, outcome: Outcome, snapshot: Snapshot, now: float) -> None:
        for incident_id, new in outcome.incidents.items():
            record_change(commit, snapshot.incidents.get(incident_id), new, self.settings, now)


def _whole(incident: Incident) -> Occurrence:
    service = incident.labels.get("service", "")
    return Occurrence(
        id=incident.id,
        key=incident.key,
        service=service,
        category=incident.category,
        created_at=incident.created_at,
    )


def record_change(
    commit: Commit, old: Incident | None, new: Incident, settings: ProcessSettings, now: float
) -> None:
    """The bookkeeping any change of an incident calls for: its process timer and its
    place in the recurrence index. A change the timer does not depend on (another alert
    joining, a refresh) leaves the timer as it was set."""
    if old is None or _timer_inputs(old) != _timer_inputs(new):
        arm(commit, new.id, live.next_due(new, settings, now=now))
    if old is None or _index_inputs(old) != _index_inputs(new):
        index(commit, old, new, settings, now)


def _timer_inputs(incident: Incident) -> tuple[object, ...]:
    """What ``live.next_due`` reads of an incident."""
    i = incident
    return (
        i.status, i.priority, i.procedure, i.created_at, i.acknowledged_at, i.resolved_at,
        i.closed_at, i.reopen_count, i.process,
    )  # fmt: skip


def _index_inputs(incident: Incident) -> tuple[object, ...]:
    """What ``index`` reads of an incident."""
    record = incident.process
    cancelled = None if record is None else record.cancelled
    return incident.key, incident.labels.get("service"), incident.category, cancelled


def arm(commit: Commit, incident_id: str, at: float | None) -> None:
    """Set the incident's process timer to ``at``, or clear it."""
    if at is None:
        commit.zrem(keys.PROCESS_TIMERS, [incident_id])
    else:
        commit.zadd(keys.PROCESS_TIMERS, {incident_id: at})


def index(
    commit: Commit, old: Incident | None, new: Incident, settings: ProcessSettings, now: float
) -> None:
    """Keep the recurrence index: a new incident joins it under its key and its service
    and category, a recategorised one moves, a cancelled one leaves. Each index holds one
    window of incidents and expires when none came for a window and a day."""
    before = set() if old is None else set(_counted(old))
    after = set(_counted(new))
    window = settings.recurrence.window
    for basis, value in after - before:
        key = keys.recurrence(basis, value)
        commit.zadd(key, {new.id: new.created_at})
        commit.command("ZREMRANGEBYSCORE", key, "-inf", now - window)
        commit.command("EXPIRE", key, math.ceil(window) + 86400)
    for basis, value in before - after:
        commit.zrem(keys.recurrence(basis, value), [new.id])


def _counted(incident: Incident) -> list[tuple[str, str]]:
    """Cancelled incidents are not recurrences: a duplicate is not the cause coming back."""
    return [] if live.record_of(incident).cancelled is not None else bases(incident)


def after_action(
    decide: Decide, settings: ProcessSettings, scopes: frozenset[str] | None, now: float
) -> Decide:
    """Wrap an API action's decision: refuse incidents the caller may not read
    (``Restricted``), and choose the procedure again when the action reclassified it."""

    def decided(incident: Incident) -> tuple[Incident, list[TimelineEntry]]:
        if not live.visible(incident, settings.procedures, scopes):
            raise Restricted(incident)
        new, entries = decide(incident)
        if live.reclassified(incident, new) and new.status.is_open:
            new, more = live.start_procedure(new, settings.procedures, now=now)
            entries = [*entries, *more]
        return new, entries

    return decided


def after_change(
    commit: Commit,
    old: Incident,
    new: Incident,
    *,
    table: RoutingTable,
    settings: ProcessSettings,
    now: float,
    public_url: str | None,
) -> Incident:
    """What an operator's change calls for besides itself: the escalation timer, the
    process bookkeeping and the announcements to the group's channels."""
    due = escalation_timers([new], table)
    store.write_timers(commit, keys.ESCALATIONS, due.due, due.cleared)
    record_change(commit, old, new, settings, now)
    return announce(commit, old, new, now=now, public_url=public_url)


def observe(outcome: Outcome, metrics: Metrics) -> None:
    """Count the procedures a committed batch started."""
    for entries in outcome.timeline.values():
        for entry in entries:
            if entry.kind == "procedure":
                metrics.procedures_started.labels(str(entry.data.get("procedure"))).inc()
