"""Alerta's alert format, from Alerta's documentation: resource and event required;
environment, severity (Alerta's scale), correlate, status, service, group, value, text,
tags, attributes, origin, type, createTime, timeout, rawData. The Alerta client sends
every attribute, unset ones as null."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from daemon.sources import Limits
from tests.unit.source_support import NOW, accept, alerts, fields, only_alert, reject
from triage.alert import AlertStatus
from triage.fingerprint import key_fingerprint

CREATED = 1_749_999_600.0  # 2025-06-15T15:00:00Z


def alerta(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resource": "mq-2.prod",
        "event": "QueueDepthHigh",
        "environment": "Production",
        "severity": "major",
        "correlate": ["QueueDepthHigh", "QueueDepthOK"],
        "status": None,
        "service": ["Order Pipeline", "RabbitMQ"],
        "group": "Messaging",
        "value": "12045 msgs",
        "text": "Queue orders.created has 12045 messages waiting",
        "tags": ["dc=ams1", "rack:r12", "customer-facing"],
        "attributes": {"region": "EU", "runbook": "https://runbooks.example.org/mq", "prio": 2},
        "origin": "nagios/mon-1",
        "type": "nagiosAlert",
        "createTime": "2025-06-15T15:00:00.000Z",
        "timeout": 3600,
        "rawData": None,
        "customer": None,
        "id": None,
    }
    body.update(overrides)
    return body


def fingerprint(event: str = "QueueDepthHigh", environment: str = "Production") -> str:
    return key_fingerprint("alerta", f"{environment}\nmq-2.prod\n{event}")


def test_alert_fires_with_labels_and_answers_like_alerta() -> None:
    received = accept("alerta", alerta())
    alert = only_alert(received)
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == fingerprint()
    assert alert.labels == {
        "dc": "ams1",
        "rack": "r12",
        "tags": "customer-facing",
        "environment": "Production",
        "service": "Order Pipeline,RabbitMQ",
        "group": "Messaging",
        "origin": "nagios/mon-1",
        "alert_type": "nagiosAlert",
        "alertname": "QueueDepthHigh",
        "instance": "mq-2.prod",
        "severity": "error",
        "vendor_severity": "major",
    }
    assert alert.annotations["summary"] == "Queue orders.created has 12045 messages waiting"
    assert alert.annotations["value"] == "12045 msgs"
    assert alert.annotations["region"] == "EU"
    assert alert.annotations["prio"] == "2"
    assert alert.starts_at == CREATED
    assert alert.ends_at == CREATED + 3600  # timeout: expires unless re-sent
    assert received.reply is not None
    assert received.reply["status"] == "ok"
    assert uuid.UUID(received.reply["id"])


def test_repeat_is_the_same_alert_with_the_same_id() -> None:
    first = accept("alerta", alerta())
    again = accept("alerta", alerta(value="13000 msgs", severity="critical"))
    assert only_alert(again).fingerprint == only_alert(first).fingerprint
    assert again.reply == first.reply
    assert only_alert(again).labels["severity"] == "critical"


def test_a_client_id_is_answered_back() -> None:
    received = accept("alerta", alerta(id="5f0c3c0e-9b7d-4a53-8f3e-0d2c1b4a5e6f"))
    assert received.reply == {"status": "ok", "id": "5f0c3c0e-9b7d-4a53-8f3e-0d2c1b4a5e6f"}


@pytest.mark.parametrize("severity", ["normal", "ok", "cleared"])
def test_clearing_severities_resolve(severity: str) -> None:
    body = alerta(severity=severity, createTime="2025-06-15T15:20:00Z", correlate=None)
    alert = only_alert(accept("alerta", body))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.fingerprint == fingerprint()
    assert alert.ends_at == CREATED + 1200


def test_closed_status_resolves() -> None:
    alert = only_alert(accept("alerta", alerta(status="closed", correlate=None)))
    assert alert.status is AlertStatus.RESOLVED


def test_a_clearing_event_clears_its_correlated_events() -> None:
    body = alerta(event="QueueDepthOK", severity="normal", createTime="2025-06-15T15:20:00Z")
    received = accept("alerta", body)
    by_fingerprint = {a.fingerprint: a for a in alerts(received)}
    assert set(by_fingerprint) == {fingerprint("QueueDepthOK"), fingerprint("QueueDepthHigh")}
    cleared = by_fingerprint[fingerprint("QueueDepthHigh")]
    assert cleared.status is AlertStatus.RESOLVED
    assert cleared.labels == {}  # dedup keeps the labels it fired with
    assert cleared.ends_at == CREATED + 1200


def test_severity_defaults_to_normal_as_in_alerta() -> None:
    alert = only_alert(accept("alerta", {"resource": "web01", "event": "HttpOK"}))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.labels["vendor_severity"] == "normal"


def test_missing_optional_fields() -> None:
    body = {"resource": "web01", "event": "HttpServerError", "severity": "minor"}
    alert = only_alert(accept("alerta", body))
    assert alert.fingerprint == key_fingerprint("alerta", "\nweb01\nHttpServerError")
    assert alert.labels == {
        "alertname": "HttpServerError",
        "instance": "web01",
        "severity": "warning",
        "vendor_severity": "minor",
    }
    assert alert.annotations == {"summary": "HttpServerError on web01"}
    assert alert.starts_at == NOW
    assert alert.ends_at == NOW + 86400  # Alerta's default timeout


def test_timeout_zero_never_expires() -> None:
    assert only_alert(accept("alerta", alerta(timeout=0))).ends_at is None


@pytest.mark.parametrize(
    ("severity", "canonical"),
    [
        ("security", "critical"),
        ("critical", "critical"),
        ("major", "error"),
        ("minor", "warning"),
        ("warning", "warning"),
        ("indeterminate", "warning"),
        ("informational", "info"),
        ("debug", "info"),
        ("trace", "info"),
        ("unknown", "warning"),
    ],
)
def test_alerta_scale_onto_the_canonical_one(severity: str, canonical: str) -> None:
    alert = only_alert(accept("alerta", alerta(severity=severity)))
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["severity"] == canonical
    assert alert.labels["vendor_severity"] == severity


@pytest.mark.parametrize(
    "created", ["2025-06-15T15:00:00Z", "2025-06-15T17:00:00+02:00", "2025-06-15T15:00:00"]
)
def test_time_zones(created: str) -> None:
    assert only_alert(accept("alerta", alerta(createTime=created))).starts_at == CREATED


def test_unicode_and_numeric_values() -> None:
    body = alerta(resource="сервер-7", event="ДискПолон", value=97.5, text="Диск заполнен на 97%")
    alert = only_alert(accept("alerta", body))
    assert alert.labels["instance"] == "сервер-7"
    assert alert.annotations["value"] == "97.5"
    numeric = only_alert(accept("alerta", alerta(resource="10042", value="007")))
    assert numeric.labels["instance"] == "10042"
    assert numeric.annotations["value"] == "007"


def test_raw_data_and_nested_attributes_become_text() -> None:
    body = alerta(rawData="<134>Jun 15 15:00:00 mq-2 rabbitmq: queue full", attributes={"a": [1]})
    alert = only_alert(accept("alerta", body))
    assert alert.annotations["raw_data"].startswith("<134>")
    assert alert.annotations["a"] == "[1]"


def test_hundreds_of_tags() -> None:
    alert = only_alert(accept("alerta", alerta(tags=[f"k{i}={i}" for i in range(200)])))
    assert alert.labels["k199"] == "199"
    exc = reject("alerta", alerta(tags=[f"k{i}={i}" for i in range(300)]))
    assert fields(exc) == {"(alert).labels"}


def test_too_many_correlated_clears_is_413() -> None:
    body = alerta(severity="ok", correlate=[f"E{i}" for i in range(10)])
    assert reject("alerta", body, limits=Limits(max_alerts=5)).status == 413


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"event": "x"}, {"resource"}),
        ({"resource": "x"}, {"event"}),
        (alerta(resource=""), {"resource"}),
        (alerta(severity="disaster"), {"severity"}),
        (alerta(service="web"), {"service"}),
        (alerta(timeout=-1), {"timeout"}),
        (alerta(createTime="now"), {"createTime"}),
        ([alerta()], {"(body)"}),
    ],
)
def test_invalid_alerts_name_the_field(body: Any, named: set[str]) -> None:
    assert fields(reject("alerta", body)) == named
