"""KPIs of the incident process, computed from plain per-incident facts.

The report answers "how well does our incident handling work", so every figure has to be
reproducible by someone with a spreadsheet. Hence the input is one flat ``IncidentFacts``
per incident (the daemon derives it from its records with ``facts_from_record``; the UCI
import builds it from a ServiceNow export), every metric's start and end point is written
into the report itself (``definitions``), and there is no sampling.

Which incidents count:

- the **cohort** is every incident created in ``[start, end)`` that is neither cancelled
  (duplicates, false alarms) nor a drill; all flow metrics (MTTA, MTTR, attainment, rates)
  are over the cohort, using everything known about those incidents up to ``now``;
- the **backlog** is a snapshot at ``as_of = min(end, now)``: every non-cancelled,
  non-drill incident created before ``as_of`` and neither resolved nor closed by then,
  however old, bucketed by age.

MTTA and MTTR are wall-clock (what users experienced); target attainment uses the targets'
own clocks (business hours, pauses excluded) from ``triage.process.targets``.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, Literal

import msgspec

from routing.timeconditions import TimePeriod
from triage.incident import Incident, TimelineEntry
from triage.process.common import format_duration, iso
from triage.process.record import Pause
from triage.process.targets import (
    ClockState,
    IncidentTimes,
    ServiceTargets,
    TargetStatus,
    target_status,
)

GroupBy = Literal["group", "priority", "category", "service", "procedure"]
GROUP_BY: Final = ("group", "priority", "category", "service", "procedure")
TOTAL: Final = "(total)"
NONE_KEY: Final = "(none)"


class IncidentFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the KPIs need to know about one incident; times are UTC epoch seconds."""

    id: str
    priority: str
    category: str = ""
    group: str = ""  # the group it is with now (or was, when it was closed)
    service: str = ""
    procedure: str = ""
    created_at: float
    acknowledged_at: float | None = None
    resolved_at: float | None = None
    closed_at: float | None = None
    reopen_count: int = 0
    reassignment_count: int = 0
    first_group: str = ""
    final_group: str = ""
    timeout_escalations: int = 0  # the policy escalated because nobody acted in time
    manual_escalations: int = 0  # an operator escalated
    auto_resolved: bool = False
    cancelled: bool = False
    drill: bool = False
    alert_count: int = 0
    out_of_hours_pages: int = 0
    problem_id: str | None = None
    last_updated_at: float | None = None
    pauses: list[Pause] = []

    def times(self) -> IncidentTimes:
        return IncidentTimes(
            priority=self.priority,
            created_at=self.created_at,
            acknowledged_at=self.acknowledged_at,
            resolved_at=self.resolved_at,
            closed_at=self.closed_at,
        )


# ---------------------------------------------------------------------------- from live records

_TRUE = frozenset({"true", "yes", "1"})


def is_drill(labels: Mapping[str, str]) -> bool:
    """A drill is marked by the label ``drill=true`` on the alert that opened it."""
    return labels.get("drill", "").lower() in _TRUE


def facts_from_record(
    incident: Incident,
    timeline: Sequence[TimelineEntry],
    *,
    office_hours: TimePeriod | None = None,
    service_label: str = "service",
) -> IncidentFacts:
    """Derive the facts of a triaged incident from the record and its timeline.

    - acknowledged: the first ``acknowledge`` entry (a reopen clears the record's time,
      but MTTA measures the first acknowledgement);
    - reassignments: ``reassign`` entries; the first group is the first one's ``from``;
    - escalations: ``escalate`` entries by reason: ``manual`` is manual, ``first_page``
      is the initial page and no escalation, every other reason is a timeout;
    - pages out of hours: ``escalate`` entries that reached someone outside
      ``office_hours`` (None: nothing is out of hours);
    - cancelled: a ``cancel`` entry after the last ``reopen``; drill: label ``drill=true``,
      or cancelled as a drill (``data.reason``);
    - auto-resolved: the last ``resolve`` entry was the system's (``data.auto``);
    - problem and pauses: from the incident's process record.
    """
    record = incident.process
    reassigns = [e for e in timeline if e.kind == "reassign"]
    acks = [e.at for e in timeline if e.kind == "acknowledge"]
    escalations = [e for e in timeline if e.kind == "escalate"]
    reasons = [str(e.data.get("reason", "")) for e in escalations]
    resolves = [e for e in timeline if e.kind == "resolve"]
    last_reopen = max((e.at for e in timeline if e.kind == "reopen"), default=-math.inf)
    pages_out = (
        0
        if office_hours is None
        else sum(
            1
            for e in escalations
            if (e.data.get("people") or e.data.get("channels")) and not office_hours.contains(e.at)
        )
    )
    first_group = (
        str(reassigns[0].data.get("from", incident.group)) if reassigns else incident.group
    )
    cancels = [e for e in timeline if e.kind == "cancel" and e.at >= last_reopen]
    as_drill = any(e.data.get("reason") == "drill" for e in cancels)
    return IncidentFacts(
        id=incident.id,
        priority=incident.priority,
        category=incident.category,
        group=incident.group,
        service=incident.labels.get(service_label, ""),
        procedure=incident.procedure,
        created_at=incident.created_at,
        acknowledged_at=min(
            (t for t in (incident.acknowledged_at, *acks) if t is not None), default=None
        ),
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        reopen_count=incident.reopen_count,
        reassignment_count=len(reassigns),
        first_group=first_group,
        final_group=incident.group,
        timeout_escalations=sum(1 for r in reasons if r not in ("manual", "first_page")),
        manual_escalations=reasons.count("manual"),
        auto_resolved=incident.resolved_at is not None
        and bool(resolves)
        and resolves[-1].data.get("auto") is True,
        cancelled=bool(cancels) and not as_drill,
        drill=as_drill or is_drill(incident.labels),
        alert_count=incident.alert_count,
        out_of_hours_pages=pages_out,
        problem_id=record.problem_id if record is not None else None,
        last_updated_at=incident.updated_at,
        pauses=list(record.pauses) if record is not None else [],
    )


# ---------------------------------------------------------------------------- report values


class Distribution(msgspec.Struct, frozen=True):
    """Seconds; None where no incident had the measured end point."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None


class Attainment(msgspec.Struct, frozen=True):
    """``rate = met / (met + breached)``; running clocks and best-effort ones are not
    decided yet or never will be, so they are counted apart, not in the rate."""

    met: int
    breached: int
    running: int
    no_target: int
    rate: float | None


class Backlog(msgspec.Struct, frozen=True):
    total: int
    by_age: dict[str, int]
    stale: int  # not updated within ``stale_after``


class KpiRow(msgspec.Struct, frozen=True):
    key: str
    incidents: int
    alerts: int
    noise_reduction: float | None
    mtta: Distribution
    mttr: Distribution
    respond: Attainment
    resolve: Attainment
    escalation_rate_timeout: float | None
    escalation_rate_manual: float | None
    reassignment_rate: float | None
    mean_reassignments: float | None
    first_assignment_resolution_rate: float | None
    reopen_rate: float | None
    auto_resolved_share: float | None
    problem_linkage_rate: float | None
    out_of_hours_pages: int
    backlog: Backlog


class KpiReport(msgspec.Struct, frozen=True):
    start: float
    end: float
    as_of: float
    group_by: str | None
    definitions: dict[str, str]
    excluded: dict[str, int]
    rows: list[KpiRow]
    total: KpiRow


@dataclass(frozen=True, slots=True)
class KpiSettings:
    stale_after: float = 7 * 86400.0
    backlog_ages: tuple[float, ...] = (86400.0, 3 * 86400.0, 7 * 86400.0, 30 * 86400.0)


DEFINITIONS: Final = {
    "incidents": "incidents created in [from, to), cancelled incidents and drills excluded",
    "alerts": "distinct alerts attached to those incidents",
    "noise_reduction": "1 - incidents / alerts (share of alerts that did not become an "
    "incident of their own)",
    "mtta": "acknowledged_at - created_at; start: the incident is registered (created_at), "
    "end: first acknowledgement; incidents never acknowledged are left out; wall-clock",
    "mttr": "resolved_at - created_at; start: the incident is registered (created_at), "
    "end: its final resolution; unresolved incidents are left out; wall-clock, pauses "
    "included",
    "respond": "respond target per priority met / (met + breached); the clock runs from "
    "created_at to the first acknowledgement or resolution, in the target's hours, "
    "pauses excluded",
    "resolve": "resolve target per priority met / (met + breached); the clock runs from "
    "created_at to resolution (closure for records closed without one), in the target's "
    "hours, pauses excluded",
    "escalation_rate_timeout": "share of incidents the escalation policy escalated "
    "because nobody acted in time",
    "escalation_rate_manual": "share of incidents an operator escalated",
    "reassignment_rate": "share of incidents reassigned at least once",
    "mean_reassignments": "reassignments per incident",
    "first_assignment_resolution_rate": "share of resolved incidents resolved without "
    "any reassignment",
    "reopen_rate": "share of incidents reopened at least once",
    "auto_resolved_share": "share of resolved incidents resolved by triaged because all "
    "their alerts cleared",
    "problem_linkage_rate": "share of incidents linked to a problem",
    "out_of_hours_pages": "pages sent outside the business calendar",
    "backlog": "incidents open (neither resolved nor closed) at min(to, now), any creation "
    "date, by age since created_at",
    "stale": "backlog incidents whose last update is older than stale_after at min(to, now) "
    "(exact for a report up to now; for a past `to`, a later update hides staleness)",
}


def compute_kpis(
    facts: Iterable[IncidentFacts],
    *,
    start: float,
    end: float,
    now: float,
    targets: ServiceTargets,
    group_by: GroupBy | None = None,
    settings: KpiSettings = KpiSettings(),
) -> KpiReport:
    as_of = min(end, now)
    cohort: dict[str, list[_Measured]] = defaultdict(list)
    backlog: dict[str, list[IncidentFacts]] = defaultdict(list)
    excluded = {"cancelled": 0, "drills": 0}
    key_of = _key_function(group_by)
    for fact in facts:
        in_window = start <= fact.created_at < end
        if fact.cancelled or fact.drill:
            if in_window:
                excluded["cancelled" if fact.cancelled else "drills"] += 1
            continue
        if in_window:
            status = target_status(fact.times(), fact.pauses, now, targets)
            cohort[key_of(fact)].append((fact, status))
        if _open_at(fact, as_of):
            backlog[key_of(fact)].append(fact)
    keys = sorted(set(cohort) | set(backlog))
    rows = (
        [_row(k, cohort.get(k, []), backlog.get(k, []), as_of, settings) for k in keys]
        if group_by is not None
        else []
    )
    everything = [m for k in keys for m in cohort.get(k, [])]
    open_all = [f for k in keys for f in backlog.get(k, [])]
    return KpiReport(
        start=start,
        end=end,
        as_of=as_of,
        group_by=group_by,
        definitions=dict(DEFINITIONS),
        excluded=excluded,
        rows=rows,
        total=_row(TOTAL, everything, open_all, as_of, settings),
    )


def _key_function(group_by: GroupBy | None) -> Callable[[IncidentFacts], str]:
    if group_by is None:
        return lambda _: TOTAL
    if group_by not in GROUP_BY:
        raise ValueError(f"cannot group by {group_by!r}; one of: {', '.join(GROUP_BY)}")
    return lambda fact: getattr(fact, group_by) or NONE_KEY


def _open_at(fact: IncidentFacts, at: float) -> bool:
    if fact.created_at >= at:
        return False
    ended = [t for t in (fact.resolved_at, fact.closed_at) if t is not None]
    return not ended or min(ended) > at


_Measured = tuple[IncidentFacts, TargetStatus]


def _row(
    key: str,
    measured: Sequence[_Measured],
    open_now: Sequence[IncidentFacts],
    as_of: float,
    settings: KpiSettings,
) -> KpiRow:
    cohort = [fact for fact, _ in measured]
    n = len(cohort)
    resolved = [f for f in cohort if f.resolved_at is not None]
    alerts = sum(f.alert_count for f in cohort)
    return KpiRow(
        key=key,
        incidents=n,
        alerts=alerts,
        noise_reduction=1 - n / alerts if alerts else None,
        mtta=distribution(
            [f.acknowledged_at - f.created_at for f in cohort if f.acknowledged_at is not None]
        ),
        mttr=distribution(
            [f.resolved_at - f.created_at for f in resolved if f.resolved_at is not None]
        ),
        respond=_attainment([status.respond.state for _, status in measured]),
        resolve=_attainment([status.resolve.state for _, status in measured]),
        escalation_rate_timeout=_share(cohort, lambda f: f.timeout_escalations > 0),
        escalation_rate_manual=_share(cohort, lambda f: f.manual_escalations > 0),
        reassignment_rate=_share(cohort, lambda f: f.reassignment_count > 0),
        mean_reassignments=sum(f.reassignment_count for f in cohort) / n if n else None,
        first_assignment_resolution_rate=_share(resolved, lambda f: f.reassignment_count == 0),
        reopen_rate=_share(cohort, lambda f: f.reopen_count > 0),
        auto_resolved_share=_share(resolved, lambda f: f.auto_resolved),
        problem_linkage_rate=_share(cohort, lambda f: f.problem_id is not None),
        out_of_hours_pages=sum(f.out_of_hours_pages for f in cohort),
        backlog=_backlog(open_now, as_of, settings),
    )


def _share(items: Sequence[IncidentFacts], test: Callable[[IncidentFacts], bool]) -> float | None:
    return sum(1 for item in items if test(item)) / len(items) if items else None


def _attainment(states: Sequence[ClockState]) -> Attainment:
    met = states.count(ClockState.MET)
    breached = states.count(ClockState.BREACHED)
    decided = met + breached
    return Attainment(
        met=met,
        breached=breached,
        running=states.count(ClockState.PENDING) + states.count(ClockState.AT_RISK),
        no_target=states.count(ClockState.NO_TARGET),
        rate=met / decided if decided else None,
    )


def distribution(values: Sequence[float]) -> Distribution:
    """Mean and percentiles; percentiles interpolate linearly between the closest ranks
    (numpy's default, and ``statistics.quantiles(method="inclusive")``)."""
    if not values:
        return Distribution(0, None, None, None)
    ordered = sorted(values)
    return Distribution(
        count=len(ordered),
        mean=math.fsum(ordered) / len(ordered),
        p50=quantile(ordered, 0.5),
        p90=quantile(ordered, 0.9),
    )


def quantile(ordered: Sequence[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def age_buckets(edges: Sequence[float]) -> list[str]:
    """``<1d``, ``1d-3d``, ..., ``>=30d`` for edges 1d, 3d, ..., 30d."""
    names = [f"<{format_duration(edges[0])}"] if edges else []
    names += [f"{format_duration(a)}-{format_duration(b)}" for a, b in pairwise(edges)]
    return names + ([f">={format_duration(edges[-1])}"] if edges else ["all"])


def _backlog(open_now: Sequence[IncidentFacts], as_of: float, settings: KpiSettings) -> Backlog:
    names = age_buckets(settings.backlog_ages)
    counts = dict.fromkeys(names, 0)
    stale = 0
    for fact in open_now:
        age = as_of - fact.created_at
        index = sum(1 for edge in settings.backlog_ages if age >= edge)
        counts[names[index]] += 1
        updated = fact.last_updated_at if fact.last_updated_at is not None else fact.created_at
        if updated <= as_of - settings.stale_after:
            stale += 1
    return Backlog(total=len(open_now), by_age=counts, stale=stale)


# ---------------------------------------------------------------------------- output

_Cell = str | int | float | None


def flatten(row: KpiRow) -> dict[str, _Cell]:
    """One flat mapping per row, durations in seconds: the CSV columns."""
    flat: dict[str, _Cell] = {}
    for name, value in msgspec.structs.asdict(row).items():
        if isinstance(value, Distribution | Attainment | Backlog):
            for field, inner in msgspec.structs.asdict(value).items():
                if isinstance(inner, dict):
                    flat |= {f"{name}_{k}": v for k, v in inner.items()}
                else:
                    flat[f"{name}_{field}"] = inner
        else:
            flat[name] = value
    return flat


def to_csv(report: KpiReport) -> str:
    rows = [*report.rows, report.total]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(flatten(report.total)), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(flatten(row))
    return buffer.getvalue()


def to_json(report: KpiReport) -> str:
    return msgspec.json.format(msgspec.json.encode(report).decode(), indent=2)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


_COLUMNS: Final[tuple[tuple[str, Callable[[KpiRow], str]], ...]] = (
    ("incidents", lambda r: str(r.incidents)),
    ("alerts", lambda r: str(r.alerts)),
    ("noise red.", lambda r: _pct(r.noise_reduction)),
    ("MTTA p50", lambda r: format_duration(r.mtta.p50)),
    ("MTTR mean", lambda r: format_duration(r.mttr.mean)),
    ("MTTR p50", lambda r: format_duration(r.mttr.p50)),
    ("MTTR p90", lambda r: format_duration(r.mttr.p90)),
    ("respond", lambda r: _pct(r.respond.rate)),
    ("resolve", lambda r: _pct(r.resolve.rate)),
    ("esc t/m", lambda r: f"{_pct(r.escalation_rate_timeout)}/{_pct(r.escalation_rate_manual)}"),
    ("reassigned", lambda r: _pct(r.reassignment_rate)),
    ("1st-group", lambda r: _pct(r.first_assignment_resolution_rate)),
    ("reopened", lambda r: _pct(r.reopen_rate)),
    ("auto", lambda r: _pct(r.auto_resolved_share)),
    ("problem", lambda r: _pct(r.problem_linkage_rate)),
    ("ooh pages", lambda r: str(r.out_of_hours_pages)),
    ("backlog", lambda r: str(r.backlog.total)),
    ("stale", lambda r: str(r.backlog.stale)),
)


def render_table(report: KpiReport) -> str:
    """A fixed-width table for the terminal: one line per group and a total, then the
    backlog by age and the definitions, so the printout explains itself."""
    head = [report.group_by or "", *(name for name, _ in _COLUMNS)]
    body = [[row.key, *(cell(row) for _, cell in _COLUMNS)] for row in (*report.rows, report.total)]
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    out = [
        f"KPIs for incidents created {iso(report.start)} .. {iso(report.end)};"
        f" backlog at {iso(report.as_of)}",
        _excluded_line(report.excluded),
        "",
        line(head),
        line(["-" * w for w in widths]),
        *(line(cells) for cells in body),
        "",
        "backlog by age: " + ", ".join(f"{k} {v}" for k, v in report.total.backlog.by_age.items()),
        "",
        "definitions:",
        *(f"  {name}: {text}" for name, text in report.definitions.items()),
    ]
    return "\n".join(out) + "\n"


def _excluded_line(excluded: Mapping[str, int]) -> str:
    return "excluded: " + ", ".join(f"{count} {what}" for what, count in excluded.items())
