"""Escalation timing: exact due times, acknowledgement, repeat, unresolved, maintenance."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import pytest

from routing.escalation import (
    EscalationLevel,
    EscalationPlan,
    EscalationPolicy,
    EscalationReason,
    EscalationState,
    EscalationStep,
    EscalationTarget,
    PlanOutcome,
    Recipient,
    TargetKind,
    manual_escalation,
    next_escalation,
    parse_target,
    plan_escalation,
    resolve_recipients,
)
from routing.groups import Handoff, OnCall, OnCallSource, ResolverGroup, Rotation
from routing.timeconditions import load_zone
from triage.incident import IncidentStatus

T0 = 1_750_000_000.0
ON_CALL = EscalationTarget(TargetKind.ON_CALL)
SRE = EscalationTarget(TargetKind.GROUP, "sre")
LEAD = EscalationTarget(TargetKind.PERSON, "lead")
POLICY = EscalationPolicy(
    name="page",
    levels=(
        EscalationLevel(300, (ON_CALL,)),
        EscalationLevel(600, (ON_CALL, SRE)),
        EscalationLevel(900, (LEAD,)),
    ),
    repeat=1,
    unresolved_after=None,
)
PATIENT = EscalationPolicy("patient", POLICY.levels, repeat=0, unresolved_after=4 * 3600)

TRIGGERED = IncidentStatus.TRIGGERED
ACKED = IncidentStatus.ACKNOWLEDGED


def state(
    level: int = 0,
    last: float | None = None,
    status: IncidentStatus = TRIGGERED,
    acked: float | None = None,
) -> EscalationState:
    return EscalationState(
        status=status,
        created_at=T0,
        acknowledged_at=acked,
        escalation_level=level,
        last_escalated_at=last,
    )


def step(
    level: int,
    due: float,
    reason: EscalationReason,
    *,
    policy: EscalationPolicy = POLICY,
    deferred: bool = False,
) -> EscalationStep:
    position = (level - 1) % 3 + 1
    return EscalationStep(
        policy=policy.name,
        level=level,
        position=position,
        cycle=(level - 1) // 3,
        due_at=due,
        targets=policy.levels[position - 1].targets,
        reason=reason,
        deferred=deferred,
    )


@pytest.mark.parametrize(
    ("incident", "now", "expected"),
    [
        # a new incident pages level 1 at once
        (state(), T0, step(1, T0, EscalationReason.FIRST_PAGE)),
        # level 2 exactly when level 1's 5 minutes are up, not a second earlier
        (state(1, T0), T0 + 299.999, None),
        (state(1, T0), T0 + 300, step(2, T0 + 300, EscalationReason.NOT_ACKNOWLEDGED)),
        # each timeout counts from when the level was actually paged
        (state(2, T0 + 310), T0 + 909, None),
        (state(2, T0 + 310), T0 + 910, step(3, T0 + 910, EscalationReason.NOT_ACKNOWLEDGED)),
        # after the last level, the policy repeats once
        (state(3, T0 + 900), T0 + 1800, step(4, T0 + 1800, EscalationReason.REPEAT)),
        (state(5, T0), T0 + 600, step(6, T0 + 600, EscalationReason.NOT_ACKNOWLEDGED)),
        # then it is exhausted
        (state(6, T0), T0 + 10**6, None),
        # acknowledgement stops it, resolution and closure too
        (state(1, T0, ACKED, T0 + 60), T0 + 10**6, None),
        (state(1, T0, IncidentStatus.RESOLVED), T0 + 10**6, None),
        (state(1, T0, IncidentStatus.CLOSED), T0 + 10**6, None),
    ],
)
def test_next_escalation(
    incident: EscalationState, now: float, expected: EscalationStep | None
) -> None:
    assert next_escalation(POLICY, incident, now) == expected


@pytest.mark.parametrize(
    ("incident", "outcome"),
    [
        (state(6, T0), PlanOutcome.EXHAUSTED),
        (state(1, T0, ACKED, T0 + 60), PlanOutcome.ACKNOWLEDGED),
        (state(1, T0, IncidentStatus.RESOLVED), PlanOutcome.RESOLVED),
        (state(1, T0, IncidentStatus.CLOSED), PlanOutcome.RESOLVED),
        (state(6, T0, IncidentStatus.RESOLVED), PlanOutcome.RESOLVED),
    ],
)
def test_plan_says_why_nothing_is_scheduled(
    incident: EscalationState, outcome: PlanOutcome
) -> None:
    assert plan_escalation(POLICY, incident) == EscalationPlan(outcome)


def test_plan_gives_the_timer_its_due_time() -> None:
    plan = plan_escalation(POLICY, state(1, T0))
    assert plan.outcome is PlanOutcome.SCHEDULED
    assert plan.step == step(2, T0 + 300, EscalationReason.NOT_ACKNOWLEDGED)


def test_status_given_as_plain_string_is_understood() -> None:
    incident = EscalationState(
        status="acknowledged",  # type: ignore[arg-type]  # what a decoded record holds
        created_at=T0,
        escalation_level=1,
    )
    assert plan_escalation(POLICY, incident).outcome is PlanOutcome.ACKNOWLEDGED


def test_epoch_zero_is_a_time_not_unset() -> None:
    incident = EscalationState(
        status=TRIGGERED, created_at=0.0, escalation_level=1, last_escalated_at=0.0
    )
    found = next_escalation(POLICY, incident, 300.0)
    assert found is not None
    assert found.due_at == 300.0


def test_scheduler_loop_pages_every_level_once_then_stops() -> None:
    """Drive the pure functions the way the scheduler does: sleep until due, page, record."""
    incident, fired = state(), []
    while (plan := plan_escalation(POLICY, incident)).step is not None:
        due = plan.step.due_at
        assert next_escalation(POLICY, incident, due - 0.001) is None
        taken = next_escalation(POLICY, incident, due)
        assert taken is not None
        fired.append((taken.level, taken.position, taken.due_at - T0))
        incident = state(taken.level, due)
    assert fired == [
        (1, 1, 0),
        (2, 2, 300),
        (3, 3, 900),
        (4, 1, 1800),
        (5, 2, 2100),
        (6, 3, 2700),
    ]
    assert plan.outcome is PlanOutcome.EXHAUSTED


def test_acknowledged_before_level_two_gets_no_further_pages() -> None:
    acked = state(1, T0, ACKED, T0 + 120)
    assert [next_escalation(POLICY, acked, T0 + s) for s in (300, 3600, 86400)] == [None] * 3


@pytest.mark.parametrize(
    ("incident", "now", "expected"),
    [
        # acknowledged at level 1 and unresolved 4h later: one level up
        (state(1, T0, ACKED, T0 + 100), T0 + 100 + 4 * 3600 - 1, None),
        (
            state(1, T0, ACKED, T0 + 100),
            T0 + 100 + 4 * 3600,
            step(2, T0 + 100 + 4 * 3600, EscalationReason.NOT_RESOLVED, policy=PATIENT),
        ),
        # the next one counts from that escalation
        (
            state(2, T0 + 20000, ACKED, T0 + 100),
            T0 + 20000 + 4 * 3600,
            step(3, T0 + 20000 + 4 * 3600, EscalationReason.NOT_RESOLVED, policy=PATIENT),
        ),
        # an escalation before the acknowledgement does not count
        (state(2, T0 + 300, ACKED, T0 + 400), T0 + 300 + 4 * 3600, None),
        # no level left
        (state(3, T0, ACKED, T0 + 100), T0 + 10**6, None),
        # unacknowledged incidents still use the level timeouts
        (
            state(1, T0),
            T0 + 300,
            step(2, T0 + 300, EscalationReason.NOT_ACKNOWLEDGED, policy=PATIENT),
        ),
    ],
)
def test_unresolved_escalation(
    incident: EscalationState, now: float, expected: EscalationStep | None
) -> None:
    assert next_escalation(PATIENT, incident, now) == expected


@pytest.mark.parametrize(
    ("paused_until", "expected"),
    [
        (None, step(2, T0 + 300, EscalationReason.NOT_ACKNOWLEDGED)),
        (T0 + 200, step(2, T0 + 300, EscalationReason.NOT_ACKNOWLEDGED)),
        (T0 + 3600, step(2, T0 + 3600, EscalationReason.NOT_ACKNOWLEDGED, deferred=True)),
    ],
)
def test_maintenance_defers_escalation_to_its_end(
    paused_until: float | None, expected: EscalationStep
) -> None:
    assert plan_escalation(POLICY, state(1, T0), paused_until=paused_until).step == expected
    assert (
        next_escalation(POLICY, state(1, T0), expected.due_at - 1, paused_until=paused_until)
        is None
    )


@pytest.mark.parametrize(
    ("incident", "expected"),
    [
        (state(1, T0), step(2, T0 + 42, EscalationReason.MANUAL)),
        (state(1, T0, ACKED, T0 + 1), step(2, T0 + 42, EscalationReason.MANUAL)),
        (state(6, T0), None),
        (state(1, T0, IncidentStatus.RESOLVED), None),
    ],
)
def test_manual_escalation(incident: EscalationState, expected: EscalationStep | None) -> None:
    assert manual_escalation(POLICY, incident, T0 + 42) == expected


def test_a_breached_target_escalates_like_an_operator_with_its_own_reason() -> None:
    breach = EscalationReason.TARGET_BREACHED
    acked = state(1, T0, ACKED, T0 + 1)
    assert manual_escalation(POLICY, acked, T0 + 42, reason=breach) == step(2, T0 + 42, breach)
    assert manual_escalation(POLICY, state(6, T0), T0 + 42, reason=breach) is None


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("on-call", EscalationTarget(TargetKind.ON_CALL)),
        ("on-call:sre", EscalationTarget(TargetKind.ON_CALL, "sre")),
        ("person:ivan", EscalationTarget(TargetKind.PERSON, "ivan")),
        ("group:sre", EscalationTarget(TargetKind.GROUP, "sre")),
    ],
)
def test_parse_target(text: str, target: EscalationTarget) -> None:
    assert parse_target(text) == target
    assert str(target) == text


@pytest.mark.parametrize("text", ["", "pager", "person", "person:", "group", "on-call:", "oncall"])
def test_parse_target_rejects(text: str) -> None:
    message = (
        f"invalid escalation target {text!r}: use on-call, on-call:<group>, "
        "person:<name> or group:<group>"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_target(text)


ROTATION = Rotation(("ann",), Handoff.DAILY, time(9), date(2025, 1, 1), load_zone("UTC"))
GROUPS = {
    "db": ResolverGroup("db", ("slack-db",), "page", ROTATION, ()),
    "sre": ResolverGroup("sre", ("slack-sre",), "page", None, ()),
}


def test_resolve_recipients() -> None:
    targets = (ON_CALL, EscalationTarget(TargetKind.GROUP, "db"), SRE, LEAD)
    shift_start = datetime(2025, 6, 15, 9, tzinfo=UTC).timestamp()  # T0 is 15:06:40Z
    ann = OnCall(
        group="db",
        person="ann",
        source=OnCallSource.ROTATION,
        since=shift_start,
        until=shift_start + 86400,
    )
    nobody = OnCall(group="sre", person=None, source=OnCallSource.NO_ROTATION)
    assert resolve_recipients(targets, GROUPS, "db", T0) == (
        Recipient(target=ON_CALL, person="ann", group="db", on_call=ann),
        Recipient(target=targets[1], person="ann", group="db", channels=("slack-db",), on_call=ann),
        Recipient(target=SRE, person=None, group="sre", channels=("slack-sre",), on_call=nobody),
        Recipient(target=LEAD, person="lead"),
    )


def test_on_call_without_anyone_on_call_falls_back_to_channels() -> None:
    (found,) = resolve_recipients((ON_CALL,), GROUPS, "sre", T0)
    assert (found.person, found.channels) == (None, ("slack-sre",))


def test_resolve_unknown_group_is_an_error() -> None:
    message = "escalation target on-call names unknown resolver group 'gone'"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        resolve_recipients((ON_CALL,), GROUPS, "gone", T0)
