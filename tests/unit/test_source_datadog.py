"""Datadog's webhook integration, from Datadog's documented variables: the default body
(``$EVENT_MSG``, ``$LAST_UPDATED``, ``$EVENT_TYPE``, ``$EVENT_TITLE``, ``$DATE``,
``$ORG_ID``/``$ORG_NAME``, ``$ID``) and the monitor variables docs/sources.md adds. Every
value is a string, as Datadog fills a quoted template."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.source_support import NOW, accept, fields, only_alert, reject
from triage.alert import AlertStatus
from triage.fingerprint import key_fingerprint

DATE_MS = "1749999600000"  # 2025-06-15T15:00:00Z


def dd_default(title: str, *, date: str = DATE_MS) -> dict[str, Any]:
    """What Datadog posts with its default payload."""
    return {
        "body": "%%%\nCPU usage is 97% on web-1\n\n@webhook-triaged\n%%%",
        "last_updated": date,
        "event_type": "query_alert_monitor",
        "title": title,
        "date": date,
        "org": {"id": "123456", "name": "Example Shop"},
        "id": "7385926471234567890",
    }


def dd_monitor(transition: str = "Triggered", **overrides: Any) -> dict[str, Any]:
    """The default payload plus the monitor variables docs/sources.md recommends."""
    scope = overrides.pop("scope", "host:web-1,env:prod")
    body = dd_default(f"[{transition} on {{{scope}}}] CPU high on web hosts") | {
        "alert_id": "98765",
        "alert_title": f"[{transition} on {{{scope}}}] CPU high on web hosts",
        "alert_transition": transition,
        "alert_type": "error",
        "alert_priority": "P2",
        "priority": "normal",
        "alert_scope": scope,
        "alert_metric": "system.cpu.user",
        "alert_query": "avg(last_5m):avg:system.cpu.user{role:web} by {host,env} > 90",
        "alert_status": "system.cpu.user over host:web-1 was > 90 on average",
        "alert_cycle_key": "6154393410463526531",
        "hostname": "web-1",
        "tags": "service:checkout,team:payments,env:prod,role:web",
        "link": "https://app.datadoghq.eu/event/event?id=7385926471234567890",
        "snapshot": "https://p.datadoghq.eu/snapshot/view/cpu.png",
    }
    body.update(overrides)
    return body


def test_default_payload_alone_is_enough() -> None:
    alert = only_alert(
        accept("datadog", dd_default("[P1] [Triggered on {host:web-1,env:prod}] CPU high"))
    )
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == key_fingerprint("datadog", "name:CPU high\nenv:prod,host:web-1")
    assert alert.labels == {
        "host": "web-1",
        "env": "prod",
        "instance": "web-1",
        "alertname": "CPU high",
        "severity": "critical",
        "vendor_severity": "P1",
    }
    assert alert.annotations["summary"].startswith("[P1] [Triggered")
    assert alert.annotations["description"].startswith("%%%")
    assert alert.annotations["org"] == "Example Shop"
    assert alert.starts_at == 1_749_999_600.0


def test_default_payload_recovery_resolves_the_same_alert() -> None:
    fired = only_alert(accept("datadog", dd_default("[Triggered on {host:web-1}] CPU high")))
    recovered = only_alert(
        accept(
            "datadog",
            dd_default("[Recovered on {host:web-1}] CPU high", date="1750000200000"),
        )
    )
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.fingerprint == fired.fingerprint
    assert recovered.ends_at == 1_750_000_200.0


def test_monitor_variables_give_labels_and_identity() -> None:
    alert = only_alert(accept("datadog", dd_monitor()))
    assert alert.fingerprint == key_fingerprint("datadog", "monitor:98765\nenv:prod,host:web-1")
    assert alert.labels == {
        "service": "checkout",
        "team": "payments",
        "env": "prod",
        "role": "web",
        "host": "web-1",
        "instance": "web-1",
        "monitor_id": "98765",
        "metric": "system.cpu.user",
        "alertname": "CPU high on web hosts",
        "severity": "error",
        "vendor_severity": "P2",
    }
    assert alert.generator_url.startswith("https://app.datadoghq.eu/event/")
    assert alert.annotations["alert_query"].startswith("avg(last_5m)")
    assert alert.annotations["snapshot"].endswith("cpu.png")


@pytest.mark.parametrize("transition", ["Re-Triggered", "Renotify", "Warn", "No Data"])
def test_repeats_and_other_firing_transitions_refresh_the_same_alert(transition: str) -> None:
    first = only_alert(accept("datadog", dd_monitor()))
    again = only_alert(accept("datadog", dd_monitor(transition)))
    assert again.status is AlertStatus.FIRING
    assert again.fingerprint == first.fingerprint


def test_recovered_resolves() -> None:
    first = only_alert(accept("datadog", dd_monitor()))
    recovered = only_alert(
        accept("datadog", dd_monitor("Recovered", date="1750000200000", alert_type="success"))
    )
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.fingerprint == first.fingerprint
    assert recovered.ends_at == 1_750_000_200.0


def test_scope_order_does_not_matter_but_the_group_does() -> None:
    one = only_alert(accept("datadog", dd_monitor(scope="host:web-1,env:prod")))
    same = only_alert(accept("datadog", dd_monitor(scope="env:prod, host:web-1")))
    other = only_alert(accept("datadog", dd_monitor(scope="host:web-2,env:prod")))
    assert one.fingerprint == same.fingerprint != other.fingerprint


def test_numeric_ids_and_dates_unquoted_or_quoted() -> None:
    quoted = only_alert(accept("datadog", dd_monitor()))
    bare = only_alert(accept("datadog", dd_monitor(alert_id=98765, date=1749999600000)))
    assert bare.fingerprint == quoted.fingerprint
    assert bare.starts_at == quoted.starts_at == 1_749_999_600.0
    seconds = only_alert(accept("datadog", dd_monitor(date="1749999600")))
    assert seconds.starts_at == 1_749_999_600.0


@pytest.mark.parametrize(
    ("overrides", "severity", "vendor"),
    [
        ({"alert_priority": "P1"}, "critical", "P1"),
        ({"alert_priority": "", "alert_type": "warning"}, "warning", "warning"),
        ({"alert_priority": "", "alert_type": "info"}, "info", "info"),
        ({"alert_priority": "", "alert_type": "", "alert_transition": "Warn"}, "warning", "Warn"),
        ({"alert_priority": "", "alert_type": "", "alert_transition": "No Data"}, "warning", None),
        ({"alert_priority": "", "alert_type": "", "priority": "low"}, "info", "low"),
        ({"alert_priority": "", "alert_type": "", "priority": ""}, "warning", None),
    ],
)
def test_severity_from_priority_type_or_transition(
    overrides: dict[str, str], severity: str, vendor: str | None
) -> None:
    body = dd_monitor(**overrides)
    body["title"] = body["alert_title"] = "CPU high"  # no priority in the title either
    alert = only_alert(accept("datadog", body))
    assert alert.labels["severity"] == severity
    if vendor is not None:
        assert alert.labels["vendor_severity"] == vendor


def test_empty_variables_are_absent() -> None:
    body = dd_monitor(hostname="", alert_metric="", link="", tags="", alert_scope="")
    body["title"] = body["alert_title"] = "[Triggered] Queue backlog"
    alert = only_alert(accept("datadog", body))
    assert "instance" not in alert.labels
    assert "metric" not in alert.labels
    assert alert.generator_url == ""
    assert alert.fingerprint == key_fingerprint("datadog", "monitor:98765\n")


def test_missing_date_is_receipt() -> None:
    body = dd_monitor()
    del body["date"], body["last_updated"]
    assert only_alert(accept("datadog", body)).starts_at == NOW


def test_unicode() -> None:
    body = dd_default("[Triggered on {région:paris}] Latence élevée — 支付")
    alert = only_alert(accept("datadog", body))
    assert alert.labels["alertname"] == "Latence élevée — 支付"
    assert alert.labels["région"] == "paris"


def test_hundreds_of_tags() -> None:
    tags = ",".join(f"tag{i}:value{i}" for i in range(200))
    alert = only_alert(accept("datadog", dd_monitor(tags=tags)))
    assert alert.labels["tag199"] == "value199"
    too_many = ",".join(f"tag{i}:v" for i in range(300))
    assert fields(reject("datadog", dd_monitor(tags=too_many))) == {"(event).labels"}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"body": "no title"}, {"title"}),
        (dd_default(""), {"title"}),
        (dd_monitor("Exploded"), {"alert_transition"}),
        (dd_monitor(tags=["service:x"]), {"tags"}),
        (dd_monitor(date="yesterday"), {"date"}),
        (dd_monitor(org="Example"), {"org"}),
        ({"alert_transition": "Exploded", "date": "soon"}, {"title", "alert_transition", "date"}),
        ([dd_monitor()], {"(body)"}),
    ],
)
def test_invalid_bodies_name_the_field(body: Any, named: set[str]) -> None:
    assert fields(reject("datadog", body)) == named
