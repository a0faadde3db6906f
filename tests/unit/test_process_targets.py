"""Service targets: clocks per priority, business hours, pauses, at-risk and breach."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.incident import Incident, IncidentStatus, TimelineEntry
from triage.process.common import Problems
from triage.process.record import Pause
from triage.process.targets import (
    CalendarConfig,
    ClockState,
    IncidentTimes,
    PriorityTargetConfig,
    ServiceTargets,
    TargetsConfig,
    TargetStatus,
    change_entry,
    clock_states,
    compile_targets,
    default_targets,
    elapsed,
    incident_times,
    instant_after,
    next_change_at,
    target_changes,
    target_status,
)

S = ClockState
T0 = 1_700_000_000.0  # Tue 2023-11-14 22:13:20 UTC
MIN, HOUR, DAY = 60.0, 3600.0, 86400.0
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).timestamp()


def compiled(cfg: TargetsConfig) -> ServiceTargets:
    problems = Problems()
    targets = compile_targets(cfg, problems)
    assert problems.found == []
    assert targets is not None
    return targets


def office(**priorities: PriorityTargetConfig) -> ServiceTargets:
    """Berlin office hours Mon-Fri 09:00-17:00, with Easter Monday 2024 as a holiday."""
    return compiled(
        TargetsConfig(
            calendar=CalendarConfig(time_zone="Europe/Berlin", holidays=[date(2024, 4, 1)]),
            priorities=priorities,  # type: ignore[arg-type]
        )
    )


def status(
    priority: str = "P1", *, now: float, pauses: tuple[Pause, ...] = (), **times: float
) -> TargetStatus:
    return target_status(
        IncidentTimes(priority=priority, created_at=T0, **times), pauses, now, default_targets()
    )


# ---------------------------------------------------------------------------- defaults and config


def test_defaults_follow_common_practice() -> None:
    targets = default_targets()
    expected = {
        "P1": (15 * MIN, 4 * HOUR),
        "P2": (30 * MIN, 8 * HOUR),
        "P3": (4 * HOUR, 3 * DAY),
        "P4": (1 * DAY, 5 * DAY),
        "P5": (None, None),
    }
    got = {p: (t.respond, t.resolve) for p, t in targets.by_priority.items()}
    assert got == expected
    assert targets.at_risk == 0.75
    assert targets.for_priority("P9").resolve is None  # unknown: best effort


def test_a_priority_left_out_keeps_its_default() -> None:
    targets = compiled(TargetsConfig(priorities={"P1": PriorityTargetConfig(respond="5m")}))
    assert targets.for_priority("P1").respond == 5 * MIN
    assert targets.for_priority("P1").resolve is None  # given, so given in full
    assert targets.for_priority("P2").resolve == 8 * HOUR


@pytest.mark.parametrize(
    ("cfg", "path", "words"),
    [
        (
            TargetsConfig(priorities={"P2": PriorityTargetConfig(respond="1h", resolve="30m")}),
            ("priorities", "P2"),
            "respond target must not be longer",
        ),
        (
            TargetsConfig(priorities={"P3": PriorityTargetConfig(resolve="3x")}),
            ("priorities", "P3", "resolve"),
            "invalid duration",
        ),
        (
            TargetsConfig(priorities={"P3": PriorityTargetConfig(resolve="0s")}),
            ("priorities", "P3", "resolve"),
            "longer than zero",
        ),
        (
            TargetsConfig(priorities={"P3": PriorityTargetConfig(business_hours=True)}),
            ("priorities", "P3", "business_hours"),
            "needs a calendar",
        ),
        (
            TargetsConfig(calendar=CalendarConfig(time_zone="Mars/Olympus")),
            ("calendar", "time_zone"),
            "unknown time zone",
        ),
        (
            TargetsConfig(calendar=CalendarConfig(time_zone="UTC", weekdays=["moonday"])),
            ("calendar", "weekdays", 0),
            "invalid weekday",
        ),
        (
            TargetsConfig(calendar=CalendarConfig(time_zone="UTC", times=["17:00-09:00"])),
            ("calendar", "times", 0),
            "start must be before",
        ),
    ],
)
def test_config_problems_name_their_field(
    cfg: TargetsConfig, path: tuple[str | int, ...], words: str
) -> None:
    problems = Problems()
    assert compile_targets(cfg, problems, ("process", "targets")) is None
    assert [p.path for p in problems.found] == [("process", "targets", *path)]
    assert words in problems.found[0].message


# ---------------------------------------------------------------------------- 24x7 clocks


def test_a_fresh_p1_is_pending_with_its_due_times() -> None:
    s = status(now=T0 + 5 * MIN)
    assert s.respond.state is S.PENDING
    assert s.respond.due_at == T0 + 15 * MIN
    assert s.respond.at_risk_at == T0 + 0.75 * 15 * MIN
    assert s.respond.elapsed == 5 * MIN
    assert s.resolve.due_at == T0 + 4 * HOUR
    assert next_change_at(s) == T0 + 0.75 * 15 * MIN


def test_at_risk_from_the_fraction_and_breached_from_the_due_instant() -> None:
    assert status(now=T0 + 11 * MIN).respond.state is S.PENDING
    assert status(now=T0 + 11.25 * MIN).respond.state is S.AT_RISK
    at_risk = status(now=T0 + 12 * MIN)
    assert next_change_at(at_risk) == T0 + 15 * MIN
    assert status(now=T0 + 15 * MIN).respond.state is S.BREACHED
    breached = status(now=T0 + 20 * MIN)
    assert breached.respond.state is S.BREACHED
    assert next_change_at(breached) == T0 + 0.75 * 4 * HOUR  # the resolve clock is next


@pytest.mark.parametrize(
    ("acknowledged", "state"),
    [(10 * MIN, S.MET), (15 * MIN, S.MET), (15 * MIN + 1, S.BREACHED)],
)
def test_a_stopped_clock_met_its_target_up_to_the_due_time_inclusive(
    acknowledged: float, state: ClockState
) -> None:
    s = status(now=T0 + DAY, acknowledged_at=T0 + acknowledged)
    assert s.respond.state is state
    assert s.respond.stopped_at == T0 + acknowledged
    assert s.respond.elapsed == acknowledged


def test_resolving_without_acknowledging_is_a_response() -> None:
    s = status(now=T0 + DAY, resolved_at=T0 + 10 * MIN)
    assert s.respond.state is S.MET
    assert s.respond.stopped_at == T0 + 10 * MIN
    assert s.resolve.state is S.MET
    assert next_change_at(s) is None


def test_a_record_closed_without_resolution_stops_the_resolve_clock_at_closure() -> None:
    s = status(now=T0 + DAY, acknowledged_at=T0 + MIN, closed_at=T0 + 5 * HOUR)
    assert s.resolve.state is S.BREACHED
    assert s.resolve.stopped_at == T0 + 5 * HOUR


def test_a_stop_after_now_is_not_seen_yet() -> None:
    """With a controlled clock the record may hold a later time; ``now`` decides."""
    s = status(now=T0 + 5 * MIN, acknowledged_at=T0 + 10 * MIN)
    assert s.respond.state is S.PENDING
    assert s.respond.stopped_at is None


def test_best_effort_has_no_target_and_no_timer() -> None:
    s = status("P5", now=T0 + 30 * DAY)
    assert s.respond.state is S.NO_TARGET
    assert s.resolve.state is S.NO_TARGET
    assert s.resolve.elapsed == 30 * DAY
    assert next_change_at(s) is None


# ---------------------------------------------------------------------------- pauses


def test_a_closed_pause_moves_the_due_time_by_its_length() -> None:
    pause = Pause(start=T0 + HOUR, end=T0 + 3 * HOUR, reason="customer")
    s = status(now=T0 + 5 * HOUR, pauses=(pause,), acknowledged_at=T0 + MIN)
    assert s.resolve.due_at == T0 + 6 * HOUR
    assert s.resolve.elapsed == 3 * HOUR
    assert s.resolve.state is S.AT_RISK  # 3h of 4h used


def test_an_open_pause_stops_the_clock_and_the_timer() -> None:
    pause = Pause(start=T0 + HOUR, reason="supplier")
    s = status(now=T0 + 10 * HOUR, pauses=(pause,), acknowledged_at=T0 + MIN)
    assert s.resolve.paused
    assert s.resolve.state is S.PENDING
    assert s.resolve.elapsed == HOUR
    assert s.resolve.due_at is None
    assert next_change_at(s) is None


def test_overlapping_pauses_count_once_and_a_pause_before_creation_is_clipped() -> None:
    pauses = (
        Pause(start=T0 - HOUR, end=T0 + HOUR),
        Pause(start=T0 + 30 * MIN, end=T0 + 2 * HOUR),
        Pause(start=T0 + 90 * MIN, end=T0 + 2 * HOUR),
    )
    assert elapsed(None, T0, T0 + 5 * HOUR, pauses) == 3 * HOUR
    assert instant_after(None, T0, HOUR, pauses) == T0 + 3 * HOUR


def test_a_pause_after_the_stop_does_not_change_the_verdict() -> None:
    late = Pause(start=T0 + 5 * HOUR, end=T0 + 9 * HOUR)
    s = status(now=T0 + DAY, pauses=(late,), acknowledged_at=T0 + MIN, resolved_at=T0 + 4 * HOUR)
    assert s.resolve.state is S.MET
    assert s.resolve.due_at == T0 + 4 * HOUR


# ---------------------------------------------------------------------------- business hours


def test_business_hours_carry_over_the_weekend() -> None:
    targets = office(P3=PriorityTargetConfig(respond="4h", resolve="3d", business_hours=True))
    friday_four_pm = berlin(2023, 11, 17, 16, 0)
    times = IncidentTimes(priority="P3", created_at=friday_four_pm)
    s = target_status(times, (), berlin(2023, 11, 18, 12, 0), targets)
    assert s.respond.elapsed == HOUR  # Friday 16-17 only; Saturday does not count
    assert s.respond.due_at == berlin(2023, 11, 20, 12, 0)  # Monday: 1h Friday + 3h
    assert s.respond.at_risk_at == berlin(2023, 11, 20, 11, 0)
    assert s.respond.state is S.PENDING
    # 3d is three days of counting time = 72 working hours = 9 working days of 8h.
    assert s.resolve.due_at == berlin(2023, 11, 30, 16, 0)


def test_holidays_do_not_count_and_daylight_saving_needs_no_special_case() -> None:
    """Easter 2024: Friday 29 March, then clocks go forward on Sunday 31 March, and
    Monday 1 April is a holiday in this calendar."""
    targets = office(P2=PriorityTargetConfig(respond="4h", resolve="8h", business_hours=True))
    created = berlin(2024, 3, 29, 16, 0)  # CET, UTC+1
    s = target_status(IncidentTimes(priority="P2", created_at=created), (), created, targets)
    assert s.respond.due_at == berlin(2024, 4, 2, 12, 0)  # CEST, UTC+2, on Tuesday
    assert s.respond.due_at - created == 3 * DAY + 19 * HOUR  # wall clock 3d 20h


def test_24x7_priorities_ignore_the_calendar() -> None:
    targets = office(P1=PriorityTargetConfig(respond="15m", resolve="4h"))
    saturday = berlin(2023, 11, 18, 3, 0)
    s = target_status(IncidentTimes(priority="P1", created_at=saturday), (), saturday, targets)
    assert s.respond.due_at == saturday + 15 * MIN


def test_overlapping_office_ranges_are_merged() -> None:
    targets = compiled(
        TargetsConfig(
            calendar=CalendarConfig(time_zone="UTC", times=["09:00-12:00", "11:00-13:00"]),
            priorities={"P3": PriorityTargetConfig(resolve="8h", business_hours=True)},
        )
    )
    calendar = targets.for_priority("P3").calendar
    monday = datetime(2023, 11, 13, tzinfo=UTC).timestamp()
    assert elapsed(calendar, monday, monday + DAY) == 4 * HOUR


@settings(max_examples=60, deadline=None)
@given(
    start=st.floats(min_value=T0, max_value=T0 + 60 * DAY),
    amount=st.floats(min_value=1.0, max_value=20 * DAY),
)
def test_elapsed_and_instant_after_are_inverse(start: float, amount: float) -> None:
    calendar = office(P3=PriorityTargetConfig(resolve="1d", business_hours=True)).calendar
    due = instant_after(calendar, start, amount)
    assert due is not None
    assert elapsed(calendar, start, due) == pytest.approx(amount, abs=1e-3)


# ---------------------------------------------------------------------------- changes to record


def test_changes_report_each_worsening_once() -> None:
    pending = status(now=T0 + MIN)
    at_risk = status(now=T0 + 12 * MIN)
    breached = status(now=T0 + 16 * MIN)
    first = target_changes(clock_states(pending), at_risk)
    assert [(c.clock, c.state, c.escalate) for c in first] == [("respond", S.AT_RISK, False)]
    second = target_changes(clock_states(at_risk), breached)
    assert [(c.clock, c.state, c.escalate) for c in second] == [("respond", S.BREACHED, True)]
    assert target_changes(clock_states(breached), status(now=T0 + 17 * MIN)) == []
    assert target_changes(clock_states(pending), pending) == []


def test_a_missed_evaluation_reports_the_breach_directly() -> None:
    changes = target_changes(None, status(now=T0 + 5 * HOUR))
    assert [(c.clock, c.state) for c in changes] == [
        ("respond", S.BREACHED),
        ("resolve", S.BREACHED),
    ]


def test_a_reopened_incident_that_runs_late_is_reported_again() -> None:
    met = status(now=T0 + HOUR, acknowledged_at=T0 + MIN, resolved_at=T0 + 30 * MIN)
    reopened = status(now=T0 + 5 * HOUR, first_response_at=T0 + MIN, acknowledged_at=T0 + 2 * HOUR)
    changes = target_changes(clock_states(met), reopened)
    assert [(c.clock, c.state) for c in changes] == [("resolve", S.BREACHED)]


def test_the_first_response_survives_a_reopen() -> None:
    """A reopen clears acknowledged_at; the response given before it still counts."""
    incident = Incident(
        id="INC-7",
        key="k",
        title="t",
        status=IncidentStatus.ACKNOWLEDGED,
        priority="P1",
        category="other",
        group="ops",
        procedure="major",
        created_at=T0,
        updated_at=T0 + 2 * HOUR,
        started_at=T0,
        acknowledged_at=T0 + 2 * HOUR,
    )
    timeline = [
        TimelineEntry(at=T0 + 20 * MIN, kind="resolve", actor="triaged", message="auto"),
        TimelineEntry(at=T0 + 30 * MIN, kind="reopen", actor="triaged", message="again"),
        TimelineEntry(at=T0 + 2 * HOUR, kind="acknowledge", actor="ann", message=""),
    ]
    times = incident_times(incident, timeline)
    assert times.respond_stop == T0 + 20 * MIN
    s = target_status(times, (), T0 + 2.5 * HOUR, default_targets())
    assert s.respond.state is S.BREACHED  # 20 minutes for a P1: over 15
    assert s.resolve.state is S.PENDING


def test_change_entry_documents_the_breach() -> None:
    (change,) = target_changes(None, status(now=T0 + 16 * MIN, acknowledged_at=T0 + 20 * MIN))
    entry = change_entry(change, now=T0 + 16 * MIN, actor="triaged")
    assert entry.kind == "target"
    assert entry.message == "respond target (15m) breached; due 2023-11-14T22:28:20Z"
    assert entry.data == {
        "clock": "respond",
        "state": "breached",
        "due_at": T0 + 15 * MIN,
        "target": 15 * MIN,
    }
