"""The triager with the shipped models: decisions, traces, corrections; its speed is
measured by bench/classify.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from triage.classify import Correction, TriageConfig, TriageInput, Triager, load_models
from triage.classify.features import documents

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def triager() -> Triager:
    return load_models(MODELS)


def new_service_alert(n: int) -> TriageInput:
    symptoms = [
        ("LatencyHigh", "p99 latency above 2 seconds"),
        ("QueueBacklog", "work queue backlog keeps growing"),
        ("ErrorRate", "more than 5% of requests fail"),
        ("Down", "no instance answers the health check"),
        ("RestartLoop", "process restarted 6 times in 10 minutes"),
    ]
    name, text = symptoms[n % len(symptoms)]
    return TriageInput(
        title=f"Ledgerd{name}",
        description=f"ledgerd {text}",
        labels={"alertname": f"Ledgerd{name}", "job": "ledgerd", "instance": f"10.0.0.{n}:80"},
        source="alertmanager",
        severity="warning",
    )


def test_alert_is_categorised_with_alternatives_and_versions(triager: Triager) -> None:
    item = TriageInput(
        title="PostgresReplicaLagging",
        description="the standby database is far behind its primary",
        source="alertmanager",
        severity="critical",
        services=["checkout"],
    )
    [result] = triager.classify_batch([item])
    assert result.kind == "alert"
    assert result.category.label == "databases"
    assert result.category.decided_by == "model"
    assert len(result.category.alternatives) == 3
    assert result.category.alternatives[0].label == "databases"
    assert result.service is not None
    assert result.service.label == "PostgreSQL"
    assert result.priority.urgency == "high"
    assert set(result.model_versions) == {
        "alert-category",
        "alert-service",
        "ticket-category",
        "urgency",
        "resolver-group",
    }


def test_ticket_uses_the_ticket_model_and_text_urgency(triager: Triager) -> None:
    item = TriageInput(
        title="new laptop",
        description="please order a new laptop and docking station for new starter",
        source="generic",
    )
    [result] = triager.classify_batch([item])
    assert result.kind == "ticket"
    assert result.category.model == "ticket-category"
    assert result.category.label in {"Hardware", "Purchase"}
    assert result.service is None
    assert "text model" in result.priority.reasons[0]


def test_sender_named_service_is_kept(triager: Triager) -> None:
    [result] = triager.classify_batch([TriageInput(description="down", service="billing-api")])
    assert result.service is not None
    assert (result.service.label, result.service.decided_by) == ("billing-api", "input")


def test_unsure_group_goes_to_the_triage_queue(triager: Triager) -> None:
    custom = Triager(triager.models, TriageConfig(triage_queue="dispatch", group_threshold=0.99))
    [result] = custom.classify_batch([new_service_alert(0)])
    assert result.group.label == "dispatch"
    assert result.group.decided_by == "triage-queue"
    assert result.group.alternatives


def test_five_reassignments_route_the_next_alike_alerts(triager: Triager) -> None:
    local = Triager(triager.models, TriageConfig(group_threshold=0.5))
    before = local.classify_batch([new_service_alert(n) for n in range(5, 15)])
    assert all(r.group.label != "payments-sre" for r in before)
    local.remember([Correction(item=new_service_alert(n), group="payments-sre") for n in range(5)])
    after = local.classify_batch([new_service_alert(n) for n in range(5, 15)])
    routed = [r for r in after if r.group.label == "payments-sre"]
    assert len(routed) >= 9
    assert all(r.group.decided_by == "corrections-memory" for r in routed)


def test_category_correction_applies_to_the_kind_it_was_made_for(triager: Triager) -> None:
    local = Triager(triager.models)
    local.remember([Correction(item=new_service_alert(n), category="other") for n in range(3)])
    [alert] = local.classify_batch([new_service_alert(7)])
    assert (alert.category.label, alert.category.decided_by) == ("other", "corrections-memory")
    assert not local.memories["category:ticket"]


def mixed_inputs() -> list[TriageInput]:
    """Alerts with and without a known severity, and tickets a person wrote: every path
    of ``classify_batch`` (both category models, service, text urgency, group)."""
    tickets = [
        TriageInput(title="vpn drops", description="vpn disconnects every hour since monday"),
        TriageInput(description="please order a second monitor and a docking station"),
        TriageInput(title="access", description="need access to the finance share folder"),
    ]
    alerts = [new_service_alert(n) for n in range(6)]
    unsure = [
        TriageInput(title="KafkaLag", description="consumer lag keeps growing", source="kafka"),
        TriageInput(description="disk almost full on db-2", source="alertmanager"),
    ]
    return [*tickets, *alerts, *unsure]


def test_batch_and_single_item_results_are_equal(triager: Triager) -> None:
    items = mixed_inputs()
    batch = triager.classify_batch(items)
    assert {r.kind for r in batch} == {"alert", "ticket"}
    assert batch == [triager.classify_batch([item])[0] for item in items]


@pytest.mark.parametrize(
    "name", ["alert-category", "alert-service", "ticket-category", "urgency", "resolver-group"]
)
def test_serving_steps_give_the_estimators_own_probabilities(triager: Triager, name: str) -> None:
    model = triager.models[name]
    items = mixed_inputs()
    own = model.estimator.predict_proba(documents(model.feature, items))
    assert np.allclose(model.proba(items), own)
    assert np.allclose(model.proba(items).sum(axis=1), 1.0)
