"""Priority: the ITIL matrix, where urgency and impact come from, overrides, validation."""

from __future__ import annotations

import pytest

from triage.classify.priority import PriorityOverride, PriorityPolicy, prioritise


def test_critical_alert_on_customer_facing_service_is_p1() -> None:
    policy = PriorityPolicy(customer_facing=["checkout"])
    decision = prioritise(policy, severity="critical", category="databases", services=["checkout"])
    assert (decision.priority, decision.impact, decision.urgency) == ("P1", "high", "high")
    assert decision.rule == "matrix"
    assert "customer-facing checkout" in decision.reasons[-1]


def test_single_production_alert_has_medium_impact() -> None:
    critical = prioritise(PriorityPolicy(), severity="critical", category="databases", service="db")
    info = prioritise(PriorityPolicy(), severity="info", category="runtimes", service="api")
    assert (critical.priority, critical.impact, critical.urgency) == ("P2", "medium", "high")
    assert (info.priority, info.impact, info.urgency) == ("P4", "medium", "low")


def test_outside_production_impact_is_low_even_when_wide() -> None:
    policy = PriorityPolicy(customer_facing=["checkout"])
    decision = prioritise(
        policy,
        severity="critical",
        category=None,
        services=["checkout", "cart", "search"],
        environment="Staging",
    )
    assert (decision.priority, decision.impact) == ("P3", "low")
    assert "environment Staging is not production" in decision.reasons[-1]
    info = prioritise(policy, severity="info", category=None, environment="dev")
    assert info.priority == "P5"


def test_plain_itil_reading_with_default_impact_low() -> None:
    policy = PriorityPolicy(default_impact="low")
    decision = prioritise(policy, severity="info", category="runtimes", service="api")
    assert (decision.priority, decision.impact, decision.urgency) == ("P5", "low", "low")


@pytest.mark.parametrize(
    ("services", "instances", "alerts", "impact"),
    [
        (["a"], 1, 1, "low"),
        (["a", "b"], 1, 1, "medium"),
        (["a"], 3, 1, "medium"),
        (["a"], 1, 10, "medium"),
        (["a", "b", "c"], 1, 1, "high"),
        (["a"], 10, 1, "high"),
    ],
)
def test_impact_grows_with_scope(
    services: list[str], instances: int, alerts: int, impact: str
) -> None:
    decision = prioritise(
        PriorityPolicy(default_impact="low"),
        severity="warning",
        category=None,
        services=services,
        instances=instances,
        alert_count=alerts,
    )
    assert decision.impact == impact


def test_category_floor_raises_urgency_but_never_lowers_it() -> None:
    policy = PriorityPolicy(category_urgency={"network-and-security": "high"})
    raised = prioritise(policy, severity="info", category="network-and-security")
    kept = prioritise(policy, severity="critical", category="network-and-security")
    assert raised.urgency == "high"
    assert "raised to high" in raised.reasons[1]
    assert kept.urgency == "high"
    assert len(kept.reasons) == 2


def test_text_urgency_is_used_only_without_a_severity() -> None:
    policy = PriorityPolicy()
    from_text = prioritise(policy, severity=None, category=None, text_urgency="high")
    from_severity = prioritise(policy, severity="warning", category=None, text_urgency="high")
    default = prioritise(policy, severity="gibberish", category=None)
    assert from_text.urgency == "high"
    assert "text model" in from_text.reasons[0]
    assert from_severity.urgency == "medium"
    assert default.urgency == policy.default_urgency


def test_vendor_severity_names_are_understood() -> None:
    assert prioritise(PriorityPolicy(), severity="disaster", category=None).urgency == "high"
    assert prioritise(PriorityPolicy(), severity="P4", category=None).urgency == "low"


def test_first_matching_override_wins_and_is_named() -> None:
    policy = PriorityPolicy(
        overrides=[
            PriorityOverride(name="payments-always-p1", priority="P1", service="payments"),
            PriorityOverride(name="all-security", priority="P2", category="network-and-security"),
        ]
    )
    paid = prioritise(policy, severity="info", category="network-and-security", service="payments")
    sec = prioritise(policy, severity="info", category="network-and-security", service="web")
    plain = prioritise(policy, severity="info", category="storage", service="web")
    assert (paid.priority, paid.rule) == ("P1", "override:payments-always-p1")
    assert (sec.priority, sec.rule) == ("P2", "override:all-security")
    assert plain.rule == "matrix"


def test_custom_matrix_is_used() -> None:
    matrix = {
        row: dict.fromkeys(("high", "medium", "low"), "P4") for row in ("high", "medium", "low")
    }
    decision = prioritise(PriorityPolicy(matrix=matrix), severity="critical", category=None)
    assert decision.priority == "P4"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"matrix": {"high": {}, "medium": {}, "low": {}}}, "matrix.high.high"),
        ({"matrix": {"medium": {}, "low": {}}}, "missing impact row 'high'"),
        ({"severity_urgency": {"critical": "urgent"}}, "severity_urgency.critical"),
        ({"default_urgency": "soon"}, "default_urgency"),
        ({"overrides": [PriorityOverride(name="x", priority="P0")]}, "overrides.x.priority"),
    ],
)
def test_invalid_policy_names_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        PriorityPolicy(**kwargs)  # type: ignore[arg-type]
