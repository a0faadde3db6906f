"""The route tree: first match, continue, inheritance, time conditions, default, model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from routing.config import load_routing
from routing.matchers import Subject
from routing.tree import (
    MODEL_ROUTE_KEY,
    DecidedBy,
    ModelSuggestion,
    RouteTarget,
    SuggestionVerdict,
)


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


WEDNESDAY = at("2025-03-26T10:00:00Z")  # 11:00 in Berlin, office hours
SATURDAY = at("2025-03-29T10:00:00Z")

CONFIG: dict[str, Any] = {
    "time_periods": [
        {
            "name": "office",
            "time_zone": "Europe/Berlin",
            "weekdays": ["monday:friday"],
            "times": ["09:00-17:00"],
        }
    ],
    "escalation_policies": [
        {"name": name, "levels": [{"timeout": "5m", "targets": ["on-call"]}]}
        for name in ("triage", "db-page", "web-page", "urgent")
    ],
    "groups": [
        {"name": "triage", "channels": ["triage-chan"], "escalation_policy": "triage"},
        {"name": "db", "channels": ["db-chan"], "escalation_policy": "db-page"},
        {"name": "web", "channels": ["web-chan"], "escalation_policy": "web-page"},
        {"name": "security", "channels": ["sec-chan"]},
        {"name": "ops", "channels": ["ops-chan"], "escalation_policy": "triage"},
    ],
    "route": {
        "group": "triage",
        "routes": [
            {
                "name": "security",
                "matchers": ['incident.procedure="security"'],
                "group": "security",
                "continue": True,
            },
            {
                "name": "db",
                "matchers": ['service=~"postgres|mysql"'],
                "group": "db",
                "routes": [
                    {
                        "name": "office-low",
                        "matchers": ['incident.priority=~"P[45]"'],
                        "during": ["office"],
                        "channels": ["db-ticket"],
                    },
                    {
                        "name": "urgent",
                        "matchers": ['incident.priority="P1"'],
                        "escalation_policy": "urgent",
                    },
                    {"matchers": ['env="staging"'], "group": "ops"},
                ],
            },
            {"name": "shadowed", "matchers": ['service="postgres"'], "group": "web"},
            {
                "name": "web",
                "matchers": ['incident.service="web"'],
                "group": "web",
                "routes": [{"name": "after-hours", "outside": ["office"], "group": "ops"}],
            },
        ],
    },
    "model_fallback": {"min_confidence": 0.8},
}
TREE = load_routing(CONFIG).tree

TRIAGE = RouteTarget(
    route_key="root", group="triage", escalation_policy="triage", channels=("triage-chan",)
)
DB = RouteTarget(
    route_key="root/db", group="db", escalation_policy="db-page", channels=("db-chan",)
)
SECURITY = RouteTarget(
    route_key="root/security", group="security", escalation_policy=None, channels=("sec-chan",)
)


def subject(labels: dict[str, str] | None = None, **fields: str) -> Subject:
    return Subject(labels=labels or {}, **fields)


@pytest.mark.parametrize(
    ("case", "now", "targets", "matched", "inactive"),
    [
        # the default route takes what nothing else claims
        (subject({"service": "nginx"}), WEDNESDAY, [TRIAGE], ["root"], []),
        # first match wins: "shadowed" also matches postgres but is never tried
        (subject({"service": "postgres"}, priority="P3"), WEDNESDAY, [DB], ["root", "root/db"], []),
        # a child without a group inherits group and policy, and overrides channels
        (
            subject({"service": "mysql"}, priority="P4"),
            WEDNESDAY,
            [
                RouteTarget(
                    route_key="root/db/office-low",
                    group="db",
                    escalation_policy="db-page",
                    channels=("db-ticket",),
                )
            ],
            ["root", "root/db", "root/db/office-low"],
            [],
        ),
        # outside its time period the child does not apply; the parent decides
        (
            subject({"service": "mysql"}, priority="P4"),
            SATURDAY,
            [DB],
            ["root", "root/db"],
            ["root/db/office-low"],
        ),
        # DST: Monday 07:30Z is 09:30 CEST (office), Friday 07:30Z was 08:30 CET (not)
        (
            subject({"service": "mysql"}, priority="P5"),
            at("2025-03-31T07:30:00Z"),
            [
                RouteTarget(
                    route_key="root/db/office-low",
                    group="db",
                    escalation_policy="db-page",
                    channels=("db-ticket",),
                )
            ],
            ["root", "root/db", "root/db/office-low"],
            [],
        ),
        (
            subject({"service": "mysql"}, priority="P5"),
            at("2025-03-28T07:30:00Z"),
            [DB],
            ["root", "root/db"],
            ["root/db/office-low"],
        ),
        # a child overriding only the policy keeps the inherited group and channels
        (
            subject({"service": "postgres"}, priority="P1"),
            WEDNESDAY,
            [
                RouteTarget(
                    route_key="root/db/urgent",
                    group="db",
                    escalation_policy="urgent",
                    channels=("db-chan",),
                )
            ],
            ["root", "root/db", "root/db/urgent"],
            [],
        ),
        # a child naming a group takes that group's policy and channels; unnamed key = index
        (
            subject({"service": "postgres", "env": "staging"}, priority="P3"),
            WEDNESDAY,
            [
                RouteTarget(
                    route_key="root/db/2",
                    group="ops",
                    escalation_policy="triage",
                    channels=("ops-chan",),
                )
            ],
            ["root", "root/db", "root/db/2"],
            [],
        ),
        # continue: security fans out and matching goes on to its siblings
        (
            subject({"service": "postgres"}, priority="P3", procedure="security"),
            WEDNESDAY,
            [SECURITY, DB],
            ["root", "root/security", "root/db"],
            [],
        ),
        # continue with no later sibling matching leaves one result
        (
            subject({"service": "nginx"}, procedure="security"),
            WEDNESDAY,
            [SECURITY],
            ["root", "root/security"],
            [],
        ),
        # outside: the child applies only when the period does not hold
        (
            subject(service="web"),
            WEDNESDAY,
            [
                RouteTarget(
                    route_key="root/web",
                    group="web",
                    escalation_policy="web-page",
                    channels=("web-chan",),
                )
            ],
            ["root", "root/web"],
            ["root/web/after-hours"],
        ),
        (
            subject(service="web"),
            SATURDAY,
            [
                RouteTarget(
                    route_key="root/web/after-hours",
                    group="ops",
                    escalation_policy="triage",
                    channels=("ops-chan",),
                )
            ],
            ["root", "root/web", "root/web/after-hours"],
            [],
        ),
    ],
)
def test_route_table(
    case: Subject,
    now: float,
    targets: list[RouteTarget],
    matched: list[str],
    inactive: list[str],
) -> None:
    decision = TREE.route(case, now)
    assert list(decision.targets) == targets
    assert list(decision.trace.matched) == matched
    assert list(decision.trace.inactive) == inactive
    expected_decider = DecidedBy.DEFAULT if matched == ["root"] else DecidedBy.RULE
    assert decision.trace.decided_by is expected_decider


NOTHING = subject({"service": "nginx"})


@pytest.mark.parametrize(
    ("case", "suggestion", "targets", "decided_by", "verdict"),
    [
        (
            NOTHING,
            ModelSuggestion(group="web", confidence=0.9, model_version="v3"),
            [
                RouteTarget(
                    route_key=MODEL_ROUTE_KEY,
                    group="web",
                    escalation_policy="web-page",
                    channels=("web-chan",),
                )
            ],
            DecidedBy.MODEL,
            SuggestionVerdict.ACCEPTED,
        ),
        (
            NOTHING,
            ModelSuggestion(group="security", confidence=0.8, model_version="v3"),
            [
                RouteTarget(
                    route_key=MODEL_ROUTE_KEY,
                    group="security",
                    escalation_policy=None,
                    channels=("sec-chan",),
                )
            ],
            DecidedBy.MODEL,
            SuggestionVerdict.ACCEPTED,
        ),
        (
            NOTHING,
            ModelSuggestion(group="web", confidence=0.79, model_version="v3"),
            [TRIAGE],
            DecidedBy.DEFAULT,
            SuggestionVerdict.LOW_CONFIDENCE,
        ),
        (
            NOTHING,
            ModelSuggestion(group="retired-team", confidence=0.99, model_version="v3"),
            [TRIAGE],
            DecidedBy.DEFAULT,
            SuggestionVerdict.UNKNOWN_GROUP,
        ),
        (NOTHING, None, [TRIAGE], DecidedBy.DEFAULT, SuggestionVerdict.ABSENT),
        (
            subject({"service": "postgres"}),
            ModelSuggestion(group="web", confidence=0.99, model_version="v3"),
            [DB],
            DecidedBy.RULE,
            SuggestionVerdict.NOT_NEEDED,
        ),
        (subject({"service": "postgres"}), None, [DB], DecidedBy.RULE, SuggestionVerdict.ABSENT),
    ],
)
def test_model_suggestion_is_the_fallback(
    case: Subject,
    suggestion: ModelSuggestion | None,
    targets: list[RouteTarget],
    decided_by: DecidedBy,
    verdict: SuggestionVerdict,
) -> None:
    decision = TREE.route(case, WEDNESDAY, suggestion)
    assert list(decision.targets) == targets
    assert decision.trace.decided_by is decided_by
    assert decision.trace.suggestion_verdict is verdict
    assert decision.trace.suggestion == suggestion


def test_route_keys_are_stable_and_listed_for_metrics() -> None:
    assert TREE.route_keys == (
        "root",
        "root/security",
        "root/db",
        "root/db/office-low",
        "root/db/urgent",
        "root/db/2",
        "root/shadowed",
        "root/web",
        "root/web/after-hours",
        "model",
    )


def test_decision_groups_are_distinct_in_order() -> None:
    config = {
        **CONFIG,
        "route": {
            "group": "triage",
            "routes": [
                {"name": "a", "matchers": ["x=1"], "group": "db", "continue": True},
                {"name": "b", "matchers": ["x=1"], "group": "web", "continue": True},
                {"name": "c", "matchers": ["x=1"], "group": "db", "channels": ["extra"]},
            ],
        },
    }
    decision = load_routing(config).tree.route(subject({"x": "1"}), WEDNESDAY)
    assert [target.route_key for target in decision.targets] == ["root/a", "root/b", "root/c"]
    assert decision.groups == ("db", "web")
