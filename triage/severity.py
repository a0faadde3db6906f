"""One canonical severity scale, and the first-cut priority derived from it.

Vendors name severities differently; adapters map theirs onto these five levels so that
later stages (priority, routing) deal with a single scale. The alias table holds every
vendor's names (PagerDuty, Opsgenie and Datadog priorities, Zabbix, Alerta, syslog); where
two vendors use one word they agree on its level, so a single table serves them all.
docs/sources.md has the mapping per vendor.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Severity(enum.IntEnum):
    CRITICAL = 1
    ERROR = 2
    WARNING = 3
    INFO = 4
    UNKNOWN = 5


_ALIASES: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "disaster": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "security": Severity.CRITICAL,  # Alerta: above critical; nothing outranks critical here
    "p1": Severity.CRITICAL,
    "high": Severity.ERROR,
    "error": Severity.ERROR,
    "major": Severity.ERROR,
    "p2": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "average": Severity.WARNING,
    "minor": Severity.WARNING,
    "medium": Severity.WARNING,
    "p3": Severity.WARNING,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "information": Severity.INFO,
    "low": Severity.INFO,
    "notice": Severity.INFO,
    "debug": Severity.INFO,
    "trace": Severity.INFO,
    "success": Severity.INFO,  # Datadog's alert type of a recovery
    # Alerta's clearing severities: the alert is over, what is left is information.
    "ok": Severity.INFO,
    "normal": Severity.INFO,
    "cleared": Severity.INFO,
    "p4": Severity.INFO,
    "p5": Severity.INFO,
    # Names that say the sender does not know; listed so the table documents them.
    "not classified": Severity.UNKNOWN,  # Zabbix
    "indeterminate": Severity.UNKNOWN,  # Alerta
    "unknown": Severity.UNKNOWN,
}


def parse_severity(value: str | None) -> Severity:
    if not value:
        return Severity.UNKNOWN
    return _ALIASES.get(value.strip().lower(), Severity.UNKNOWN)


SEVERITY_LABEL: Mapping[Severity, str] = {
    Severity.CRITICAL: "critical",
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "info",
    Severity.UNKNOWN: "warning",
}
"""The ``severity`` label value adapters put on alerts: four values routing rules can rely
on. Unknown becomes ``warning`` because that is what it already means for priority (P3),
so reading the label back with ``parse_severity`` never changes an alert's priority."""


def severity_label(value: str | None) -> str:
    """The canonical ``severity`` label value for a vendor's severity name."""
    return SEVERITY_LABEL[parse_severity(value)]


DEFAULT_PRIORITY_BY_SEVERITY: Mapping[Severity, str] = {
    Severity.CRITICAL: "P1",
    Severity.ERROR: "P2",
    Severity.WARNING: "P3",
    Severity.INFO: "P4",
    Severity.UNKNOWN: "P3",
}
