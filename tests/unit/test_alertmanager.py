"""Alertmanager webhook (version 4) payloads into alerts.

The payloads follow Alertmanager's documented webhook_config body: version "4", groupKey,
truncatedAlerts, status, receiver, groupLabels, commonLabels, commonAnnotations,
externalURL and alerts (status, labels, annotations, startsAt, endsAt, generatorURL,
fingerprint). Firing alerts carry Go's zero time as endsAt.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from daemon.sources.alertmanager import parse
from daemon.sources.common import Limits, PayloadError, Received
from triage.alert import Alert, AlertStatus
from triage.fingerprint import label_fingerprint

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
DEFAULT_LIMITS = Limits()
GO_ZERO = "0001-01-01T00:00:00Z"


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def webhook_alert(**overrides: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "service": "checkout",
            "severity": "critical",
            "instance": "checkout-7f9c:8080",
        },
        "annotations": {
            "summary": "5xx above 5% for 10m",
            "runbook_url": "https://runbooks.example/checkout",
        },
        "startsAt": "2023-11-14T22:03:20.123Z",
        "endsAt": GO_ZERO,
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate%28x%5B5m%5D%29",
        "fingerprint": "6a1d6b6e0f6a2d11",
    }
    alert.update(overrides)
    return alert


def webhook(*alerts: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "triaged",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "service": "checkout"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts),
    }
    body.update(overrides)
    return body


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def parsed(
    document: Any, *, limits: Limits = DEFAULT_LIMITS, received_at: float = NOW
) -> list[Alert]:
    received = parse(encode(document), received_at, limits)
    assert isinstance(received, Received)
    assert received.reply is None
    alerts = [event for event in received.events if isinstance(event, Alert)]
    assert len(alerts) == len(received.events)
    return alerts


def rejected(body: Any, *, limits: Limits = DEFAULT_LIMITS) -> PayloadError:
    raw = body if isinstance(body, bytes) else encode(body)
    with pytest.raises(PayloadError) as caught:
        parse(raw, NOW, limits)
    return caught.value


def fields(error: PayloadError) -> list[str]:
    return [e.field for e in error.errors]


# --- valid payloads ----------------------------------------------------------------------


def test_firing_alert() -> None:
    [alert] = parsed(webhook(webhook_alert()))
    assert alert.source == "alertmanager"
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == "6a1d6b6e0f6a2d11"  # the sender's fingerprint is kept
    assert alert.labels["service"] == "checkout"
    assert alert.annotations["summary"] == "5xx above 5% for 10m"
    assert alert.starts_at == pytest.approx(at("2023-11-14T22:03:20.123+00:00"))
    assert alert.ends_at is None  # Go's zero time: no end known
    assert alert.received_at == NOW
    assert alert.generator_url.startswith("http://prometheus.example:9090/graph")


def test_repeat_notification_is_the_same_alert() -> None:
    """Alertmanager re-sends a group every repeat_interval; annotations may change."""
    [first] = parsed(webhook(webhook_alert()))
    [again] = parsed(
        webhook(webhook_alert(annotations={"summary": "5xx above 7%"})), received_at=NOW + 14400
    )
    assert again.fingerprint == first.fingerprint
    assert again.starts_at == first.starts_at
    assert again.received_at == NOW + 14400
    assert again.annotations["summary"] == "5xx above 7%"


def test_resolved_alert_with_end() -> None:
    [alert] = parsed(
        webhook(webhook_alert(status="resolved", endsAt="2023-11-14T22:10:00Z"), status="resolved")
    )
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == at("2023-11-14T22:10:00+00:00")
    assert alert.event_at == alert.ends_at


def test_resolved_alert_with_zero_end_is_dated_by_receipt() -> None:
    [alert] = parsed(webhook(webhook_alert(status="resolved", endsAt=GO_ZERO)))
    assert alert.ends_at == NOW


def test_missing_fingerprint_is_computed_from_labels() -> None:
    item = webhook_alert()
    del item["fingerprint"]
    [alert] = parsed(webhook(item))
    assert alert.fingerprint == label_fingerprint(item["labels"])


def test_empty_fingerprint_is_computed_from_labels() -> None:
    [alert] = parsed(webhook(webhook_alert(fingerprint="", labels={"a": "b"})))
    assert alert.fingerprint == "d2b371819297f98a"


def test_minimal_alert() -> None:
    [alert] = parsed({"version": "4", "alerts": [{"status": "firing", "labels": {"a": "b"}}]})
    assert alert.starts_at == NOW
    assert alert.ends_at is None
    assert alert.annotations == {}
    assert alert.generator_url == ""


def test_several_alerts_keep_their_order() -> None:
    alerts = [webhook_alert(labels={"alertname": f"A{i}"}, fingerprint="") for i in range(5)]
    result = parsed(webhook(*alerts))
    assert [a.labels["alertname"] for a in result] == ["A0", "A1", "A2", "A3", "A4"]


def test_empty_alert_list_is_valid_and_yields_nothing() -> None:
    assert parsed(webhook()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20Z", NOW),
        ("2023-11-15T00:13:20+02:00", NOW),
        ("2023-11-14T16:43:20-05:30", NOW),
        ("2023-11-14T22:13:20.5Z", NOW + 0.5),
        ("2023-11-14T22:13:20", NOW),  # no zone: taken as UTC
    ],
)
def test_time_zone_offsets(text: str, expected: float) -> None:
    [alert] = parsed(webhook(webhook_alert(startsAt=text)))
    assert alert.starts_at == pytest.approx(expected, abs=1e-6)


def test_nanosecond_timestamps() -> None:
    # Go's RFC3339Nano: nine fractional digits; kept to (at least) microseconds.
    [alert] = parsed(webhook(webhook_alert(startsAt="2023-11-14T22:13:20.123456789Z")))
    assert alert.starts_at == pytest.approx(NOW + 0.123456789, abs=1e-6)


def test_zero_start_time_is_replaced_by_receipt() -> None:
    [alert] = parsed(webhook(webhook_alert(startsAt=GO_ZERO)))
    assert alert.starts_at == NOW


def test_unicode_labels_and_annotations() -> None:
    labels = {"alertname": "Überlast", "service": "支付", "team": "équipe-🔥"}
    [alert] = parsed(
        webhook(webhook_alert(labels=labels, annotations={"summary": "CPU 🔥"}, fingerprint=""))
    )
    assert alert.labels == labels
    assert alert.annotations == {"summary": "CPU 🔥"}
    assert alert.fingerprint == label_fingerprint(labels)


def test_escaped_surrogate_pair_decodes_to_one_character() -> None:
    raw = b'{"version":"4","alerts":[{"status":"firing","labels":{"a":"\\ud83d\\udd25"}}]}'
    [alert] = parse(raw, NOW, Limits()).events
    assert isinstance(alert, Alert)
    assert alert.labels == {"a": "🔥"}


def test_numeric_string_values_stay_strings() -> None:
    labels = {"alertname": "HTTP", "code": "503", "ratio": "0.05", "port": "08080"}
    [alert] = parsed(webhook(webhook_alert(labels=labels)))
    assert alert.labels == labels


def test_hundreds_of_labels_within_the_limit() -> None:
    labels = {f"label_{i:03d}": str(i) for i in range(256)}
    [alert] = parsed(webhook(webhook_alert(labels=labels, fingerprint="")))
    assert len(alert.labels) == 256
    assert alert.fingerprint == label_fingerprint(labels)


def test_extra_fields_from_newer_alertmanagers_are_ignored() -> None:
    [alert] = parsed(webhook(webhook_alert(silencedBy=[]), groupID="x"))
    assert alert.status is AlertStatus.FIRING


def test_as_many_alerts_as_allowed() -> None:
    items = [webhook_alert(labels={"i": str(i)}, fingerprint="") for i in range(10)]
    assert len(parsed(webhook(*items), limits=Limits(max_alerts=10))) == 10


# --- rejected payloads -------------------------------------------------------------------


def test_too_many_alerts_is_413() -> None:
    items = [webhook_alert() for _ in range(11)]
    error = rejected(webhook(*items), limits=Limits(max_alerts=10))
    assert error.status == 413
    assert error.title == "too many alerts"
    assert [(e.field, e.message) for e in error.errors] == [
        ("alerts", "11 alerts in one request, at most 10")
    ]


def test_too_many_labels() -> None:
    labels = {f"l{i}": "v" for i in range(257)}
    error = rejected(webhook(webhook_alert(labels=labels)))
    assert error.status == 400
    assert [(e.field, e.message) for e in error.errors] == [
        ("alerts[0].labels", "257 labels, at most 256")
    ]


def test_bad_label_names_and_values() -> None:
    labels = {"": "x", "n" * 1025: "v", "ok": "v" * 16385}
    error = rejected(webhook(webhook_alert(labels=labels)))
    assert [(e.field, e.message) for e in error.errors] == [
        ("alerts[0].labels", "empty name"),
        ("alerts[0].labels", "name longer than 1024"),
        ("alerts[0].labels.ok", "value longer than 16384"),
    ]


def test_over_long_annotation_value() -> None:
    item = webhook_alert(labels={"a": "b"}, annotations={"description": "d" * 11})
    error = rejected(webhook(item), limits=Limits(max_value_bytes=10))
    assert fields(error) == ["alerts[0].annotations.description"]


def test_value_limit_counts_bytes_not_characters() -> None:
    error = rejected(webhook(webhook_alert(annotations={"summary": "€" * 16384})))
    assert fields(error) == ["alerts[0].annotations.summary"]


def test_empty_labels() -> None:
    error = rejected(webhook(webhook_alert(labels={})))
    assert [(e.field, e.message) for e in error.errors] == [
        ("alerts[0].labels", "must not be empty")
    ]


def test_bad_fingerprint() -> None:
    error = rejected(webhook(webhook_alert(fingerprint="6A1D6B6E0F6A2D11")))
    assert [(e.field, e.message) for e in error.errors] == [
        ("alerts[0].fingerprint", "expected 16 lower-case hex digits")
    ]


def test_unsupported_version() -> None:
    error = rejected(webhook(webhook_alert(), version="3"))
    assert [(e.field, e.message) for e in error.errors] == [
        ("version", "unsupported webhook version '3'; expected \"4\"")
    ]


def test_every_bad_field_is_named() -> None:
    body = webhook(
        webhook_alert(status="pending", labels={"code": 503}),
        webhook_alert(annotations="none"),
        {"labels": {"a": "b"}},
        version=4,
    )
    error = rejected(body)
    assert error.status == 400
    assert fields(error) == [
        "alerts[0].labels.code",
        "alerts[0].status",
        "alerts[1].annotations",
        "alerts[2].status",
        "version",
    ]
    messages = {e.field: e.message for e in error.errors}
    assert messages["alerts[2].status"] == "is required"
    assert messages["alerts[0].labels.code"] == "503 is not of type 'string'"


def test_semantic_problems_of_several_alerts_are_all_named() -> None:
    body = webhook(
        webhook_alert(labels={}),
        webhook_alert(),
        webhook_alert(fingerprint="xyz"),
    )
    assert fields(rejected(body)) == ["alerts[0].labels", "alerts[2].fingerprint"]


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b'{"version": "4", "alerts": [}', b"\xff\xfe{}"],
    ids=["empty", "truncated", "text", "syntax", "bad-bom"],
)
def test_malformed_json(raw: bytes) -> None:
    error = rejected(raw)
    assert fields(error) == ["(body)"]
    assert error.errors[0].message.startswith("malformed JSON")


def test_escaped_lone_surrogate_is_malformed() -> None:
    raw = b'{"version":"4","alerts":[{"status":"firing","labels":{"a":"\\ud800"}}]}'
    assert fields(rejected(raw)) == ["(body)"]


def test_invalid_utf8_in_a_string_is_a_payload_error() -> None:
    raw = b'{"version":"4","alerts":[{"status":"firing","labels":{"a":"\xc3\x28"}}]}'
    assert fields(rejected(raw)) == ["(body)"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "(body)"),
        (None, "(body)"),
        ({"alerts": []}, "version"),
        ({"version": "4"}, "alerts"),
        ({"version": "4", "alerts": {}}, "alerts"),
    ],
)
def test_wrong_document_shape(body: Any, field: str) -> None:
    assert fields(rejected(body)) == [field]


def test_bad_time_is_named_together_with_other_errors() -> None:
    body = webhook(webhook_alert(startsAt="yesterday"), webhook_alert(labels={"a": 1}))
    assert fields(rejected(body)) == ["alerts[0].startsAt", "alerts[1].labels.a"]


def test_bad_time_alone_is_named() -> None:
    error = rejected(webhook(webhook_alert(startsAt="yesterday")))
    assert fields(error) == ["alerts[0].startsAt"]


def test_schema_and_semantic_problems_are_named_together() -> None:
    body = webhook(webhook_alert(status="pending"), version="3")
    assert fields(rejected(body)) == ["alerts[0].status", "version"]


def test_semantic_problems_of_valid_alerts_are_named_beside_a_schema_error() -> None:
    body = webhook(
        webhook_alert(labels={"a": 1}),
        webhook_alert(labels={}, fingerprint="XYZ"),
        webhook_alert(annotations={"summary": "x" * 41}),
    )
    error = rejected(body, limits=Limits(max_value_bytes=40))
    assert fields(error) == [
        "alerts[0].labels.a",
        "alerts[1].labels",
        "alerts[1].fingerprint",
        "alerts[2].annotations.summary",
    ]
    assert error.status == 400
