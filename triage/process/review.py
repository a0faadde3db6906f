"""The post-incident review: one Markdown document that tells what happened and what follows.

A review is only useful if it is written while memory is fresh and if it is complete, so
triaged drafts it from the record instead of leaving it to someone's notes: summary,
impact, targets, the full timeline, the alerts, who did what, the checklist and the
follow-up actions. People then add the analysis; the facts are already right.

Follow-up actions are tracked items on the incident (not free text in the review), so they
can be completed, and the review shows which are still open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import msgspec

from triage.dedup import AlertState
from triage.incident import SYSTEM_ACTOR, Incident, TimelineEntry, TransitionError
from triage.process.common import UnknownItem, format_duration, iso
from triage.process.record import ChecklistItem, FollowUp
from triage.process.targets import Clock, TargetStatus

# ---------------------------------------------------------------------------- follow-ups


def add_follow_up(
    items: Sequence[FollowUp],
    *,
    title: str,
    owner: str,
    actor: str,
    now: float,
    due_at: float | None = None,
) -> tuple[list[FollowUp], TimelineEntry]:
    """Append a follow-up numbered after the existing ones (``FU-1``, ``FU-2``...)."""
    if not title.strip():
        raise ValueError("a follow-up needs a title")
    item = FollowUp(
        id=f"FU-{len(items) + 1}",
        title=title.strip(),
        owner=owner,
        created_at=now,
        created_by=actor,
        due_at=due_at,
    )
    entry = TimelineEntry(
        at=now,
        kind="follow_up",
        actor=actor,
        message=f"follow-up {item.id} for {owner}: {item.title}",
        data={"follow_up": item.id, "owner": owner, "due_at": due_at},
    )
    return [*items, item], entry


def complete_follow_up(
    items: Sequence[FollowUp], follow_up_id: str, *, actor: str, now: float
) -> tuple[list[FollowUp], TimelineEntry]:
    updated = list(items)
    for i, item in enumerate(updated):
        if item.id != follow_up_id:
            continue
        if item.done_at is not None:
            raise TransitionError(f"follow-up {follow_up_id} was already done by {item.done_by}")
        updated[i] = msgspec.structs.replace(item, done_at=now, done_by=actor)
        entry = TimelineEntry(
            at=now,
            kind="follow_up_done",
            actor=actor,
            message=f"follow-up {item.id} done: {item.title}",
            data={"follow_up": item.id},
        )
        return updated, entry
    raise UnknownItem(f"no follow-up {follow_up_id!r} on this incident", field="follow_up")


# ---------------------------------------------------------------------------- rendering


def _cell(text: object) -> str:
    """Table cells: a pipe would end the cell and a newline the row."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_review(
    incident: Incident,
    alerts: Sequence[AlertState],
    timeline: Sequence[TimelineEntry],
    targets: TargetStatus,
    follow_ups: Sequence[FollowUp],
    *,
    checklist: Sequence[ChecklistItem] = (),
) -> str:
    """The review in Markdown; ``targets`` is ``target_status`` as of the render time."""
    entries = sorted(timeline, key=lambda e: e.at)
    sections = [
        [f"# Post-incident review: {incident.id} {incident.title}"],
        _summary(incident),
        _impact(incident, alerts, entries),
        _targets(incident, targets),
        _timeline(entries),
        _alerts(alerts),
        _actions(entries),
        _checklist(checklist),
        _follow_ups(follow_ups),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


def _summary(incident: Incident) -> list[str]:
    rows: list[tuple[str, object]] = [
        ("Incident", incident.id),
        ("Status", incident.status),
        ("Priority", incident.priority),
        ("Category", incident.category),
        ("Procedure", incident.procedure),
        ("Resolver group", incident.group),
        ("Opened", iso(incident.created_at)),
        ("Acknowledged", iso(incident.acknowledged_at)),
        ("Resolved", iso(incident.resolved_at)),
        ("Closed", iso(incident.closed_at)),
        ("Reopened", f"{incident.reopen_count} times"),
        ("Escalation level", incident.escalation_level),
    ]
    return ["## Summary", "", *_table(["Field", "Value"], rows)]


def _impact(
    incident: Incident, alerts: Sequence[AlertState], entries: Sequence[TimelineEntry]
) -> list[str]:
    service = incident.labels.get("service") or "not named by the alerts"
    end = incident.resolved_at
    duration = (
        f"{format_duration(end - incident.started_at)} (from the first alert's start"
        f" {iso(incident.started_at)} to resolution {iso(end)})"
        if end is not None
        else f"ongoing; started {iso(incident.started_at)}"
    )
    lines = [
        "## Impact",
        "",
        f"- Service: {service}",
        f"- Priority {incident.priority}, handled under the {incident.procedure} procedure",
        f"- Duration: {duration}",
        f"- Alerts: {len(alerts) or incident.alert_count} distinct",
    ]
    resolution = next((e for e in reversed(entries) if e.kind == "resolve"), None)
    if resolution is not None:
        code = resolution.data.get("code")
        how = f" with code {code}" if code else ""
        lines.append(f"- Resolution{how} by {resolution.actor}: {resolution.message}")
    return lines


def _targets(incident: Incident, status: TargetStatus) -> list[str]:
    def row(name: str, clock: Clock, reached: float | None) -> tuple[object, ...]:
        took = None if reached is None else reached - incident.created_at
        return (
            name,
            format_duration(clock.target) if clock.target is not None else "best effort",
            format_duration(took),
            format_duration(clock.elapsed) + (" (paused)" if clock.paused else ""),
            iso(clock.due_at),
            clock.state,
        )

    respond_at = min(
        (t for t in (incident.acknowledged_at, incident.resolved_at) if t is not None),
        default=None,
    )
    return [
        "## Time to acknowledge and resolve against targets",
        "",
        *_table(
            ["Target", "Allowed", "Took (wall clock)", "Counted", "Due", "Result"],
            [
                row("Respond (acknowledge)", status.respond, respond_at),
                row("Resolve", status.resolve, incident.resolved_at),
            ],
        ),
        "",
        "Counted time is what the target measures: its calendar's hours, pauses excluded.",
    ]


def _timeline(entries: Sequence[TimelineEntry]) -> list[str]:
    rows = [(iso(e.at), e.actor, e.kind, e.message) for e in entries]
    return ["## Timeline", "", *_table(["Time (UTC)", "Actor", "Event", "Details"], rows)]


def _alerts(alerts: Sequence[AlertState]) -> list[str]:
    if not alerts:
        return ["## Alerts", "", "No alerts are attached (the incident was opened by hand)."]
    rows = [
        (
            a.labels.get("alertname") or a.annotations.get("summary") or a.fingerprint,
            a.fingerprint,
            a.source,
            a.status,
            iso(a.first_seen),
            iso(a.last_seen),
            a.count,
        )
        for a in sorted(alerts, key=lambda a: (a.first_seen, a.fingerprint))
    ]
    head = ["Alert", "Fingerprint", "Source", "Status", "First seen", "Last seen", "Received"]
    return ["## Alerts", "", *_table(head, rows)]


def _actions(entries: Sequence[TimelineEntry]) -> list[str]:
    by_actor: dict[str, Counter[str]] = {}
    for entry in entries:
        by_actor.setdefault(entry.actor, Counter())[entry.kind] += 1
    lines = ["## Actions and who took them", ""]
    for actor in sorted(by_actor, key=lambda a: (a == SYSTEM_ACTOR, a)):
        kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(by_actor[actor].items()))
        who = f"{actor} (automatic)" if actor == SYSTEM_ACTOR else actor
        lines.append(f"- {who}: {kinds}")
    return lines if len(lines) > 2 else [*lines, "No actions were recorded."]


def _checklist(items: Sequence[ChecklistItem]) -> list[str]:
    if not items:
        return []
    lines = ["## Procedure checklist", ""]
    for item in items:
        mark = "x" if item.done else " "
        optional = "" if item.required else " (optional)"
        by = f": {item.done_by}, {iso(item.done_at)}" if item.done else ""
        lines.append(f"- [{mark}] {item.title}{optional}{by}")
    return lines


def _follow_ups(items: Sequence[FollowUp]) -> list[str]:
    lines = ["## Follow-up actions", ""]
    if not items:
        return [*lines, "None recorded yet."]
    for item in items:
        mark = "x" if item.done_at is not None else " "
        due = f", due {iso(item.due_at)}" if item.due_at is not None else ""
        done = f", done by {item.done_by} {iso(item.done_at)}" if item.done_at is not None else ""
        lines.append(f"- [{mark}] {item.id} {item.title} (owner {item.owner}{due}{done})")
    return lines
