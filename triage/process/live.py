"""The process on live incidents: procedures started, casework recorded, clocks watched.

Every function takes an incident (and ``now``) and returns the changed incident with the
timeline entries that document the change, as ``triage.incident.perform`` does, so the
shell writes both in one checked commit. What the other process modules decide in the
abstract (selection, checklists, closure, targets, follow-ups) is applied here to the
incident's ``ProcessRecord``.

Refusals: ``InvalidInput`` (the request is wrong: a 400 naming the field),
``TransitionError`` (the incident's state forbids it: a 409), ``UnknownItem`` (no such
step or follow-up: a 404).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec

from triage.incident import (
    SYSTEM_ACTOR,
    Action,
    Incident,
    IncidentStatus,
    TimelineEntry,
    TransitionError,
    perform,
)
from triage.process import review
from triage.process.common import InvalidInput, format_duration, iso
from triage.process.config import ProcessSettings
from triage.process.procedures import (
    Procedures,
    auto_close_due,
    can_view,
    checklist_for,
    close_check,
    complete_step,
    next_update_due,
    resolution_check,
    select_procedure,
)
from triage.process.record import Pause, ProcessRecord
from triage.process.targets import (
    CLOCKS,
    ClockState,
    TargetChange,
    TargetStatus,
    change_entry,
    clock_states,
    incident_times,
    next_change_at,
    target_changes,
    target_status,
)

Change = tuple[Incident, list[TimelineEntry]]

CANCEL_REASONS: Final = ("duplicate", "false-alarm", "drill")
PAUSE_REASONS: Final = ("customer", "supplier")


def record_of(incident: Incident) -> ProcessRecord:
    """The incident's record; an incident recorded before the process ran has an empty one."""
    return incident.process if incident.process is not None else ProcessRecord()


def _said(message: str) -> str:
    """An actor's optional words appended to an entry's own text."""
    return f": {message.strip()}" if message.strip() else ""


def _with(incident: Incident, now: float | None, **changes: object) -> Incident:
    """The incident with its record changed; ``now`` None leaves ``updated_at`` alone
    (bookkeeping such as recorded clock states is not an update anyone made)."""
    record = msgspec.structs.replace(record_of(incident), **changes)
    updated = incident.updated_at if now is None else max(incident.updated_at, now)
    return msgspec.structs.replace(incident, process=record, updated_at=updated)


def visible(incident: Incident, procedures: Procedures, scopes: frozenset[str] | None) -> bool:
    """Whether a caller with ``scopes`` may read the details (None: unrestricted caller)."""
    return scopes is None or can_view(procedures.get(incident.procedure), scopes)


# ---------------------------------------------------------------------------- procedure


def start_procedure(incident: Incident, procedures: Procedures, *, now: float) -> Change:
    """Select the incident's procedure and start it, or switch to another one after its
    priority or category changed.

    Starting records the reason, the checklist, the engaged roles, the update cadence and
    whether a review is required, in the record and in the ``triage`` trace, with one
    ``procedure`` timeline entry. Re-selecting the same procedure only refreshes the
    reason; steps already done survive a switch (``checklist_for``).
    """
    service = incident.labels.get("service", "")
    name, reason = select_procedure(
        incident.category, incident.priority, service, incident.labels, procedures,
        text=incident.title,
    )  # fmt: skip
    old = incident.process
    trace = dict(incident.triage)
    trace["procedure"] = {"value": name, "decided_by": "process_selection", "reason": reason}
    if old is not None and name == incident.procedure:
        if old.reason == reason:
            return incident, []
        record = msgspec.structs.replace(old, reason=reason)
        return msgspec.structs.replace(incident, process=record, triage=trace), []
    procedure = procedures.get(name)
    base = old if old is not None else ProcessRecord()
    record = msgspec.structs.replace(
        base,
        reason=reason,
        checklist=checklist_for(procedure, base.checklist),
        engaged=list(procedure.engage),
        update_every=procedure.update_every,
        notify_subscribers=procedure.notify_subscribers,
        review_required=procedure.review_required,
    )
    previous = incident.procedure if old is not None else None
    if previous is not None:
        trace["procedure"]["previous"] = previous
    steps = ", ".join(item.id for item in record.checklist) or "none"
    cadence = format_duration(record.update_every) if record.update_every else "none"
    words = f"switched from {previous} to {name}" if previous else f"{name} procedure"
    entry = TimelineEntry(
        at=now,
        kind="procedure",
        actor=SYSTEM_ACTOR,
        message=f"{words}: {reason}; engaged: {', '.join(record.engaged) or 'nobody'};"
        f" steps: {steps}; updates every {cadence};"
        f" review {'required' if record.review_required else 'not required'}",
        data={
            "procedure": name,
            "previous": previous,
            "reason": reason,
            "engaged": record.engaged,
            "steps": [item.id for item in record.checklist],
            "update_every": record.update_every,
            "review_required": record.review_required,
        },
    )
    started = msgspec.structs.replace(incident, procedure=name, process=record, triage=trace)
    return started, [entry]


def reclassified(old: Incident, new: Incident) -> bool:
    """Whether a change touched what selection reads, so the procedure is chosen again."""
    return (old.priority, old.category, old.labels) != (new.priority, new.category, new.labels)


# ---------------------------------------------------------------------------- actions


def complete(incident: Incident, step: str, *, actor: str, note: str, now: float) -> Change:
    if incident.status is IncidentStatus.CLOSED:
        raise TransitionError(f"cannot complete a step of incident {incident.id}: it is closed")
    checklist, entry = complete_step(
        record_of(incident).checklist, step, actor=actor, now=now, note=note
    )
    return _with(incident, now, checklist=checklist), [entry]


def resolve(
    incident: Incident,
    *,
    code: str | None,
    notes: str,
    actor: str,
    now: float,
    procedures: Procedures,
) -> Change:
    """Resolve with a configured resolution code and notes (``resolution_check``)."""
    problem = resolution_check(code, notes, procedures)
    if problem is not None:
        raise InvalidInput(*problem)
    resolved, entry = perform(incident, Action.RESOLVE, actor=actor, message=notes, now=now)
    entry = msgspec.structs.replace(entry, data={**entry.data, "code": code, "notes": notes})
    record = msgspec.structs.replace(
        record_of(resolved), resolution_code=code, resolution_notes=notes.strip()
    )
    return msgspec.structs.replace(resolved, process=record), [entry]


def close(
    incident: Incident, *, force: bool, reason: str, message: str, actor: str, now: float
) -> Change:
    """Close a resolved incident; open required steps refuse it unless forced with a
    reason, which then becomes the close's timeline text (``close_check``)."""
    closed, entry = perform(incident, Action.CLOSE, actor=actor, message=message, now=now)
    check = close_check(record_of(incident).checklist, force=force, reason=reason)
    if check.needs_reason:
        raise InvalidInput("reason", check.message)
    if not check.allowed:
        raise TransitionError(check.message)
    if check.forced:
        data = {**entry.data, "forced": True, "open_steps": check.open_steps, "reason": reason}
        entry = msgspec.structs.replace(entry, message=check.message, data=data)
    return closed, [entry]


def cancel(incident: Incident, *, reason: str, message: str, actor: str, now: float) -> Change:
    """Close an incident that should not count: a duplicate, a false alarm or a drill.

    Cancelled incidents are left out of the KPIs and of recurrence. Nothing else is
    asked for (no checklist, no resolution code): there was nothing to resolve.
    """
    if reason not in CANCEL_REASONS:
        raise InvalidInput("reason", f"cancel as one of: {', '.join(CANCEL_REASONS)}")
    if incident.status is IncidentStatus.CLOSED:
        raise TransitionError(f"cannot cancel incident {incident.id}: it is closed")
    entry = TimelineEntry(
        at=now,
        kind="cancel",
        actor=actor,
        message=f"cancelled as {reason}" + _said(message),
        data={"reason": reason, "from": str(incident.status)},
    )
    cancelled = msgspec.structs.replace(
        _with(incident, now, cancelled=reason), status=IncidentStatus.CLOSED, closed_at=now
    )
    return cancelled, [entry]


def post_update(incident: Incident, *, message: str, actor: str, now: float) -> Change:
    """A stakeholder update: counted, dated (the cadence runs from it) and on the timeline."""
    if not message.strip():
        raise InvalidInput("message", "an update needs a message")
    if incident.status is IncidentStatus.CLOSED:
        raise TransitionError(f"cannot post an update on incident {incident.id}: it is closed")
    number = record_of(incident).updates + 1
    entry = TimelineEntry(
        at=now, kind="update", actor=actor, message=message.strip(), data={"update": number}
    )
    return _with(incident, now, updates=number, last_update_at=now, reminded_at=None), [entry]


def add_follow_up(
    incident: Incident,
    *,
    title: str,
    owner: str,
    due_at: float | None,
    actor: str,
    now: float,
) -> Change:
    """A tracked follow-up action; allowed in any status (reviews come after the fire)."""
    try:
        items, entry = review.add_follow_up(
            record_of(incident).follow_ups, title=title, owner=owner, actor=actor, now=now,
            due_at=due_at,
        )  # fmt: skip
    except ValueError as exc:
        raise InvalidInput("title", str(exc)) from exc
    return _with(incident, now, follow_ups=items), [entry]


def complete_follow_up(incident: Incident, follow_up: str, *, actor: str, now: float) -> Change:
    items, entry = review.complete_follow_up(
        record_of(incident).follow_ups, follow_up, actor=actor, now=now
    )
    return _with(incident, now, follow_ups=items), [entry]


def link_problem(incident: Incident, *, problem: str, actor: str, now: float) -> Change:
    """Link to a problem (a problem record's id, or a problem candidate's ``PC-...``)."""
    previous = record_of(incident).problem_id
    if previous == problem:
        raise TransitionError(f"incident {incident.id} is already linked to {problem}")
    entry = TimelineEntry(
        at=now,
        kind="problem",
        actor=actor,
        message=f"linked to problem {problem}" + (f" (was {previous})" if previous else ""),
        data={"problem": problem, "previous": previous},
    )
    return _with(incident, now, problem_id=problem), [entry]


def pause(incident: Incident, *, reason: str, message: str, actor: str, now: float) -> Change:
    """Stop the target clocks while waiting on the customer or a supplier."""
    if reason not in PAUSE_REASONS:
        raise InvalidInput("reason", f"pause for one of: {', '.join(PAUSE_REASONS)}")
    if not incident.status.is_open:
        raise TransitionError(f"cannot pause incident {incident.id}: it is {incident.status}")
    pauses = record_of(incident).pauses
    if pauses and pauses[-1].end is None:
        raise TransitionError(f"incident {incident.id} is already waiting on {pauses[-1].reason}")
    entry = TimelineEntry(
        at=now,
        kind="pause",
        actor=actor,
        message=f"waiting on the {reason}" + _said(message),
        data={"reason": reason},
    )
    return _with(incident, now, pauses=[*pauses, Pause(start=now, reason=reason)]), [entry]


def resume(incident: Incident, *, message: str, actor: str, now: float) -> Change:
    pauses = list(record_of(incident).pauses)
    if not pauses or pauses[-1].end is not None:
        raise TransitionError(f"incident {incident.id} is not paused")
    last = pauses[-1]
    pauses[-1] = msgspec.structs.replace(last, end=now)
    entry = TimelineEntry(
        at=now,
        kind="resume",
        actor=actor,
        message=f"no longer waiting on the {last.reason} (paused"
        f" {format_duration(now - last.start)})" + _said(message),
        data={"reason": last.reason, "paused": now - last.start},
    )
    return _with(incident, now, pauses=pauses), [entry]


# ---------------------------------------------------------------------------- time


class Notice(msgspec.Struct, frozen=True):
    """A message subscribers are owed: the opening, update ``number``, or the resolution
    of reopen cycle ``cycle``; ``message`` is the update's or the resolution's text."""

    kind: str  # opened | update | resolved
    number: int | None = None
    cycle: int = 0
    message: str = ""


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """What the process timer of one incident found at ``now``.

    ``changes`` are target clocks that turned at risk or breached (each once; already on
    the timeline); ``escalate`` names those breached while still running, which call for
    an escalation; ``met`` names clocks that stopped within target since the last look,
    and ``stopped`` the wall-clock seconds from creation of clocks that stopped since.
    ``reminder`` is the number of the overdue update when one is owed (the owner is to be
    reminded); ``notices`` are owed to subscribers; ``auto_closed`` says the incident
    closed by itself. ``next_at`` is when to look again (None: nothing left to watch).
    """

    incident: Incident
    entries: list[TimelineEntry]
    status: TargetStatus
    changes: list[TargetChange] = []
    escalate: list[str] = []
    met: list[str] = []
    stopped: dict[str, float] = {}
    reminder: int | None = None
    notices: list[Notice] = []
    auto_closed: bool = False
    next_at: float | None = None


def evaluate(
    incident: Incident, timeline: Sequence[TimelineEntry], settings: ProcessSettings, *, now: float
) -> Evaluation:
    """Service targets, subscriber notices, the update cadence and auto-close of one
    incident at ``now``; the returned incident records what was found, so each change is
    reported once however often (and by however many daemons) it is evaluated.

    The clocks of several daemons differ a little: an evaluation never looks at an
    earlier instant than the last one did, or a daemon running behind could record a
    breach as merely at risk and have it reported a second time.
    """
    record = record_of(incident)
    if record.evaluated_at is not None:
        now = max(now, record.evaluated_at)
    status = target_status(incident_times(incident, timeline), record.pauses, now, settings.targets)
    changes = target_changes(record.targets, status)
    entries = [change_entry(c, now=now, actor=SYSTEM_ACTOR) for c in changes]
    states = clock_states(status)
    met = [c for c in CLOCKS if states[c] == ClockState.MET and record.targets.get(c) != "met"]
    escalate = [
        c.clock for c in changes if c.escalate and getattr(status, c.clock).stopped_at is None
    ]
    stops = _stops(status)
    stopped = {
        clock: at - incident.created_at
        for clock, at in stops.items()
        if record.stopped.get(clock) != at
    }
    notices = _notices(incident, timeline)
    current = _with(
        incident,
        None,
        evaluated_at=now,
        targets=states,
        stopped={**record.stopped, **stops},
        announced_opening=record.announced_opening or any(n.kind == "opened" for n in notices),
        announced_updates=max([record.announced_updates, *_numbers(notices, "update")]),
        announced_resolutions=max(
            [record.announced_resolutions, *(n.cycle + 1 for n in notices if n.kind == "resolved")]
        ),
    )
    reminder = None
    remind_at = reminder_due(current)
    if remind_at is not None and remind_at <= now:
        reminder = record.updates + 1
        entries.append(_reminder_entry(current, now=now))
        current = _with(current, None, reminded_at=now)
    procedure = settings.procedures.get(incident.procedure)
    close_at = auto_close_due(procedure, status=current.status, resolved_at=current.resolved_at)
    auto_closed = close_at is not None and close_at <= now
    if auto_closed:
        after = format_duration(procedure.auto_close_after)
        check = close_check(
            record.checklist, force=True, reason=f"auto-close {after} after resolution"
        )
        message = (
            check.message if check.forced else f"closed automatically {after} after resolution"
        )
        current, closing = perform(
            current, Action.CLOSE, actor=SYSTEM_ACTOR, message=message, now=now
        )
        entries.append(msgspec.structs.replace(closing, data={**closing.data, "auto": True}))
    return Evaluation(
        incident=current,
        entries=entries,
        status=status,
        changes=changes,
        escalate=escalate,
        met=met,
        stopped=stopped,
        reminder=reminder,
        notices=notices,
        auto_closed=auto_closed,
        next_at=next_due(current, settings, now=now, status=status),
    )


def _stops(status: TargetStatus) -> dict[str, float]:
    return {
        name: clock.stopped_at
        for name in CLOCKS
        if (clock := getattr(status, name)).stopped_at is not None
    }


def _numbers(notices: Sequence[Notice], kind: str) -> list[int]:
    return [n.number for n in notices if n.kind == kind and n.number is not None]


def _owed(incident: Incident) -> list[Notice]:
    """What subscribers have not heard yet, without the texts: they are on the timeline."""
    record = record_of(incident)
    if not record.notify_subscribers or record.cancelled is not None:
        return []
    owed = [] if record.announced_opening else [Notice("opened")]
    owed += [Notice("update", n) for n in range(record.announced_updates + 1, record.updates + 1)]
    resolutions = incident.reopen_count + (0 if incident.resolved_at is None else 1)
    owed += [Notice("resolved", cycle=c) for c in range(record.announced_resolutions, resolutions)]
    return owed


def _notices(incident: Incident, timeline: Sequence[TimelineEntry]) -> list[Notice]:
    updates = {e.data.get("update"): e.message for e in timeline if e.kind == "update"}
    resolutions = [e for e in timeline if e.kind == "resolve"]
    notices: list[Notice] = []
    for notice in _owed(incident):
        if notice.kind == "update":
            text = updates.get(notice.number, "")
        elif notice.kind == "resolved" and notice.cycle < len(resolutions):
            text = resolutions[notice.cycle].message
        else:
            text = incident.title
        notices.append(msgspec.structs.replace(notice, message=text))
    return notices


def next_due(
    incident: Incident,
    settings: ProcessSettings,
    *,
    now: float,
    status: TargetStatus | None = None,
) -> float | None:
    """When the incident's process timer should fire next: ``now`` when something is to
    be recorded or announced, else the earliest target change, update reminder or
    auto-close; None when there is nothing to watch.

    Without ``status`` the clocks are taken from the record alone (no timeline): a reopen
    then looks like an unanswered incident, which can only make the timer fire early, and
    an early firing just evaluates and re-arms.
    """
    record = record_of(incident)
    if status is None:
        times = incident_times(incident, ())
        status = target_status(times, record.pauses, now, settings.targets)
    unrecorded = any(record.stopped.get(c) != at for c, at in _stops(status).items())
    if _owed(incident) or unrecorded:
        return now
    if incident.status is IncidentStatus.CLOSED:
        return None
    due = [
        t
        for t in (
            next_change_at(status),
            reminder_due(incident),
            auto_close_due(
                settings.procedures.get(incident.procedure),
                status=incident.status,
                resolved_at=incident.resolved_at,
            ),
        )
        if t is not None
    ]
    return min(due) if due else None


def reminder_due(incident: Incident) -> float | None:
    """When to remind the owner of an owed update: when it falls due, then once per
    cadence until one is posted."""
    record = record_of(incident)
    due = next_update_due(
        record.update_every,
        status=incident.status,
        created_at=incident.created_at,
        last_update_at=record.last_update_at,
    )
    if due is None or record.update_every is None:
        return None
    if record.reminded_at is None or record.reminded_at < due:
        return due
    return record.reminded_at + record.update_every


def _reminder_entry(incident: Incident, *, now: float) -> TimelineEntry:
    record = record_of(incident)
    since = record.last_update_at if record.last_update_at is not None else incident.created_at
    last = f"the last update was {iso(since)}" if record.updates else "no update was posted yet"
    return TimelineEntry(
        at=now,
        kind="update_due",
        actor=SYSTEM_ACTOR,
        message=f"stakeholder update overdue: the procedure asks for one every"
        f" {format_duration(record.update_every)}; {last}",
        data={"update": record.updates + 1, "last_update_at": record.last_update_at},
    )
