"""Time periods: when a route applies, read on the wall clock of a named time zone.

Teams think in local office hours, not UTC, and those hours shift against UTC twice a year.
So a period is defined by weekdays, times of day and holidays in an IANA time zone, and every
check converts the UTC instant to that zone first. Daylight-saving changes then need no
special case: on the day clocks jump forward the skipped hour never occurs on the wall clock,
and on the day they fall back the repeated hour occurs twice, both times inside the period.

A time range is half-open, ``[start, end)``, at second precision; ``24:00`` ends a range at
midnight. A range may not cross midnight because it would be unclear which weekday the part
after midnight belongs to; write two ranges instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"(?P<hour>[01]\d|2[0-4]):(?P<minute>[0-5]\d)")
_DAY_SECONDS = 86400


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; raises ``ValueError`` for names the zone database lacks."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None


def local_time(now: float, zone: ZoneInfo) -> datetime:
    """The wall-clock time in ``zone`` at UTC epoch second ``now``."""
    return datetime.fromtimestamp(now, tz=zone)


def parse_clock(text: str) -> int:
    """Seconds after midnight for ``HH:MM`` (``24:00`` allowed as the end of a day)."""
    found = _CLOCK.fullmatch(text)
    seconds = 0 if found is None else int(found["hour"]) * 3600 + int(found["minute"]) * 60
    if found is None or seconds > _DAY_SECONDS:
        raise ValueError(f"invalid time of day {text!r}: use HH:MM between 00:00 and 24:00")
    return seconds


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Seconds after local midnight, half-open."""

    start: int
    end: int

    def contains(self, second_of_day: float) -> bool:
        return self.start <= second_of_day < self.end


def parse_time_range(text: str) -> TimeRange:
    """``HH:MM-HH:MM`` with the start before the end."""
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise ValueError(f"invalid time range {text!r}: use HH:MM-HH:MM as in 09:00-17:30")
    start, end = parse_clock(start_text.strip()), parse_clock(end_text.strip())
    if start >= end:
        raise ValueError(
            f"invalid time range {text!r}: the start must be before the end; "
            "split a range that crosses midnight in two"
        )
    return TimeRange(start, end)


def parse_weekdays(text: str) -> frozenset[int]:
    """A weekday (``monday``) or an inclusive range (``monday:friday``), Monday being 0."""
    first, colon, last = (part.strip().lower() for part in text.partition(":"))
    if first not in WEEKDAYS or (colon and last not in WEEKDAYS):
        raise ValueError(f"invalid weekday {text!r}: use a day name or a range as in monday:friday")
    start = WEEKDAYS.index(first)
    end = WEEKDAYS.index(last) if colon else start
    if end < start:
        raise ValueError(f"invalid weekday range {text!r}: the range must run Monday to Sunday")
    return frozenset(range(start, end + 1))


@dataclass(frozen=True, slots=True)
class TimePeriod:
    """A named recurring period such as business hours.

    An empty ``weekdays`` set means every day and an empty ``times`` tuple means all day;
    ``holidays`` are local dates on which the period does not apply at all.
    """

    name: str
    zone: ZoneInfo
    weekdays: frozenset[int]
    times: tuple[TimeRange, ...]
    holidays: frozenset[date]

    def contains(self, now: float) -> bool:
        local = local_time(now, self.zone)
        if local.date() in self.holidays:
            return False
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return not self.times or any(span.contains(second) for span in self.times)


def any_contains(periods: Iterable[TimePeriod], now: float) -> bool:
    return any(period.contains(now) for period in periods)
