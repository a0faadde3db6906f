"""triaged's own generic alert schema: one alert object or ``{"alerts": [...]}``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from daemon.sources.common import Limits, PayloadError, Received
from daemon.sources.generic import parse
from triage.alert import Alert, AlertStatus
from triage.fingerprint import key_fingerprint, label_fingerprint

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
DEFAULT_LIMITS = Limits()


def parsed(document: Any, *, limits: Limits = DEFAULT_LIMITS) -> list[Alert]:
    received = parse(json.dumps(document).encode(), NOW, limits)
    assert isinstance(received, Received)
    alerts = [event for event in received.events if isinstance(event, Alert)]
    assert len(alerts) == len(received.events)
    return alerts


def rejected(body: Any, *, limits: Limits = DEFAULT_LIMITS) -> PayloadError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(PayloadError) as caught:
        parse(raw, NOW, limits)
    return caught.value


def fields(error: PayloadError) -> list[str]:
    return [e.field for e in error.errors]


# --- valid payloads ----------------------------------------------------------------------


def test_single_alert_with_everything() -> None:
    [alert] = parsed(
        {
            "status": "firing",
            "labels": {"alertname": "BackupFailed", "host": "nas-1"},
            "annotations": {"runbook": "https://runbooks.example/backup"},
            "summary": "nightly backup failed",
            "description": "rsync exited 23",
            "severity": "major",
            "service": "backup",
            "starts_at": "2023-11-14T22:00:00Z",
            "ends_at": "2023-11-14T23:00:00+01:00",
            "url": "https://ci.example/job/42",
        }
    )
    assert alert.source == "generic"
    assert alert.status is AlertStatus.FIRING
    assert alert.labels == {
        "alertname": "BackupFailed",
        "host": "nas-1",
        "severity": "major",
        "service": "backup",
    }
    assert alert.annotations == {
        "runbook": "https://runbooks.example/backup",
        "summary": "nightly backup failed",
        "description": "rsync exited 23",
    }
    assert alert.starts_at == NOW - 800
    assert alert.ends_at == NOW - 800  # 23:00+01:00 is 22:00Z
    assert alert.generator_url == "https://ci.example/job/42"
    assert alert.fingerprint == label_fingerprint(alert.labels)


def test_minimal_alert_with_labels() -> None:
    [alert] = parsed({"labels": {"check": "disk"}})
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == NOW
    assert alert.ends_at is None
    assert alert.annotations == {}
    assert alert.generator_url == ""


def test_convenience_fields_alone_identify_an_alert() -> None:
    [alert] = parsed({"service": "web", "summary": "slow"})
    assert alert.labels == {"service": "web"}
    assert alert.annotations == {"summary": "slow"}


def test_convenience_fields_override_same_named_labels() -> None:
    [alert] = parsed({"labels": {"severity": "low", "service": "a"}, "severity": "critical"})
    assert alert.labels == {"severity": "critical", "service": "a"}


def test_repeat_by_labels_is_the_same_alert_whatever_its_text() -> None:
    first, again = (
        parsed({"service": "payments", "severity": "critical", "summary": text})[0]
        for text in ("card declines", "card declines still rising")
    )
    assert again.fingerprint == first.fingerprint
    assert again.annotations["summary"] == "card declines still rising"


def test_dedup_key_identifies_the_alert_whatever_its_labels() -> None:
    first, second = parsed(
        {
            "alerts": [
                {"dedup_key": "backup/nas-1", "labels": {"try": "1"}},
                {"dedup_key": "backup/nas-1", "labels": {"try": "2"}},
            ]
        }
    )
    assert first.fingerprint == second.fingerprint == key_fingerprint("generic", "backup/nas-1")
    assert first.fingerprint != label_fingerprint(first.labels)


def test_dedup_key_without_labels() -> None:
    [alert] = parsed({"dedup_key": "cron:nightly", "summary": "cron failed"})
    assert alert.labels == {}
    assert alert.fingerprint == key_fingerprint("generic", "cron:nightly")


def test_resolved_without_end_is_dated_by_receipt() -> None:
    [alert] = parsed({"status": "resolved", "dedup_key": "k"})
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == NOW
    assert alert.event_at == NOW


def test_resolved_with_end() -> None:
    [alert] = parsed(
        {"status": "resolved", "labels": {"a": "b"}, "ends_at": "2023-11-14T22:10:00Z"}
    )
    assert alert.ends_at == NOW - 200


def test_batch_keeps_order() -> None:
    result = parsed({"alerts": [{"labels": {"n": str(i)}} for i in range(4)]})
    assert [a.labels["n"] for a in result] == ["0", "1", "2", "3"]


def test_empty_batch() -> None:
    assert parsed({"alerts": []}) == []


def test_nanoseconds_and_offsets() -> None:
    [alert] = parsed({"labels": {"a": "b"}, "starts_at": "2023-11-15T03:43:20.123456789+05:30"})
    assert alert.starts_at == pytest.approx(NOW + 0.123456789, abs=1e-6)


def test_unicode_and_numeric_strings() -> None:
    labels = {"dienst": "Zahlungsverkehr", "機器": "サーバー1", "port": "443", "ratio": "1e-3"}
    [alert] = parsed({"labels": labels, "summary": "Störung 🔥"})
    assert alert.labels == labels
    assert alert.annotations == {"summary": "Störung 🔥"}


def test_hundreds_of_labels() -> None:
    labels = {f"k{i}": "v" for i in range(256)}
    [alert] = parsed({"labels": labels})
    assert len(alert.labels) == 256


# --- rejected payloads -------------------------------------------------------------------


def test_too_many_alerts_is_413() -> None:
    error = rejected({"alerts": [{"labels": {"a": "b"}}] * 4}, limits=Limits(max_alerts=3))
    assert error.status == 413
    assert error.title == "too many alerts"
    assert fields(error) == ["alerts"]


def test_unknown_fields_are_named() -> None:
    error = rejected({"labels": {"a": "b"}, "sevrity": "high", "tags": []})
    assert [(e.field, e.message) for e in error.errors] == [
        ("sevrity", "unknown field"),
        ("tags", "unknown field"),
    ]


def test_batch_with_extra_top_level_field() -> None:
    assert [(e.field, e.message) for e in rejected({"alerts": [], "x": 1}).errors] == [
        ("x", "unknown field")
    ]


def test_every_bad_field_in_a_batch_is_named() -> None:
    body = {
        "alerts": [
            {"labels": {"a": "b"}},
            {"labels": {"a": 1}, "status": "open", "bogus": True},
            {"labels": "x"},
        ]
    }
    error = rejected(body)
    assert error.status == 400
    assert fields(error) == [
        "alerts[1].bogus",
        "alerts[1].labels.a",
        "alerts[1].status",
        "alerts[2].labels",
    ]


def test_alert_without_labels_or_dedup_key() -> None:
    error = rejected({"alerts": [{"labels": {"a": "b"}}, {"summary": "what is this?"}]})
    assert [(e.field, e.message) for e in error.errors] == [
        ("alerts[1]", "needs labels or a dedup_key to identify it")
    ]


def test_single_alert_without_identity() -> None:
    error = rejected({"summary": "what is this?"})
    assert [e.message for e in error.errors] == ["needs labels or a dedup_key to identify it"]
    assert error.errors[0].field == "(alert)[0]"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dedup_key": ""}, "dedup_key"),
        ({"dedup_key": "k" * 256}, "dedup_key"),
        ({"labels": {"a": "b"}, "severity": "s" * 65}, "severity"),
        ({"labels": {"a": "b"}, "service": "s" * 257}, "service"),
        ({"labels": {"a": "b"}, "summary": "s" * 65537}, "summary"),
        ({"labels": {"a": "b"}, "url": "u" * 4097}, "url"),
        ({"labels": {"a": "b"}, "starts_at": "yesterday"}, "starts_at"),
        ({"labels": {"a": "b"}, "status": "FIRING"}, "status"),
    ],
    ids=[
        "empty-dedup-key",
        "long-dedup-key",
        "long-severity",
        "long-service",
        "long-summary",
        "long-url",
        "bad-time",
        "bad-status",
    ],
)
def test_field_constraints(body: dict[str, Any], field: str) -> None:
    error = rejected(body)
    assert error.status == 400
    assert fields(error) == [field]


def test_limits_apply_to_convenience_fields_too() -> None:
    error = rejected(
        {"labels": {"a": "b"}, "description": "d" * 11}, limits=Limits(max_value_bytes=10)
    )
    assert [(e.field, e.message) for e in error.errors] == [
        ("(alert)[0].annotations.description", "value longer than 10")
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "(body)"),
        (b"{", "(body)"),
        (b"[]", "(body)"),
        (b"null", "(body)"),
        (b'"alert"', "(body)"),
        (b'{"alerts": "all"}', "alerts"),
        (b'{"alerts": [1]}', "alerts[0]"),
    ],
)
def test_wrong_document_shape(body: bytes, field: str) -> None:
    assert fields(rejected(body)) == [field]
