"""Time periods in named zones (DST edges included), and duration parsing."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime

import pytest

from routing.durations import parse_duration
from routing.timeconditions import (
    TimePeriod,
    TimeRange,
    load_zone,
    parse_clock,
    parse_time_range,
    parse_weekdays,
)

BERLIN = load_zone("Europe/Berlin")


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def period(
    weekdays: str | None = None, times: tuple[str, ...] = (), holidays: tuple[date, ...] = ()
) -> TimePeriod:
    return TimePeriod(
        name="p",
        zone=BERLIN,
        weekdays=parse_weekdays(weekdays) if weekdays else frozenset(),
        times=tuple(parse_time_range(text) for text in times),
        holidays=frozenset(holidays),
    )


OFFICE = period("monday:friday", ("09:00-12:30", "13:30-18:00"), (date(2025, 12, 25),))


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # winter (CET, UTC+1): 09:00 local is 08:00Z
        ("2025-03-28T07:59:59Z", False),
        ("2025-03-28T08:00:00Z", True),
        ("2025-03-28T11:29:59Z", True),
        ("2025-03-28T11:30:00Z", False),  # lunch break, ranges are half-open
        ("2025-03-28T12:30:00Z", True),
        ("2025-03-28T16:59:59Z", True),
        ("2025-03-28T17:00:00Z", False),
        # the weekend in between, DST starts on Sunday 2025-03-30
        ("2025-03-29T10:00:00Z", False),
        # summer (CEST, UTC+2): the same wall-clock hours are an hour earlier in UTC
        ("2025-03-31T06:59:59Z", False),
        ("2025-03-31T07:00:00Z", True),
        ("2025-03-31T15:59:59Z", True),
        ("2025-03-31T16:00:00Z", False),
        # weekday is the local one: Sunday 23:30Z is Monday 01:30 in Berlin (not 09-18)
        ("2025-12-21T23:30:00Z", False),
        # holidays are local dates
        ("2025-12-25T10:00:00Z", False),
        ("2025-12-24T10:00:00Z", True),
    ],
)
def test_office_hours_in_berlin(instant: str, expected: bool) -> None:
    assert OFFICE.contains(at(instant)) is expected


def test_weekday_is_read_in_the_periods_zone() -> None:
    mondays = period("monday")
    assert mondays.contains(at("2025-03-30T22:30:00Z"))  # Monday 00:30 CEST
    assert not mondays.contains(at("2025-03-30T21:59:59Z"))  # Sunday 23:59:59 CEST


def test_skipped_hour_never_occurs_when_clocks_jump_forward() -> None:
    night = period("sunday", ("02:00-03:00",))
    minutes = [at("2025-03-30T00:00:00Z") + 60 * i for i in range(120)]
    assert [m for m in minutes if night.contains(m)] == []
    assert night.contains(at("2025-03-23T01:30:00Z"))  # a week earlier it exists


def test_repeated_hour_occurs_twice_when_clocks_fall_back() -> None:
    night = period("sunday", ("02:00-03:00",))
    assert night.contains(at("2025-10-26T00:30:00Z"))  # 02:30 CEST
    assert night.contains(at("2025-10-26T01:30:00Z"))  # 02:30 CET
    assert not night.contains(at("2025-10-26T02:00:00Z"))  # 03:00 CET
    assert not night.contains(at("2025-10-25T23:59:59Z"))  # 01:59:59 CEST


def test_period_without_days_or_times_is_always_on() -> None:
    assert period().contains(at("2025-01-01T00:00:00Z"))
    assert period().contains(at("2025-06-15T23:59:59Z"))


def test_range_up_to_midnight() -> None:
    late = period(times=("22:00-24:00",))
    assert late.contains(at("2025-01-01T22:59:59Z"))  # 23:59:59 CET
    assert not late.contains(at("2025-01-01T23:00:00Z"))  # 00:00 next day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monday", {0}),
        ("Sunday", {6}),
        ("monday:friday", {0, 1, 2, 3, 4}),
        ("saturday : sunday", {5, 6}),
    ],
)
def test_parse_weekdays(text: str, expected: set[int]) -> None:
    assert parse_weekdays(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("09:00-17:30", TimeRange(32400, 63000)), ("00:00-24:00", TimeRange(0, 86400))],
)
def test_parse_time_range(text: str, expected: TimeRange) -> None:
    assert parse_time_range(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_clock, "9:00", "invalid time of day '9:00': use HH:MM between 00:00 and 24:00"),
        (parse_clock, "24:01", "invalid time of day '24:01': use HH:MM between 00:00 and 24:00"),
        (
            parse_time_range,
            "09:00",
            "invalid time range '09:00': use HH:MM-HH:MM as in 09:00-17:30",
        ),
        (
            parse_time_range,
            "22:00-06:00",
            "invalid time range '22:00-06:00': the start must be before the end; "
            "split a range that crosses midnight in two",
        ),
        (
            parse_weekdays,
            "mon",
            "invalid weekday 'mon': use a day name or a range as in monday:friday",
        ),
        (
            parse_weekdays,
            "friday:monday",
            "invalid weekday range 'friday:monday': the range must run Monday to Sunday",
        ),
        (
            load_zone,
            "Europe/Atlantis",
            "unknown time zone 'Europe/Atlantis': use an IANA name such as Europe/Berlin",
        ),
        (
            load_zone,
            "../etc/passwd",
            "unknown time zone '../etc/passwd': use an IANA name such as Europe/Berlin",
        ),
    ],
)
def test_time_syntax_errors(parse: Callable[[str], object], text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0),
        ("90s", 90),
        ("5m", 300),
        ("1.5h", 5400),
        ("1h30m", 5400),
        ("2d", 172800),
        ("250ms", 0.25),
        ("1m5ms", 60.005),
        ("1w1d1h1m1s", 694861),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 m", "1m1h", "-5m", "5M", "1.h", "ms", "1h1h"])
def test_parse_duration_rejects(text: str) -> None:
    message = (
        f"invalid duration {text!r}: use numbers with units w, d, h, m, s or ms, "
        "largest first, as in 90s, 1.5h or 1h30m"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_duration(text)
