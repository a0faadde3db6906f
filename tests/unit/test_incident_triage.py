"""What the models read of an incident, and how their answers and operators' changes land."""

from __future__ import annotations

import msgspec
import pytest

from triage.classify import PriorityPolicy
from triage.classify.values import Alternative, Prediction, PriorityDecision, TriageResult
from triage.incident import Incident, IncidentStatus, TransitionError
from triage.incident_triage import (
    apply_rescope,
    apply_triage,
    reclassify,
    rescope,
    scope_of,
    training_label,
    triage_input,
)

T0 = 1_767_225_600.0
CATEGORIES = frozenset({"databases", "storage", "other"})


def incident(**changes: object) -> Incident:
    fields: dict[str, object] = {
        "id": "INC-7",
        "key": "service=db",
        "title": "Postgres down",
        "status": IncidentStatus.TRIGGERED,
        "priority": "P3",
        "category": "other",
        "group": "triage-queue",
        "procedure": "standard",
        "created_at": T0,
        "updated_at": T0,
        "started_at": T0,
        "labels": {"alertname": "PostgresDown", "service": "db", "severity": "warning"},
        "description": "primary unreachable",
        "source": "alertmanager",
        "alert_count": 1,
        "triage": {"priority": {"value": "P3", "decided_by": "matrix"}},
    }
    fields.update(changes)
    return Incident(**fields)  # type: ignore[arg-type]


def prediction(label: str, decided_by: str = "model") -> Prediction:
    return Prediction(
        label=label,
        confidence=0.91,
        alternatives=(Alternative(label, 0.91), Alternative("storage", 0.05)),
        decided_by=decided_by,
        model="alert-category",
        model_version="v9",
    )


def test_the_input_is_what_the_opening_alert_said() -> None:
    item = triage_input(incident(alert_count=4))
    assert (item.title, item.description, item.source) == (
        "Postgres down",
        "primary unreachable",
        "alertmanager",
    )
    assert (item.severity, item.service, item.alert_count, item.services) == (
        "warning",
        "db",
        4,
        ["db"],
    )


def test_scope_comes_from_correlation_when_it_measured_one() -> None:
    measured = incident(triage={"impact": {"services": ["db", "api"], "instances": 12}})
    assert scope_of(measured) == (["db", "api"], 12)
    assert scope_of(incident()) == (["db"], 1)
    assert scope_of(incident(labels={})) == ([], 1)


def test_the_models_answer_sets_category_priority_and_the_trace() -> None:
    result = TriageResult(
        kind="alert",
        category=prediction("databases"),
        service=None,
        priority=PriorityDecision(
            priority="P2", impact="medium", urgency="high", rule="matrix", reasons=("r1", "r2")
        ),
        group=prediction("dba", "corrections-memory"),
        model_versions={"alert-category": "v9"},
    )
    triaged = apply_triage(incident(), result)
    assert (triaged.category, triaged.priority, triaged.group) == (
        "databases",
        "P2",
        "triage-queue",
    )
    assert triaged.triage["category"]["alternatives"][1] == {"value": "storage", "confidence": 0.05}
    assert triaged.triage["priority"]["reasons"] == ["r1", "r2"]
    assert triaged.triage["group_suggestion"]["decided_by"] == "corrections-memory"
    assert triaged.triage["priority"]["urgency_source"] == "default"
    assert "urgency_model" not in triaged.triage["priority"]


def test_an_urgency_the_text_model_decided_is_traced_with_its_confidence() -> None:
    decision = PriorityDecision(
        priority="P4",
        impact="medium",
        urgency="low",
        rule="matrix",
        reasons=("urgency low from the text model",),
        urgency_source="text-model",
    )
    urgency = msgspec.structs.replace(prediction("3"), model="urgency", model_version="u1")
    result = TriageResult(
        kind="ticket",
        category=prediction("Hardware"),
        service=None,
        priority=decision,
        group=prediction("triage-queue", "triage-queue"),
        model_versions={"urgency": "u1"},
        urgency=urgency,
    )
    trace = apply_triage(incident(labels={}), result).triage["priority"]
    assert trace["urgency_source"] == "text-model"
    assert trace["urgency_model"]["model_version"] == "u1"
    assert trace["urgency_model"]["confidence"] == 0.91
    msgspec.json.encode(trace)


def test_growing_scope_raises_priority_once_and_never_lowers_it() -> None:
    policy = PriorityPolicy()
    grown = incident(
        labels={"service": "db", "severity": "critical"},
        priority="P2",
        triage={
            "priority": {"value": "P2", "decided_by": "matrix"},
            "impact": {"services": ["db", "api", "web"], "instances": 3},
        },
    )
    entry = rescope(grown, policy, now=T0 + 60)
    assert entry is not None
    assert entry.message.startswith("priority P2 -> P1: impact high")
    raised = apply_rescope(grown, entry)
    assert (raised.priority, raised.triage["priority"]["impact"]) == ("P1", "high")
    assert rescope(raised, policy, now=T0 + 61) is None, "already there"
    assert rescope(incident(priority="P1"), policy, now=T0) is None, "never lowered"


def test_an_urgency_read_from_the_text_is_kept_when_the_scope_is_rescoped() -> None:
    """No severity: the urgency came from the text model; a second alert that changes
    nothing about the impact must not swap it for the default urgency."""
    policy = PriorityPolicy()
    ticket = incident(
        labels={"service": "desk"},
        priority="P4",
        alert_count=2,
        triage={
            "priority": {
                "value": "P4",
                "decided_by": "matrix",
                "urgency": "low",
                "urgency_source": "text-model",
            }
        },
    )
    assert rescope(ticket, policy, now=T0 + 60) is None
    wide = msgspec.structs.replace(
        ticket,
        triage={**ticket.triage, "impact": {"services": ["desk", "mail", "vpn"], "instances": 3}},
    )
    entry = rescope(wide, policy, now=T0 + 60)
    assert entry is not None
    assert (entry.data["value"], entry.data["urgency"]) == ("P3", "low"), "high impact x low"
    assert entry.data["urgency_source"] == "text-model"


def test_an_operator_priority_is_never_rescoped() -> None:
    pinned = incident(
        priority="P4",
        labels={"service": "db", "severity": "critical"},
        triage={
            "priority": {"value": "P4", "decided_by": "operator"},
            "impact": {"services": ["a", "b", "c"], "instances": 30},
        },
    )
    assert rescope(pinned, PriorityPolicy(), now=T0) is None
    resolved = msgspec.structs.replace(
        pinned, status=IncidentStatus.RESOLVED, triage={"priority": {"decided_by": "matrix"}}
    )
    assert rescope(resolved, PriorityPolicy(), now=T0) is None


def test_reclassify_records_who_changed_what() -> None:
    new, entry = reclassify(
        incident(),
        category="databases",
        priority="P2",
        known_categories=CATEGORIES,
        actor="dana",
        reason="it is the primary",
        now=T0 + 5,
    )
    assert (new.category, new.priority, new.updated_at) == ("databases", "P2", T0 + 5)
    assert new.triage["category"]["decided_by"] == "operator"
    assert new.triage["priority"] == {"value": "P2", "decided_by": "operator", "actor": "dana"}
    assert entry.message == "category other -> databases; priority P3 -> P2: it is the primary"
    assert entry.data == {
        "category": {"from": "other", "to": "databases"},
        "priority": {"from": "P3", "to": "P2"},
    }


def test_reclassify_refuses_unknown_values_and_no_change() -> None:
    with pytest.raises(ValueError, match="unknown category"):
        reclassify(
            incident(), category="x", priority=None, known_categories=CATEGORIES, actor="a",
            reason="", now=T0,
        )  # fmt: skip
    with pytest.raises(ValueError, match="P1"):
        reclassify(
            incident(), category=None, priority="P9", known_categories=CATEGORIES, actor="a",
            reason="", now=T0,
        )  # fmt: skip
    with pytest.raises(TransitionError, match="already has category other and priority P3"):
        reclassify(
            incident(), category="other", priority="P3", known_categories=CATEGORIES, actor="a",
            reason="", now=T0,
        )  # fmt: skip


def test_training_label_is_the_incident_as_first_seen_with_the_persons_choice() -> None:
    old = incident()
    moved = incident(group="dba")
    label = training_label(old, moved)
    assert label is not None
    assert (label.group, label.category, label.item.title) == ("dba", None, "Postgres down")
    assert training_label(old, incident(category="databases")).category == "databases"  # type: ignore[union-attr]
    assert training_label(old, incident(priority="P1")) is None
