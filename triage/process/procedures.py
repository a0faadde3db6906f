"""Procedures: the agreed way each kind of incident is handled, and the checks that enforce it.

A P1 outage, a suspected intrusion and a full disk need different handling: who is pulled
in, how often stakeholders hear of progress, what must be done before the incident may be
closed, and who may read it. Writing that down as a procedure per kind of incident makes
the handling predictable and auditable; this module holds the definitions (from config),
chooses one for an incident, and keeps the incident's checklist.

Selection is a short fixed rule list rather than a general rule tree because the kinds are
few and an operator must be able to predict the outcome from the config at a glance:

1. **security**: the category is a security category *and* the alert carries a security
   signal (a configured label, or a keyword in a label value or the title). Network alerts
   share the category with security ones, so the category alone is not enough. Security
   wins over major: a P1 breach still needs restricted visibility, which cannot be undone
   once details leaked; its procedure engages the incident manager as well.
2. **major**: a major priority (P1), or a configured critical service at P2.
3. **low-impact**: P4 and P5.
4. **standard**: everything else.

Checklist state is a list of plain ``ChecklistItem`` values stored with the incident; each
change returns the new list and the timeline entry that documents it, as ``perform`` does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Final

import msgspec

from routing.config import FieldPath
from triage.incident import IncidentStatus, TimelineEntry, TransitionError
from triage.process.common import Priority, Problems, Section, UnknownItem
from triage.process.record import ChecklistItem

Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]*$")]
Text = Annotated[str, msgspec.Meta(min_length=1)]


class Kind(enum.StrEnum):
    """The procedures selection can choose; config must define each of them."""

    MAJOR = "major"
    SECURITY = "security"
    STANDARD = "standard"
    LOW_IMPACT = "low-impact"


# ---------------------------------------------------------------------------- config schema


class StepConfig(Section, frozen=True):
    id: Name
    title: Text
    required: bool = True
    role: str | None = None  # who is expected to do it; informational


class ProcedureConfig(Section, frozen=True):
    steps: list[StepConfig] = []
    engage: list[Name] = []  # roles paged or invited when the procedure starts
    update_every: str | None = None  # stakeholder update cadence while open
    notify_subscribers: bool = False  # subscribers hear of open, each update, resolution
    review_required: bool = False
    restricted_scope: Name | None = None  # token scope needed to read the details
    auto_close_after: str | None = None  # close this long after resolution; None: manual


DEFAULT_SECURITY_KEYWORDS: Final = (
    "intrusion",
    "malware",
    "ransomware",
    "phishing",
    "brute force",
    "unauthorized",
    "unauthorised",
    "exfiltration",
    "ddos",
    "vulnerability",
    "compromised",
    "suspicious login",
)


class SelectionConfig(Section, frozen=True):
    major_priorities: list[Priority] = msgspec.field(default_factory=lambda: ["P1"])
    major_services: list[Text] = []
    major_service_priorities: list[Priority] = msgspec.field(default_factory=lambda: ["P2"])
    security_categories: list[Text] = msgspec.field(
        default_factory=lambda: ["network-and-security"]
    )
    # A label with this name is a signal; with values listed, only those values are.
    security_labels: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {"security": ["true", "yes"], "cve": [], "threat": []}
    )
    security_keywords: list[Text] = msgspec.field(
        default_factory=lambda: list(DEFAULT_SECURITY_KEYWORDS)
    )
    low_impact_priorities: list[Priority] = msgspec.field(default_factory=lambda: ["P4", "P5"])


DEFAULT_RESOLUTION_CODES: Final = (
    "fixed",
    "workaround",
    "rolled-back",
    "config-changed",
    "capacity-added",
    "third-party",
    "no-fault-found",
)


class ClosureConfig(Section, frozen=True):
    resolution_codes: list[Text] = msgspec.field(
        default_factory=lambda: list(DEFAULT_RESOLUTION_CODES)
    )
    require_notes: bool = True


IM = "incident-manager"
SECURITY_TEAM = "security-team"
RESOLVER = "resolver"


def _step(id: str, title: str, role: str | None = None, *, required: bool = True) -> StepConfig:
    return StepConfig(id=id, title=title, role=role, required=required)


DEFAULT_PROCEDURES: Final[dict[str, ProcedureConfig]] = {
    Kind.MAJOR: ProcedureConfig(
        steps=[
            _step("declare", "Declare the major incident; name the incident manager", IM),
            _step("bridge", "Open the bridge and engage the service owner", IM),
            _step("first-update", "Send the first stakeholder update", IM),
            _step("mitigate", "Record the mitigation or workaround", RESOLVER),
            _step("review", "Hold the post-incident review", IM),
        ],
        engage=["incident-manager", "service-owner"],
        update_every="30m",
        notify_subscribers=True,
        review_required=True,
    ),
    Kind.SECURITY: ProcedureConfig(
        steps=[
            _step("assess", "Assess scope and affected data", SECURITY_TEAM),
            _step("contain", "Contain: isolate hosts, revoke credentials", SECURITY_TEAM),
            _step("evidence", "Preserve evidence before changing systems", SECURITY_TEAM),
            _step("notify", "Decide on notification duties (legal, data protection)", IM),
            _step("review", "Hold the post-incident review", SECURITY_TEAM),
        ],
        engage=["security-team", "incident-manager"],
        update_every="1h",
        review_required=True,
        restricted_scope="security",
    ),
    Kind.STANDARD: ProcedureConfig(
        steps=[
            _step("diagnose", "Record the diagnosis", RESOLVER),
            _step("confirm", "Confirm the service works for its users", RESOLVER, required=False),
        ],
        engage=["resolver-group"],
        auto_close_after="3d",
    ),
    Kind.LOW_IMPACT: ProcedureConfig(engage=["resolver-group"], auto_close_after="1d"),
}


# ---------------------------------------------------------------------------- compiled values


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    title: str
    required: bool
    role: str | None


@dataclass(frozen=True, slots=True)
class Procedure:
    name: str
    steps: tuple[Step, ...]
    engage: tuple[str, ...]
    update_every: float | None
    notify_subscribers: bool
    review_required: bool
    restricted_scope: str | None
    auto_close_after: float | None


@dataclass(frozen=True, slots=True)
class Selection:
    major_priorities: frozenset[str]
    major_services: frozenset[str]
    major_service_priorities: frozenset[str]
    security_categories: frozenset[str]
    security_labels: Mapping[str, frozenset[str]]
    security_keywords: tuple[tuple[str, str], ...]  # (as written, squashed)
    low_impact_priorities: frozenset[str]


@dataclass(frozen=True, slots=True)
class Procedures:
    """Everything procedure-related the daemon needs, compiled from config."""

    by_name: Mapping[str, Procedure]
    selection: Selection
    resolution_codes: tuple[str, ...]
    require_notes: bool

    def get(self, name: str) -> Procedure:
        """The named procedure, or ``standard`` for a name config no longer defines (an
        incident recorded before a config change must still be handled by something)."""
        return self.by_name.get(name) or self.by_name[Kind.STANDARD]


def compile_procedures(
    procedures: Mapping[str, ProcedureConfig],
    selection: SelectionConfig,
    closure: ClosureConfig,
    problems: Problems,
    path: FieldPath = (),
) -> Procedures | None:
    """Check and compile; problems are recorded under ``path`` (e.g. ``("process",)``)."""
    before = len(problems.found)
    for kind in Kind:
        if kind not in procedures:
            problems.add(
                (*path, "procedures"),
                f"procedure '{kind}' is missing: selection chooses it, so it must be defined",
            )
    compiled = {
        name: _procedure(name, spec, problems, (*path, "procedures", name))
        for name, spec in procedures.items()
    }
    if not closure.resolution_codes:
        problems.add((*path, "closure", "resolution_codes"), "list at least one code")
    if len(set(closure.resolution_codes)) != len(closure.resolution_codes):
        problems.add((*path, "closure", "resolution_codes"), "codes must be unique")
    if len(problems.found) > before:
        return None
    return Procedures(
        by_name={name: p for name, p in compiled.items() if p is not None},
        selection=_selection(selection),
        resolution_codes=tuple(closure.resolution_codes),
        require_notes=closure.require_notes,
    )


def _procedure(
    name: str, spec: ProcedureConfig, problems: Problems, path: FieldPath
) -> Procedure | None:
    ids = [step.id for step in spec.steps]
    for i, step_id in enumerate(ids):
        if step_id in ids[:i]:
            problems.add((*path, "steps", i, "id"), f"step id {step_id!r} is used twice")
    if spec.review_required and spec.auto_close_after is not None:
        problems.add(
            (*path, "auto_close_after"),
            "a procedure that requires a review closes after the review, not automatically",
        )
    before = len(problems.found)
    update_every = problems.duration((*path, "update_every"), spec.update_every)
    auto_close = problems.duration((*path, "auto_close_after"), spec.auto_close_after)
    if len(problems.found) > before:
        return None
    return Procedure(
        name=name,
        steps=tuple(Step(s.id, s.title, s.required, s.role) for s in spec.steps),
        engage=tuple(spec.engage),
        update_every=update_every,
        notify_subscribers=spec.notify_subscribers,
        review_required=spec.review_required,
        restricted_scope=spec.restricted_scope,
        auto_close_after=auto_close,
    )


def _selection(spec: SelectionConfig) -> Selection:
    return Selection(
        major_priorities=frozenset(spec.major_priorities),
        major_services=frozenset(spec.major_services),
        major_service_priorities=frozenset(spec.major_service_priorities),
        security_categories=frozenset(spec.security_categories),
        security_labels={
            k: frozenset(v.lower() for v in vs) for k, vs in spec.security_labels.items()
        },
        security_keywords=tuple((k, _squash(k)) for k in spec.security_keywords),
        low_impact_priorities=frozenset(spec.low_impact_priorities),
    )


def default_procedures() -> Procedures:
    """The shipped procedures; also what tests and the history import use."""
    problems = Problems()
    compiled = compile_procedures(DEFAULT_PROCEDURES, SelectionConfig(), ClosureConfig(), problems)
    problems.raise_any()
    assert compiled is not None
    return compiled


# ---------------------------------------------------------------------------- selection


def select_procedure(
    category: str,
    priority: str,
    service: str,
    labels: Mapping[str, str],
    config: Procedures,
    *,
    text: str = "",
) -> tuple[str, str]:
    """``(procedure name, reason)`` for an incident; ``text`` is its title or summary.

    The reason is written for the triage trace, so an operator reading an incident sees
    which rule chose its procedure without opening the config.
    """
    rules = config.selection
    if category in rules.security_categories:
        signal = security_signal(labels, text, rules)
        if signal is not None:
            return Kind.SECURITY, f"category {category} with security signal {signal}"
    if priority in rules.major_priorities:
        return Kind.MAJOR, f"{priority} is always a major incident"
    if service in rules.major_services and priority in rules.major_service_priorities:
        return Kind.MAJOR, f"service {service} is configured as major at {priority}"
    if priority in rules.low_impact_priorities:
        return Kind.LOW_IMPACT, f"{priority} is low impact"
    return Kind.STANDARD, f"{priority} {category}: no major, security or low-impact rule applies"


def security_signal(labels: Mapping[str, str], text: str, rules: Selection) -> str | None:
    """What marks an alert as security-related (for the reason), or None."""
    for name, values in rules.security_labels.items():
        value = labels.get(name)
        if value is not None and (not values or value.lower() in values):
            return f"label {name}={value}"
    haystacks = [_squash(text), *(_squash(value) for value in labels.values())]
    for keyword, squashed in rules.security_keywords:
        if any(squashed in haystack for haystack in haystacks):
            return f"keyword {keyword!r}"
    return None


def _squash(text: str) -> str:
    """Lower case letters and digits only, so ``brute force`` also finds the alert name
    ``SshBruteForceAttempts`` and ``brute-force`` in a label value."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def can_view(procedure: Procedure, scopes: Iterable[str]) -> bool:
    """Whether a token with ``scopes`` may read the incident's details (not just its id)."""
    return procedure.restricted_scope is None or procedure.restricted_scope in set(scopes)


# ---------------------------------------------------------------------------- checklist


def checklist_for(
    procedure: Procedure, existing: Sequence[ChecklistItem] = ()
) -> list[ChecklistItem]:
    """The procedure's checklist, keeping what was already done under the same step id.

    A reclassified incident (P3 → P1) changes procedure mid-flight; work recorded under the
    old procedure stays recorded, completed steps the new one lacks are kept for the record,
    and open steps it lacks are dropped because nobody owes them any more.
    """
    done = {item.id: item for item in existing if item.done}
    items = [
        msgspec.structs.replace(done[s.id], title=s.title, required=s.required, role=s.role)
        if s.id in done
        else ChecklistItem(id=s.id, title=s.title, required=s.required, role=s.role)
        for s in procedure.steps
    ]
    wanted = {s.id for s in procedure.steps}
    return items + [item for item in existing if item.done and item.id not in wanted]


def complete_step(
    checklist: Sequence[ChecklistItem],
    step_id: str,
    *,
    actor: str,
    now: float,
    note: str = "",
) -> tuple[list[ChecklistItem], TimelineEntry]:
    """Mark a step done by ``actor``; completing it twice is a ``TransitionError`` (409)."""
    items = list(checklist)
    for i, item in enumerate(items):
        if item.id != step_id:
            continue
        if item.done:
            raise TransitionError(f"step {step_id!r} was already completed by {item.done_by}")
        items[i] = msgspec.structs.replace(item, done_at=now, done_by=actor, note=note)
        entry = TimelineEntry(
            at=now,
            kind="step",
            actor=actor,
            message=f"completed: {item.title}" + (f" ({note})" if note else ""),
            data={"step": step_id, "required": item.required},
        )
        return items, entry
    known = ", ".join(item.id for item in items) or "none"
    raise UnknownItem(
        f"no step {step_id!r} on this incident's checklist (steps: {known})", field="step"
    )


def open_required(checklist: Iterable[ChecklistItem]) -> list[ChecklistItem]:
    return [item for item in checklist if item.required and not item.done]


class CloseCheck(msgspec.Struct, frozen=True):
    """Whether a close may go ahead.

    ``message`` is the refusal (for the API answer) when not allowed, and the text for the
    close's timeline entry when a close was forced over open steps.
    """

    allowed: bool
    message: str = ""
    open_steps: list[str] = []
    forced: bool = False
    needs_reason: bool = False  # refused only because ``force`` came without a reason (400)


def close_check(
    checklist: Iterable[ChecklistItem], *, force: bool = False, reason: str = ""
) -> CloseCheck:
    """Closing with open required steps is refused (409) unless forced with a reason.

    Forcing exists because real incidents end in ways procedures did not foresee (the
    service was decommissioned mid-incident); the reason makes that visible in the record.
    """
    missing = open_required(checklist)
    if not missing:
        return CloseCheck(allowed=True)
    ids = [item.id for item in missing]
    listed = ", ".join(ids)
    if not force:
        return CloseCheck(
            allowed=False,
            open_steps=ids,
            message=f"required steps are open: {listed}; complete them or force the close "
            "with a reason",
        )
    if not reason.strip():
        return CloseCheck(
            allowed=False,
            open_steps=ids,
            needs_reason=True,
            message=f"forcing a close over open required steps ({listed}) needs a reason",
        )
    return CloseCheck(
        allowed=True,
        open_steps=ids,
        forced=True,
        message=f"closed with required steps open ({listed}): {reason.strip()}",
    )


# ---------------------------------------------------------------------------- closure and cadence


def resolution_check(code: str | None, notes: str, config: Procedures) -> tuple[str, str] | None:
    """``(field, problem)`` of a resolve request (an API 400 naming ``code`` or ``notes``),
    or None if it documents enough."""
    codes = ", ".join(config.resolution_codes)
    if not code:
        return "code", "a resolution code is required; one of: " + codes
    if code not in config.resolution_codes:
        return "code", f"unknown resolution code {code!r}; one of: " + codes
    if config.require_notes and not notes.strip():
        return "notes", "resolution notes are required: say what was done"
    return None


def next_update_due(
    update_every: float | None,
    *,
    status: IncidentStatus,
    created_at: float,
    last_update_at: float | None,
) -> float | None:
    """When the owner owes stakeholders the next update, at the cadence ``update_every``
    (a procedure's, as copied to the incident when it started); None when none applies.

    The cadence runs only while the incident is open: after resolution the resolution
    notice is the last update.
    """
    if update_every is None or not status.is_open:
        return None
    return (last_update_at if last_update_at is not None else created_at) + update_every


def auto_close_due(
    procedure: Procedure, *, status: IncidentStatus, resolved_at: float | None
) -> float | None:
    """When a resolved incident closes by itself; None for procedures closed by hand
    (major and security incidents close after their review)."""
    if status is not IncidentStatus.RESOLVED or resolved_at is None:
        return None
    if procedure.auto_close_after is None:
        return None
    return resolved_at + procedure.auto_close_after
