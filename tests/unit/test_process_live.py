"""The process on live incidents: procedure start and switch, casework, and the timer."""

from __future__ import annotations

import msgspec
import pytest

from triage.incident import Action as LifecycleAction
from triage.incident import Incident, IncidentStatus, TimelineEntry, TransitionError, perform
from triage.process import live
from triage.process.common import InvalidInput, UnknownItem
from triage.process.config import default_process
from triage.process.record import Pause

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday
MIN, HOUR, DAY = 60.0, 3600.0, 86400.0
PROCESS = default_process()
BOOK = PROCESS.procedures


def incident(priority: str = "P1", **changes: object) -> Incident:
    base = Incident(
        id="INC-1", key="service=checkout", title="Checkout errors", priority=priority,
        status=IncidentStatus.TRIGGERED, category="other", group="ops", procedure="standard",
        created_at=T0, updated_at=T0, started_at=T0, labels={"service": "checkout"},
    )  # fmt: skip
    return msgspec.structs.replace(base, **changes)


def started(priority: str = "P1", **changes: object) -> Incident:
    new, _ = live.start_procedure(incident(priority, **changes), BOOK, now=T0)
    return new


OPEN_ENTRY = [TimelineEntry(at=T0, kind="open", actor="triaged", message="opened")]


# ---------------------------------------------------------------------------- procedure


def test_a_p1_starts_the_major_procedure_with_checklist_roles_cadence_and_reason() -> None:
    new, [entry] = live.start_procedure(incident("P1"), BOOK, now=T0)
    record = new.process
    assert record is not None
    assert new.procedure == "major"
    assert [item.id for item in record.checklist] == [
        "declare", "bridge", "first-update", "mitigate", "review",
    ]  # fmt: skip
    assert record.engaged == ["incident-manager", "service-owner"]
    assert (record.update_every, record.review_required, record.notify_subscribers) == (
        1800.0,
        True,
        True,
    )
    assert record.reason == "P1 is always a major incident"
    assert new.triage["procedure"] == {
        "value": "major",
        "decided_by": "process_selection",
        "reason": "P1 is always a major incident",
    }
    assert entry.kind == "procedure"
    assert entry.data["steps"][0] == "declare"
    assert "engaged: incident-manager, service-owner" in entry.message


def test_selection_again_without_a_change_records_nothing() -> None:
    once = started("P3")
    again, entries = live.start_procedure(once, BOOK, now=T0 + MIN)
    assert (again, entries) == (once, [])


def test_a_switch_keeps_the_steps_done_and_says_where_it_came_from() -> None:
    standard = started("P3")
    assert standard.procedure == "standard"
    done, _ = live.complete(standard, "diagnose", actor="ann", note="disk", now=T0 + MIN)
    escalated = msgspec.structs.replace(done, priority="P1")
    assert live.reclassified(done, escalated)
    major, [entry] = live.start_procedure(escalated, BOOK, now=T0 + 2 * MIN)
    assert major.procedure == "major"
    assert entry.data["previous"] == "standard"
    assert entry.message.startswith("switched from standard to major")
    kept = [item for item in live.record_of(major).checklist if item.id == "diagnose"]
    assert [item.done_by for item in kept] == ["ann"]
    assert major.triage["procedure"]["previous"] == "standard"


def test_a_security_signal_in_the_right_category_selects_security() -> None:
    new = started("P1", category="network-and-security", title="SSH brute force on bastion")
    assert new.procedure == "security"
    assert not live.visible(new, BOOK, frozenset())
    assert live.visible(new, BOOK, frozenset({"security"}))
    assert live.visible(new, BOOK, None)


# ---------------------------------------------------------------------------- actions


def test_steps_are_completed_once_by_their_actor() -> None:
    new, [entry] = live.complete(started(), "declare", actor="ann", note="", now=T0 + MIN)
    assert new.process is not None
    assert new.process.checklist[0].done_by == "ann"
    assert (entry.kind, entry.actor) == ("step", "ann")
    with pytest.raises(TransitionError):
        live.complete(new, "declare", actor="bob", note="", now=T0 + 2 * MIN)
    with pytest.raises(UnknownItem):
        live.complete(new, "dance", actor="bob", note="", now=T0 + 2 * MIN)


@pytest.mark.parametrize(
    ("code", "notes", "field"),
    [(None, "done", "code"), ("magic", "done", "code"), ("fixed", "  ", "notes")],
)
def test_resolving_needs_a_configured_code_and_notes(
    code: str | None, notes: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        live.resolve(started(), code=code, notes=notes, actor="ann", now=T0, procedures=BOOK)
    assert refused.value.field == field


def test_a_documented_resolution_is_recorded_on_the_incident_and_its_entry() -> None:
    new, [entry] = live.resolve(
        started(), code="rolled-back", notes="rolled back 1.2", actor="ann", now=T0 + HOUR,
        procedures=BOOK,
    )  # fmt: skip
    assert new.status is IncidentStatus.RESOLVED
    assert new.process is not None
    assert (new.process.resolution_code, new.process.resolution_notes) == (
        "rolled-back",
        "rolled back 1.2",
    )
    assert entry.data["code"] == "rolled-back"


def _resolved(priority: str = "P1") -> Incident:
    new, _ = live.resolve(
        started(priority), code="fixed", notes="n", actor="ann", now=T0 + HOUR, procedures=BOOK
    )
    return new


def test_closing_with_required_steps_open_is_refused_unless_forced_with_a_reason() -> None:
    resolved = _resolved()
    with pytest.raises(TransitionError, match="required steps are open: declare, bridge"):
        live.close(resolved, force=False, reason="", message="", actor="ann", now=T0 + DAY)
    with pytest.raises(InvalidInput) as refused:
        live.close(resolved, force=True, reason=" ", message="", actor="ann", now=T0 + DAY)
    assert refused.value.field == "reason"
    closed, [entry] = live.close(
        resolved, force=True, reason="service retired", message="", actor="ann", now=T0 + DAY
    )
    assert closed.status is IncidentStatus.CLOSED
    assert entry.message.endswith(": service retired")
    assert entry.data["forced"] is True
    assert entry.data["open_steps"] == ["declare", "bridge", "first-update", "mitigate", "review"]


def test_closing_an_open_incident_is_still_a_lifecycle_409() -> None:
    with pytest.raises(TransitionError, match="it is triggered"):
        live.close(started("P4"), force=False, reason="", message="", actor="a", now=T0)


def test_cancel_closes_with_its_reason_and_refuses_unknown_reasons() -> None:
    cancelled, [entry] = live.cancel(
        started(), reason="false-alarm", message="test probe", actor="ann", now=T0 + MIN
    )
    assert (cancelled.status, cancelled.closed_at) == (IncidentStatus.CLOSED, T0 + MIN)
    assert live.record_of(cancelled).cancelled == "false-alarm"
    assert (entry.kind, entry.message) == ("cancel", "cancelled as false-alarm: test probe")
    with pytest.raises(InvalidInput):
        live.cancel(started(), reason="boredom", message="", actor="a", now=T0)
    with pytest.raises(TransitionError):
        live.cancel(cancelled, reason="duplicate", message="", actor="a", now=T0 + HOUR)


def test_updates_are_numbered_and_restart_the_cadence() -> None:
    first, [entry] = live.post_update(started(), message="bridge open", actor="im", now=T0 + MIN)
    second, _ = live.post_update(first, message="mitigated", actor="im", now=T0 + 5 * MIN)
    assert second.process is not None
    assert (second.process.updates, second.process.last_update_at) == (2, T0 + 5 * MIN)
    assert entry.data == {"update": 1}
    assert live.reminder_due(second) == T0 + 5 * MIN + 1800
    with pytest.raises(InvalidInput):
        live.post_update(first, message=" ", actor="im", now=T0)


def test_follow_ups_problems_and_pauses_are_recorded() -> None:
    with_fu, [entry] = live.add_follow_up(
        started(), title="Add a canary", owner="ann", due_at=T0 + DAY, actor="im", now=T0
    )
    assert entry.data["follow_up"] == "FU-1"
    done, _ = live.complete_follow_up(with_fu, "FU-1", actor="ann", now=T0 + HOUR)
    assert live.record_of(done).follow_ups[0].done_by == "ann"
    with pytest.raises(InvalidInput):
        live.add_follow_up(started(), title=" ", owner="a", due_at=None, actor="a", now=T0)
    linked, [link] = live.link_problem(done, problem="PRB-7", actor="im", now=T0 + HOUR)
    assert live.record_of(linked).problem_id == "PRB-7"
    assert link.message == "linked to problem PRB-7"
    with pytest.raises(TransitionError):
        live.link_problem(linked, problem="PRB-7", actor="im", now=T0 + HOUR)
    paused, _ = live.pause(linked, reason="supplier", message="", actor="ann", now=T0 + HOUR)
    with pytest.raises(TransitionError):
        live.pause(paused, reason="customer", message="", actor="ann", now=T0 + HOUR)
    resumed, [entry] = live.resume(paused, message="", actor="ann", now=T0 + 2 * HOUR)
    assert resumed.process is not None
    assert resumed.process.pauses == [Pause(start=T0 + HOUR, end=T0 + 2 * HOUR, reason="supplier")]
    assert "paused 1h" in entry.message
    with pytest.raises(TransitionError):
        live.resume(resumed, message="", actor="ann", now=T0 + 3 * HOUR)


# ---------------------------------------------------------------------------- the timer


def test_the_respond_clock_warns_then_breaches_once_and_asks_for_escalation() -> None:
    p1 = started("P2")
    assert live.next_due(p1, PROCESS, now=T0) == T0 + 0.75 * 30 * MIN
    risk = live.evaluate(p1, OPEN_ENTRY, PROCESS, now=T0 + 23 * MIN)
    assert [(c.clock, str(c.state)) for c in risk.changes] == [("respond", "at_risk")]
    assert (risk.escalate, risk.incident.updated_at) == ([], T0)  # bookkeeping, not an update
    assert risk.next_at == T0 + 30 * MIN
    breach = live.evaluate(risk.incident, OPEN_ENTRY, PROCESS, now=T0 + 30 * MIN)
    assert breach.escalate == ["respond"]
    assert [e.kind for e in breach.entries] == ["target"]
    again = live.evaluate(breach.incident, OPEN_ENTRY, PROCESS, now=T0 + 31 * MIN)
    assert (again.changes, again.entries) == ([], [])


def test_a_clock_that_stopped_in_time_is_reported_met_once() -> None:
    acked, ack = perform(
        started(), LifecycleAction.ACKNOWLEDGE, actor="ann", message="", now=T0 + 5 * MIN
    )
    timeline = [*OPEN_ENTRY, ack]
    assert live.next_due(acked, PROCESS, now=T0 + 5 * MIN) == T0 + 5 * MIN  # to record
    first = live.evaluate(acked, timeline, PROCESS, now=T0 + 6 * MIN)
    assert (first.met, first.changes, first.stopped) == (["respond"], [], {"respond": 5 * MIN})
    later = live.evaluate(first.incident, timeline, PROCESS, now=T0 + 13 * MIN)
    assert (later.met, later.stopped) == ([], {})


def test_a_late_acknowledgement_is_a_breach_but_not_an_escalation() -> None:
    acked, ack = perform(
        started(), LifecycleAction.ACKNOWLEDGE, actor="ann", message="", now=T0 + 20 * MIN
    )
    found = live.evaluate(acked, [*OPEN_ENTRY, ack], PROCESS, now=T0 + 21 * MIN)
    assert [str(c.state) for c in found.changes] == ["breached"]
    assert found.escalate == []


def test_an_overdue_update_reminds_once_per_cadence() -> None:
    p1 = started()
    found = live.evaluate(p1, OPEN_ENTRY, PROCESS, now=T0 + 30 * MIN)
    assert found.reminder == 1
    assert "update_due" in [e.kind for e in found.entries]
    assert live.reminder_due(found.incident) == T0 + 60 * MIN
    quiet = live.evaluate(found.incident, OPEN_ENTRY, PROCESS, now=T0 + 40 * MIN)
    assert quiet.reminder is None


def test_standard_incidents_close_themselves_after_the_period_noting_open_steps() -> None:
    resolved = live.evaluate(_resolved(priority="P3"), OPEN_ENTRY, PROCESS, now=T0 + HOUR)
    assert resolved.stopped == {"respond": HOUR, "resolve": HOUR}
    assert resolved.next_at == T0 + HOUR + 3 * DAY
    found = live.evaluate(resolved.incident, OPEN_ENTRY, PROCESS, now=T0 + HOUR + 3 * DAY)
    assert found.auto_closed
    assert found.incident.status is IncidentStatus.CLOSED
    closing = found.entries[-1]
    assert (closing.kind, closing.actor, closing.data["auto"]) == ("close", "triaged", True)
    assert "required steps open (diagnose)" in closing.message
    assert found.next_at is None


def test_major_incidents_never_close_themselves() -> None:
    resolved = _resolved()
    found = live.evaluate(resolved, OPEN_ENTRY, PROCESS, now=T0 + 30 * DAY)
    assert not found.auto_closed
    assert found.next_at is None


def test_subscribers_of_a_major_incident_are_owed_the_opening_each_update_and_the_resolution() -> (
    None
):
    p1 = started()
    assert live.next_due(p1, PROCESS, now=T0) == T0  # the opening is owed at once
    opened = live.evaluate(p1, OPEN_ENTRY, PROCESS, now=T0)
    assert [(n.kind, n.message) for n in opened.notices] == [("opened", "Checkout errors")]
    assert live.evaluate(opened.incident, OPEN_ENTRY, PROCESS, now=T0 + MIN).notices == []
    updated, [update] = live.post_update(
        opened.incident, message="bridge open", actor="im", now=T0 + 2 * MIN
    )
    resolved, [resolution] = live.resolve(
        updated, code="fixed", notes="restarted", actor="im", now=T0 + 3 * MIN, procedures=BOOK
    )
    timeline = [*OPEN_ENTRY, update, resolution]
    found = live.evaluate(resolved, timeline, PROCESS, now=T0 + 3 * MIN)
    assert [(n.kind, n.number, n.message) for n in found.notices] == [
        ("update", 1, "bridge open"),
        ("resolved", None, "restarted"),
    ]
    assert live.evaluate(found.incident, timeline, PROCESS, now=T0 + 4 * MIN).notices == []


def test_standard_and_cancelled_incidents_owe_subscribers_nothing() -> None:
    assert live.evaluate(started("P3"), OPEN_ENTRY, PROCESS, now=T0).notices == []
    cancelled, _ = live.cancel(started(), reason="drill", message="", actor="a", now=T0)
    assert live.evaluate(cancelled, OPEN_ENTRY, PROCESS, now=T0).notices == []


def test_an_evaluation_never_looks_behind_the_last_one() -> None:
    """A daemon whose clock runs behind must not turn a recorded breach back to at risk."""
    breach = live.evaluate(started("P2"), OPEN_ENTRY, PROCESS, now=T0 + 31 * MIN)
    behind = live.evaluate(breach.incident, OPEN_ENTRY, PROCESS, now=T0 + 29 * MIN)
    assert (behind.changes, behind.entries) == ([], [])
    assert live.record_of(behind.incident).targets["respond"] == "breached"
