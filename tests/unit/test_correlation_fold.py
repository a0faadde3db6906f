"""The correlation engine inside the batch fold: admission, topology, flapping, overrides,
automatic merges and the reads a fold asks for; times are the senders', so every test
controls the clock through the events it folds."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import msgspec
import pytest

from tests.unit.fold_support import complete, empty, merged
from triage.alert import AdmissionDue, Alert, AlertStatus, Event
from triage.batch import FoldSettings, NeedsReads, Outcome, Snapshot, fold_batch
from triage.correlate import DEFAULT_KEY_LABELS
from triage.correlation import (
    AlertFacts,
    CorrelationConfig,
    Flapping,
    Override,
    Thresholds,
    Topology,
    features,
)
from triage.correlation.fold import CorrelationSnapshot
from triage.correlation.profile import counted, new_profile, with_alert
from triage.incident import IncidentStatus

FIRING, RESOLVED = AlertStatus.FIRING, AlertStatus.RESOLVED
SETTINGS = FoldSettings(
    key_labels=DEFAULT_KEY_LABELS,
    reopen_window=600.0,
    auto_resolve_grace=0.0,
    default_group="triage-queue",
)
HELD = msgspec.structs.replace(
    SETTINGS,
    correlation=CorrelationConfig(
        thresholds=Thresholds(min_alerts=3, min_alerts_window=60, pause=120)
    ),
)
FLAPPY = msgspec.structs.replace(
    SETTINGS, correlation=CorrelationConfig(flapping=Flapping(max_changes=3, window=600))
)
GRAPH = Topology(
    {"db": [], "orders": ["db"], "checkout": ["orders"], "search": []}, max_depth=2, max_reach=64
)
DOWN = {"alertname": "PostgresDown", "severity": "critical"}
ERRORS = {"alertname": "HighErrorRate", "severity": "warning"}
SUMMARIES = {
    "PostgresDown": "Postgres down",
    "HighErrorRate": "5xx error rate high",
    "DiskFull": "Disk almost full",
}


def alert(
    service: str,
    fp: str,
    at: float,
    status: AlertStatus = FIRING,
    kind: dict[str, str] = ERRORS,
    **labels: str,
) -> Alert:
    return Alert(
        fingerprint=fp,
        source="test",
        status=status,
        labels={"service": service, "environment": "prod", **kind, **labels},
        annotations={"summary": SUMMARIES[kind["alertname"]]},
        starts_at=at if status is FIRING else at - 30,
        ends_at=None if status is FIRING else at,
        received_at=at + 1,
    )


class Shell:
    """Folds batches one after the other, carrying the state like the daemon's store."""

    def __init__(self, settings: FoldSettings = SETTINGS, topology: Topology = GRAPH) -> None:
        self.settings = settings
        self.topology = topology
        self.snapshot = empty()
        self.ids: Iterator[str] = (f"INC-{n}" for n in itertools.count(1))

    def fold(self, *events: Event) -> Outcome:
        out = fold_batch(events, self.snapshot, self.ids, self.settings, topology=self.topology)
        self.snapshot = merged(self.snapshot, out)
        return out

    def incident_of(self, fp: str) -> str | None:
        return self.snapshot.states[fp].incident_id


def test_a_caller_joins_its_failing_dependency_with_the_path_in_trace_and_timeline() -> None:
    shell = Shell()
    shell.fold(alert("db", "db1", 0, kind=DOWN))
    out = shell.fold(alert("orders", "o1", 30), alert("checkout", "c1", 40))
    assert shell.incident_of("o1") == shell.incident_of("c1") == "INC-1"
    assert out.created == []
    incident = shell.snapshot.incidents["INC-1"]
    trace = incident.triage["correlation"]
    assert trace["rule"] == "new"
    assert trace["attached"] == {"new": 1, "topology": 2}
    assert "topology: orders -> db (depends on, 1 hops) in INC-1" in trace["recent"][0]["why"]
    joined = [e for e in out.timeline["INC-1"] if e.kind == "attach"]
    assert [e.data["path"] for e in joined] == [["orders", "db"], ["checkout", "orders"]]
    impact = incident.triage["impact"]
    assert impact["root"]["service"] == "db"
    assert list(impact["services"]) == ["checkout", "db", "orders"]
    assert (impact["service_count"], impact["alert_count"]) == (3, 3)
    assert shell.snapshot.key_index["service=orders,environment=prod"] == "INC-1"


def test_an_unrelated_problem_at_the_same_moment_stays_apart() -> None:
    shell = Shell()
    shell.fold(alert("db", "db1", 0, kind=DOWN), alert("search", "s1", 5))
    assert shell.incident_of("db1") != shell.incident_of("s1")


def test_without_topology_the_key_still_groups_and_a_new_key_opens() -> None:
    shell = Shell(topology=Topology.empty())
    shell.fold(alert("db", "db1", 0, kind=DOWN), alert("db", "db2", 1, kind=DOWN, pod="b"))
    shell.fold(alert("orders", "o1", 30))
    assert shell.incident_of("db1") == shell.incident_of("db2") == "INC-1"
    assert shell.incident_of("o1") == "INC-2"


def test_alerts_are_held_until_the_count_threshold_then_admitted_together() -> None:
    shell = Shell(HELD)
    out = shell.fold(alert("orders", "o1", 0), alert("orders", "o2", 10, pod="b"))
    assert out.created == []
    assert shell.incident_of("o1") is None
    key = "service=orders,environment=prod"
    assert out.corr.admission_set == {key: 120.0}  # the pause rule's timer
    assert [h.fingerprint for h in shell.snapshot.corr.pending[key].held] == ["o1", "o2"]
    out = shell.fold(alert("orders", "o3", 20, pod="c"))
    assert out.created == ["INC-1"]
    assert {shell.incident_of(fp) for fp in ("o1", "o2", "o3")} == {"INC-1"}
    assert key in out.corr.pending_clear
    assert key in out.corr.admission_clear
    admission = shell.snapshot.incidents["INC-1"].triage["correlation"]["admission"]
    assert admission["reason"] == "3 alerts within 60s"


def test_a_held_alert_is_admitted_when_its_pause_ran_out() -> None:
    shell = Shell(HELD)
    shell.fold(alert("orders", "o1", 0))
    key = "service=orders,environment=prod"
    early = shell.fold(AdmissionDue(key=key, at=60.0))
    assert early.created == []
    out = shell.fold(AdmissionDue(key=key, at=120.0))
    assert out.created == ["INC-1"]
    assert shell.incident_of("o1") == "INC-1"


def test_a_held_alert_that_resolves_is_transient_kept_and_counted() -> None:
    shell = Shell(HELD)
    shell.fold(alert("orders", "o1", 0))
    out = shell.fold(alert("orders", "o1", 20, RESOLVED))
    assert out.created == []
    assert out.changes["corr_transient"] == 1
    assert shell.snapshot.states["o1"].status is RESOLVED  # kept by dedup
    key = "service=orders,environment=prod"
    assert shell.snapshot.corr.pending[key].transient == 1
    assert out.corr.admission_clear == {key}
    later = shell.fold(AdmissionDue(key=key, at=200.0))
    assert later.created == []


def test_alerts_of_a_live_key_skip_admission() -> None:
    shell = Shell(HELD)
    shell.fold(*(alert("orders", f"o{n}", n, pod=str(n)) for n in range(3)))
    out = shell.fold(alert("orders", "o9", 30, pod="9"))
    assert out.changes["corr_held"] == 0
    assert shell.incident_of("o9") == "INC-1"


def test_a_flapping_alert_is_marked_and_keeps_its_incident_open() -> None:
    shell = Shell(FLAPPY)
    shell.fold(alert("orders", "o1", 0))
    statuses = []
    for n in range(1, 7):
        status = RESOLVED if n % 2 else FIRING
        out = shell.fold(alert("orders", "o1", 100 * n, status))
        statuses.append(shell.snapshot.incidents["INC-1"].status)
    state = shell.snapshot.states["o1"]
    assert state.flap is not None
    assert state.flap.flapping
    # resolved and reopened twice before its fourth change made it flapping; then it stays open
    resolved, triggered = IncidentStatus.RESOLVED, IncidentStatus.TRIGGERED
    assert statuses[:4] == [resolved, triggered, resolved, triggered]
    assert set(statuses[4:]) == {triggered}
    assert out.resolve_due == {}  # firing again at the last change
    resolving = shell.fold(alert("orders", "o1", 800, RESOLVED))
    assert resolving.resolve_due == {"INC-1": 800.0 + 600.0}  # once it kept still
    kinds = [e.kind for entries in [resolving.timeline.get("INC-1", [])] for e in entries]
    assert "resolve" not in kinds


def test_an_operator_override_pins_later_alerts_of_the_key() -> None:
    shell = Shell(topology=Topology.empty())
    shell.fold(alert("db", "db1", 0, kind=DOWN), alert("search", "s1", 1))
    pinned = Override(
        key="service=search,environment=prod",
        incident_id="INC-1",
        kind="merge",
        actor="alice",
        at=2,
        expires_at=10_000,
    )
    corr = shell.snapshot.corr
    shell.snapshot = msgspec.structs.replace(
        shell.snapshot,
        corr=msgspec.structs.replace(corr, overrides={pinned.key: pinned}),
    )
    shell.fold(alert("search", "s2", 10, pod="b"))
    assert shell.incident_of("s2") == "INC-1"
    trace = shell.snapshot.incidents["INC-1"].triage["correlation"]
    assert trace["attached"] == {"new": 1, "override": 1}


def test_an_alert_that_ties_two_incidents_asks_for_a_merge() -> None:
    shell = Shell()
    shell.fold(alert("db", "db1", 0, kind={"alertname": "DiskFull", "severity": "warning"}))
    shell.fold(alert("orders", "o1", 10))  # db's disk explains nothing: its own incident
    assert shell.incident_of("o1") == "INC-2"
    out = shell.fold(alert("db", "db2", 20, kind=DOWN))  # now db fails its callers
    assert shell.incident_of("db2") == "INC-1"
    [request] = out.corr.merges
    assert (request.target, request.sources) == ("INC-1", ("INC-2",))


def test_a_fold_wants_what_it_was_not_given_and_succeeds_once_given() -> None:
    snapshot = Snapshot(states={}, key_index={}, incidents={}, corr=CorrelationSnapshot())
    events = [alert("orders", "o1", 0)]
    with pytest.raises(NeedsReads) as wanted:
        fold_batch(events, snapshot, iter(["INC-1"]), SETTINGS, topology=GRAPH)
    reads = wanted.value.reads
    assert set(reads.slots) == {'["prod","orders"]', '["prod","db"]', '["prod","checkout"]'}
    assert reads.pending == set()  # no thresholds: no admission record to read
    given = CorrelationSnapshot(
        slots={name: [] for name in reads.slots},
        slots_since=dict(reads.slots),
        pending_read=set(reads.pending),
    )
    snapshot = msgspec.structs.replace(snapshot, corr=given)
    out = fold_batch(events, snapshot, iter(["INC-1"]), SETTINGS, topology=GRAPH)
    assert out.created == ["INC-1"]


def test_a_candidate_named_by_a_slot_is_wanted_before_it_is_joined() -> None:
    shell = Shell()
    shell.fold(alert("db", "db1", 0, kind=DOWN))
    corr = shell.snapshot.corr
    partial = Snapshot(
        states={},
        key_index={},
        incidents={},
        corr=CorrelationSnapshot(
            slots=corr.slots,
            slots_since=dict.fromkeys(corr.slots, -1e9),
            pending_read={"service=orders,environment=prod"},
        ),
    )
    with pytest.raises(NeedsReads) as wanted:
        fold_batch([alert("orders", "o1", 30)], partial, iter(["INC-9"]), SETTINGS, topology=GRAPH)
    assert wanted.value.reads.incidents == {"INC-1"}


def test_replaying_a_batch_gives_the_same_outcome() -> None:
    events: Sequence[Event] = [
        alert("db", "db1", 0, kind=DOWN),
        alert("orders", "o1", 30),
        alert("search", "s1", 40),
    ]
    first = fold_batch(events, empty(), iter(["A", "B", "C"]), SETTINGS, topology=GRAPH)
    second = fold_batch(events, empty(), iter(["A", "B", "C"]), SETTINGS, topology=GRAPH)
    assert msgspec.to_builtins(first) == msgspec.to_builtins(second)
    assert complete(writes=first.corr).profiles.keys() == {"A", "B"}


def test_a_repeat_of_a_known_rule_counts_as_the_engine_would() -> None:
    config = CorrelationConfig()
    first = AlertFacts.of(
        "a", "service=orders", {"service": "orders", **ERRORS, "pod": "p1"}, {}, 10.0
    )
    again = AlertFacts.of(
        "b", "service=orders", {"service": "orders", **ERRORS, "pod": "p2"}, {}, 20.0
    )
    opened = new_profile(first, features(first, config), GRAPH, config)
    full = with_alert(opened, again, features(again, config), GRAPH, config)
    assert counted(opened, "orders", 20.0, "p2", config) == full


def test_a_fan_out_joins_by_key_and_counts_every_pod() -> None:
    shell = Shell(topology=Topology.empty())
    shell.fold(alert("orders", "o0", 0, pod="p0"))
    shell.fold(*(alert("orders", f"o{n}", n, pod=f"p{n}") for n in range(1, 40)))
    incident = shell.snapshot.incidents["INC-1"]
    assert incident.alert_count == 40
    assert abs(incident.triage["impact"]["instance_count"] - 40) <= 1  # an estimate
    assert incident.triage["correlation"]["attached"] == {"new": 1, "key": 39}
