"""Service targets: how soon each priority must be responded to and resolved, and whether it was.

Two clocks run per incident, both from ``created_at`` (when triaged registered it):

- **respond** stops at the first acknowledgement, or at resolution if nobody acknowledged
  first (resolving is the most complete response there is);
- **resolve** stops at resolution (``resolved_at``), or at ``closed_at`` for a record closed
  without one (imported history has such records).

A clock counts only *working* time: all the time for a 24x7 target, or the hours of a
business calendar (weekdays, times of day and holidays in an IANA zone, as routing's time
periods are written), and never time during a *pause* (waiting on the customer or a
supplier), because the resolver cannot act then and a target should measure the resolver.

States: ``pending`` (running, under the at-risk fraction), ``at_risk`` (running, at least
``at_risk`` times the target used), ``breached`` (running past the due time, or stopped after it),
``met`` (stopped with no more than the target used; stopping exactly at the due time meets
it) and ``no_target`` (best effort). A running clock is breached from its due instant on,
so a scheduler timer set for ``next_change_at`` finds the change it was set for.

A reopened incident has no ``resolved_at`` again, so its resolve clock runs on from
creation; the time it was wrongly believed resolved counts, because users were affected.
Targets follow the incident's *current* priority, counted from creation.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Final

import msgspec

from routing.config import FieldPath
from routing.timeconditions import (
    TimePeriod,
    TimeRange,
    load_zone,
    parse_time_range,
    parse_weekdays,
)
from triage.incident import Incident, TimelineEntry
from triage.process.common import PRIORITIES, Priority, Problems, Section, format_duration, iso
from triage.process.record import Pause

# ---------------------------------------------------------------------------- config schema


class PriorityTargetConfig(Section, frozen=True):
    """Both omitted: best effort, no target."""

    respond: str | None = None
    resolve: str | None = None
    business_hours: bool = False  # count only the calendar's hours


class CalendarConfig(Section, frozen=True):
    time_zone: str
    weekdays: list[str] = msgspec.field(default_factory=lambda: ["monday:friday"])
    times: list[str] = msgspec.field(default_factory=lambda: ["09:00-17:00"])
    holidays: list[date] = []


DEFAULT_TARGETS: Final[dict[Priority, PriorityTargetConfig]] = {
    "P1": PriorityTargetConfig(respond="15m", resolve="4h"),
    "P2": PriorityTargetConfig(respond="30m", resolve="8h"),
    "P3": PriorityTargetConfig(respond="4h", resolve="3d"),
    "P4": PriorityTargetConfig(respond="1d", resolve="5d"),
    "P5": PriorityTargetConfig(),
}


class TargetsConfig(Section, frozen=True):
    """A priority left out keeps its default, so overriding P1 does not erase P2..P5."""

    at_risk: Annotated[float, msgspec.Meta(gt=0.0, lt=1.0)] = 0.75
    priorities: dict[Priority, PriorityTargetConfig] = {}
    calendar: CalendarConfig | None = None


# ---------------------------------------------------------------------------- compiled values


@dataclass(frozen=True, slots=True)
class Target:
    respond: float | None
    resolve: float | None
    calendar: TimePeriod | None  # None: 24x7


BEST_EFFORT: Final = Target(None, None, None)


@dataclass(frozen=True, slots=True)
class ServiceTargets:
    by_priority: Mapping[str, Target]
    at_risk: float
    calendar: TimePeriod | None  # the business calendar, also "office hours" for KPIs

    def for_priority(self, priority: str) -> Target:
        """An unknown priority is best effort rather than an error: the record exists and
        must still be reportable."""
        return self.by_priority.get(priority, BEST_EFFORT)


def compile_targets(
    cfg: TargetsConfig, problems: Problems, path: FieldPath = ()
) -> ServiceTargets | None:
    before = len(problems.found)
    calendar = (
        None if cfg.calendar is None else _calendar(cfg.calendar, problems, (*path, "calendar"))
    )
    by_priority: dict[str, Target] = {}
    for priority in PRIORITIES:
        spec = cfg.priorities.get(priority, DEFAULT_TARGETS[priority])
        where = (*path, "priorities", priority)
        respond = problems.duration((*where, "respond"), spec.respond)
        resolve = problems.duration((*where, "resolve"), spec.resolve)
        if respond is not None and resolve is not None and respond > resolve:
            problems.add(where, "the respond target must not be longer than the resolve target")
        if spec.business_hours and cfg.calendar is None:
            problems.add((*where, "business_hours"), "needs a calendar under targets.calendar")
        by_priority[priority] = Target(respond, resolve, calendar if spec.business_hours else None)
    if len(problems.found) > before:
        return None
    return ServiceTargets(by_priority, cfg.at_risk, calendar)


def _calendar(cfg: CalendarConfig, problems: Problems, path: FieldPath) -> TimePeriod | None:
    zone = problems.parse((*path, "time_zone"), load_zone, cfg.time_zone)
    days = [
        problems.parse((*path, "weekdays", i), parse_weekdays, d)
        for i, d in enumerate(cfg.weekdays)
    ]
    times = [
        problems.parse((*path, "times", i), parse_time_range, t) for i, t in enumerate(cfg.times)
    ]
    if zone is None or None in days or None in times:
        return None
    weekdays = frozenset().union(*(d for d in days if d is not None))
    ranges = tuple(t for t in times if t is not None)
    return TimePeriod("business-hours", zone, weekdays, ranges, frozenset(cfg.holidays))


def default_targets() -> ServiceTargets:
    """The shipped targets (24x7, no calendar)."""
    problems = Problems()
    compiled = compile_targets(TargetsConfig(), problems)
    problems.raise_any()
    assert compiled is not None
    return compiled


# ---------------------------------------------------------------------------- working time


_MAX_IDLE_DAYS = 800  # a calendar with no working day in this long is a config error


def working_intervals(calendar: TimePeriod | None, start: float) -> Iterator[tuple[float, float]]:
    """Working time from ``start`` on, as ascending disjoint ``[a, b)`` UTC intervals.

    Days are walked on the calendar's wall clock, so a 09:00-17:00 day is 8 hours on any
    date and the UTC offset change of daylight saving needs no special case.
    """
    if calendar is None:
        yield start, math.inf
        return
    day = datetime.fromtimestamp(start, tz=calendar.zone).date()
    idle = 0
    while True:
        spans = _day_spans(calendar, day)
        for a, b in spans:
            if b > start:
                yield max(a, start), b
        idle = 0 if spans else idle + 1
        if idle > _MAX_IDLE_DAYS:
            raise ValueError(f"calendar {calendar.name} has no working time")
        day += timedelta(days=1)


def _day_spans(calendar: TimePeriod, day: date) -> list[tuple[float, float]]:
    if day in calendar.holidays or (calendar.weekdays and day.weekday() not in calendar.weekdays):
        return []
    ranges = sorted(calendar.times or [TimeRange(0, 86400)], key=lambda r: (r.start, r.end))
    midnight = datetime(day.year, day.month, day.day, tzinfo=calendar.zone)
    spans: list[tuple[float, float]] = []
    for r in ranges:  # merged, so overlapping ranges do not count twice
        a = (midnight + timedelta(seconds=r.start)).timestamp()
        b = (midnight + timedelta(seconds=r.end)).timestamp()
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        elif b > a:
            spans.append((a, b))
    return spans


def _merged(pauses: Sequence[Pause]) -> list[tuple[float, float]]:
    spans = sorted((p.start, math.inf if p.end is None else p.end) for p in pauses)
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        elif b > a:
            merged.append((a, b))
    return merged


def counting_intervals(
    calendar: TimePeriod | None, start: float, pauses: Sequence[Pause]
) -> Iterator[tuple[float, float]]:
    """Working time from ``start`` minus pauses; ends at the start of an open pause."""
    paused = _merged(pauses)
    i = 0
    for a, b in working_intervals(calendar, start):
        cur = a
        while i < len(paused) and paused[i][1] <= cur:
            i += 1
        j = i
        while j < len(paused) and paused[j][0] < b:
            ps, pe = paused[j]
            if ps > cur:
                yield cur, ps
            cur = max(cur, pe)
            if cur >= b:
                break
            j += 1
        if math.isinf(cur):
            return
        if cur < b:
            yield cur, b


def elapsed(
    calendar: TimePeriod | None, start: float, until: float, pauses: Sequence[Pause] = ()
) -> float:
    """Counting seconds in ``[start, until)``."""
    total = 0.0
    for a, b in counting_intervals(calendar, start, pauses):
        if a >= until:
            break
        total += min(b, until) - a
    return total


def instant_after(
    calendar: TimePeriod | None, start: float, amount: float, pauses: Sequence[Pause] = ()
) -> float | None:
    """When ``amount`` counting seconds after ``start`` will have passed; None while an open
    pause stops the clock first (the due time is unknown until the pause ends)."""
    left = amount
    for a, b in counting_intervals(calendar, start, pauses):
        if b - a >= left:
            return a + left
        left -= b - a
    return None


# ---------------------------------------------------------------------------- target status


class ClockState(enum.StrEnum):
    PENDING = "pending"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"
    NO_TARGET = "no_target"


class Clock(msgspec.Struct, frozen=True):
    state: ClockState
    target: float | None  # seconds of counting time allowed
    elapsed: float  # counting seconds used, up to the stop or ``now``
    due_at: float | None  # None: best effort, or paused before reaching it
    at_risk_at: float | None
    stopped_at: float | None
    paused: bool = False


class TargetStatus(msgspec.Struct, frozen=True):
    respond: Clock
    resolve: Clock


class IncidentTimes(msgspec.Struct, frozen=True):
    """The times the clocks need; a plain value so imported records work as well.

    ``first_response_at`` is the first acknowledgement or resolution ever: a reopen clears
    the record's ``acknowledged_at``, but the response that was given stays given.
    """

    priority: str
    created_at: float
    acknowledged_at: float | None = None
    resolved_at: float | None = None
    closed_at: float | None = None
    first_response_at: float | None = None

    @property
    def resolve_stop(self) -> float | None:
        return self.resolved_at if self.resolved_at is not None else self.closed_at

    @property
    def respond_stop(self) -> float | None:
        stops = [
            t
            for t in (self.first_response_at, self.acknowledged_at, self.resolve_stop)
            if t is not None
        ]
        return min(stops) if stops else None


def incident_times(incident: Incident, timeline: Sequence[TimelineEntry]) -> IncidentTimes:
    """The clocks' times of a live incident, the first response taken from its timeline."""
    responses = [e.at for e in timeline if e.kind in ("acknowledge", "resolve")]
    return IncidentTimes(
        priority=incident.priority,
        created_at=incident.created_at,
        acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        first_response_at=min(responses, default=None),
    )


def target_status(
    times: IncidentTimes, pauses: Sequence[Pause], now: float, targets: ServiceTargets
) -> TargetStatus:
    """Both clocks of one incident as of ``now``."""
    target = targets.for_priority(times.priority)
    return TargetStatus(
        respond=_clock(target.respond, target, times, times.respond_stop, pauses, now, targets),
        resolve=_clock(target.resolve, target, times, times.resolve_stop, pauses, now, targets),
    )


def _clock(
    allowed: float | None,
    target: Target,
    times: IncidentTimes,
    stop: float | None,
    pauses: Sequence[Pause],
    now: float,
    targets: ServiceTargets,
) -> Clock:
    stopped_at = stop if stop is not None and stop <= now else None
    until = now if stopped_at is None else stopped_at
    known = [p for p in pauses if p.start < until]
    used = elapsed(target.calendar, times.created_at, until, known)
    paused = stopped_at is None and any(
        p.start <= now and (p.end is None or p.end > now) for p in known
    )
    if allowed is None:
        return Clock(ClockState.NO_TARGET, None, used, None, None, stopped_at, paused)
    due_at = instant_after(target.calendar, times.created_at, allowed, known)
    risk_at = instant_after(target.calendar, times.created_at, allowed * targets.at_risk, known)
    if stopped_at is not None:
        state = ClockState.MET if used <= allowed else ClockState.BREACHED
    elif due_at is not None and now >= due_at:
        state = ClockState.BREACHED
    elif risk_at is not None and now >= risk_at:
        state = ClockState.AT_RISK
    else:
        state = ClockState.PENDING
    return Clock(state, allowed, used, due_at, risk_at, stopped_at, paused)


def next_change_at(status: TargetStatus) -> float | None:
    """The earliest instant either clock changes state by time alone, for one scheduler timer.

    None when nothing is due: both clocks stopped, best effort, or paused (the end of a
    pause is an event the shell handles, and it re-evaluates then).
    """
    due = [
        instant
        for clock in (status.respond, status.resolve)
        for instant in (
            clock.at_risk_at if clock.state is ClockState.PENDING else None,
            clock.due_at if clock.state in (ClockState.PENDING, ClockState.AT_RISK) else None,
        )
        if instant is not None
    ]
    return min(due) if due else None


class TargetChange(msgspec.Struct, frozen=True):
    """A clock that turned at risk or breached since the last evaluation."""

    clock: str  # "respond" | "resolve"
    state: ClockState
    due_at: float | None
    target: float | None

    @property
    def escalate(self) -> bool:
        """A breach escalates; being at risk only warns."""
        return self.state is ClockState.BREACHED


_RANK = {ClockState.PENDING: 0, ClockState.AT_RISK: 1, ClockState.BREACHED: 2}
CLOCKS: Final = ("respond", "resolve")


def clock_states(status: TargetStatus) -> dict[str, str]:
    """What to record of an evaluation, so the next one reports only what changed since."""
    return {name: str(getattr(status, name).state) for name in CLOCKS}


def target_changes(before: Mapping[str, str] | None, after: TargetStatus) -> list[TargetChange]:
    """At-risk and breach transitions to record (timeline, metrics) and act on (escalate).

    ``before`` is ``clock_states`` of the last evaluation (None or missing clocks: none
    yet). Only worsening counts: a clock that stops ``met`` needs no entry, and a clock
    seen breached before is not reported again on every evaluation. ``met`` and
    ``no_target`` before rank like ``pending``, so a reopened incident that then runs late
    is reported.
    """
    changes: list[TargetChange] = []
    for name in CLOCKS:
        now_clock: Clock = getattr(after, name)
        recorded = (before or {}).get(name, ClockState.PENDING)
        old_rank = _RANK.get(ClockState(recorded), 0)
        new_rank = _RANK.get(now_clock.state, 0)
        if new_rank >= 1 and new_rank > old_rank:
            changes.append(TargetChange(name, now_clock.state, now_clock.due_at, now_clock.target))
    return changes


def change_entry(change: TargetChange, *, now: float, actor: str) -> TimelineEntry:
    words = "at risk" if change.state is ClockState.AT_RISK else "breached"
    return TimelineEntry(
        at=now,
        kind="target",
        actor=actor,
        message=f"{change.clock} target ({format_duration(change.target)}) {words};"
        f" due {iso(change.due_at)}",
        data={
            "clock": change.clock,
            "state": str(change.state),
            "due_at": change.due_at,
            "target": change.target,
        },
    )
