"""The canonical severity scale and the first-cut priority derived from it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage.severity import (
    DEFAULT_PRIORITY_BY_SEVERITY,
    SEVERITY_LABEL,
    Severity,
    parse_severity,
    severity_label,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Prometheus / Alertmanager conventions
        ("critical", Severity.CRITICAL),
        ("page", Severity.CRITICAL),
        ("error", Severity.ERROR),
        ("warning", Severity.WARNING),
        ("warn", Severity.WARNING),
        ("info", Severity.INFO),
        # Zabbix
        ("disaster", Severity.CRITICAL),
        ("high", Severity.ERROR),
        ("average", Severity.WARNING),
        ("information", Severity.INFO),
        # syslog-ish and others
        ("crit", Severity.CRITICAL),
        ("fatal", Severity.CRITICAL),
        ("emergency", Severity.CRITICAL),
        ("major", Severity.ERROR),
        ("minor", Severity.WARNING),
        ("medium", Severity.WARNING),
        ("informational", Severity.INFO),
        ("low", Severity.INFO),
        ("notice", Severity.INFO),
        # Opsgenie-style priorities
        ("p1", Severity.CRITICAL),
        ("p2", Severity.ERROR),
        ("p3", Severity.WARNING),
        ("p4", Severity.INFO),
        ("p5", Severity.INFO),
        # Alerta, Datadog and logging levels
        ("security", Severity.CRITICAL),
        ("debug", Severity.INFO),
        ("trace", Severity.INFO),
        ("success", Severity.INFO),
        ("ok", Severity.INFO),
        ("normal", Severity.INFO),
        ("cleared", Severity.INFO),
        # names that say the sender does not know
        ("not classified", Severity.UNKNOWN),
        ("indeterminate", Severity.UNKNOWN),
        ("unknown", Severity.UNKNOWN),
    ],
)
def test_known_names(raw: str, expected: Severity) -> None:
    assert parse_severity(raw) is expected


@pytest.mark.parametrize("raw", ["CRITICAL", "Critical", "  warning ", "\tP1\n", "Info"])
def test_case_and_surrounding_space_do_not_matter(raw: str) -> None:
    assert parse_severity(raw) is not Severity.UNKNOWN
    assert parse_severity(raw) is parse_severity(raw.strip().lower())


@pytest.mark.parametrize("raw", [None, "", "   ", "sev-9", "p0", "criticality", "1", "none"])
def test_unknown_or_missing_is_unknown(raw: str | None) -> None:
    assert parse_severity(raw) is Severity.UNKNOWN


def test_scale_orders_most_severe_first() -> None:
    assert sorted(Severity) == [
        Severity.CRITICAL,
        Severity.ERROR,
        Severity.WARNING,
        Severity.INFO,
        Severity.UNKNOWN,
    ]
    assert Severity.CRITICAL < Severity.WARNING


def test_default_priority_for_every_severity() -> None:
    assert dict(DEFAULT_PRIORITY_BY_SEVERITY) == {
        Severity.CRITICAL: "P1",
        Severity.ERROR: "P2",
        Severity.WARNING: "P3",
        Severity.INFO: "P4",
        Severity.UNKNOWN: "P3",  # unknown is treated as an ordinary warning, not ignored
    }


@given(st.text(max_size=20))
def test_any_text_parses_to_a_severity_with_a_priority(raw: str) -> None:
    severity = parse_severity(raw)
    assert isinstance(severity, Severity)
    assert DEFAULT_PRIORITY_BY_SEVERITY[severity] in {"P1", "P2", "P3", "P4", "P5"}


def test_severity_label_has_four_canonical_values() -> None:
    assert set(SEVERITY_LABEL.values()) == {"critical", "error", "warning", "info"}
    assert severity_label("Disaster") == "critical"
    assert severity_label("major") == "error"
    assert severity_label("average") == "warning"
    assert severity_label("notice") == "info"
    assert severity_label(None) == "warning"
    assert severity_label("sev-9") == "warning"


@pytest.mark.parametrize("severity", list(Severity))
def test_label_reads_back_to_the_same_priority(severity: Severity) -> None:
    label = SEVERITY_LABEL[severity]
    assert (
        DEFAULT_PRIORITY_BY_SEVERITY[parse_severity(label)]
        == (DEFAULT_PRIORITY_BY_SEVERITY[severity])
    )


@given(st.text(max_size=20))
def test_relabelling_never_changes_priority(raw: str) -> None:
    once = severity_label(raw)
    assert severity_label(once) == once
    assert (
        DEFAULT_PRIORITY_BY_SEVERITY[parse_severity(once)]
        == (DEFAULT_PRIORITY_BY_SEVERITY[parse_severity(raw)])
    )
