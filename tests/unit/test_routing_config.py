"""Configuration: the example file loads, and each validation rule has its exact message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from routing.config import (
    ConfigProblem,
    RoutingConfigError,
    compile_silence,
    load_routing,
    parse_routing_config,
)
from routing.matchers import Subject
from routing.silences import SuppressionKind
from routing.tree import DecidedBy

EXAMPLE = Path(__file__).parents[2] / "config" / "routing.example.yaml"

BASE: dict[str, Any] = {
    "time_periods": [{"name": "office", "time_zone": "Europe/Berlin"}],
    "escalation_policies": [
        {"name": "page", "levels": [{"timeout": "5m", "targets": ["on-call"]}]}
    ],
    "groups": [{"name": "triage", "channels": ["chat"], "escalation_policy": "page"}],
    "route": {"group": "triage"},
}
SILENCE: dict[str, Any] = {
    "id": "s1",
    "matchers": ['service="db"'],
    "starts_at": "2025-01-01T00:00:00Z",
    "ends_at": "2025-01-02T00:00:00Z",
    "created_by": "alice",
    "comment": "upgrade",
}
ON_CALL: dict[str, Any] = {
    "members": ["ann"],
    "handoff": "weekly",
    "handoff_time": "09:00",
    "start": "2025-01-06",
    "time_zone": "Europe/Berlin",
}


def config(**sections: Any) -> dict[str, Any]:
    return {**copy.deepcopy(BASE), **sections}


def routes(*children: dict[str, Any]) -> dict[str, Any]:
    return {"group": "triage", "routes": list(children)}


def policy(**level: Any) -> list[dict[str, Any]]:
    return [{"name": "page", "levels": [{"timeout": "5m", "targets": ["on-call"], **level}]}]


def group(**fields: Any) -> list[dict[str, Any]]:
    return [{"name": "triage", **fields}]


def problems(data: dict[str, Any], channels: tuple[str, ...] | None = None) -> list[str]:
    with pytest.raises(RoutingConfigError) as raised:
        load_routing(data, channels=channels)
    return [str(problem) for problem in raised.value.problems]


def test_example_config_loads_and_routes() -> None:
    table = load_routing(yaml.safe_load(EXAMPLE.read_text()))
    assert set(table.groups) == {"triage-queue", "database", "payments", "security", "sre"}
    assert set(table.policies) == {"triage", "page-then-lead", "security"}
    assert [rule.name for rule in table.inhibit_rules] == [
        "critical-mutes-warning",
        "node-down-mutes-node-alerts",
    ]
    assert [(s.id, s.kind) for s in table.silences] == [
        ("db-upgrade-2025-09", SuppressionKind.MAINTENANCE)
    ]
    decision = table.tree.route(Subject(labels={"service": "redis"}), 1_750_000_000.0)
    assert decision.groups == ("database",)
    assert decision.trace.decided_by is DecidedBy.RULE


def test_minimal_config_is_valid() -> None:
    assert load_routing(BASE).tree.route_keys == ("root", "model")


# One case per rule compile_routing enforces, each asserting the complete message.
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            config(route=routes({"group": "nope"})),
            "route.routes[0].group: unknown resolver group 'nope'; known: triage",
            id="route-unknown-group",
        ),
        pytest.param(
            config(route=routes({"escalation_policy": "nope"})),
            "route.routes[0].escalation_policy: unknown escalation policy 'nope'; known: page",
            id="route-unknown-policy",
        ),
        pytest.param(
            config(route=routes({"during": ["weekend"]})),
            "route.routes[0].during[0]: unknown time period 'weekend'; known: office",
            id="route-unknown-period-during",
        ),
        pytest.param(
            config(route=routes({"outside": ["office", "night"]})),
            "route.routes[0].outside[1]: unknown time period 'night'; known: office",
            id="route-unknown-period-outside",
        ),
        pytest.param(
            config(route=routes({"matchers": ["severity"]})),
            "route.routes[0].matchers[0]: cannot parse matcher 'severity': expected name, "
            "one of = != =~ !~, and a value",
            id="matcher-syntax",
        ),
        pytest.param(
            config(route=routes({"matchers": ['a=~"[z-a]"']})),
            "route.routes[0].matchers[0]: invalid regular expression '[z-a]': "
            "bad character range z-a at position 1",
            id="matcher-regex",
        ),
        pytest.param(
            config(route=routes({}, {"routes": [{"matchers": ['incident.team="x"']}]})),
            "route.routes[1].routes[0].matchers[0]: unknown field 'incident.team': label "
            "names have no dot; incident fields are incident.category, incident.priority, "
            "incident.procedure, incident.service, incident.source",
            id="matcher-unknown-field",
        ),
        pytest.param(
            config(route={"group": "triage", "matchers": ["a=b"]}),
            "route.matchers: the root route is the catch-all: it matches every incident, "
            "so it takes no matchers, time conditions or continue",
            id="root-matchers",
        ),
        pytest.param(
            config(route={"group": "triage", "during": ["office"]}),
            "route.during: the root route is the catch-all: it matches every incident, "
            "so it takes no matchers, time conditions or continue",
            id="root-during",
        ),
        pytest.param(
            config(route={"group": "triage", "outside": ["office"]}),
            "route.outside: the root route is the catch-all: it matches every incident, "
            "so it takes no matchers, time conditions or continue",
            id="root-outside",
        ),
        pytest.param(
            config(route={"group": "triage", "continue": True}),
            "route.continue: the root route is the catch-all: it matches every incident, "
            "so it takes no matchers, time conditions or continue",
            id="root-continue",
        ),
        pytest.param(
            config(route={"routes": [{"group": "triage"}]}),
            "route.group: the root route needs a group: it takes every incident no other "
            "route takes (a triage queue)",
            id="root-without-group",
        ),
        pytest.param(
            config(route=routes({"name": "db"}, {"name": "db"})),
            "route.routes[1].name: duplicate route name 'db'; first used at route.routes[0]",
            id="duplicate-route-name",
        ),
        pytest.param(
            config(groups=[*BASE["groups"], {"name": "triage"}]),
            "groups[1].name: duplicate group name 'triage'; first defined at groups[0]",
            id="duplicate-group",
        ),
        pytest.param(
            config(escalation_policies=policy() * 2),
            "escalation_policies[1].name: duplicate policy name 'page'; first defined at "
            "escalation_policies[0]",
            id="duplicate-policy",
        ),
        pytest.param(
            config(time_periods=BASE["time_periods"] * 2),
            "time_periods[1].name: duplicate time period name 'office'; first defined at "
            "time_periods[0]",
            id="duplicate-period",
        ),
        pytest.param(
            config(groups=group(escalation_policy="nope")),
            "groups[0].escalation_policy: unknown escalation policy 'nope'; known: page",
            id="group-unknown-policy",
        ),
        pytest.param(
            config(escalation_policies=policy(targets=["on-call", "group:nope"])),
            "escalation_policies[0].levels[0].targets[1]: unknown resolver group 'nope'; "
            "known: triage",
            id="target-unknown-group",
        ),
        pytest.param(
            config(escalation_policies=policy(targets=["pager"])),
            "escalation_policies[0].levels[0].targets[0]: invalid escalation target 'pager': "
            "use on-call, on-call:<group>, person:<name> or group:<group>",
            id="target-syntax",
        ),
        pytest.param(
            config(escalation_policies=policy(timeout="5 minutes")),
            "escalation_policies[0].levels[0].timeout: invalid duration '5 minutes': use "
            "numbers with units w, d, h, m, s or ms, largest first, as in 90s, 1.5h or 1h30m",
            id="level-timeout",
        ),
        pytest.param(
            config(escalation_policies=[{**policy()[0], "unresolved_after": "4hours"}]),
            "escalation_policies[0].unresolved_after: invalid duration '4hours': use "
            "numbers with units w, d, h, m, s or ms, largest first, as in 90s, 1.5h or 1h30m",
            id="unresolved-after",
        ),
        pytest.param(
            config(time_periods=[{"name": "office", "time_zone": "CET+1"}]),
            "time_periods[0].time_zone: unknown time zone 'CET+1': use an IANA name such as "
            "Europe/Berlin",
            id="period-zone",
        ),
        pytest.param(
            config(time_periods=[{"name": "office", "time_zone": "UTC", "times": ["18-22"]}]),
            "time_periods[0].times[0]: invalid time of day '18': use HH:MM between 00:00 and 24:00",
            id="period-time-syntax",
        ),
        pytest.param(
            config(time_periods=[{"name": "office", "time_zone": "UTC", "times": ["22:00-06:00"]}]),
            "time_periods[0].times[0]: invalid time range '22:00-06:00': the start must be "
            "before the end; split a range that crosses midnight in two",
            id="period-time-order",
        ),
        pytest.param(
            config(time_periods=[{"name": "office", "time_zone": "UTC", "weekdays": ["mo-fr"]}]),
            "time_periods[0].weekdays[0]: invalid weekday 'mo-fr': use a day name or a range "
            "as in monday:friday",
            id="period-weekday",
        ),
        pytest.param(
            config(
                time_periods=[{"name": "office", "time_zone": "UTC", "weekdays": ["sunday:monday"]}]
            ),
            "time_periods[0].weekdays[0]: invalid weekday range 'sunday:monday': the range "
            "must run Monday to Sunday",
            id="period-weekday-order",
        ),
        pytest.param(
            config(groups=group(on_call={**ON_CALL, "time_zone": "Berlin"})),
            "groups[0].on_call.time_zone: unknown time zone 'Berlin': use an IANA name such "
            "as Europe/Berlin",
            id="rotation-zone",
        ),
        pytest.param(
            config(groups=group(on_call={**ON_CALL, "handoff_time": "9am"})),
            "groups[0].on_call.handoff_time: invalid time of day '9am': use HH:MM between "
            "00:00 and 24:00",
            id="rotation-handoff-syntax",
        ),
        pytest.param(
            config(groups=group(on_call={**ON_CALL, "handoff_time": "24:00"})),
            "groups[0].on_call.handoff_time: invalid hand-off time '24:00': use 00:00 to hand "
            "off at midnight",
            id="rotation-handoff-midnight",
        ),
        pytest.param(
            config(
                groups=group(
                    overrides=[
                        {
                            "person": "bob",
                            "start": "2025-01-02T00:00:00Z",
                            "end": "2025-01-02T00:00:00Z",
                        }
                    ]
                )
            ),
            "groups[0].overrides[0].end: the end must be after the start",
            id="override-order",
        ),
        pytest.param(
            config(silences=[{**SILENCE, "ends_at": "2024-12-31T00:00:00Z"}]),
            "silences[0].ends_at: the end must be after the start",
            id="silence-order",
        ),
        pytest.param(
            config(silences=[{**SILENCE, "matchers": ['team=~".*"', 'env!="prod"']}]),
            "silences[0].matchers: at least one matcher must not match an empty label value, "
            "or the silence would mute every alert",
            id="silence-mutes-everything",
        ),
        pytest.param(
            config(maintenance_windows=[{**SILENCE, "matchers": []}]),
            "maintenance_windows[0].matchers: at least one matcher must not match an empty "
            "label value, or the maintenance would mute every alert",
            id="maintenance-without-matchers",
        ),
        pytest.param(
            config(silences=[{**SILENCE, "matchers": ['service="db"', 'incident.priority="P5"']}]),
            "silences[0].matchers[1]: incident.priority is an incident field, but suppression "
            "happens before triage and can only match labels",
            id="silence-incident-field",
        ),
        pytest.param(
            config(
                inhibit_rules=[
                    {
                        "name": "r",
                        "source_matchers": ['incident.priority="P1"'],
                        "target_matchers": ['severity="warning"'],
                    }
                ]
            ),
            "inhibit_rules[0].source_matchers[0]: incident.priority is an incident field, "
            "but suppression happens before triage and can only match labels",
            id="inhibit-incident-field",
        ),
    ],
)
def test_validation_rule(data: dict[str, Any], expected: str) -> None:
    assert problems(data) == [expected]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            config(groups=group(channels=["chat", "pager"])),
            "groups[0].channels[1]: unknown channel 'pager'; known: chat, mail",
            id="group-channel",
        ),
        pytest.param(
            config(route=routes({"channels": ["sms"]})),
            "route.routes[0].channels[0]: unknown channel 'sms'; known: chat, mail",
            id="route-channel",
        ),
    ],
)
def test_unknown_channel_when_channels_are_known(data: dict[str, Any], expected: str) -> None:
    assert problems(data, channels=("chat", "mail")) == [expected]


def test_channels_are_not_checked_when_unknown() -> None:
    assert load_routing(config(route=routes({"channels": ["sms"]}))).tree.route_keys[1] == "root/0"


def test_all_problems_are_reported_at_once() -> None:
    data = config(
        route={"routes": [{"group": "nope"}]},
        groups=group(escalation_policy="gone"),
    )
    assert problems(data) == [
        "groups[0].escalation_policy: unknown escalation policy 'gone'; known: page",
        "route.group: the root route needs a group: it takes every incident no other route "
        "takes (a triage queue)",
        "route.routes[0].group: unknown resolver group 'nope'; known: triage",
    ]


# Shape rules are msgspec's; the error keeps its path so the caller can find the line.
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            config(route={"group": "triage", "routes": [{"contnue": True}]}),
            ConfigProblem(("route", "routes", 0), "Object contains unknown field `contnue`"),
            id="unknown-field",
        ),
        pytest.param(
            config(groups=[{"name": "db team"}]),
            ConfigProblem(
                ("groups", 0, "name"), "Expected `str` matching regex '^[A-Za-z][A-Za-z0-9_-]*$'"
            ),
            id="name-syntax",
        ),
        pytest.param(
            config(escalation_policies=[{"name": "page", "levels": []}]),
            ConfigProblem(("escalation_policies", 0, "levels"), "Expected `array` of length >= 1"),
            id="policy-without-levels",
        ),
        pytest.param(
            config(escalation_policies=[{**policy()[0], "repeat": -1}]),
            ConfigProblem(("escalation_policies", 0, "repeat"), "Expected `int` >= 0"),
            id="negative-repeat",
        ),
        pytest.param(
            config(model_fallback={"min_confidence": 1.5}),
            ConfigProblem(("model_fallback", "min_confidence"), "Expected `float` <= 1.0"),
            id="confidence-range",
        ),
        pytest.param(
            config(silences=[{**SILENCE, "starts_at": "2025-01-01T00:00:00"}]),
            ConfigProblem(
                ("silences", 0, "starts_at"), "Expected `datetime` with a timezone component"
            ),
            id="naive-datetime",
        ),
        pytest.param(
            config(groups=group(on_call={**ON_CALL, "handoff_time": 600})),
            ConfigProblem(("groups", 0, "on_call", "handoff_time"), "Expected `str`, got `int`"),
            id="unquoted-time",
        ),
        pytest.param(
            [],
            ConfigProblem((), "Expected `object`, got `array`"),
            id="not-a-mapping",
        ),
    ],
)
def test_schema_rule(data: object, expected: ConfigProblem) -> None:
    with pytest.raises(RoutingConfigError) as raised:
        parse_routing_config(data)
    assert raised.value.problems == (expected,)


def test_compile_silence_for_the_api() -> None:
    silence = compile_silence(SILENCE, SuppressionKind.SILENCE)
    assert (silence.id, silence.created_by, silence.ends_at - silence.starts_at) == (
        "s1",
        "alice",
        86400.0,
    )
    assert [str(matcher) for matcher in silence.matchers] == ['service="db"']


def test_compile_silence_reports_problems() -> None:
    with pytest.raises(RoutingConfigError) as raised:
        compile_silence({**SILENCE, "comment": ""}, SuppressionKind.SILENCE)
    assert raised.value.problems == (ConfigProblem(("comment",), "Expected `str` of length >= 1"),)
    with pytest.raises(RoutingConfigError) as raised:
        compile_silence({**SILENCE, "matchers": ['a=""']}, SuppressionKind.MAINTENANCE, ("body",))
    assert str(raised.value) == (
        "body.matchers: at least one matcher must not match an empty label value, "
        "or the maintenance would mute every alert"
    )


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "(document): broken"),
        (("route", "routes", 0, "group"), "route.routes[0].group: broken"),
        (("groups", 3), "groups[3]: broken"),
    ],
)
def test_problem_renders_its_path_like_the_daemon(path: tuple[str | int, ...], text: str) -> None:
    assert str(ConfigProblem(path, "broken")) == text
