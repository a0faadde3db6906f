"""One canonical severity scale, and the first-cut priority derived from it.

Vendors name severities differently; adapters map theirs onto these five levels so that
later stages (priority, routing) deal with a single scale.
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
    "p4": Severity.INFO,
    "p5": Severity.INFO,
}


def parse_severity(value: str | None) -> Severity:
    if not value:
        return Severity.UNKNOWN
    return _ALIASES.get(value.strip().lower(), Severity.UNKNOWN)


DEFAULT_PRIORITY_BY_SEVERITY: Mapping[Severity, str] = {
    Severity.CRITICAL: "P1",
    Severity.ERROR: "P2",
    Severity.WARNING: "P3",
    Severity.INFO: "P4",
    Severity.UNKNOWN: "P3",
}
