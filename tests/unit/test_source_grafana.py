"""Grafana unified alerting's webhook contact point, from Grafana's documented format:
Alertmanager's webhook plus orgId, state, title, message, and per alert the query values
and dashboard, panel, silence and image links; ``version`` is "1"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from daemon.sources import Limits
from tests.unit.source_support import NOW, accept, alerts, fields, only_alert, reject
from triage.alert import AlertStatus
from triage.fingerprint import key_fingerprint, label_fingerprint

GO_ZERO = "0001-01-01T00:00:00Z"


def grafana_alert(
    labels: dict[str, str] | None = None,
    *,
    status: str = "firing",
    fingerprint: str = "5a1e8b3c9d0f2e47",
    starts_at: str = "2025-06-15T16:50:00.123456+02:00",
    ends_at: str = GO_ZERO,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": labels
        if labels is not None
        else {
            "alertname": "DiskAlmostFull",
            "grafana_folder": "Storage",
            "team": "storage",
            "mountpoint": "/var/lib/postgresql",
            "severity": "critical",
        },
        "annotations": {
            "summary": "Disk on db-3 is 91% full",
            "runbook_url": "https://runbooks.example.org/disk-full",
        },
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "https://grafana.example.org/alerting/grafana/dAf31x/view?orgId=1",
        "fingerprint": fingerprint,
        "silenceURL": "https://grafana.example.org/alerting/silence/new?alertmanager=grafana",
        "dashboardURL": "https://grafana.example.org/d/node-disk?orgId=1",
        "panelURL": "https://grafana.example.org/d/node-disk?orgId=1&viewPanel=4",
        "values": values if values is not None else {"A": 91.25, "B": 1},
        "valueString": "[ var='A' labels={mountpoint=/var/lib/postgresql} value=91.25 ]",
    }


def grafana_webhook(alerts: list[dict[str, Any]], *, org_id: int = 1) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "triaged",
        "status": "firing" if firing else "resolved",
        "orgId": org_id,
        "alerts": alerts,
        "groupLabels": {"alertname": "DiskAlmostFull"},
        "commonLabels": {"team": "storage"},
        "commonAnnotations": {},
        "externalURL": "https://grafana.example.org/",
        "version": "1",
        "groupKey": '{}/{}:{alertname="DiskAlmostFull"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] DiskAlmostFull Storage",
        "state": "alerting" if firing else "ok",
        "message": "**Firing**\n\nValue: A=91.25\nLabels:\n - alertname = DiskAlmostFull",
    }


def epoch_of(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_trigger_keeps_labels_maps_severity_and_uses_grafanas_fingerprint() -> None:
    alert = only_alert(accept("grafana", grafana_webhook([grafana_alert()])))
    assert alert.status is AlertStatus.FIRING
    assert alert.source == "grafana"
    assert alert.fingerprint == key_fingerprint("grafana:1", "5a1e8b3c9d0f2e47")
    assert alert.labels == {
        "alertname": "DiskAlmostFull",
        "grafana_folder": "Storage",
        "team": "storage",
        "mountpoint": "/var/lib/postgresql",
        "severity": "critical",
        "vendor_severity": "critical",
    }
    assert alert.annotations["summary"] == "Disk on db-3 is 91% full"
    assert alert.annotations["dashboard_url"].endswith("/d/node-disk?orgId=1")
    assert alert.annotations["panel_url"].endswith("viewPanel=4")
    assert alert.annotations["silence_url"].startswith("https://grafana.example.org/")
    assert alert.annotations["values"] == "A=91.25 B=1"
    assert alert.annotations["value_string"].startswith("[ var='A'")
    assert alert.starts_at == pytest.approx(epoch_of("2025-06-15T14:50:00.123456+00:00"))
    assert alert.ends_at is None  # Go's zero time: no end known
    assert alert.received_at == NOW
    assert alert.generator_url.endswith("/view?orgId=1")


def test_repeat_with_new_values_is_the_same_alert() -> None:
    first = only_alert(accept("grafana", grafana_webhook([grafana_alert()])))
    later = grafana_alert(values={"A": 93.0, "B": 1}, starts_at="2025-06-15T16:50:00+02:00")
    again = only_alert(accept("grafana", grafana_webhook([later]), received_at=NOW + 60))
    assert again.fingerprint == first.fingerprint
    assert again.annotations["values"] == "A=93.0 B=1"


def test_resolve_ends_at_grafanas_time_with_the_same_fingerprint() -> None:
    resolved = grafana_alert(status="resolved", ends_at="2025-06-15T15:10:00Z")
    alert = only_alert(accept("grafana", grafana_webhook([resolved])))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.fingerprint == key_fingerprint("grafana:1", "5a1e8b3c9d0f2e47")
    assert alert.ends_at == epoch_of("2025-06-15T15:10:00+00:00")


def test_resolve_without_an_end_ends_on_receipt() -> None:
    alert = only_alert(accept("grafana", grafana_webhook([grafana_alert(status="resolved")])))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == NOW


def test_a_batch_gives_one_alert_each() -> None:
    cpu = grafana_alert(
        {"alertname": "HighCPU", "instance": "web-1", "severity": "warning"},
        fingerprint="0badc0ffee001234",
    )
    received = accept("grafana", grafana_webhook([grafana_alert(), cpu]))
    assert [a.labels["alertname"] for a in alerts(received)] == ["DiskAlmostFull", "HighCPU"]
    assert len({a.fingerprint for a in alerts(received)}) == 2


def test_fingerprints_are_scoped_by_organisation_and_source() -> None:
    one = only_alert(accept("grafana", grafana_webhook([grafana_alert()], org_id=1)))
    two = only_alert(accept("grafana", grafana_webhook([grafana_alert()], org_id=2)))
    assert one.fingerprint != two.fingerprint
    assert one.fingerprint != "5a1e8b3c9d0f2e47"  # never collides with Alertmanager's


def test_without_grafanas_fingerprint_the_labels_identify_the_alert() -> None:
    labels = {"alertname": "HighCPU", "instance": "web-1"}
    item = grafana_alert(labels)
    del item["fingerprint"]
    reordered = grafana_alert(dict(reversed(labels.items())))
    reordered["fingerprint"] = ""
    first = only_alert(accept("grafana", grafana_webhook([item])))
    second = only_alert(accept("grafana", grafana_webhook([reordered])))
    assert first.fingerprint == second.fingerprint
    assert first.fingerprint == key_fingerprint("grafana:1", label_fingerprint(labels))


def test_missing_optional_fields() -> None:
    minimal = {
        "version": "1",
        "alerts": [{"status": "firing", "labels": {"alertname": "Heartbeat"}}],
    }
    alert = only_alert(accept("grafana", minimal))
    assert alert.labels == {"alertname": "Heartbeat", "severity": "warning"}
    assert alert.annotations == {}
    assert alert.starts_at == NOW
    expected = key_fingerprint("grafana:0", label_fingerprint({"alertname": "Heartbeat"}))
    assert alert.fingerprint == expected


def test_null_values_and_null_urls_are_absent() -> None:
    item = grafana_alert(values={"A": None})
    item["dashboardURL"] = None
    item["imageURL"] = None
    alert = only_alert(accept("grafana", grafana_webhook([item])))
    assert "dashboard_url" not in alert.annotations
    assert alert.annotations["values"] == "A="


def test_unicode_is_kept() -> None:
    labels = {"alertname": "Überlast", "Dienst": "Zahlungsverkehr", "チーム": "ストレージ"}
    item = grafana_alert(labels)
    item["annotations"] = {"summary": "Festplatte fast voll 💾"}
    alert = only_alert(accept("grafana", grafana_webhook([item])))
    assert alert.labels["チーム"] == "ストレージ"
    assert alert.annotations["summary"] == "Festplatte fast voll 💾"


def test_numeric_strings_stay_strings() -> None:
    labels = {"alertname": "PortDown", "port": "0080", "rack": "12"}
    item = grafana_alert(labels, fingerprint="1234567890123456")
    alert = only_alert(accept("grafana", grafana_webhook([item])))
    assert alert.labels["port"] == "0080"
    assert alert.fingerprint == key_fingerprint("grafana:1", "1234567890123456")


@pytest.mark.parametrize(
    "starts_at",
    ["2025-06-15T14:50:00Z", "2025-06-15T20:20:00+05:30", "2025-06-15T06:50:00-08:00"],
)
def test_time_zones_name_the_same_instant(starts_at: str) -> None:
    alert = only_alert(accept("grafana", grafana_webhook([grafana_alert(starts_at=starts_at)])))
    assert alert.starts_at == epoch_of("2025-06-15T14:50:00+00:00")


def test_hundreds_of_labels_within_the_limit() -> None:
    labels = {f"dim_{i}": str(i) for i in range(250)} | {"alertname": "Wide"}
    alert = only_alert(accept("grafana", grafana_webhook([grafana_alert(labels)])))
    assert len(alert.labels) == 252  # plus severity


def test_too_many_labels_is_named() -> None:
    labels = {f"dim_{i}": str(i) for i in range(300)}
    exc = reject("grafana", grafana_webhook([grafana_alert(labels)]))
    assert exc.status == 400
    assert "alerts[0].labels" in fields(exc)


def test_empty_alert_list_is_accepted_with_nothing_to_enqueue() -> None:
    assert accept("grafana", grafana_webhook([])).events == []


def test_too_many_alerts_is_413() -> None:
    exc = reject("grafana", grafana_webhook([grafana_alert()] * 3), limits=Limits(max_alerts=2))
    assert exc.status == 413


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("P1", "critical"), ("high", "error"), ("Warning", "warning"), ("info", "info")],
)
def test_rule_severity_onto_the_canonical_scale(raw: str, canonical: str) -> None:
    item = grafana_alert({"alertname": "X", "severity": raw})
    alert = only_alert(accept("grafana", grafana_webhook([item])))
    assert alert.labels["severity"] == canonical
    assert alert.labels["vendor_severity"] == raw


def test_every_bad_field_is_named() -> None:
    body = grafana_webhook([grafana_alert(status="pending"), {"status": "firing"}])
    body["version"] = 4
    exc = reject("grafana", body)
    assert {"version", "alerts[0].status", "alerts[1].labels"} <= fields(exc)


def test_wrong_version_and_empty_labels_are_named() -> None:
    body = grafana_webhook([grafana_alert({})])
    body["version"] = "4"
    assert fields(reject("grafana", body)) == {"version", "alerts[0].labels"}


def test_bad_time_is_named() -> None:
    exc = reject("grafana", grafana_webhook([grafana_alert(starts_at="yesterday")]))
    assert fields(exc) == {"alerts[0].startsAt"}


def test_not_json_is_named() -> None:
    assert fields(reject("grafana", b"{not json")) == {"(body)"}
