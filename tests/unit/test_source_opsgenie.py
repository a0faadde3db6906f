"""Opsgenie's Create Alert API body (message, alias, description, responders, tags,
details, entity, source, priority, user, note), plus close and acknowledge by alias in
the shape docs/sources.md gives: ``{"action": "close" | "acknowledge", "alias": ...}``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.source_support import NOW, accept, fields, only_ack, only_alert, reject
from triage.alert import AlertStatus
from triage.dedup import apply_alert
from triage.fingerprint import key_fingerprint


def og_create(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": "Checkout latency above 2 s",
        "alias": "checkout-latency-eu",
        "description": "p99 latency of POST /checkout has been above 2 s for 10 minutes.",
        "responders": [
            {"name": "Payments", "type": "team"},
            {"username": "oncall@example.com", "type": "user"},
            {"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "type": "escalation"},
        ],
        "visibleTo": [{"name": "SRE", "type": "team"}],
        "actions": ["Restart", "Scale out"],
        "tags": ["env:prod", "region:eu-west-1", "customer-facing"],
        "details": {"cluster": "eu-1", "owner": "payments"},
        "entity": "checkout",
        "source": "Prometheus",
        "priority": "P2",
        "user": "Monitoring Script",
        "note": "Opened automatically",
    }
    body.update(overrides)
    return body


def og_action(action: str, alias: str = "checkout-latency-eu", **extra: Any) -> dict[str, Any]:
    return {"action": action, "alias": alias, **extra}


def test_create_maps_fields_and_answers_like_opsgenie() -> None:
    received = accept("opsgenie", og_create())
    alert = only_alert(received)
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == key_fingerprint("opsgenie", "checkout-latency-eu")
    assert alert.labels == {
        "env": "prod",
        "region": "eu-west-1",
        "tags": "customer-facing",
        "cluster": "eu-1",
        "owner": "payments",
        "service": "checkout",
        "entity": "checkout",
        "origin": "Prometheus",
        "responders": "escalation:4513b7ea-3b91-438f-b7e4-e3e54af9147c,"
        "team:Payments,user:oncall@example.com",
        "alertname": "Checkout latency above 2 s",
        "severity": "error",
        "vendor_severity": "P2",
    }
    assert alert.annotations["summary"] == "Checkout latency above 2 s"
    assert alert.annotations["description"].startswith("p99 latency")
    assert alert.annotations["alias"] == "checkout-latency-eu"
    assert alert.annotations["note"] == "Opened automatically"
    assert alert.annotations["actions"] == "Restart,Scale out"
    assert alert.starts_at == NOW
    assert received.reply is not None
    assert received.reply["result"] == "Request will be processed"
    assert received.reply["requestId"]


def test_repeat_create_with_the_alias_is_the_same_alert() -> None:
    first = only_alert(accept("opsgenie", og_create()))
    again = only_alert(accept("opsgenie", og_create(message="Checkout latency 3 s")))
    assert again.fingerprint == first.fingerprint


def test_without_alias_the_message_dedups() -> None:
    body = og_create()
    del body["alias"]
    first = only_alert(accept("opsgenie", body))
    again = only_alert(accept("opsgenie", body))
    assert first.fingerprint == again.fingerprint == key_fingerprint("opsgenie", body["message"])


def test_acknowledge_by_alias() -> None:
    ack = only_ack(accept("opsgenie", og_action("acknowledge", user="alice", note="on it")))
    assert ack.fingerprint == key_fingerprint("opsgenie", "checkout-latency-eu")
    assert ack.actor == "opsgenie:alice"
    assert ack.at == NOW
    anonymous = only_ack(accept("opsgenie", og_action("acknowledge")))
    assert anonymous.actor == "opsgenie"


def test_close_by_alias_resolves_and_dedup_keeps_the_creations_labels() -> None:
    created = only_alert(accept("opsgenie", og_create()))
    closed = only_alert(accept("opsgenie", og_action("close"), received_at=NOW + 120))
    assert closed.status is AlertStatus.RESOLVED
    assert closed.fingerprint == created.fingerprint
    assert closed.ends_at == NOW + 120
    state, _ = apply_alert(None, created)
    state, _ = apply_alert(state, closed)
    assert state.status is AlertStatus.RESOLVED
    assert state.labels["service"] == "checkout"


def test_explicit_create_action() -> None:
    assert only_alert(accept("opsgenie", og_create(action="create"))).status is AlertStatus.FIRING


def test_missing_optional_fields() -> None:
    alert = only_alert(accept("opsgenie", {"message": "Nightly backup failed"}))
    assert alert.labels == {"alertname": "Nightly backup failed", "severity": "warning"}
    assert alert.annotations == {
        "summary": "Nightly backup failed",
        "alias": alert.labels["alertname"],
    }


@pytest.mark.parametrize(
    ("priority", "canonical"),
    [("P1", "critical"), ("P2", "error"), ("P3", "warning"), ("P4", "info"), ("P5", "info")],
)
def test_priority_onto_the_canonical_scale(priority: str, canonical: str) -> None:
    alert = only_alert(accept("opsgenie", og_create(priority=priority)))
    assert alert.labels["severity"] == canonical
    assert alert.labels["vendor_severity"] == priority


def test_unicode_and_numeric_strings() -> None:
    body = og_create(message="Zahlungsdienst gestört ⚠", alias="1001", details={"build": "0042"})
    alert = only_alert(accept("opsgenie", body))
    assert alert.labels["alertname"] == "Zahlungsdienst gestört ⚠"
    assert alert.labels["build"] == "0042"
    assert alert.fingerprint == key_fingerprint("opsgenie", "1001")


def test_own_labels_win_over_details_and_tags() -> None:
    body = og_create(details={"severity": "whatever", "alertname": "spoof"}, tags=["service:x"])
    alert = only_alert(accept("opsgenie", body))
    assert alert.labels["severity"] == "error"
    assert alert.labels["alertname"] == "Checkout latency above 2 s"
    assert alert.labels["service"] == "checkout"


def test_hundreds_of_tags_and_details() -> None:
    body = og_create(
        tags=[f"t{i}:{i}" for i in range(120)], details={f"d{i}": str(i) for i in range(120)}
    )
    alert = only_alert(accept("opsgenie", body))
    assert alert.labels["t119"] == "119"
    assert alert.labels["d0"] == "0"
    too_many = og_create(details={f"d{i}": str(i) for i in range(300)})
    assert fields(reject("opsgenie", too_many)) == {"(alert).labels"}


def test_time_is_receipt_whatever_the_zone() -> None:
    alert = only_alert(accept("opsgenie", og_create(), received_at=NOW + 3600))
    assert alert.starts_at == NOW + 3600


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"alias": "x"}, {"message"}),
        (og_create(message=""), {"message"}),
        (og_create(message="m" * 131), {"message"}),
        (og_create(alias="a" * 513), {"alias"}),
        (og_create(priority="P0"), {"priority"}),
        (og_create(tags="env:prod"), {"tags"}),
        (og_create(details={"n": 1}), {"details.n"}),
        (og_action("close", ""), {"alias"}),
        ({"action": "close"}, {"alias"}),
        ({"action": "snooze", "alias": "x"}, {"action"}),
        ([], {"(body)"}),
    ],
)
def test_invalid_bodies_name_the_field(body: Any, named: set[str]) -> None:
    assert fields(reject("opsgenie", body)) == named


def test_every_problem_is_named_at_once() -> None:
    exc = reject("opsgenie", {"priority": "urgent", "source": 7})
    assert fields(exc) == {"message", "priority", "source"}
