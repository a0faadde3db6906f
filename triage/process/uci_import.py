"""History import: the UCI "incident management process enriched event log" as IncidentFacts.

Why import history at all: KPIs need a baseline before triaged has months of its own
records, and a real ServiceNow export checks the KPI code against figures anyone can
recompute from the CSV. This is the one module of ``triage`` that reads a file; it reads
only the local dataset path it is given, and everything after the read is pure.

The file holds 141,712 events (snapshots after each update) of 24,918 incidents. Each
event repeats the incident's fields as they were after that update; ``sys_mod_count``
orders them (five incidents repeat a count, so the file order breaks ties). The importer
folds each incident's events into one ``IncidentFacts``:

==============================  ===========================================================
IncidentFacts                   from the CSV
==============================  ===========================================================
``id``                          ``number``
``created_at``                  ``opened_at`` (when the caller reported it; the clock
                                start ServiceNow SLAs use). ``sys_created_at`` is missing
                                in 46% of incidents and is only when the form was saved.
``acknowledged_at``             ``sys_updated_at`` of the first event in a working state
                                (``Active`` or ``Awaiting ...``), never before
                                ``opened_at``; None when the incident went from ``New``
                                straight to ``Resolved``/``Closed``
``resolved_at``, ``closed_at``  ``resolved_at``, ``closed_at`` (constant over an
                                incident's events); 1,556 closed incidents have no
                                ``resolved_at`` and keep None
``priority``                    last event's ``priority``: ``1 - Critical`` → P1,
                                ``2 - High`` → P2, ``3 - Moderate`` → P3, ``4 - Low`` →
                                P4, ``5 - Planning`` → P5 (the leading digit); the last
                                event because 383 incidents were re-prioritised and
                                targets follow the current priority
``category``                    last event's ``category``
``group``, ``final_group``      last event's ``assignment_group`` (``?`` → empty)
``first_group``                 first event's non-empty ``assignment_group``
``service``                     last event's ``cmdb_ci`` (99.7% ``?`` → empty)
``reassignment_count``          last event's ``reassignment_count``
``reopen_count``                last event's ``reopen_count``
``problem_id``                  last event's ``problem_id`` (``?`` → None)
``last_updated_at``             the latest ``sys_updated_at``
``pauses``                      each ``Awaiting User Info`` (customer) or ``Awaiting
                                Vendor`` (supplier) event until the next event;
                                ``Awaiting Problem``/``Evidence`` are internal, no pause
``procedure``                   ``select_procedure`` on category and priority
``alert_count`` etc.            0/False: tickets, not alerts; no escalations, drills or
                                cancellations are recorded in the export
==============================  ===========================================================

Times are ``dd/mm/yyyy HH:MM`` without a zone and are read as UTC. ``made_sla`` (the
source system's own verdict, last event) is kept apart for comparison with triaged's
resolve-target attainment; its SLA definitions are not in the export.
"""

from __future__ import annotations

import calendar
import csv
import gzip
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final

import msgspec

from triage.process.kpis import IncidentFacts
from triage.process.procedures import Procedures, default_procedures, select_procedure
from triage.process.record import Pause

MISSING: Final = "?"
WORK_STATES: Final = frozenset(
    {"Active", "Awaiting User Info", "Awaiting Vendor", "Awaiting Problem", "Awaiting Evidence"}
)
PAUSE_STATES: Final = {"Awaiting User Info": "customer", "Awaiting Vendor": "supplier"}

# Columns taken from the last event of an incident, in this order.
_LAST_COLUMNS: Final = (
    "opened_at",
    "resolved_at",
    "closed_at",
    "priority",
    "category",
    "cmdb_ci",
    "assignment_group",
    "reassignment_count",
    "reopen_count",
    "problem_id",
    "made_sla",
)


class UciImport(msgspec.Struct, frozen=True):
    facts: list[IncidentFacts]
    events: int
    made_sla: dict[str, bool]  # the source system's verdict per incident

    @property
    def made_sla_rate(self) -> float:
        return sum(self.made_sla.values()) / len(self.made_sla) if self.made_sla else 0.0


@cache
def parse_time(text: str) -> float | None:
    """``29/2/2016 01:16`` (day first, no zone) as UTC epoch seconds; ``?`` is None."""
    if text == MISSING:
        return None
    day_text, _, clock = text.partition(" ")
    day, month, year = (int(part) for part in day_text.split("/"))
    hour, minute = (int(part) for part in clock.split(":"))
    return float(calendar.timegm((year, month, day, hour, minute, 0)))


def map_priority(code: str) -> str:
    """``3 - Moderate`` → ``P3``."""
    digit = code.strip()[:1]
    if digit not in "12345" or not digit:
        raise ValueError(f"unknown priority code {code!r}")
    return f"P{digit}"


def _value(text: str) -> str:
    return "" if text == MISSING else text


@dataclass(slots=True)
class _Incident:
    """The events of one incident while reading: just what the fold needs."""

    events: list[tuple[int, int, str, str, str]] = field(default_factory=list)
    last_order: tuple[int, int] = (-1, -1)
    last: tuple[str, ...] = ()


def import_uci(path: Path, *, procedures: Procedures | None = None) -> UciImport:
    """One ``IncidentFacts`` per incident of the gzipped CSV at ``path``, sorted by id."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return import_events(handle, procedures=procedures)


def import_events(lines: Iterable[str], *, procedures: Procedures | None = None) -> UciImport:
    """The same from the CSV's text lines (header first), so the fold is testable without
    a file."""
    book = procedures if procedures is not None else default_procedures()
    incidents, count = _group_events(csv.reader(lines))
    facts: list[IncidentFacts] = []
    made_sla: dict[str, bool] = {}
    for number in sorted(incidents):
        fact, made = _fold(number, incidents[number], book)
        facts.append(fact)
        made_sla[number] = made
    return UciImport(facts=facts, events=count, made_sla=made_sla)


def _group_events(reader: Iterator[list[str]]) -> tuple[dict[str, _Incident], int]:
    """Group the events by incident, keeping few columns (the file is 46 MB unpacked)."""
    header = next(reader)
    at = {name: header.index(name) for name in header}
    number, mod, state = at["number"], at["sys_mod_count"], at["incident_state"]
    updated, group = at["sys_updated_at"], at["assignment_group"]
    last_columns = [at[name] for name in _LAST_COLUMNS]
    incidents: dict[str, _Incident] = {}
    count = 0
    for line, row in enumerate(reader):
        count += 1
        incident = incidents.get(row[number])
        if incident is None:
            incident = incidents[row[number]] = _Incident()
        order = (int(row[mod]), line)
        incident.events.append((*order, row[state], row[updated], row[group]))
        if order > incident.last_order:
            incident.last_order = order
            incident.last = tuple(row[i] for i in last_columns)
    return incidents, count


def _fold(number: str, incident: _Incident, book: Procedures) -> tuple[IncidentFacts, bool]:
    events = sorted(incident.events)
    (opened, resolved, closed, priority_code, category, ci, group, reassigned, reopened,
     problem, made_sla) = incident.last  # fmt: skip
    created_at = parse_time(opened)
    if created_at is None:
        raise ValueError(f"{number}: opened_at is missing")
    priority = map_priority(priority_code)
    service = _value(ci)
    procedure, _ = select_procedure(_value(category), priority, service, {}, book)
    updates = [parse_time(e[3]) for e in events]
    acknowledged = next(
        (t for e, t in zip(events, updates, strict=True) if e[2] in WORK_STATES and t is not None),
        None,
    )
    fact = IncidentFacts(
        id=number,
        priority=priority,
        category=_value(category),
        group=_value(group),
        service=service,
        procedure=procedure,
        created_at=created_at,
        acknowledged_at=None if acknowledged is None else max(acknowledged, created_at),
        resolved_at=parse_time(resolved),
        closed_at=parse_time(closed),
        reopen_count=int(reopened),
        reassignment_count=int(reassigned),
        first_group=next((e[4] for e in events if e[4] != MISSING), ""),
        final_group=_value(group),
        problem_id=_value(problem) or None,
        last_updated_at=max((t for t in updates if t is not None), default=None),
        pauses=_pauses([e[2] for e in events], updates),
    )
    return fact, made_sla == "true"


def _pauses(states: Sequence[str], updates: Sequence[float | None]) -> list[Pause]:
    """A waiting state lasts from its event to the next event, whatever that is."""
    pauses: list[Pause] = []
    for (state, start), end in zip(zip(states, updates, strict=True), updates[1:], strict=False):
        reason = PAUSE_STATES.get(state)
        if reason is not None and start is not None and end is not None and end > start:
            pauses.append(Pause(start=start, end=end, reason=reason))
    return pauses


def priorities(facts: Iterable[IncidentFacts]) -> dict[str, int]:
    """Incidents per priority, for the import summary."""
    counts: dict[str, int] = {}
    for fact in facts:
        counts[fact.priority] = counts.get(fact.priority, 0) + 1
    return dict(sorted(counts.items()))
