"""Correlation: incident keys from labels, and join / reopen / open decisions."""

from __future__ import annotations

import pytest

from triage.correlate import DEFAULT_KEY_LABELS, Decision, decide, incident_key
from triage.incident import Incident, IncidentStatus

FP = "0123456789abcdef"
WINDOW = 600.0


# --- incident_key ------------------------------------------------------------------------


def test_default_key_is_service_plus_environment() -> None:
    labels = {"alertname": "HighLatency", "service": "checkout", "environment": "prod"}
    assert incident_key(labels, DEFAULT_KEY_LABELS, FP) == "service=checkout,environment=prod"


def test_service_falls_back_to_alertname() -> None:
    labels = {"alertname": "HighLatency", "environment": "prod"}
    assert incident_key(labels, DEFAULT_KEY_LABELS, FP) == "alertname=HighLatency,environment=prod"


def test_environment_falls_back_to_env() -> None:
    labels = {"service": "checkout", "env": "staging"}
    assert incident_key(labels, DEFAULT_KEY_LABELS, FP) == "service=checkout,env=staging"


def test_first_alternative_wins_when_both_are_present() -> None:
    labels = {"service": "checkout", "alertname": "X", "environment": "prod", "env": "p"}
    assert incident_key(labels, DEFAULT_KEY_LABELS, FP) == "service=checkout,environment=prod"


def test_position_without_any_label_is_left_out() -> None:
    assert incident_key({"service": "checkout"}, DEFAULT_KEY_LABELS, FP) == "service=checkout"
    assert incident_key({"environment": "prod", "x": "1"}, DEFAULT_KEY_LABELS, FP) == (
        "environment=prod"
    )


def test_empty_value_counts_as_absent() -> None:
    labels = {"service": "", "alertname": "DiskFull", "environment": ""}
    assert incident_key(labels, DEFAULT_KEY_LABELS, FP) == "alertname=DiskFull"


def test_key_ignores_labels_outside_the_key() -> None:
    a = {"service": "checkout", "environment": "prod", "instance": "a:9100"}
    b = {"service": "checkout", "environment": "prod", "instance": "b:9100", "pod": "x"}
    assert incident_key(a, DEFAULT_KEY_LABELS, FP) == incident_key(b, DEFAULT_KEY_LABELS, "f" * 16)


def test_configured_key_labels_in_their_order() -> None:
    key_labels = (("team",), ("cluster", "region"), ("service",))
    labels = {"service": "api", "region": "eu-1", "team": "payments"}
    assert incident_key(labels, key_labels, FP) == "team=payments,region=eu-1,service=api"


def test_no_key_label_falls_back_to_the_first_label_pair_by_name() -> None:
    labels = {"zone": "b", "instance": "db-1:9100", "job": "node"}
    assert incident_key(labels, DEFAULT_KEY_LABELS, FP) == "instance=db-1:9100"


def test_no_labels_at_all_falls_back_to_the_fingerprint() -> None:
    assert incident_key({}, DEFAULT_KEY_LABELS, FP) == f"fingerprint={FP}"


def test_only_empty_key_labels_and_nothing_else_uses_first_pair_not_fingerprint() -> None:
    # labels exist, so the first pair (even with an empty value) keys the alert
    assert incident_key({"service": ""}, DEFAULT_KEY_LABELS, FP) == "service="


def test_unicode_key() -> None:
    labels = {"service": "zahlung-ü", "environment": "本番"}
    assert incident_key(labels, DEFAULT_KEY_LABELS, FP) == "service=zahlung-ü,environment=本番"


def test_separator_characters_in_values_cannot_forge_another_key() -> None:
    forged = {"service": "checkout,environment=prod"}
    genuine = {"service": "checkout", "environment": "prod"}
    assert incident_key(forged, DEFAULT_KEY_LABELS, FP) != incident_key(
        genuine, DEFAULT_KEY_LABELS, FP
    )


# --- decide ------------------------------------------------------------------------------


def incident(
    status: IncidentStatus, *, resolved_at: float | None = None, updated_at: float = 0.0
) -> Incident:
    return Incident(
        id="INC-1",
        key="service=checkout",
        title="t",
        status=status,
        priority="P3",
        category="other",
        group="triage-queue",
        procedure="standard",
        created_at=0.0,
        updated_at=updated_at,
        started_at=0.0,
        resolved_at=resolved_at,
    )


def test_no_incident_opens_one() -> None:
    assert decide(None, fired_at=100.0, reopen_window=WINDOW) is Decision.OPEN


@pytest.mark.parametrize("status", [IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED])
def test_open_incident_is_joined(status: IncidentStatus) -> None:
    assert decide(incident(status), fired_at=1e9, reopen_window=WINDOW) is Decision.JOIN


def test_closed_incident_is_never_reopened_by_an_alert() -> None:
    closed = incident(IncidentStatus.CLOSED, resolved_at=1000.0)
    assert decide(closed, fired_at=1001.0, reopen_window=WINDOW) is Decision.OPEN


@pytest.mark.parametrize(
    ("fired_at", "expected"),
    [
        (1000.0, Decision.REOPEN),  # the instant it resolved
        (1300.0, Decision.REOPEN),
        (1600.0, Decision.REOPEN),  # exactly the window: still within
        (1600.001, Decision.OPEN),  # just after the window
        (90_000.0, Decision.OPEN),
        (900.0, Decision.REOPEN),  # an older firing delivered late
    ],
)
def test_resolved_incident_reopens_only_within_the_window(
    fired_at: float, expected: Decision
) -> None:
    resolved = incident(IncidentStatus.RESOLVED, resolved_at=1000.0, updated_at=5000.0)
    assert decide(resolved, fired_at=fired_at, reopen_window=WINDOW) is expected


def test_resolved_without_resolved_at_uses_updated_at() -> None:
    resolved = incident(IncidentStatus.RESOLVED, resolved_at=None, updated_at=2000.0)
    assert decide(resolved, fired_at=2600.0, reopen_window=WINDOW) is Decision.REOPEN
    assert decide(resolved, fired_at=2601.0, reopen_window=WINDOW) is Decision.OPEN


def test_zero_window_never_reopens_after_the_resolve() -> None:
    resolved = incident(IncidentStatus.RESOLVED, resolved_at=1000.0)
    assert decide(resolved, fired_at=1000.0, reopen_window=0.0) is Decision.REOPEN
    assert decide(resolved, fired_at=1000.5, reopen_window=0.0) is Decision.OPEN
