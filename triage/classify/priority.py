"""Priority P1-P5 from impact x urgency, the ITIL way, with the rule that decided.

Urgency says how fast the business needs it fixed: from the sender's severity, raised to a
category's floor (a security alert is never low), or from the text model when the sender
gave no severity. Impact says how much is hit: nothing that matters to customers outside
production, customer-facing services, then the number of services, instances and alerts
involved; one production service with nothing else known counts as medium, because an alert
rarely says how many users stand behind the service. Overrides from configuration win over
the matrix; the decision names which rule applied and why, for the incident's triage trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec

from triage.classify.values import PriorityDecision
from triage.severity import Severity, parse_severity

LEVELS: Final = ("high", "medium", "low")
PRIORITIES: Final = ("P1", "P2", "P3", "P4", "P5")

ITIL_MATRIX: Final[dict[str, dict[str, str]]] = {
    "high": {"high": "P1", "medium": "P2", "low": "P3"},
    "medium": {"high": "P2", "medium": "P3", "low": "P4"},
    "low": {"high": "P3", "medium": "P4", "low": "P5"},
}
"""Rows are impact, columns urgency."""

SEVERITY_URGENCY: Final[dict[str, str]] = {
    Severity.CRITICAL.name.lower(): "high",
    Severity.ERROR.name.lower(): "high",
    Severity.WARNING.name.lower(): "medium",
    Severity.INFO.name.lower(): "low",
}
"""Keys are the canonical severities of ``triage.severity``; vendor names are mapped there."""


class PriorityOverride(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Set ``priority`` outright when every given field matches (``None`` matches anything)."""

    name: str
    priority: str
    category: str | None = None
    service: str | None = None
    severity: str | None = None


class PriorityPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole priority configuration, as plain data that YAML can hold."""

    matrix: dict[str, dict[str, str]] = msgspec.field(default_factory=lambda: ITIL_MATRIX)
    severity_urgency: dict[str, str] = msgspec.field(default_factory=lambda: SEVERITY_URGENCY)
    category_urgency: dict[str, str] = msgspec.field(
        default_factory=lambda: {"network-and-security": "medium"}
    )
    customer_facing: list[str] = msgspec.field(default_factory=list)
    low_impact_environments: list[str] = msgspec.field(
        default_factory=lambda: [
            *("dev", "development", "test", "testing", "qa"),
            *("staging", "stage", "sandbox", "preview"),
        ]
    )
    high_impact_services: int = 3
    high_impact_instances: int = 10
    medium_impact_services: int = 2
    medium_impact_instances: int = 3
    medium_impact_alerts: int = 10
    default_urgency: str = "medium"
    default_impact: str = "medium"
    overrides: list[PriorityOverride] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        for impact in LEVELS:
            row = self.matrix.get(impact)
            if row is None:
                raise ValueError(f"matrix: missing impact row {impact!r}")
            for urgency in LEVELS:
                if row.get(urgency) not in PRIORITIES:
                    raise ValueError(
                        f"matrix.{impact}.{urgency}: {row.get(urgency)!r} is not one of P1..P5"
                    )
        for field, table in (
            ("severity_urgency", self.severity_urgency),
            ("category_urgency", self.category_urgency),
        ):
            for key, level in table.items():
                if level not in LEVELS:
                    raise ValueError(f"{field}.{key}: {level!r} is not high, medium or low")
        for name, level in (
            ("default_urgency", self.default_urgency),
            ("default_impact", self.default_impact),
        ):
            if level not in LEVELS:
                raise ValueError(f"{name}: {level!r} is not high, medium or low")
        for override in self.overrides:
            if override.priority not in PRIORITIES:
                raise ValueError(f"overrides.{override.name}.priority: not one of P1..P5")


def _raise_to(level: str, floor: str) -> str:
    return level if LEVELS.index(level) <= LEVELS.index(floor) else floor


def urgency_of(
    policy: PriorityPolicy, severity: str | None, category: str | None, text_urgency: str | None
) -> tuple[str, str, list[str]]:
    """The urgency, where it came from (``severity``, ``text-model``, ``default``), why."""
    canonical = parse_severity(severity)
    if canonical is not Severity.UNKNOWN and canonical.name.lower() in policy.severity_urgency:
        level, source = policy.severity_urgency[canonical.name.lower()], "severity"
        reasons = [f"urgency {level} from severity {severity}"]
    elif text_urgency is not None:
        level, source = text_urgency, "text-model"
        reasons = [f"urgency {text_urgency} from the text model"]
    else:
        level, source = policy.default_urgency, "default"
        reasons = [f"urgency {level}: no severity given"]
    floor = policy.category_urgency.get(category or "")
    if floor is not None and _raise_to(level, floor) != level:
        level = floor
        reasons.append(f"urgency raised to {floor} for category {category}")
    return level, source, reasons


def impact_of(
    policy: PriorityPolicy,
    services: Sequence[str],
    instances: int,
    alert_count: int,
    environment: str | None = None,
) -> tuple[str, str]:
    if environment and environment.lower() in policy.low_impact_environments:
        return "low", f"impact low: environment {environment} is not production"
    facing = sorted(set(services) & set(policy.customer_facing))
    if facing:
        return "high", f"impact high: customer-facing {', '.join(facing)}"
    n = len(set(services))
    if n >= policy.high_impact_services or instances >= policy.high_impact_instances:
        return "high", f"impact high: {n} services, {instances} instances"
    if (
        n >= policy.medium_impact_services
        or instances >= policy.medium_impact_instances
        or alert_count >= policy.medium_impact_alerts
    ):
        return "medium", f"impact medium: {n} services, {instances} instances, {alert_count} alerts"
    level = policy.default_impact
    return level, f"impact {level}: {n} service(s), {instances} instance(s), {alert_count} alert(s)"


def prioritise(
    policy: PriorityPolicy,
    *,
    severity: str | None,
    category: str | None,
    service: str | None = None,
    services: Sequence[str] = (),
    instances: int = 1,
    alert_count: int = 1,
    text_urgency: str | None = None,
    environment: str | None = None,
) -> PriorityDecision:
    """Priority from the policy; ``rule`` is ``override:<name>`` or ``matrix``."""
    scope = list(services) or ([service] if service else [])
    urgency, urgency_source, reasons = urgency_of(policy, severity, category, text_urgency)
    impact, impact_reason = impact_of(policy, scope, instances, alert_count, environment)
    reasons.append(impact_reason)
    canonical = parse_severity(severity).name.lower()
    for override in policy.overrides:
        if (
            (override.category is None or override.category == category)
            and (override.service is None or override.service == service)
            and (
                override.severity is None
                or parse_severity(override.severity).name.lower() == canonical
            )
        ):
            return PriorityDecision(
                priority=override.priority,
                impact=impact,
                urgency=urgency,
                rule=f"override:{override.name}",
                reasons=tuple(reasons),
                urgency_source=urgency_source,
            )
    return PriorityDecision(
        priority=policy.matrix[impact][urgency],
        impact=impact,
        urgency=urgency,
        rule="matrix",
        reasons=tuple(reasons),
        urgency_source=urgency_source,
    )
