"""Prometheus posting alerts directly (Alertmanager API v2 ``postableAlerts``).

The body is a JSON array of alerts with labels, annotations, startsAt, endsAt and
generatorURL and no status: Prometheus sends firing alerts with endsAt a few evaluation
intervals ahead and resolved ones with endsAt at the time they resolved.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.sources.common import Limits, PayloadError, Received
from daemon.sources.prometheus import parse
from triage.alert import Alert, AlertStatus
from triage.fingerprint import label_fingerprint

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
DEFAULT_LIMITS = Limits()
GO_ZERO = "0001-01-01T00:00:00Z"


def iso(epoch: float, offset_hours: float = 0.0) -> str:
    zone = timezone(timedelta(hours=offset_hours)) if offset_hours else UTC
    return datetime.fromtimestamp(epoch, zone).isoformat()


def postable(**overrides: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "InstanceDown",
            "instance": "db-1:9100",
            "job": "node",
            "severity": "page",
        },
        "annotations": {"summary": "db-1 is down", "description": "no scrape for 5m"},
        "startsAt": "2023-11-14T22:03:20.000Z",
        "endsAt": "2023-11-14T22:17:20.000Z",  # four minutes ahead: still firing
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0",
    }
    alert.update(overrides)
    return alert


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


def test_firing_alert_with_end_ahead() -> None:
    [alert] = parsed([postable()])
    assert alert.source == "prometheus"
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == NOW - 600
    assert alert.ends_at == NOW + 240  # expires unless refreshed
    assert alert.received_at == NOW
    assert alert.fingerprint == label_fingerprint(postable()["labels"])
    assert alert.annotations["summary"] == "db-1 is down"
    assert alert.generator_url.endswith("up+%3D%3D+0")


def test_alert_whose_end_passed_is_resolved() -> None:
    [alert] = parsed([postable(endsAt="2023-11-14T22:12:00Z")])
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == NOW - 80
    assert alert.event_at == NOW - 80


def test_end_exactly_now_is_resolved() -> None:
    [alert] = parsed([postable(endsAt=iso(NOW))])
    assert alert.status is AlertStatus.RESOLVED


def test_end_a_second_ahead_is_firing() -> None:
    [alert] = parsed([postable(endsAt=iso(NOW + 1))])
    assert alert.status is AlertStatus.FIRING


def test_fingerprint_is_alertmanagers() -> None:
    # computed independently: FNV-1a-64 over b"a\xffb\xff"
    [alert] = parsed([{"labels": {"a": "b"}}])
    assert alert.fingerprint == "d2b371819297f98a"


def test_repeat_with_a_later_end_is_the_same_alert() -> None:
    """Prometheus re-sends a firing alert every resend delay with its end pushed out."""
    [first] = parsed([postable()])
    [again] = parsed([postable(endsAt="2023-11-14T22:18:20.000Z")])
    assert again.fingerprint == first.fingerprint
    assert again.starts_at == first.starts_at
    assert again.ends_at is not None
    assert first.ends_at is not None
    assert again.ends_at == first.ends_at + 60


def test_same_labels_in_another_order_are_the_same_alert() -> None:
    first = {"alertname": "X", "job": "node", "instance": "a"}
    second = dict(reversed(list(first.items())))
    a, b = parsed([{"labels": first}, {"labels": second}])
    assert a.fingerprint == b.fingerprint


def test_no_times_at_all_is_firing_from_receipt_without_end() -> None:
    [alert] = parsed([{"labels": {"alertname": "Watchdog"}}])
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == NOW
    assert alert.ends_at is None


def test_go_zero_times_count_as_absent() -> None:
    [alert] = parsed([postable(startsAt=GO_ZERO, endsAt=GO_ZERO)])
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == NOW
    assert alert.ends_at is None


@pytest.mark.parametrize("offset", [0.0, 2.0, -5.5, 14.0, -12.0])
def test_time_zone_offsets(offset: float) -> None:
    [alert] = parsed([postable(startsAt=iso(NOW - 60, offset), endsAt=iso(NOW + 60, offset))])
    assert alert.starts_at == NOW - 60
    assert alert.ends_at == NOW + 60


def test_nanosecond_timestamps() -> None:
    [alert] = parsed(
        [
            postable(
                startsAt="2023-11-14T22:13:19.999999999Z", endsAt="2023-11-14T22:17:20.000000001Z"
            )
        ]
    )
    assert alert.starts_at == pytest.approx(NOW - 1e-9, abs=1e-6)
    assert alert.ends_at == pytest.approx(NOW + 240, abs=1e-6)


def test_unicode_and_numeric_string_labels() -> None:
    labels = {"alertname": "Überlast", "region": "東京", "code": "500", "le": "+Inf"}
    [alert] = parsed([{"labels": labels, "annotations": {"value": "0.9731"}}])
    assert alert.labels == labels
    assert alert.annotations == {"value": "0.9731"}
    assert alert.fingerprint == label_fingerprint(labels)


def test_hundreds_of_labels() -> None:
    labels = {f"l{i:03d}": f"v{i}" for i in range(200)}
    [alert] = parsed([{"labels": labels}])
    assert alert.labels == labels


def test_empty_list() -> None:
    assert parsed([]) == []


def test_a_batch_of_mixed_firing_and_resolved() -> None:
    result = parsed(
        [
            postable(labels={"alertname": "A"}),
            postable(
                labels={"alertname": "B"},
                startsAt="2023-11-14T21:00:00Z",
                endsAt="2023-11-14T22:00:00Z",
            ),
        ]
    )
    assert [a.status for a in result] == [AlertStatus.FIRING, AlertStatus.RESOLVED]


# --- rejected payloads -------------------------------------------------------------------


def test_too_many_alerts_is_413() -> None:
    error = rejected([postable()] * 3, limits=Limits(max_alerts=2))
    assert error.status == 413
    assert error.title == "too many alerts"
    assert error.errors[0].message == "3 alerts in one request, at most 2"


def test_end_before_start() -> None:
    error = rejected([postable(), postable(startsAt="2023-11-14T22:20:00Z")])
    assert [(e.field, e.message) for e in error.errors] == [("[1].endsAt", "is before startsAt")]


def test_empty_labels() -> None:
    error = rejected([postable(labels={})])
    assert [(e.field, e.message) for e in error.errors] == [("[0].labels", "must not be empty")]


def test_limits_name_the_alert_index() -> None:
    error = rejected(
        [postable(), {"labels": {f"l{i}": "v" for i in range(5)}}], limits=Limits(max_labels=4)
    )
    assert [(e.field, e.message) for e in error.errors] == [("[1].labels", "5 labels, at most 4")]


def test_every_bad_field_is_named() -> None:
    body = [
        {"labels": {"alertname": "A", "code": 500}},
        {"annotations": {"summary": "no labels"}},
        {"labels": {"a": "b"}, "generatorURL": 7},
        {"labels": ["a", "b"]},
    ]
    error = rejected(body)
    assert error.status == 400
    assert fields(error) == ["[0].labels.code", "[1].labels", "[2].generatorURL", "[3].labels"]
    assert error.errors[1].message == "is required"


def test_semantic_problems_of_several_alerts_are_all_named() -> None:
    body = [{"labels": {}}, postable(), postable(endsAt="2023-11-14T21:00:00Z")]
    assert fields(rejected(body)) == ["[0].labels", "[2].endsAt"]


def test_semantic_problems_are_named_beside_schema_errors() -> None:
    body = [
        {"labels": {"a": 1}},
        {"labels": {}},
        postable(startsAt="soon"),
        postable(endsAt="2023-11-14T21:00:00Z"),
    ]
    assert fields(rejected(body)) == ["[0].labels.a", "[2].startsAt", "[1].labels", "[3].endsAt"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"alerts": []}, "(body)"), ("x", "(body)"), (None, "(body)"), ([1], "[0]")],
)
def test_wrong_document_shape(body: Any, field: str) -> None:
    assert fields(rejected(body)) == [field]


def test_malformed_json() -> None:
    error = rejected(b'[{"labels": {"a": "b"}')
    assert fields(error) == ["(body)"]
    assert error.errors[0].message.startswith("malformed JSON")


def test_bad_time_alone_is_named() -> None:
    assert fields(rejected([postable(endsAt="soon")])) == ["[0].endsAt"]
