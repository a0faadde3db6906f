"""Zabbix through the webhook media type in docs/sources.md: each parameter is filled from
a Zabbix macro ({EVENT.ID}, {TRIGGER.NAME}, {EVENT.SEVERITY}, {EVENT.STATUS}, {HOST.HOST},
{EVENT.DATE}/{EVENT.TIME}, {EVENT.TAGSJSON}, ...) and arrives as a string. In a problem
message Zabbix leaves recovery and update macros unresolved, as written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.source_support import NOW, accept, fields, only_ack, only_alert, reject
from triage.alert import AlertStatus
from triage.fingerprint import key_fingerprint

SERVER = "https://zabbix.example.net"
FINGERPRINT = key_fingerprint(f"zabbix:{SERVER}", "4711")
STARTED = 1_749_999_600.0  # 2025-06-15T15:00:00Z = 17:00:00 in Berlin (CEST)


def zbx_problem(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": "4711",
        "event_name": "High CPU utilization on web-1 (over 90% for 5m)",
        "trigger_id": "23456",
        "trigger_name": "High CPU utilization (over 90% for 5m)",
        "trigger_description": "CPU utilization is too high. The system might be slow.",
        "trigger_url": "",
        "severity": "High",
        "nseverity": "4",
        "status": "PROBLEM",
        "host": "web-1",
        "host_name": "Web server 1",
        "host_ip": "10.0.4.21",
        "event_opdata": "Current utilization: 97.2 %",
        "event_date": "2025.06.15",
        "event_time": "17:00:00",
        "recovery_date": "{EVENT.RECOVERY.DATE}",
        "recovery_time": "{EVENT.RECOVERY.TIME}",
        "update_status": "0",
        "update_action": "{EVENT.UPDATE.ACTION}",
        "update_user": "{USER.FULLNAME}",
        "update_date": "{EVENT.UPDATE.DATE}",
        "update_time": "{EVENT.UPDATE.TIME}",
        "tags": json.dumps(
            [
                {"tag": "scope", "value": "performance"},
                {"tag": "service", "value": "checkout"},
                {"tag": "component", "value": "cpu"},
            ]
        ),
        "timezone": "Europe/Berlin",
        "zabbix_url": SERVER,
    }
    body.update(overrides)
    return body


def zbx_recovery(**overrides: Any) -> dict[str, Any]:
    return zbx_problem(
        status="RESOLVED", recovery_date="2025.06.15", recovery_time="17:20:00", **overrides
    )


def zbx_update(action: str, **overrides: Any) -> dict[str, Any]:
    return zbx_problem(
        update_status="1",
        update_action=action,
        update_user="Alice Admin",
        update_date="2025.06.15",
        update_time="17:05:00",
        **overrides,
    )


def test_problem_fires_with_tags_as_labels() -> None:
    alert = only_alert(accept("zabbix", zbx_problem()))
    assert alert.status is AlertStatus.FIRING
    assert alert.source == "zabbix"
    assert alert.fingerprint == FINGERPRINT
    assert alert.labels == {
        "scope": "performance",
        "service": "checkout",
        "component": "cpu",
        "instance": "web-1",
        "trigger_id": "23456",
        "alertname": "High CPU utilization (over 90% for 5m)",
        "severity": "error",
        "vendor_severity": "High",
    }
    assert alert.annotations["summary"] == "High CPU utilization on web-1 (over 90% for 5m)"
    assert alert.annotations["opdata"] == "Current utilization: 97.2 %"
    assert alert.annotations["host_name"] == "Web server 1"
    assert alert.annotations["event_id"] == "4711"
    assert "update" not in alert.annotations  # unresolved macro
    assert alert.starts_at == STARTED
    assert alert.ends_at is None
    assert alert.generator_url == f"{SERVER}/tr_events.php?triggerid=23456&eventid=4711"


def test_repeat_of_the_problem_is_the_same_alert() -> None:
    first = only_alert(accept("zabbix", zbx_problem()))
    again = only_alert(accept("zabbix", zbx_problem(event_opdata="98 %"), received_at=NOW + 60))
    assert again.fingerprint == first.fingerprint


def test_recovery_reuses_the_problems_event_id_and_resolves_it() -> None:
    alert = only_alert(accept("zabbix", zbx_recovery()))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.fingerprint == FINGERPRINT
    assert alert.ends_at == STARTED + 1200


def test_recovery_without_recovery_time_ends_on_receipt() -> None:
    body = zbx_problem(status="RESOLVED")
    assert only_alert(accept("zabbix", body)).ends_at == NOW


def test_acknowledging_update_acknowledges() -> None:
    ack = only_ack(accept("zabbix", zbx_update("acknowledged and commented")))
    assert ack.fingerprint == FINGERPRINT
    assert ack.actor == "zabbix:Alice Admin"
    assert ack.at == STARTED + 300


@pytest.mark.parametrize("action", ["unacknowledged", "commented", "changed severity"])
def test_other_updates_refresh_the_alert(action: str) -> None:
    alert = only_alert(accept("zabbix", zbx_update(action, severity="Disaster", nseverity="5")))
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == FINGERPRINT
    assert alert.labels["severity"] == "critical"
    assert alert.annotations["update"] == action


@pytest.mark.parametrize(
    ("name", "number", "canonical"),
    [
        ("Not classified", "0", "warning"),
        ("Information", "1", "info"),
        ("Warning", "2", "warning"),
        ("Average", "3", "warning"),
        ("High", "4", "error"),
        ("Disaster", "5", "critical"),
    ],
)
def test_severity_scale_by_name_and_by_number(name: str, number: str, canonical: str) -> None:
    by_name = only_alert(accept("zabbix", zbx_problem(severity=name, nseverity=None)))
    by_number = only_alert(accept("zabbix", zbx_problem(severity="Renamed", nseverity=number)))
    assert by_name.labels["severity"] == by_number.labels["severity"] == canonical
    assert by_name.labels["vendor_severity"] == name


@pytest.mark.parametrize(
    "tags",
    [
        [{"tag": "service", "value": "checkout"}, {"tag": "critical"}],
        json.dumps([{"tag": "service", "value": "checkout"}, {"tag": "critical", "value": ""}]),
        "service:checkout, critical",
    ],
)
def test_tags_as_json_list_json_text_or_event_tags(tags: Any) -> None:
    alert = only_alert(accept("zabbix", zbx_problem(tags=tags)))
    assert alert.labels["service"] == "checkout"
    assert alert.labels["tags"] == "critical"


def test_missing_optional_fields() -> None:
    body = {"event_id": "17", "status": "PROBLEM", "trigger_name": "Agent unreachable"}
    alert = only_alert(accept("zabbix", body))
    assert alert.fingerprint == key_fingerprint("zabbix", "17")
    assert alert.labels == {"alertname": "Agent unreachable", "severity": "warning"}
    assert alert.starts_at == NOW
    assert alert.generator_url == ""


def test_unresolved_macros_and_unknown_are_absent() -> None:
    body = zbx_problem(host="{HOST.HOST}", host_ip="*UNKNOWN*", zabbix_url="{$ZABBIX.URL}")
    alert = only_alert(accept("zabbix", body))
    assert "instance" not in alert.labels
    assert "host_ip" not in alert.annotations
    assert alert.fingerprint == key_fingerprint("zabbix", "4711")


@pytest.mark.parametrize(
    ("zone", "local"),
    [
        (None, "15:00:00"),
        ("UTC", "15:00:00"),
        ("+02:00", "17:00:00"),
        ("-0430", "10:30:00"),
        ("Europe/Berlin", "17:00:00"),
        ("America/New_York", "11:00:00"),
    ],
)
def test_server_time_zone(zone: str | None, local: str) -> None:
    alert = only_alert(accept("zabbix", zbx_problem(timezone=zone, event_time=local)))
    assert alert.starts_at == STARTED


@pytest.mark.parametrize("stamp", ["1749999600", 1749999600])
def test_epoch_timestamp_wins_over_date_and_time(stamp: str | int) -> None:
    body = zbx_problem(event_timestamp=stamp, event_time="00:00:00")
    assert only_alert(accept("zabbix", body)).starts_at == STARTED


def test_numeric_ids_as_numbers_or_strings() -> None:
    as_number = only_alert(accept("zabbix", zbx_problem(event_id=4711, trigger_id=23456)))
    assert as_number.fingerprint == FINGERPRINT
    assert as_number.labels["trigger_id"] == "23456"


def test_unicode() -> None:
    body = zbx_problem(trigger_name="Высокая загрузка ЦП", host="сервер-1")
    alert = only_alert(accept("zabbix", body))
    assert alert.labels["alertname"] == "Высокая загрузка ЦП"
    assert alert.labels["instance"] == "сервер-1"


def test_hundreds_of_tags() -> None:
    tags = [{"tag": f"t{i}", "value": str(i)} for i in range(240)]
    assert len(only_alert(accept("zabbix", zbx_problem(tags=tags))).labels) == 245
    tags = [{"tag": f"t{i}", "value": str(i)} for i in range(300)]
    assert fields(reject("zabbix", zbx_problem(tags=tags))) == {"(event).labels"}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"status": "PROBLEM", "trigger_name": "x"}, {"event_id"}),
        (zbx_problem(event_id="{EVENT.ID}"), {"event_id"}),
        (zbx_problem(status="BROKEN"), {"status"}),
        (zbx_problem(trigger_name=None, event_name=""), {"trigger_name"}),
        (zbx_problem(event_date="15/06/2025"), {"event_date"}),
        (zbx_problem(event_timestamp="noon"), {"event_timestamp"}),
        (zbx_problem(nseverity="9"), {"nseverity"}),
        (zbx_problem(tags="[{broken"), {"tags"}),
        (zbx_problem(tags=[{"value": "x"}]), {"tags"}),
        (zbx_problem(timezone="Mars/Olympus_Mons"), {"timezone"}),
        (zbx_problem(timezone="+25:00"), {"timezone"}),
        ([zbx_problem()], {"(body)"}),
    ],
)
def test_invalid_bodies_name_the_field(body: Any, named: set[str]) -> None:
    assert fields(reject("zabbix", body)) == named
