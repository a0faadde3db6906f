"""The UCI event-log fold, on a few hand-written events in the dataset's own format."""

from __future__ import annotations

import calendar
import csv
import io

import pytest

from triage.process.record import Pause
from triage.process.uci_import import import_events, map_priority, parse_time

HEADER_LINE = (
    "number,incident_state,active,reassignment_count,reopen_count,sys_mod_count,made_sla,"
    "caller_id,opened_by,opened_at,sys_created_by,sys_created_at,sys_updated_by,sys_updated_at,"
    "contact_type,location,category,subcategory,u_symptom,cmdb_ci,impact,urgency,priority,"
    "assignment_group,assigned_to,knowledge,u_priority_confirmation,notify,problem_id,rfc,"
    "vendor,caused_by,closed_code,resolved_by,resolved_at,closed_at"
)
HEADER = HEADER_LINE.split(",")


def utc(day: int, hour: int, minute: int = 0) -> float:
    return float(calendar.timegm((2016, 3, day, hour, minute, 0)))


def event(number: str, mod: int, state: str, updated: str, **fields: str) -> str:
    row = dict.fromkeys(HEADER, "?")
    row |= {
        "number": number,
        "incident_state": state,
        "sys_mod_count": str(mod),
        "sys_updated_at": updated,
        "reassignment_count": "0",
        "reopen_count": "0",
        "made_sla": "true",
        "opened_at": "1/3/2016 08:00",
        "category": "Category 9",
        "priority": "3 - Moderate",
        "closed_at": "9/3/2016 12:00",
    }
    row |= fields
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([row[name] for name in HEADER])
    return buffer.getvalue()


RESOLVED = {"resolved_at": "2/3/2016 10:00"}
LINES = [
    HEADER_LINE + "\n",
    # INC1, stored out of order: re-prioritised to P1 at the end, one customer wait.
    event("INC1", 2, "Awaiting User Info", "1/3/2016 10:00", assignment_group="Group 5",
          **RESOLVED),
    event("INC1", 0, "New", "1/3/2016 08:05", **RESOLVED),
    event("INC1", 1, "Active", "1/3/2016 09:00", assignment_group="Group 5", **RESOLVED),
    event("INC1", 3, "Active", "1/3/2016 13:30", assignment_group="Group 7",
          reassignment_count="1", **RESOLVED),
    event("INC1", 4, "Resolved", "2/3/2016 10:00", assignment_group="Group 7",
          reassignment_count="1", **RESOLVED),
    event("INC1", 5, "Closed", "9/3/2016 12:00", assignment_group="Group 7",
          reassignment_count="1", priority="1 - Critical", cmdb_ci="CI 3", reopen_count="1",
          **RESOLVED),
    # INC2: straight from New to Closed, no resolution recorded, SLA missed, a problem.
    event("INC2", 0, "New", "1/3/2016 08:00", priority="4 - Low"),
    event("INC2", 1, "Closed", "9/3/2016 12:00", priority="4 - Low", made_sla="false",
          problem_id="Problem ID 2"),
    # INC3: a repeated sys_mod_count; the later line wins. The first work event is
    # stamped before opened_at, so acknowledgement is clamped to opening.
    event("INC3", 0, "Active", "1/3/2016 07:50"),
    event("INC3", 1, "Closed", "9/3/2016 12:00", assignment_group="Group 1"),
    event("INC3", 1, "Closed", "9/3/2016 12:00", assignment_group="Group 2"),
]  # fmt: skip


def test_each_incident_becomes_one_fact() -> None:
    result = import_events(LINES)
    assert result.events == 11
    assert [f.id for f in result.facts] == ["INC1", "INC2", "INC3"]
    assert result.made_sla == {"INC1": True, "INC2": False, "INC3": True}
    assert result.made_sla_rate == pytest.approx(2 / 3)


def test_the_mapping_of_one_worked_incident() -> None:
    inc1 = import_events(LINES).facts[0]
    assert inc1.created_at == utc(1, 8)
    assert inc1.acknowledged_at == utc(1, 9)  # first Active
    assert inc1.resolved_at == utc(2, 10)
    assert inc1.closed_at == utc(9, 12)
    assert inc1.priority == "P1"  # the last event's priority
    assert inc1.procedure == "major"
    assert inc1.service == "CI 3"
    assert inc1.category == "Category 9"
    assert (inc1.first_group, inc1.group, inc1.final_group) == ("Group 5", "Group 7", "Group 7")
    assert (inc1.reassignment_count, inc1.reopen_count) == (1, 1)
    assert inc1.pauses == [Pause(start=utc(1, 10), end=utc(1, 13, 30), reason="customer")]
    assert inc1.last_updated_at == utc(9, 12)
    assert inc1.problem_id is None
    assert inc1.alert_count == 0


def test_an_incident_closed_without_work_or_resolution() -> None:
    inc2 = import_events(LINES).facts[1]
    assert inc2.acknowledged_at is None
    assert inc2.resolved_at is None
    assert inc2.closed_at == utc(9, 12)
    assert inc2.priority == "P4"
    assert inc2.procedure == "low-impact"
    assert inc2.problem_id == "Problem ID 2"
    assert inc2.group == ""
    assert inc2.first_group == ""


def test_ties_go_to_the_later_line_and_acknowledgement_is_not_before_opening() -> None:
    inc3 = import_events(LINES).facts[2]
    assert inc3.group == "Group 2"
    assert inc3.first_group == "Group 1"
    assert inc3.acknowledged_at == inc3.created_at == utc(1, 8)


@pytest.mark.parametrize(
    ("code", "priority"),
    [("1 - Critical", "P1"), ("2 - High", "P2"), ("3 - Moderate", "P3"), ("5 - Planning", "P5")],
)
def test_priority_codes(code: str, priority: str) -> None:
    assert map_priority(code) == priority


@pytest.mark.parametrize("code", ["", "?", "7 - Whatever", "High"])
def test_unknown_priority_codes_are_errors(code: str) -> None:
    with pytest.raises(ValueError, match="unknown priority code"):
        map_priority(code)


def test_times_are_day_first_and_utc() -> None:
    assert parse_time("29/2/2016 01:16") == float(calendar.timegm((2016, 2, 29, 1, 16, 0)))
    assert parse_time("?") is None
