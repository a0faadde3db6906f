"""PagerDuty Events API v2, from PagerDuty's documented event format: routing_key,
event_action (trigger / acknowledge / resolve), dedup_key, and for triggers a payload with
summary, source, severity, timestamp, component, group, class and custom_details, plus
links and images."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.unit.source_support import NOW, accept, fields, only_ack, only_alert, reject
from triage.alert import AlertStatus
from triage.dedup import apply_alert
from triage.fingerprint import key_fingerprint

ROUTING_KEY = "R0UT1NGK3Y0000000000000000000001"


def pd_trigger(dedup_key: str | None = "db-3/replication-lag", **payload: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "payload": {
            "summary": "Replication lag on db-3 is 95 s",
            "source": "db-3.prod.example.net",
            "severity": "error",
            "timestamp": "2025-06-15T15:00:00.000+0000",
            "component": "postgresql",
            "group": "payments-db",
            "class": "replication lag",
            "custom_details": {"lag_seconds": 95, "replica": "db-3", "primary": "db-1"},
            **payload,
        },
        "client": "Checkmk",
        "client_url": "https://monitoring.example.net/check/db-3",
        "links": [{"href": "https://runbooks.example.net/pg-lag", "text": "Runbook"}],
        "images": [{"src": "https://graphs.example.net/lag.png", "alt": "lag graph"}],
    }
    if dedup_key is not None:
        event["dedup_key"] = dedup_key
    return event


def pd_follow_up(action: str, dedup_key: str = "db-3/replication-lag") -> dict[str, Any]:
    return {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": dedup_key}


def fingerprint(dedup_key: str, routing_key: str = ROUTING_KEY) -> str:
    return key_fingerprint(f"pagerduty:{routing_key}", dedup_key)


def test_trigger_maps_payload_to_labels_and_answers_like_pagerduty() -> None:
    received = accept("pagerduty", pd_trigger())
    alert = only_alert(received)
    assert alert.status is AlertStatus.FIRING
    assert alert.source == "pagerduty"
    assert alert.fingerprint == fingerprint("db-3/replication-lag")
    assert alert.labels == {
        "service": "payments-db",
        "component": "postgresql",
        "group": "payments-db",
        "class": "replication lag",
        "alertname": "replication lag",
        "instance": "db-3.prod.example.net",
        "severity": "error",
        "vendor_severity": "error",
    }
    assert alert.annotations["summary"] == "Replication lag on db-3 is 95 s"
    details = json.loads(alert.annotations["custom_details"])
    assert details == {"lag_seconds": 95, "replica": "db-3", "primary": "db-1"}
    assert json.loads(alert.annotations["links"])[0]["text"] == "Runbook"
    assert json.loads(alert.annotations["images"])[0]["src"].endswith("lag.png")
    assert alert.annotations["client"] == "Checkmk"
    assert alert.generator_url == "https://monitoring.example.net/check/db-3"
    assert alert.starts_at == 1_750_000_000.0 - 400  # 15:00:00Z
    assert received.reply == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "db-3/replication-lag",
    }


def test_repeat_trigger_is_the_same_alert() -> None:
    first = only_alert(accept("pagerduty", pd_trigger()))
    again = only_alert(accept("pagerduty", pd_trigger(summary="Lag 120 s"), received_at=NOW + 60))
    assert again.fingerprint == first.fingerprint


@pytest.mark.parametrize("dedup_key", [None, ""])
def test_trigger_without_a_key_gets_a_new_one_in_the_reply(dedup_key: str | None) -> None:
    received = accept("pagerduty", pd_trigger(dedup_key))
    assert received.reply is not None
    key = received.reply["dedup_key"]
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert only_alert(received).fingerprint == fingerprint(key)
    other = accept("pagerduty", pd_trigger(dedup_key))
    assert other.reply is not None
    assert other.reply["dedup_key"] != key


def test_the_generated_key_resolves_what_it_opened() -> None:
    opened = accept("pagerduty", pd_trigger(None))
    assert opened.reply is not None
    resolved = accept("pagerduty", pd_follow_up("resolve", opened.reply["dedup_key"]))
    assert only_alert(resolved).fingerprint == only_alert(opened).fingerprint


def test_dedup_keys_are_scoped_to_the_routing_key() -> None:
    other = pd_trigger()
    other["routing_key"] = "ANOTHERINTEGRATIONKEY00000000002"
    one = only_alert(accept("pagerduty", pd_trigger()))
    two = only_alert(accept("pagerduty", other))
    assert one.fingerprint != two.fingerprint


def test_acknowledge_acknowledges_the_alerts_incident() -> None:
    received = accept("pagerduty", pd_follow_up("acknowledge"))
    ack = only_ack(received)
    assert ack.fingerprint == fingerprint("db-3/replication-lag")
    assert ack.actor == "pagerduty"
    assert ack.at == NOW
    assert received.reply is not None
    assert received.reply["dedup_key"] == "db-3/replication-lag"


def test_resolve_names_only_the_key_and_dedup_keeps_the_triggers_labels() -> None:
    trigger = only_alert(accept("pagerduty", pd_trigger()))
    resolve = only_alert(accept("pagerduty", pd_follow_up("resolve"), received_at=NOW + 300))
    assert resolve.status is AlertStatus.RESOLVED
    assert resolve.fingerprint == trigger.fingerprint
    assert resolve.labels == {}
    assert resolve.ends_at == NOW + 300
    state, _ = apply_alert(None, trigger)
    state, _ = apply_alert(state, resolve)
    assert state.status is AlertStatus.RESOLVED
    assert state.labels["alertname"] == "replication lag"


def test_follow_ups_ignore_a_payload() -> None:
    event = pd_follow_up("resolve") | {"payload": {"summary": "recovered"}}
    assert only_alert(accept("pagerduty", event)).status is AlertStatus.RESOLVED


def test_a_sender_clock_ahead_cannot_make_its_resolve_stale() -> None:
    ahead = only_alert(accept("pagerduty", pd_trigger(timestamp="2025-06-15T16:00:00Z")))
    assert ahead.starts_at == NOW
    resolve = only_alert(accept("pagerduty", pd_follow_up("resolve"), received_at=NOW + 1))
    state, _ = apply_alert(None, ahead)
    state, _ = apply_alert(state, resolve)
    assert state.status is AlertStatus.RESOLVED


@pytest.mark.parametrize(
    "timestamp",
    ["2025-06-15T15:00:00Z", "2025-06-15T17:00:00+02:00", "2025-06-15T15:00:00+0000", "1749999600"],
)
def test_time_zones_and_epochs_name_the_same_instant(timestamp: str) -> None:
    alert = only_alert(accept("pagerduty", pd_trigger(timestamp=timestamp)))
    assert alert.starts_at == 1_749_999_600.0


def test_missing_optional_fields() -> None:
    event = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "payload": {"summary": "Backup failed", "source": "backup-1", "severity": "warning"},
    }
    received = accept("pagerduty", event)
    alert = only_alert(received)
    assert alert.labels == {
        "alertname": "Backup failed",
        "instance": "backup-1",
        "severity": "warning",
        "vendor_severity": "warning",
    }
    assert alert.starts_at == NOW
    assert set(alert.annotations) == {"summary", "dedup_key"}


def test_nulls_are_absent() -> None:
    event = pd_trigger(component=None, group=None, custom_details=None) | {"links": None}
    alert = only_alert(accept("pagerduty", event))
    assert "service" not in alert.labels
    assert "custom_details" not in alert.annotations
    assert "links" not in alert.annotations


def test_component_is_the_service_when_there_is_no_group() -> None:
    alert = only_alert(accept("pagerduty", pd_trigger(group=None)))
    assert alert.labels["service"] == "postgresql"


@pytest.mark.parametrize(
    ("severity", "canonical"),
    [("critical", "critical"), ("error", "error"), ("warning", "warning"), ("info", "info")],
)
def test_severity_scale(severity: str, canonical: str) -> None:
    alert = only_alert(accept("pagerduty", pd_trigger(severity=severity)))
    assert alert.labels["severity"] == canonical
    assert alert.labels["vendor_severity"] == severity


def test_unicode_and_numeric_strings() -> None:
    event = pd_trigger("4711", summary="Überhitzung im Rechenzentrum 🔥", source="0042")
    received = accept("pagerduty", event)
    alert = only_alert(received)
    assert alert.fingerprint == fingerprint("4711")
    assert alert.labels["instance"] == "0042"
    assert alert.annotations["summary"] == "Überhitzung im Rechenzentrum 🔥"
    assert received.reply is not None
    assert received.reply["dedup_key"] == "4711"


def test_custom_details_as_text_or_with_hundreds_of_fields() -> None:
    text = only_alert(accept("pagerduty", pd_trigger(custom_details="disk 91% full")))
    assert text.annotations["custom_details"] == "disk 91% full"
    wide = {f"metric_{i}": i for i in range(300)}
    alert = only_alert(accept("pagerduty", pd_trigger(custom_details=wide)))
    assert json.loads(alert.annotations["custom_details"]) == wide


def test_oversized_custom_details_is_named() -> None:
    exc = reject("pagerduty", pd_trigger(custom_details={"log": "x" * 20_000}))
    assert fields(exc) == {"(event).annotations.custom_details"}


def test_dedup_key_length() -> None:
    accept("pagerduty", pd_trigger("k" * 255))
    assert fields(reject("pagerduty", pd_trigger("k" * 256))) == {"dedup_key"}
    assert fields(reject("pagerduty", pd_follow_up("resolve", "k" * 256))) == {"dedup_key"}


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({k: v for k, v in pd_trigger().items() if k != "routing_key"}, {"routing_key"}),
        (pd_trigger() | {"routing_key": ""}, {"routing_key"}),
        ({k: v for k, v in pd_trigger().items() if k != "payload"}, {"payload"}),
        ({"routing_key": ROUTING_KEY, "event_action": "acknowledge"}, {"dedup_key"}),
        (pd_follow_up("resolve", ""), {"dedup_key"}),
        (pd_follow_up("snooze"), {"event_action"}),
        ({"routing_key": ROUTING_KEY}, {"event_action"}),
        (pd_trigger(severity="fatal"), {"payload.severity"}),
        (pd_trigger(summary="s" * 1025), {"payload.summary"}),
        (pd_trigger(timestamp="last tuesday"), {"payload.timestamp"}),
        ([pd_trigger()], {"(body)"}),
    ],
)
def test_invalid_events_name_the_field(event: Any, named: set[str]) -> None:
    assert fields(reject("pagerduty", event)) == named


def test_every_problem_is_named_at_once() -> None:
    event = {"event_action": "trigger", "payload": {"severity": "fatal"}}
    assert fields(reject("pagerduty", event)) == {
        "routing_key",
        "payload.summary",
        "payload.source",
        "payload.severity",
    }
