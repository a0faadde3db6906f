"""Building blocks shared by the process modules: priorities, config base, problems, times.

Config problems use routing's ``ConfigProblem`` (a path of keys and list indexes plus a
message) so the daemon can point at the YAML line exactly as it does for the routing file,
and durations use routing's parser so every duration in triaged is spelt the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final, Literal, TypeVar

import msgspec

from routing.config import ConfigProblem, FieldPath
from routing.durations import parse_duration

Priority = Literal["P1", "P2", "P3", "P4", "P5"]
PRIORITIES: Final = ("P1", "P2", "P3", "P4", "P5")

_T = TypeVar("_T")


class Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Base of the process config schemas: unknown keys are errors, so a typo such as
    ``reviw_required`` cannot silently fall back to a default."""


class ProcessConfigError(ValueError):
    """One or more problems in the ``process`` configuration, each naming its field."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class UnknownItem(LookupError):
    """No checklist step or follow-up with that id on the incident (an API 404);
    ``field`` names the request field that named it."""

    def __init__(self, message: str, *, field: str) -> None:
        self.field = field
        super().__init__(message)


class InvalidInput(ValueError):
    """A request the process refuses for what it says, not for the incident's state (an
    API 400); ``field`` names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class Problems:
    """Collects every problem of one compilation, so an operator fixes them in one round."""

    def __init__(self) -> None:
        self.found: list[ConfigProblem] = []

    def add(self, path: FieldPath, message: str) -> None:
        self.found.append(ConfigProblem(path, message))

    def parse(self, path: FieldPath, parser: Callable[[str], _T], text: str) -> _T | None:
        try:
            return parser(text)
        except ValueError as error:
            self.add(path, str(error))
            return None

    def duration(self, path: FieldPath, text: str | None) -> float | None:
        """Seconds of an optional duration; a zero or unparsable one is recorded."""
        if text is None:
            return None
        value = self.parse(path, parse_duration, text)
        if value is not None and value <= 0:
            self.add(path, f"duration {text!r} must be longer than zero")
            return None
        return value

    def raise_any(self) -> None:
        if self.found:
            raise ProcessConfigError(self.found)


def format_duration(seconds: float | None) -> str:
    """``2d 4h``, ``3h 12m``, ``45m``, ``30s``: the two largest units, for tables and reviews.

    ``-`` stands for no value, so an empty column reads as "nothing measured", not as zero.
    """
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    rest = round(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count or (unit == "s" and not parts):
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return sign + " ".join(parts)


def iso(at: float | None) -> str:
    """UTC ISO 8601 with a ``Z``, as the incident API writes times; ``-`` for none."""
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
