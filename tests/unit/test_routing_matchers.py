"""Matchers: every operator on labels and incident fields, Alertmanager's semantics."""

from __future__ import annotations

import re

import pytest

from routing.matchers import IncidentField, MatchOp, Subject, matches_all, parse_matcher

LABELS = {"severity": "critical", "service": "label-svc", "path": 'a"b\\c', "empty": ""}
SUBJECT = Subject(
    labels=LABELS,
    category="network",
    priority="P2",
    service="payments",
    source="alertmanager",
    procedure="standard",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # = and != on labels; a missing label reads as ""
        ('severity="critical"', True),
        ('severity="warning"', False),
        ("severity=critical", True),
        ('severity!="warning"', True),
        ('severity!="critical"', False),
        ('team!="db"', True),
        ('team=""', True),
        ('severity=""', False),
        ('empty=""', True),
        ('team="db"', False),
        # =~ and !~ are anchored at both ends, alternatives included
        ('severity=~"crit.*"', True),
        ('severity=~"crit"', False),
        ('severity=~"itica"', False),
        ('severity=~"warning|critical"', True),
        ('severity=~"warning|crit"', False),
        ('severity!~"warn.*"', True),
        ('severity!~"crit.*"', False),
        ('team=~".*"', True),
        ('team=~".+"', False),
        ('team!~".+"', True),
        # quoting: \" and \\ unescape, other backslashes stay for regexes
        (r'path="a\"b\\c"', True),
        (r'severity=~"\w+"', True),
        (r'severity=~"\d+"', False),
        # incident fields, each one, and labels never shadow them
        ('incident.category="network"', True),
        ('incident.priority=~"P[12]"', True),
        ('incident.priority!="P2"', False),
        ('incident.service="payments"', True),
        ('incident.service="label-svc"', False),
        ('service="label-svc"', True),
        ('incident.source!~"grafana|zabbix"', True),
        ('incident.procedure="standard"', True),
        ('incident.procedure="major"', False),
        # whitespace around the parts is allowed
        ('  severity  =~  "crit.*"  ', True),
    ],
)
def test_matcher_table(text: str, expected: bool) -> None:
    assert parse_matcher(text).matches(SUBJECT) is expected


def test_matcher_fields_are_all_reachable() -> None:
    fields = {parse_matcher(f'incident.{field}=""').field for field in IncidentField}
    assert fields == set(IncidentField)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "severity",
            "cannot parse matcher 'severity': expected name, one of = != =~ !~, and a value",
        ),
        (
            '1abc="x"',
            "cannot parse matcher '1abc=\"x\"': expected name, one of = != =~ !~, and a value",
        ),
        ('a="x', "cannot parse matcher 'a=\"x': unterminated quoted value"),
        ('a="x\\"', "cannot parse matcher 'a=\"x\\\\\"': unterminated quoted value"),
        ('a="x"y"', 'cannot parse matcher \'a="x"y"\': unescaped quote in value'),
        ('a=x"y', "cannot parse matcher 'a=x\"y': stray quote in value"),
        (
            'a=~"(x"',
            "invalid regular expression '(x': missing ), unterminated subpattern at position 0",
        ),
        (
            'incident.owner="x"',
            "unknown field 'incident.owner': label names have no dot; incident fields are "
            "incident.category, incident.priority, incident.procedure, incident.service, "
            "incident.source",
        ),
        (
            'labels.team="x"',
            "unknown field 'labels.team': label names have no dot; incident fields are "
            "incident.category, incident.priority, incident.procedure, incident.service, "
            "incident.source",
        ),
    ],
)
def test_matcher_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_matcher(text)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("a=b", MatchOp.EQUAL, "b"),
        ('a!=""', MatchOp.NOT_EQUAL, ""),
        ('a=~"x=~y"', MatchOp.REGEX, "x=~y"),
        ('a!~"!="', MatchOp.NOT_REGEX, "!="),
    ],
)
def test_operator_is_read_longest_first(text: str, op: MatchOp, value: str) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == ("a", op, value)


@pytest.mark.parametrize("text", ['a="x"', r'a=~"q\"uo\\te"', 'incident.priority!~"P[45]"'])
def test_str_round_trips(text: str) -> None:
    matcher = parse_matcher(text)
    again = parse_matcher(str(matcher))
    assert (again.name, again.op, again.value) == (matcher.name, matcher.op, matcher.value)


def test_matcher_list_is_a_conjunction() -> None:
    both = [parse_matcher('severity="critical"'), parse_matcher('incident.priority="P2"')]
    one_wrong = [*both, parse_matcher('team="db"')]
    assert matches_all(both, SUBJECT)
    assert not matches_all(one_wrong, SUBJECT)
    assert matches_all([], SUBJECT)
