"""Resolver groups and who in them is on call.

A group is the unit routing assigns incidents to: it owns notification channels, a default
escalation policy and, optionally, an on-call rotation. Hand-offs happen at a wall-clock time
in the rotation's time zone ("Mondays at 09:00 in Berlin"), so shifts are counted in calendar
days, not in multiples of 86 400 seconds: across a daylight-saving change a shift is 23 or 25
hours long and the hand-off still happens at 09:00 local time. A hand-off time that does not
exist on the day clocks jump forward happens at the same offset as before the jump (02:30
becomes 03:30); one that occurs twice on the day clocks fall back happens the first time.

Overrides cover holidays and swaps: while one is active its person is on call instead of the
rotation's; when overrides overlap, the one listed last wins.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from routing.timeconditions import local_time


class Handoff(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"

    @property
    def days(self) -> int:
        return 1 if self is Handoff.DAILY else 7


@dataclass(frozen=True, slots=True)
class Override:
    person: str
    starts_at: float
    ends_at: float

    def covers(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True, slots=True)
class Shift:
    person: str
    starts_at: float
    ends_at: float


@dataclass(frozen=True, slots=True)
class Rotation:
    """Members take turns in list order; the first shift starts on ``start`` at the hand-off
    time, and for weekly rotations ``start``'s weekday is the hand-off weekday."""

    members: tuple[str, ...]
    handoff: Handoff
    handoff_time: time
    start: date
    zone: ZoneInfo

    def shift_at(self, now: float) -> Shift | None:
        """The shift covering ``now``, or None before the first hand-off."""
        period = self.handoff.days
        index = (local_time(now, self.zone).date() - self.start).days // period
        if self._handoff_at(index) > now:
            index -= 1
        if index < 0:
            return None
        return Shift(
            person=self.members[index % len(self.members)],
            starts_at=self._handoff_at(index),
            ends_at=self._handoff_at(index + 1),
        )

    def _handoff_at(self, index: int) -> float:
        day = self.start + timedelta(days=index * self.handoff.days)
        return datetime.combine(day, self.handoff_time, tzinfo=self.zone).timestamp()


@dataclass(frozen=True, slots=True)
class ResolverGroup:
    name: str
    channels: tuple[str, ...]
    escalation_policy: str | None
    rotation: Rotation | None
    overrides: tuple[Override, ...]


class OnCallSource(enum.StrEnum):
    """Why a person (or nobody) is on call, so notifications and traces can say so."""

    OVERRIDE = "override"
    ROTATION = "rotation"
    ROTATION_NOT_STARTED = "rotation_not_started"
    NO_ROTATION = "no_rotation"


class OnCall(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to "who is on call".

    ``person`` is None when the group has nobody on call, in which case only the group's
    channels are notified. ``since`` and ``until`` bound the shift or override that put the
    person on call, for display in notifications and traces.
    """

    group: str
    person: str | None
    source: OnCallSource
    since: float | None = None
    until: float | None = None


def who_is_on_call(group: ResolverGroup, now: float) -> OnCall:
    """The person on call for ``group`` at UTC epoch second ``now``."""
    for override in reversed(group.overrides):
        if override.covers(now):
            return OnCall(
                group=group.name,
                person=override.person,
                source=OnCallSource.OVERRIDE,
                since=override.starts_at,
                until=override.ends_at,
            )
    if group.rotation is None:
        return OnCall(group=group.name, person=None, source=OnCallSource.NO_ROTATION)
    shift = group.rotation.shift_at(now)
    if shift is None:
        return OnCall(group=group.name, person=None, source=OnCallSource.ROTATION_NOT_STARTED)
    return OnCall(
        group=group.name,
        person=shift.person,
        source=OnCallSource.ROTATION,
        since=shift.starts_at,
        until=shift.ends_at,
    )
