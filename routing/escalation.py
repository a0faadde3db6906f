"""Escalation policies: make sure somebody takes every incident.

A policy is an ordered list of levels. The first level is paged when the incident opens;
each level has a timeout, and an incident still unacknowledged when it runs out moves to the
next level. After the last level the policy may start over ``repeat`` more times. A policy
may also escalate an acknowledged incident that stays unresolved: ``unresolved_after`` the
acknowledgement (or the latest escalation since), it moves one level up. Resolving or
closing an incident stops escalation for good; acknowledging it stops the timeout clock.

The incident's ``escalation_level`` counts the escalation steps taken so far (0 means nobody
was paged yet) and only ever grows, also across repeats: step ``n`` pages the policy's level
``(n - 1) % len(levels) + 1``. A monotonic counter gives every step an identity, so the
scheduler can fire step ``n`` of an incident exactly once even with several processes.

Each timeout counts from ``last_escalated_at``. The scheduler should record the time a page
actually went out, so a level paged late (after a restart) still gets its full timeout.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec

from routing.groups import OnCall, ResolverGroup, who_is_on_call
from triage.incident import IncidentStatus


class TargetKind(enum.StrEnum):
    ON_CALL = "on-call"
    PERSON = "person"
    GROUP = "group"


class EscalationTarget(msgspec.Struct, frozen=True):
    """Who a level notifies. ``name`` is a group for ``on-call`` (None: the incident's own
    group) and ``group``, and a person for ``person``."""

    kind: TargetKind
    name: str | None = None

    def __str__(self) -> str:
        return self.kind.value if self.name is None else f"{self.kind.value}:{self.name}"


def parse_target(text: str) -> EscalationTarget:
    """``on-call``, ``on-call:<group>``, ``person:<name>`` or ``group:<group>``."""
    kind, colon, name = text.partition(":")
    if kind not in {member.value for member in TargetKind} or (
        not name and (colon or kind != TargetKind.ON_CALL)
    ):
        raise ValueError(
            f"invalid escalation target {text!r}: use on-call, on-call:<group>, "
            "person:<name> or group:<group>"
        )
    return EscalationTarget(TargetKind(kind), name or None)


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    timeout: float
    targets: tuple[EscalationTarget, ...]


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    name: str
    levels: tuple[EscalationLevel, ...]
    repeat: int
    unresolved_after: float | None

    @property
    def total_steps(self) -> int:
        return len(self.levels) * (self.repeat + 1)

    def position_of(self, step: int) -> int:
        """The 1-based policy level that escalation step ``step`` (1-based) pages."""
        return (step - 1) % len(self.levels) + 1


_STOPPED = frozenset({IncidentStatus.RESOLVED, IncidentStatus.CLOSED})


class EscalationState(msgspec.Struct, frozen=True, kw_only=True):
    """The incident as escalation sees it; times are UTC epoch seconds."""

    status: IncidentStatus
    created_at: float
    acknowledged_at: float | None = None
    escalation_level: int = 0
    last_escalated_at: float | None = None


class EscalationReason(enum.StrEnum):
    FIRST_PAGE = "first_page"
    NOT_ACKNOWLEDGED = "not_acknowledged"
    REPEAT = "repeat"
    NOT_RESOLVED = "not_resolved"
    MANUAL = "manual"
    TARGET_BREACHED = "target_breached"  # a service target ran out (triage.process.targets)


class EscalationStep(msgspec.Struct, frozen=True, kw_only=True):
    """One escalation: set the incident's ``escalation_level`` to ``level`` and notify
    ``targets``. ``position`` is the policy level paged, ``cycle`` counts repeats (0 for the
    first pass). ``deferred`` says a maintenance window moved ``due_at`` to its end."""

    policy: str
    level: int
    position: int
    cycle: int
    due_at: float
    targets: tuple[EscalationTarget, ...]
    reason: EscalationReason
    deferred: bool = False


class PlanOutcome(enum.StrEnum):
    SCHEDULED = "scheduled"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    EXHAUSTED = "exhausted"


class EscalationPlan(msgspec.Struct, frozen=True):
    """What escalation will do next; ``step`` is set exactly when the outcome is SCHEDULED."""

    outcome: PlanOutcome
    step: EscalationStep | None = None


def plan_escalation(
    policy: EscalationPolicy, state: EscalationState, *, paused_until: float | None = None
) -> EscalationPlan:
    """The next escalation step and when it is due, or why there is none.

    The scheduler sets its timer to ``step.due_at``. ``paused_until`` is the end of a
    maintenance window covering the incident: a step due before it waits until it ends.
    """
    if state.status in _STOPPED:
        return EscalationPlan(PlanOutcome.RESOLVED)
    if state.status == IncidentStatus.ACKNOWLEDGED and policy.unresolved_after is None:
        return EscalationPlan(PlanOutcome.ACKNOWLEDGED)
    if state.escalation_level >= policy.total_steps:
        return EscalationPlan(PlanOutcome.EXHAUSTED)
    due_at, reason = _due(policy, state)
    deferred = paused_until is not None and paused_until > due_at
    if deferred and paused_until is not None:
        due_at = paused_until
    return EscalationPlan(PlanOutcome.SCHEDULED, _step(policy, state, due_at, reason, deferred))


def _due(policy: EscalationPolicy, state: EscalationState) -> tuple[float, EscalationReason]:
    if state.status == IncidentStatus.ACKNOWLEDGED and policy.unresolved_after is not None:
        acknowledged_at = _first_set(state.acknowledged_at, state.created_at)
        since = max(acknowledged_at, _first_set(state.last_escalated_at, acknowledged_at))
        return since + policy.unresolved_after, EscalationReason.NOT_RESOLVED
    if state.escalation_level == 0:
        return state.created_at, EscalationReason.FIRST_PAGE
    current = policy.levels[policy.position_of(state.escalation_level) - 1]
    since = _first_set(state.last_escalated_at, state.created_at)
    wraps = state.escalation_level % len(policy.levels) == 0
    return since + current.timeout, (
        EscalationReason.REPEAT if wraps else EscalationReason.NOT_ACKNOWLEDGED
    )


def _first_set(value: float | None, fallback: float) -> float:
    """``value or fallback`` would treat the epoch itself (0.0) as unset."""
    return fallback if value is None else value


def _step(
    policy: EscalationPolicy,
    state: EscalationState,
    due_at: float,
    reason: EscalationReason,
    deferred: bool = False,
) -> EscalationStep:
    level = state.escalation_level + 1
    position = policy.position_of(level)
    return EscalationStep(
        policy=policy.name,
        level=level,
        position=position,
        cycle=(level - 1) // len(policy.levels),
        due_at=due_at,
        targets=policy.levels[position - 1].targets,
        reason=reason,
        deferred=deferred,
    )


def next_escalation(
    policy: EscalationPolicy,
    state: EscalationState,
    now: float,
    *,
    paused_until: float | None = None,
) -> EscalationStep | None:
    """The step to take at ``now``, or None when none is due (yet or any more)."""
    step = plan_escalation(policy, state, paused_until=paused_until).step
    return step if step is not None and step.due_at <= now else None


def manual_escalation(
    policy: EscalationPolicy,
    state: EscalationState,
    now: float,
    *,
    reason: EscalationReason = EscalationReason.MANUAL,
) -> EscalationStep | None:
    """The step an operator's ``escalate`` action takes at ``now``, or, with ``reason``
    ``TARGET_BREACHED``, the step a breached service target takes.

    It ignores timeouts and acknowledgement (the operator asked; the target is missed
    whoever acknowledged) but not resolution, and returns None when the policy has no
    level left.
    """
    if state.status in _STOPPED:
        return None
    if state.escalation_level >= policy.total_steps:
        return None
    return _step(policy, state, now, reason)


class Recipient(msgspec.Struct, frozen=True, kw_only=True):
    """A resolved target: the person (if any) and channels to notify, and for group
    targets the on-call answer that picked the person."""

    target: EscalationTarget
    person: str | None
    group: str | None = None
    channels: tuple[str, ...] = ()
    on_call: OnCall | None = None


def resolve_recipients(
    targets: Iterable[EscalationTarget],
    groups: Mapping[str, ResolverGroup],
    incident_group: str,
    now: float,
) -> tuple[Recipient, ...]:
    """Turn a step's targets into people and channels at ``now``.

    ``on-call`` and ``group`` targets both page the group's on-call person; a ``group``
    target also posts to the group's channels, an ``on-call`` target pages only the person
    unless the group has nobody on call, in which case its channels are the fallback.
    Raises ``ValueError`` for a group name the configuration does not know.
    """
    return tuple(_resolve(target, groups, incident_group, now) for target in targets)


def _resolve(
    target: EscalationTarget,
    groups: Mapping[str, ResolverGroup],
    incident_group: str,
    now: float,
) -> Recipient:
    if target.kind is TargetKind.PERSON:
        return Recipient(target=target, person=target.name)
    name = target.name or incident_group
    group = groups.get(name)
    if group is None:
        raise ValueError(f"escalation target {target} names unknown resolver group {name!r}")
    on_call = who_is_on_call(group, now)
    wants_channels = target.kind is TargetKind.GROUP or on_call.person is None
    return Recipient(
        target=target,
        person=on_call.person,
        group=name,
        channels=group.channels if wants_channels else (),
        on_call=on_call,
    )
