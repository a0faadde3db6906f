"""KPIs over a scenario whose every figure is computed by hand in the comments."""

from __future__ import annotations

import csv
import io
import statistics

import msgspec
import pytest

from routing.timeconditions import TimePeriod, TimeRange, load_zone
from triage.incident import Incident, IncidentStatus, TimelineEntry
from triage.process.kpis import (
    TOTAL,
    IncidentFacts,
    KpiReport,
    KpiSettings,
    age_buckets,
    compute_kpis,
    distribution,
    facts_from_record,
    quantile,
    render_table,
    to_csv,
    to_json,
)
from triage.process.record import Pause, ProcessRecord
from triage.process.targets import default_targets

T0 = 1_700_000_000.0  # Tue 2023-11-14 22:13:20 UTC
MIN, HOUR, DAY = 60.0, 3600.0, 86400.0
NOW = T0 + 10 * HOUR
START, END = T0 - HOUR, T0 + DAY

# Default targets, 24x7: P1 15m/4h, P2 30m/8h, P3 4h/3d.
SCENARIO = [
    # A: acknowledged after 10m, resolved after 3h: both targets met.
    IncidentFacts(
        id="A", priority="P1", group="db", created_at=T0, acknowledged_at=T0 + 10 * MIN,
        resolved_at=T0 + 3 * HOUR, alert_count=2,
    ),
    # B: acknowledged after 20m (> 15m), resolved after 5h (> 4h): both breached;
    # reassigned once, escalated by timeout once, one page out of hours.
    IncidentFacts(
        id="B", priority="P1", group="db", created_at=T0 + 1000,
        acknowledged_at=T0 + 1000 + 20 * MIN, resolved_at=T0 + 1000 + 5 * HOUR,
        reassignment_count=1, timeout_escalations=1, out_of_hours_pages=1, alert_count=3,
    ),
    # C: never acknowledged, auto-resolved after 20m: that is a response within 30m, and a
    # resolution within 8h.
    IncidentFacts(
        id="C", priority="P2", group="web", created_at=T0 + 2000,
        resolved_at=T0 + 2000 + 20 * MIN, auto_resolved=True, alert_count=5,
    ),
    # D: acknowledged after 1h (< 4h), still open at NOW (resolve target 3d running);
    # reopened once, escalated by hand, linked to a problem, updated 1h after creation.
    IncidentFacts(
        id="D", priority="P3", group="web", created_at=T0 + 3000,
        acknowledged_at=T0 + 3000 + HOUR, reopen_count=1, manual_escalations=1,
        problem_id="PRB-1", last_updated_at=T0 + 3000 + HOUR, alert_count=2,
    ),
    # Excluded from everything: a cancelled duplicate and a drill, both in the window.
    IncidentFacts(id="E", priority="P1", group="db", created_at=T0 + 10, cancelled=True),
    IncidentFacts(id="F", priority="P1", group="db", created_at=T0 + 20, drill=True),
    # G: created before the window and still open, last touched 9 days before NOW:
    # in the backlog (7d-30d bucket) and stale, but not in the cohort.
    IncidentFacts(
        id="G", priority="P3", group="legacy", created_at=NOW - 10 * DAY,
        last_updated_at=NOW - 9 * DAY,
    ),
    # H: created after the window: nowhere.
    IncidentFacts(id="H", priority="P3", group="db", created_at=END + 1),
]  # fmt: skip


def report(group_by: str | None = None, now: float = NOW) -> KpiReport:
    return compute_kpis(
        SCENARIO,
        start=START,
        end=END,
        now=now,
        targets=default_targets(),
        group_by=group_by,  # type: ignore[arg-type]
    )


def test_the_hand_computed_totals() -> None:
    total = report().total
    assert total.key == TOTAL
    assert total.incidents == 4  # A-D
    assert total.alerts == 12
    assert total.noise_reduction == pytest.approx(1 - 4 / 12)
    # MTTA over A, B, D: 600, 1200, 3600 s. p90 = 1200 + 0.8 * (3600 - 1200).
    assert msgspec.structs.astuple(total.mtta) == (3, 1800.0, 1200.0, 3120.0)
    # MTTR over A, B, C: 10800, 18000, 1200 s. p90 = 10800 + 0.8 * (18000 - 10800).
    assert msgspec.structs.astuple(total.mttr) == (3, 10000.0, 10800.0, 16560.0)
    # Respond: A met, B breached, C met (by resolving), D met.
    assert msgspec.structs.astuple(total.respond) == (3, 1, 0, 0, 0.75)
    # Resolve: A met, B breached, C met, D still running.
    assert msgspec.structs.astuple(total.resolve) == (2, 1, 1, 0, pytest.approx(2 / 3))
    assert total.escalation_rate_timeout == 0.25  # B
    assert total.escalation_rate_manual == 0.25  # D
    assert total.reassignment_rate == 0.25  # B
    assert total.mean_reassignments == 0.25
    assert total.first_assignment_resolution_rate == pytest.approx(2 / 3)  # A, C of A, B, C
    assert total.reopen_rate == 0.25  # D
    assert total.auto_resolved_share == pytest.approx(1 / 3)  # C of A, B, C
    assert total.problem_linkage_rate == 0.25  # D
    assert total.out_of_hours_pages == 1
    # Backlog at NOW: D (9h 10m old) and G (10 days old, stale).
    assert total.backlog.total == 2
    assert total.backlog.by_age == {"<1d": 1, "1d-3d": 0, "3d-7d": 0, "7d-30d": 1, ">=30d": 0}
    assert total.backlog.stale == 1


def test_cancelled_incidents_and_drills_are_counted_apart() -> None:
    assert report().excluded == {"cancelled": 1, "drills": 1}


def test_rows_per_group_add_up_to_the_total() -> None:
    r = report("group")
    rows = {row.key: row for row in r.rows}
    assert list(rows) == ["db", "legacy", "web"]
    assert (rows["db"].incidents, rows["web"].incidents, rows["legacy"].incidents) == (2, 2, 0)
    assert rows["db"].mttr.mean == (10800 + 18000) / 2
    assert rows["db"].respond.rate == 0.5
    assert rows["web"].resolve.rate == 1.0  # C met, D running
    assert rows["legacy"].backlog.total == 1
    assert rows["legacy"].mttr.count == 0
    assert rows["legacy"].mttr.mean is None
    assert sum(row.incidents for row in r.rows) == r.total.incidents
    assert sum(row.backlog.total for row in r.rows) == r.total.backlog.total


def test_later_knowledge_decides_running_clocks() -> None:
    """Three days after D was created its resolve target is breached; the backlog is a
    snapshot at min(to, now), so it is taken at the end of the window."""
    later = report(now=T0 + 3000 + 3 * DAY + 1)
    assert msgspec.structs.astuple(later.total.resolve)[:3] == (2, 2, 0)
    assert later.as_of == END
    assert later.total.backlog.total == 2


def test_the_window_is_half_open_on_creation_time() -> None:
    r = compute_kpis(
        SCENARIO, start=T0, end=T0 + 1000, now=NOW, targets=default_targets(), group_by=None
    )
    assert r.total.incidents == 1  # A at T0 is in, B at T0 + 1000 is out
    assert r.excluded == {"cancelled": 1, "drills": 1}
    assert r.rows == []


def test_pauses_count_for_targets_but_not_for_mttr() -> None:
    paused = IncidentFacts(
        id="P",
        priority="P1",
        created_at=T0,
        acknowledged_at=T0 + MIN,
        resolved_at=T0 + 5 * HOUR,
        pauses=[Pause(start=T0 + HOUR, end=T0 + 3 * HOUR, reason="supplier")],
    )
    r = compute_kpis([paused], start=START, end=END, now=NOW, targets=default_targets())
    assert r.total.mttr.mean == 5 * HOUR
    assert r.total.resolve.rate == 1.0  # 3h counted of 4h


def test_no_incidents_gives_empty_figures_not_errors() -> None:
    r = compute_kpis([], start=START, end=END, now=NOW, targets=default_targets(), group_by="group")
    assert r.total.incidents == 0
    assert r.total.noise_reduction is None
    assert r.total.mttr == distribution([])
    assert r.total.respond.rate is None
    assert r.total.reassignment_rate is None


def test_unknown_grouping_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot group by 'colour'"):
        report("colour")


@pytest.mark.parametrize(
    "values", [[5.0], [1.0, 2.0], [3.0, 1.0, 2.0, 10.0], [float(i * i) for i in range(17)]]
)
def test_quantiles_match_the_statistics_module(values: list[float]) -> None:
    ordered = sorted(values)
    if len(values) > 1:
        expected = statistics.quantiles(values, n=10, method="inclusive")
        assert quantile(ordered, 0.9) == pytest.approx(expected[8])
        assert quantile(ordered, 0.5) == pytest.approx(statistics.median(values))
    else:
        assert quantile(ordered, 0.9) == values[0]


def test_age_buckets_are_named_from_the_edges() -> None:
    assert age_buckets([3600.0, DAY]) == ["<1h", "1h-1d", ">=1d"]
    assert age_buckets([]) == ["all"]
    r = compute_kpis(
        SCENARIO,
        start=START,
        end=END,
        now=NOW,
        targets=default_targets(),
        settings=KpiSettings(stale_after=DAY, backlog_ages=()),
    )
    assert r.total.backlog.by_age == {"all": 2}
    assert r.total.backlog.stale == 1  # G; D was updated 8h 50m before NOW


# ---------------------------------------------------------------------------- output


def test_csv_has_one_line_per_group_and_the_total() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(report("group")))))
    assert [row["key"] for row in rows] == ["db", "legacy", "web", TOTAL]
    total = rows[-1]
    assert float(total["mttr_mean"]) == 10000.0
    assert float(total["resolve_rate"]) == pytest.approx(2 / 3)
    assert total["backlog_7d-30d"] == "1"
    assert rows[1]["mttr_mean"] == ""  # no resolved incident: empty, not zero


def test_json_round_trips() -> None:
    r = report("priority")
    assert msgspec.json.decode(to_json(r), type=KpiReport) == r


def test_the_table_names_groups_figures_and_definitions() -> None:
    text = render_table(report("group"))
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("group"))
    assert "MTTR mean" in header
    total = next(line for line in lines if line.startswith(TOTAL))
    assert "2h 46m" in total  # MTTR mean 10000 s
    assert "75.0%" in total  # respond attainment
    assert "excluded: 1 cancelled, 1 drills" in text
    assert "mttr: resolved_at - created_at; start: the incident is registered" in text


# ---------------------------------------------------------------------------- from live records


def _entry(at: float, kind: str, **data: object) -> TimelineEntry:
    return TimelineEntry(at=at, kind=kind, actor="ann", message=kind, data=data)


def test_facts_are_derived_from_the_record_and_its_timeline() -> None:
    office = TimePeriod(
        "office", load_zone("UTC"), frozenset(range(5)), (TimeRange(32400, 61200),), frozenset()
    )
    incident = Incident(
        id="INC-9", key="service=pay", title="down", status=IncidentStatus.RESOLVED,
        priority="P2", category="databases", group="dba", procedure="standard",
        created_at=T0, updated_at=T0 + 5 * HOUR, started_at=T0, acknowledged_at=T0 + 2 * HOUR,
        resolved_at=T0 + 5 * HOUR, reopen_count=1, alert_count=4,
        labels={"service": "pay", "drill": "no"},
        process=ProcessRecord(problem_id="PRB-3", pauses=[Pause(start=T0, end=T0 + MIN)]),
    )  # fmt: skip
    timeline = [
        _entry(T0, "open"),
        # T0 is Tuesday 22:13 UTC: outside 09-17, so this page counts.
        _entry(T0 + MIN, "escalate", reason="first_page", people=["ann"]),
        _entry(T0 + 20 * MIN, "acknowledge"),
        _entry(T0 + 30 * MIN, "escalate", reason="not_acknowledged", people=["bob"]),
        _entry(T0 + 40 * MIN, "reassign", **{"from": "triage-queue", "to": "net"}),
        _entry(T0 + 50 * MIN, "reassign", **{"from": "net", "to": "dba"}),
        _entry(T0 + HOUR, "resolve", auto=True),
        _entry(T0 + 70 * MIN, "reopen"),
        _entry(T0 + 11 * HOUR, "escalate", reason="manual", people=[], channels=[]),
        _entry(T0 + 2 * HOUR, "acknowledge"),
        _entry(T0 + 5 * HOUR, "resolve"),
    ]
    facts = facts_from_record(incident, timeline, office_hours=office)
    assert facts.acknowledged_at == T0 + 20 * MIN  # the first acknowledgement
    assert facts.service == "pay"
    assert facts.reassignment_count == 2
    assert (facts.first_group, facts.final_group, facts.group) == ("triage-queue", "dba", "dba")
    assert (facts.timeout_escalations, facts.manual_escalations) == (1, 1)
    assert facts.out_of_hours_pages == 2  # first page and timeout, both at night; manual
    # reached nobody
    assert not facts.auto_resolved  # the last resolution was by hand
    assert not facts.cancelled
    assert not facts.drill
    assert facts.problem_id == "PRB-3"
    assert facts.pauses == [Pause(start=T0, end=T0 + MIN)]
    assert facts.alert_count == 4
    assert facts.reopen_count == 1


def test_a_cancel_after_the_last_reopen_cancels_and_a_drill_label_marks_a_drill() -> None:
    incident = Incident(
        id="INC-1", key="k", title="t", status=IncidentStatus.CLOSED, priority="P3",
        category="other", group="ops", procedure="standard", created_at=T0, updated_at=T0,
        started_at=T0, labels={"drill": "true"},
    )  # fmt: skip
    cancelled = facts_from_record(incident, [_entry(T0 + 1, "cancel")])
    assert cancelled.cancelled
    assert cancelled.drill
    assert cancelled.out_of_hours_pages == 0  # no office hours given
    undone = facts_from_record(incident, [_entry(T0 + 1, "cancel"), _entry(T0 + 2, "reopen")])
    assert not undone.cancelled


def test_an_incident_cancelled_as_a_drill_counts_as_a_drill_not_a_cancellation() -> None:
    incident = Incident(
        id="INC-2", key="k", title="t", status=IncidentStatus.CLOSED, priority="P3",
        category="other", group="ops", procedure="standard", created_at=T0, updated_at=T0,
        started_at=T0,
    )  # fmt: skip
    facts = facts_from_record(incident, [_entry(T0 + 1, "cancel", reason="drill")])
    assert (facts.cancelled, facts.drill) == (False, True)
    duplicate = facts_from_record(incident, [_entry(T0 + 1, "cancel", reason="duplicate")])
    assert (duplicate.cancelled, duplicate.drill) == (True, False)
