"""The post-incident review in Markdown, and follow-up actions."""

from __future__ import annotations

import pytest

from triage.alert import AlertStatus
from triage.dedup import AlertState
from triage.incident import Incident, IncidentStatus, TimelineEntry, TransitionError
from triage.process.common import UnknownItem
from triage.process.record import ChecklistItem
from triage.process.review import add_follow_up, complete_follow_up, render_review
from triage.process.targets import default_targets, incident_times, target_status

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
MIN, HOUR = 60.0, 3600.0

INCIDENT = Incident(
    id="INC-42",
    key="service=checkout",
    title="Checkout | payments failing",
    status=IncidentStatus.RESOLVED,
    priority="P1",
    category="runtimes",
    group="payments",
    procedure="major",
    created_at=T0,
    updated_at=T0 + 5 * HOUR,
    started_at=T0 - 2 * MIN,
    acknowledged_at=T0 + 10 * MIN,
    resolved_at=T0 + 5 * HOUR,
    escalation_level=1,
    alert_count=2,
    labels={"service": "checkout"},
)
TIMELINE = [
    TimelineEntry(at=T0, kind="open", actor="triaged", message="opened by alert a1"),
    TimelineEntry(at=T0 + 10 * MIN, kind="acknowledge", actor="ann", message="on it"),
    TimelineEntry(
        at=T0 + 4 * HOUR,
        kind="target",
        actor="triaged",
        message="resolve target (4h) breached",
    ),
    TimelineEntry(at=T0 + 2 * HOUR, kind="note", actor="bob", message="rollback\nstarted"),
    TimelineEntry(
        at=T0 + 5 * HOUR,
        kind="resolve",
        actor="ann",
        message="rolled back release 1.2",
        data={"code": "rolled-back"},
    ),
]
ALERTS = [
    AlertState(
        fingerprint="a2",
        source="alertmanager",
        status=AlertStatus.RESOLVED,
        labels={"alertname": "CheckoutErrors"},
        annotations={},
        starts_at=T0,
        ends_at=T0 + HOUR,
        status_at=T0 + HOUR,
        first_seen=T0 + MIN,
        last_seen=T0 + HOUR,
        count=4,
    ),
    AlertState(
        fingerprint="a1",
        source="prometheus",
        status=AlertStatus.RESOLVED,
        labels={},
        annotations={"summary": "latency high"},
        starts_at=T0 - 2 * MIN,
        ends_at=T0 + 2 * HOUR,
        status_at=T0 + 2 * HOUR,
        first_seen=T0,
        last_seen=T0 + 2 * HOUR,
        count=9,
    ),
]


def review(**extra: list[ChecklistItem]) -> str:
    status = target_status(incident_times(INCIDENT, TIMELINE), (), T0 + 6 * HOUR, default_targets())
    follow_ups, _ = add_follow_up(
        [], title="Add a canary stage", owner="bob", actor="ann", now=T0 + 6 * HOUR
    )
    follow_ups, _ = add_follow_up(
        follow_ups, title="Alert on error budget", owner="cy", actor="ann", now=T0 + 6 * HOUR
    )
    follow_ups, _ = complete_follow_up(follow_ups, "FU-2", actor="cy", now=T0 + 7 * HOUR)
    return render_review(INCIDENT, ALERTS, TIMELINE, status, follow_ups, **extra)


def section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line]


def test_the_review_has_every_section_in_order() -> None:
    text = review()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Post-incident review: INC-42 Checkout | payments failing",
        "## Summary",
        "## Impact",
        "## Time to acknowledge and resolve against targets",
        "## Timeline",
        "## Alerts",
        "## Actions and who took them",
        "## Follow-up actions",
    ]


def test_summary_and_impact() -> None:
    text = review()
    assert "| Priority | P1 |" in section(text, "Summary")
    assert "| Acknowledged | 2023-11-14T22:23:20Z |" in section(text, "Summary")
    impact = section(text, "Impact")
    assert "- Service: checkout" in impact
    assert "- Priority P1, handled under the major procedure" in impact
    assert impact[2].startswith("- Duration: 5h 2m (from the first alert's start")
    assert "- Alerts: 2 distinct" in impact
    assert "- Resolution with code rolled-back by ann: rolled back release 1.2" in impact


def test_targets_show_time_taken_against_the_target() -> None:
    rows = section(review(), "Time to acknowledge and resolve against targets")
    assert "| Respond (acknowledge) | 15m | 10m | 10m | 2023-11-14T22:28:20Z | met |" in rows
    assert "| Resolve | 4h | 5h | 5h | 2023-11-15T02:13:20Z | breached |" in rows


def test_the_timeline_is_complete_in_time_order_with_cells_escaped() -> None:
    rows = section(review(), "Timeline")[2:]
    assert [row.split(" | ")[2] for row in rows] == [
        "open",
        "acknowledge",
        "note",
        "target",
        "resolve",
    ]
    assert "| bob | note | rollback<br>started |" in rows[2]


def test_alerts_and_actions() -> None:
    text = review()
    alerts = section(text, "Alerts")[2:]
    assert alerts[0].startswith("| latency high | a1 | prometheus | resolved |")
    assert alerts[1].startswith("| CheckoutErrors | a2 | alertmanager |")
    assert section(text, "Actions and who took them") == [
        "- ann: acknowledge x1, resolve x1",
        "- bob: note x1",
        "- triaged (automatic): open x1, target x1",
    ]
    assert "Checkout \\| payments" not in text.splitlines()[0]  # headings are not cells


def test_checklist_and_follow_ups() -> None:
    checklist = [
        ChecklistItem(id="declare", title="Declare", required=True, done_at=T0, done_by="ann"),
        ChecklistItem(id="review", title="Hold the review", required=True),
        ChecklistItem(id="extra", title="Tidy up", required=False),
    ]
    text = review(checklist=checklist)
    assert section(text, "Procedure checklist") == [
        "- [x] Declare: ann, 2023-11-14T22:13:20Z",
        "- [ ] Hold the review",
        "- [ ] Tidy up (optional)",
    ]
    assert section(text, "Follow-up actions") == [
        "- [ ] FU-1 Add a canary stage (owner bob)",
        "- [x] FU-2 Alert on error budget (owner cy, done by cy 2023-11-15T05:13:20Z)",
    ]


def test_follow_ups_are_tracked_items() -> None:
    items, entry = add_follow_up(
        [], title=" Fix it ", owner="bob", actor="ann", now=T0, due_at=T0 + HOUR
    )
    assert (items[0].id, items[0].title, items[0].due_at) == ("FU-1", "Fix it", T0 + HOUR)
    assert entry.kind == "follow_up"
    assert entry.data == {"follow_up": "FU-1", "owner": "bob", "due_at": T0 + HOUR}
    items, done = complete_follow_up(items, "FU-1", actor="bob", now=T0 + 1)
    assert (items[0].done_by, done.kind) == ("bob", "follow_up_done")
    with pytest.raises(TransitionError, match="already done by bob"):
        complete_follow_up(items, "FU-1", actor="bob", now=T0 + 2)
    with pytest.raises(UnknownItem):
        complete_follow_up(items, "FU-9", actor="bob", now=T0 + 2)
    with pytest.raises(ValueError, match="needs a title"):
        add_follow_up(items, title=" ", owner="bob", actor="ann", now=T0)


def test_a_review_without_alerts_or_follow_ups_says_so() -> None:
    status = target_status(incident_times(INCIDENT, []), (), T0, default_targets())
    text = render_review(INCIDENT, [], [], status, [])
    assert "No alerts are attached" in text
    assert "No actions were recorded." in text
    assert section(text, "Follow-up actions") == ["None recorded yet."]
