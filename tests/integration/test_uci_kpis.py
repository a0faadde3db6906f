"""The KPI report over the imported UCI history equals a computation straight from the CSV.

The expected figures are computed here with plain ``csv``, ``datetime`` and ``statistics``
code that shares nothing with the importer or the KPI module, only the definitions
(docs/process.md): MTTR is ``resolved_at - opened_at`` over incidents with a resolution;
the reassignment rate is the share of incidents whose final ``reassignment_count`` is above
zero; a resolve target is met when the time from ``opened_at`` to ``resolved_at`` (or
``closed_at`` without one), less the time spent in ``Awaiting User Info`` or ``Awaiting
Vendor``, is within the priority's target (P1 4h, P2 8h, P3 3d, P4 5d); a respond target
likewise up to the first working state (``Active`` or ``Awaiting ...``) or the resolution.
"""

from __future__ import annotations

import csv
import gzip
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from triage.process.kpis import compute_kpis, render_table
from triage.process.targets import default_targets
from triage.process.uci_import import import_uci

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
DATA = DATASETS / "uci-incident-event-log" / "incident_event_log.csv.gz"

pytestmark = [
    pytest.mark.dataset,
    pytest.mark.skipif(
        not DATA.exists(),
        reason=f"the UCI incident event log is not at {DATA} (../shared/datasets beside the repo)",
    ),
]

HOURS = {"1": 4, "2": 8, "3": 72, "4": 120}
RESPOND_HOURS = {"1": 0.25, "2": 0.5, "3": 4, "4": 24}
WAITING = ("Awaiting User Info", "Awaiting Vendor")


def when(text: str) -> datetime | None:
    return None if text == "?" else datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=UTC)


def waited(events: list[dict[str, str]], start: datetime, end: datetime) -> float:
    """Seconds of waiting states inside [start, end): each lasts until the next event."""
    total = 0.0
    for this, following in pairwise(events):
        if this["incident_state"] in WAITING:
            begin = max(when(this["sys_updated_at"]) or start, start)
            finish = min(when(following["sys_updated_at"]) or end, end)
            total += max(0.0, (finish - begin).total_seconds())
    return total


def expected_figures() -> dict[str, float]:
    by_number: dict[str, list[dict[str, str]]] = defaultdict(list)
    with gzip.open(DATA, "rt", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle)):
            row["line"] = str(line)
            by_number[row["number"]].append(row)
    repair_hours: list[float] = []
    reassigned = resolve_met = respond_met = sla_made = 0
    for events in by_number.values():
        events.sort(key=lambda e: (int(e["sys_mod_count"]), int(e["line"])))
        last = events[-1]
        opened = when(last["opened_at"])
        resolved = when(last["resolved_at"])
        closed = when(last["closed_at"])
        assert opened is not None
        assert closed is not None
        if resolved is not None:
            repair_hours.append((resolved - opened).total_seconds() / 3600)
        reassigned += int(last["reassignment_count"]) > 0
        sla_made += last["made_sla"] == "true"
        end = resolved or closed
        code = last["priority"][0]
        worked = (end - opened).total_seconds() - waited(events, opened, end)
        resolve_met += worked <= HOURS[code] * 3600
        first_work = next(
            (
                when(e["sys_updated_at"])
                for e in events
                if e["incident_state"] == "Active" or e["incident_state"].startswith("Awaiting")
            ),
            None,
        )
        answered = min(max(first_work, opened), end) if first_work is not None else end
        worked = (answered - opened).total_seconds() - waited(events, opened, answered)
        respond_met += worked <= RESPOND_HOURS[code] * 3600
    n = len(by_number)
    return {
        "incidents": n,
        "mttr_hours": statistics.fmean(repair_hours),
        "mttr_p50_hours": statistics.median(repair_hours),
        "resolved": len(repair_hours),
        "reassignment_rate": reassigned / n,
        "resolve_attainment": resolve_met / n,
        "respond_attainment": respond_met / n,
        "made_sla": sla_made / n,
    }


def test_report_over_the_import_matches_the_csv() -> None:
    began = time.monotonic()
    imported = import_uci(DATA)
    facts = imported.facts
    start = min(f.created_at for f in facts)
    end = max(f.created_at for f in facts) + 1
    now = max(f.closed_at or 0.0 for f in facts) + 1
    report = compute_kpis(facts, start=start, end=end, now=now, targets=default_targets())
    table = render_table(compute_kpis(facts, start=start, end=end, now=now,
                                      targets=default_targets(), group_by="priority"))  # fmt: skip
    took = time.monotonic() - began
    assert took < 60, f"import and report took {took:.1f}s"

    expected = expected_figures()
    total = report.total
    assert imported.events == 141_712
    assert total.incidents == expected["incidents"] == 24_918
    assert total.mttr.count == expected["resolved"]
    assert total.mttr.mean is not None
    assert total.mttr.p50 is not None
    assert round(total.mttr.mean / 3600, 2) == round(expected["mttr_hours"], 2)
    assert round(total.mttr.p50 / 3600, 2) == round(expected["mttr_p50_hours"], 2)
    assert round(total.reassignment_rate or 0, 4) == round(expected["reassignment_rate"], 4)
    # Every incident is closed, so every clock has stopped and counts in the rate.
    assert total.resolve.met + total.resolve.breached == expected["incidents"]
    assert round(total.resolve.rate or 0, 4) == round(expected["resolve_attainment"], 4)
    assert round(total.respond.rate or 0, 4) == round(expected["respond_attainment"], 4)
    assert round(imported.made_sla_rate, 4) == round(expected["made_sla"], 4)
    assert "P3" in table
    print(
        f"\nUCI: {total.incidents} incidents in {took:.1f}s; MTTR {total.mttr.mean / 3600:.2f} h"
        f" (CSV {expected['mttr_hours']:.2f} h), p50 {total.mttr.p50 / 3600:.2f} h;"
        f" reassignment rate {total.reassignment_rate:.4f}"
        f" (CSV {expected['reassignment_rate']:.4f}); resolve attainment"
        f" {total.resolve.rate:.4f} (CSV {expected['resolve_attainment']:.4f}); respond"
        f" {total.respond.rate:.4f} (CSV {expected['respond_attainment']:.4f}); made_sla"
        f" {imported.made_sla_rate:.4f}"
    )
