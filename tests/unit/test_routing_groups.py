"""On-call rotations: daily and weekly hand-offs in a named zone, DST, overrides."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from routing.groups import (
    Handoff,
    OnCall,
    OnCallSource,
    Override,
    ResolverGroup,
    Rotation,
    who_is_on_call,
)
from routing.timeconditions import load_zone

BERLIN = load_zone("Europe/Berlin")


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def group(rotation: Rotation | None, *overrides: Override) -> ResolverGroup:
    return ResolverGroup(
        name="db",
        channels=("slack-db",),
        escalation_policy=None,
        rotation=rotation,
        overrides=overrides,
    )


# Mondays 09:00 Berlin; 2025-01-06 is a Monday.
WEEKLY = Rotation(("ann", "bob", "cat"), Handoff.WEEKLY, time(9), date(2025, 1, 6), BERLIN)
DAILY = Rotation(("ann", "bob"), Handoff.DAILY, time(9), date(2025, 3, 1), BERLIN)


@pytest.mark.parametrize(
    ("instant", "person"),
    [
        ("2025-01-06T07:59:59Z", None),  # before the first shift
        ("2025-01-06T08:00:00Z", "ann"),  # 09:00 CET
        ("2025-01-13T07:59:59Z", "ann"),
        ("2025-01-13T08:00:00Z", "bob"),
        ("2025-01-20T08:00:00Z", "cat"),
        ("2025-01-27T08:00:00Z", "ann"),  # wraps around
        # 2025-03-31 is the first Monday in summer time: hand-off at 09:00 CEST = 07:00Z
        ("2025-03-31T06:59:59Z", "cat"),
        ("2025-03-31T07:00:00Z", "ann"),
        # and back to winter time after 2025-10-26
        ("2025-10-27T07:59:59Z", "cat"),
        ("2025-10-27T08:00:00Z", "ann"),
    ],
)
def test_weekly_rotation(instant: str, person: str | None) -> None:
    assert who_is_on_call(group(WEEKLY), at(instant)).person == person


def test_weekly_shift_bounds_follow_local_hand_off_time() -> None:
    answer = who_is_on_call(group(WEEKLY), at("2025-03-31T12:00:00Z"))
    assert answer == OnCall(
        group="db",
        person="ann",
        source=OnCallSource.ROTATION,
        since=at("2025-03-31T07:00:00Z"),
        until=at("2025-04-07T07:00:00Z"),
    )


def test_daily_shift_across_spring_forward_is_23_hours() -> None:
    answer = who_is_on_call(group(DAILY), at("2025-03-29T20:00:00Z"))
    assert answer.since == at("2025-03-29T08:00:00Z")
    assert answer.until == at("2025-03-30T07:00:00Z")


def test_daily_shift_across_fall_back_is_25_hours() -> None:
    answer = who_is_on_call(group(DAILY), at("2025-10-26T05:00:00Z"))
    assert answer.since == at("2025-10-25T07:00:00Z")
    assert answer.until == at("2025-10-26T08:00:00Z")


@pytest.mark.parametrize(
    ("instant", "person"),
    [
        ("2025-03-01T08:00:00Z", "ann"),
        ("2025-03-02T08:00:00Z", "bob"),
        ("2025-03-30T06:59:59Z", "ann"),  # shift 28 (ann) runs until 09:00 CEST
        ("2025-03-30T07:00:00Z", "bob"),
    ],
)
def test_daily_rotation(instant: str, person: str) -> None:
    assert who_is_on_call(group(DAILY), at(instant)).person == person


def test_hand_off_in_the_skipped_hour_happens_at_the_shifted_time() -> None:
    night = Rotation(("ann", "bob"), Handoff.DAILY, time(2, 30), date(2025, 3, 1), BERLIN)
    answer = who_is_on_call(group(night), at("2025-03-30T12:00:00Z"))
    assert answer.since == at("2025-03-30T01:30:00Z")  # 03:30 CEST


OVERRIDE = Override("dan", at("2025-02-03T08:00:00Z"), at("2025-02-05T08:00:00Z"))
SWAP = Override("eve", at("2025-02-04T08:00:00Z"), at("2025-02-04T20:00:00Z"))


@pytest.mark.parametrize(
    ("instant", "person", "source"),
    [
        ("2025-02-03T07:59:59Z", "ann", OnCallSource.ROTATION),
        ("2025-02-03T08:00:00Z", "dan", OnCallSource.OVERRIDE),
        ("2025-02-04T08:00:00Z", "eve", OnCallSource.OVERRIDE),  # listed last, wins
        ("2025-02-04T20:00:00Z", "dan", OnCallSource.OVERRIDE),
        ("2025-02-05T08:00:00Z", "bob", OnCallSource.ROTATION),  # end is exclusive
    ],
)
def test_overrides_replace_the_rotation(instant: str, person: str, source: OnCallSource) -> None:
    answer = who_is_on_call(group(WEEKLY, OVERRIDE, SWAP), at(instant))
    assert (answer.person, answer.source) == (person, source)


def test_override_reports_its_bounds() -> None:
    answer = who_is_on_call(group(WEEKLY, OVERRIDE), at("2025-02-04T00:00:00Z"))
    assert (answer.since, answer.until) == (OVERRIDE.starts_at, OVERRIDE.ends_at)


@pytest.mark.parametrize(
    ("rotation", "instant", "source"),
    [
        (None, "2025-02-04T00:00:00Z", OnCallSource.NO_ROTATION),
        (WEEKLY, "2025-01-01T00:00:00Z", OnCallSource.ROTATION_NOT_STARTED),
    ],
)
def test_nobody_on_call_says_why(
    rotation: Rotation | None, instant: str, source: OnCallSource
) -> None:
    assert who_is_on_call(group(rotation), at(instant)) == OnCall(
        group="db", person=None, source=source
    )


def test_override_without_rotation() -> None:
    assert who_is_on_call(group(None, OVERRIDE), at("2025-02-04T00:00:00Z")).person == "dan"
