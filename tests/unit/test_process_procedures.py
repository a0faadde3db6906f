"""Procedures: selection, checklists, closure, cadence and visibility."""

from __future__ import annotations

import pytest

from triage.incident import IncidentStatus, TransitionError
from triage.process.common import Problems, UnknownItem
from triage.process.procedures import (
    DEFAULT_PROCEDURES,
    ClosureConfig,
    Kind,
    ProcedureConfig,
    Procedures,
    SelectionConfig,
    StepConfig,
    auto_close_due,
    can_view,
    checklist_for,
    close_check,
    compile_procedures,
    complete_step,
    default_procedures,
    next_update_due,
    open_required,
    resolution_check,
    select_procedure,
)
from triage.process.record import ChecklistItem

BOOK = default_procedures()
NOW = 10_000.0


def book_with(selection: SelectionConfig) -> Procedures:
    problems = Problems()
    compiled = compile_procedures(DEFAULT_PROCEDURES, selection, ClosureConfig(), problems)
    assert compiled is not None
    return compiled


# ---------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    ("category", "priority", "service", "labels", "text", "expected", "reason"),
    [
        ("databases", "P1", "orders", {}, "", Kind.MAJOR, "P1 is always a major incident"),
        ("databases", "P2", "orders", {}, "", Kind.STANDARD, "P2 databases: no major"),
        ("databases", "P3", "", {}, "", Kind.STANDARD, "P3 databases"),
        ("databases", "P4", "", {}, "", Kind.LOW_IMPACT, "P4 is low impact"),
        ("other", "P5", "", {}, "", Kind.LOW_IMPACT, "P5 is low impact"),
        (
            "network-and-security",
            "P3",
            "",
            {"cve": "CVE-2024-3094"},
            "",
            Kind.SECURITY,
            "category network-and-security with security signal label cve=CVE-2024-3094",
        ),
        (
            "network-and-security",
            "P1",
            "",
            {"security": "True"},
            "",
            Kind.SECURITY,
            "security signal label security=True",
        ),
        (
            "network-and-security",
            "P3",
            "",
            {"alertname": "SshBruteForceAttempts"},
            "",
            Kind.SECURITY,
            "keyword 'brute force'",
        ),
        (
            "network-and-security",
            "P3",
            "",
            {},
            "Suspicious login from a new country",
            Kind.SECURITY,
            "keyword 'suspicious login'",
        ),
        # Network trouble shares the category but carries no signal.
        (
            "network-and-security",
            "P1",
            "",
            {"alertname": "BlackboxProbeFailed"},
            "",
            Kind.MAJOR,
            "P1",
        ),
        ("network-and-security", "P3", "", {"security": "false"}, "", Kind.STANDARD, "P3"),
        # A signal outside the security categories is not enough.
        ("databases", "P3", "", {"cve": "CVE-1"}, "", Kind.STANDARD, "P3 databases"),
    ],
)
def test_selection(
    category: str,
    priority: str,
    service: str,
    labels: dict[str, str],
    text: str,
    expected: Kind,
    reason: str,
) -> None:
    name, why = select_procedure(category, priority, service, labels, BOOK, text=text)
    assert name == expected
    assert reason in why


def test_a_configured_service_is_major_at_p2_but_not_at_p3() -> None:
    book = book_with(SelectionConfig(major_services=["checkout"]))
    assert select_procedure("runtimes", "P2", "checkout", {}, book) == (
        Kind.MAJOR,
        "service checkout is configured as major at P2",
    )
    assert select_procedure("runtimes", "P3", "checkout", {}, book)[0] == Kind.STANDARD
    assert select_procedure("runtimes", "P2", "search", {}, book)[0] == Kind.STANDARD


def test_keywords_need_the_configured_word() -> None:
    book = book_with(SelectionConfig(security_keywords=["data exfil"], security_labels={}))
    labels = {"alertname": "DataExfilSuspected"}
    assert select_procedure("network-and-security", "P3", "", labels, book)[0] == Kind.SECURITY
    other = {"cve": "x", "alertname": "ExfilSuspected"}
    assert select_procedure("network-and-security", "P3", "", other, book)[0] == Kind.STANDARD


# ---------------------------------------------------------------------------- definitions


def test_the_shipped_procedures() -> None:
    major = BOOK.by_name[Kind.MAJOR]
    assert major.review_required
    assert major.notify_subscribers
    assert major.update_every == 1800.0
    assert major.auto_close_after is None
    assert "incident-manager" in major.engage
    assert [s.id for s in major.steps][-1] == "review"
    security = BOOK.by_name[Kind.SECURITY]
    assert security.restricted_scope == "security"
    assert "security-team" in security.engage
    assert BOOK.by_name[Kind.STANDARD].auto_close_after == 3 * 86400.0
    assert BOOK.by_name[Kind.LOW_IMPACT].steps == ()
    assert BOOK.get("retired-procedure") is BOOK.by_name[Kind.STANDARD]


def test_every_problem_is_reported_with_its_path() -> None:
    procedures = dict(DEFAULT_PROCEDURES)
    del procedures[Kind.LOW_IMPACT]
    procedures["major"] = ProcedureConfig(
        steps=[StepConfig(id="a", title="A"), StepConfig(id="a", title="again")],
        update_every="soon",
        review_required=True,
        auto_close_after="1d",
    )
    problems = Problems()
    compiled = compile_procedures(
        procedures,
        SelectionConfig(),
        ClosureConfig(resolution_codes=["fixed", "fixed"]),
        problems,
        ("process",),
    )
    assert compiled is None
    found = {(p.path, p.message.split(":")[0]) for p in problems.found}
    assert found == {
        (("process", "procedures"), "procedure 'low-impact' is missing"),
        (("process", "procedures", "major", "steps", 1, "id"), "step id 'a' is used twice"),
        (
            ("process", "procedures", "major", "auto_close_after"),
            "a procedure that requires a review closes after the review, not automatically",
        ),
        (("process", "procedures", "major", "update_every"), "invalid duration 'soon'"),
        (("process", "closure", "resolution_codes"), "codes must be unique"),
    }


# ---------------------------------------------------------------------------- checklist


def test_a_new_checklist_has_every_step_open() -> None:
    items = checklist_for(BOOK.by_name[Kind.MAJOR])
    assert [i.id for i in items] == ["declare", "bridge", "first-update", "mitigate", "review"]
    assert not any(i.done for i in items)
    assert len(open_required(items)) == 5


def test_completing_a_step_records_who_and_when() -> None:
    items = checklist_for(BOOK.by_name[Kind.MAJOR])
    items, entry = complete_step(items, "declare", actor="ann", now=NOW, note="Ann is IM")
    done = items[0]
    assert (done.done_at, done.done_by, done.note) == (NOW, "ann", "Ann is IM")
    assert entry.kind == "step"
    assert entry.actor == "ann"
    assert entry.data == {"step": "declare", "required": True}
    assert "Declare the major incident" in entry.message
    with pytest.raises(TransitionError, match="already completed by ann"):
        complete_step(items, "declare", actor="bob", now=NOW + 1)
    with pytest.raises(UnknownItem, match="no step 'nope'"):
        complete_step(items, "nope", actor="bob", now=NOW + 1)


def test_reclassification_keeps_done_work_and_drops_open_steps_nobody_owes() -> None:
    standard = checklist_for(BOOK.by_name[Kind.STANDARD])
    standard, _ = complete_step(standard, "diagnose", actor="ann", now=NOW)
    major = checklist_for(BOOK.by_name[Kind.MAJOR], standard)
    ids = [i.id for i in major]
    assert ids == ["declare", "bridge", "first-update", "mitigate", "review", "diagnose"]
    assert major[-1].done_by == "ann"
    assert "confirm" not in ids  # open and optional in the old procedure: dropped
    # Back to standard: the done step comes back done, open major steps go.
    again = checklist_for(BOOK.by_name[Kind.STANDARD], major)
    assert [(i.id, i.done) for i in again] == [("diagnose", True), ("confirm", False)]


# ---------------------------------------------------------------------------- closure


def _checklist(*done: str) -> list[ChecklistItem]:
    return [
        ChecklistItem(id="a", title="A", required=True, done_at=NOW if "a" in done else None),
        ChecklistItem(id="b", title="B", required=True, done_at=NOW if "b" in done else None),
        ChecklistItem(id="c", title="C", required=False),
    ]


def test_close_is_allowed_when_required_steps_are_done_even_with_optional_ones_open() -> None:
    check = close_check(_checklist("a", "b"))
    assert check.allowed
    assert not check.forced
    assert close_check([]).allowed


def test_close_with_open_required_steps_is_refused() -> None:
    check = close_check(_checklist("a"))
    assert not check.allowed
    assert not check.needs_reason
    assert check.open_steps == ["b"]
    assert "required steps are open: b" in check.message


def test_forcing_needs_a_reason_and_the_reason_goes_on_the_timeline() -> None:
    blank = close_check(_checklist(), force=True, reason="  ")
    assert not blank.allowed
    assert blank.needs_reason
    forced = close_check(_checklist(), force=True, reason="service decommissioned")
    assert forced.allowed
    assert forced.forced
    assert forced.open_steps == ["a", "b"]
    assert forced.message == "closed with required steps open (a, b): service decommissioned"


@pytest.mark.parametrize(
    ("code", "notes", "field", "problem"),
    [
        (None, "x", "code", "a resolution code is required"),
        ("magic", "x", "code", "unknown resolution code 'magic'"),
        ("fixed", " ", "notes", "resolution notes are required"),
        ("fixed", "restarted the pod", None, None),
    ],
)
def test_resolution_needs_a_known_code_and_notes(
    code: str | None, notes: str, field: str | None, problem: str | None
) -> None:
    found = resolution_check(code, notes, BOOK)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found[0] == field
        assert found[1].startswith(problem)


def test_auto_close_only_for_resolved_incidents_of_procedures_that_allow_it() -> None:
    standard, major = BOOK.by_name[Kind.STANDARD], BOOK.by_name[Kind.MAJOR]
    resolved = IncidentStatus.RESOLVED
    assert auto_close_due(standard, status=resolved, resolved_at=NOW) == NOW + 3 * 86400
    assert auto_close_due(major, status=resolved, resolved_at=NOW) is None
    assert auto_close_due(standard, status=IncidentStatus.CLOSED, resolved_at=NOW) is None


def test_update_cadence_runs_from_the_last_update_while_open() -> None:
    major = BOOK.by_name[Kind.MAJOR]
    opened = IncidentStatus.TRIGGERED
    assert (
        next_update_due(major.update_every, status=opened, created_at=NOW, last_update_at=None)
        == NOW + 1800
    )
    assert (
        next_update_due(major.update_every, status=opened, created_at=NOW, last_update_at=NOW + 600)
        == NOW + 2400
    )
    resolved = IncidentStatus.RESOLVED
    assert (
        next_update_due(major.update_every, status=resolved, created_at=NOW, last_update_at=None)
        is None
    )
    standard = BOOK.by_name[Kind.STANDARD]
    assert (
        next_update_due(standard.update_every, status=opened, created_at=NOW, last_update_at=None)
        is None
    )


def test_security_details_need_the_security_scope() -> None:
    security, standard = BOOK.by_name[Kind.SECURITY], BOOK.by_name[Kind.STANDARD]
    assert not can_view(security, [])
    assert not can_view(security, ["incidents:read"])
    assert can_view(security, ["incidents:read", "security"])
    assert can_view(standard, [])
