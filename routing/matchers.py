"""Matchers: one comparison of a label or incident field against a literal or a pattern.

The semantics follow Alertmanager so that operators can paste matchers from an existing
configuration and get the same answers:

- a label the subject does not carry reads as the empty string, so ``team!="db"`` matches
  an alert without a ``team`` label and ``team=""`` matches exactly those alerts;
- a regular expression must match the whole value (it is anchored at both ends), so
  ``severity=~"crit"`` does not match ``critical``.

Incident fields are addressed as ``incident.<field>``. Prometheus label names cannot contain
a dot, so a label called ``service`` and the incident's ``service`` field never shadow each
other. Regular expressions use Python's ``re`` syntax and are compiled once, when the
configuration is compiled, so a bad pattern is a configuration error rather than a runtime one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec


class MatchOp(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class IncidentField(enum.StrEnum):
    """Incident fields a route may match on, besides labels."""

    CATEGORY = "category"
    PRIORITY = "priority"
    SERVICE = "service"
    SOURCE = "source"
    PROCEDURE = "procedure"


FIELD_PREFIX = "incident."


class Subject(msgspec.Struct, frozen=True, kw_only=True):
    """What matchers look at: labels plus the incident fields triage decided.

    At the suppress stage only labels are known, so the fields default to empty strings;
    configuration validation keeps incident-field matchers out of silences and inhibition
    rules for that reason.
    """

    labels: Mapping[str, str]
    category: str = ""
    priority: str = ""
    service: str = ""
    source: str = ""
    procedure: str = ""

    def field(self, name: IncidentField) -> str:
        value: str = getattr(self, name.value)
        return value


@dataclass(frozen=True, slots=True)
class Matcher:
    """A compiled matcher; build it with :func:`parse_matcher`."""

    name: str
    op: MatchOp
    value: str
    field: IncidentField | None
    pattern: re.Pattern[str] | None

    def matches(self, subject: Subject) -> bool:
        actual = (
            subject.labels.get(self.name, "") if self.field is None else subject.field(self.field)
        )
        if self.pattern is None:
            return (actual == self.value) is (self.op is MatchOp.EQUAL)
        return (self.pattern.fullmatch(actual) is not None) is (self.op is MatchOp.REGEX)

    @property
    def is_label(self) -> bool:
        return self.field is None

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def matches_all(matchers: Iterable[Matcher], subject: Subject) -> bool:
    """A matcher list is a conjunction; the empty list matches everything."""
    return all(matcher.matches(subject) for matcher in matchers)


# The operator alternatives are ordered longest first so that "=~" is never read as "=".
_SYNTAX = re.compile(
    r"\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*"
    r"(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*"
)
_FIELD_NAMES = frozenset(field.value for field in IncidentField)
_QUALIFIED_FIELDS = ", ".join(sorted(FIELD_PREFIX + name for name in _FIELD_NAMES))


def parse_matcher(text: str) -> Matcher:
    """Parse ``name op value`` where value is bare or double-quoted.

    Inside quotes, ``\\"`` is a quote and ``\\\\`` a backslash; any other backslash is kept
    as written so that regular expressions such as ``"5\\d\\d"`` need no double escaping.
    Raises ``ValueError`` with a message fit for an operator.
    """
    found = _SYNTAX.fullmatch(text)
    if found is None:
        raise ValueError(
            f"cannot parse matcher {text!r}: expected name, one of = != =~ !~, and a value"
        )
    name, op, value = found["name"], MatchOp(found["op"]), _unquote(found["value"], text)
    field = _field_of(name)
    pattern = _compile_pattern(value) if op in (MatchOp.REGEX, MatchOp.NOT_REGEX) else None
    return Matcher(name=name, op=op, value=value, field=field, pattern=pattern)


def _field_of(name: str) -> IncidentField | None:
    if "." not in name:
        return None
    prefix, _, field = name.partition(".")
    if f"{prefix}." != FIELD_PREFIX or field not in _FIELD_NAMES:
        raise ValueError(
            f"unknown field {name!r}: label names have no dot; incident fields are "
            f"{_QUALIFIED_FIELDS}"
        )
    return IncidentField(field)


def _unquote(raw: str, text: str) -> str:
    if not raw.startswith('"'):
        if '"' in raw:
            raise ValueError(f"cannot parse matcher {text!r}: stray quote in value")
        return raw
    out: list[str] = []
    i = 1
    while i < len(raw):
        char = raw[i]
        if char == "\\" and raw[i + 1 : i + 2] in ('"', "\\"):
            out.append(raw[i + 1])
            i += 2
        elif char != '"':
            out.append(char)
            i += 1
        elif i == len(raw) - 1:
            return "".join(out)
        else:
            raise ValueError(f"cannot parse matcher {text!r}: unescaped quote in value")
    raise ValueError(f"cannot parse matcher {text!r}: unterminated quoted value")


def _compile_pattern(value: str) -> re.Pattern[str]:
    # No explicit anchors: Matcher uses fullmatch, which anchors every alternative too.
    try:
        return re.compile(value)
    except re.error as error:
        raise ValueError(f"invalid regular expression {value!r}: {error}") from None
