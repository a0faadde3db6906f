"""Folding one pipeline batch through dedup, correlation and the incident lifecycle."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Sequence

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fold_support import empty, merged
from triage.alert import Acknowledgement, Alert, AlertStatus, Event, Expiry
from triage.batch import (
    FoldSettings,
    IdsExhausted,
    Outcome,
    Snapshot,
    event_keys,
    fold_batch,
    keys_needing_incidents,
)
from triage.correlate import DEFAULT_KEY_LABELS
from triage.dedup import Change
from triage.incident import IncidentStatus, TimelineEntry

FIRING = AlertStatus.FIRING
RESOLVED = AlertStatus.RESOLVED
WINDOW = 600.0
SETTINGS = FoldSettings(
    key_labels=DEFAULT_KEY_LABELS,
    reopen_window=WINDOW,
    auto_resolve_grace=0.0,
    default_group="triage-queue",
)
GRACE = msgspec.structs.replace(SETTINGS, auto_resolve_grace=120.0)
CHECKOUT = {"alertname": "HighLatency", "service": "checkout", "environment": "prod"}
CHECKOUT_KEY = "service=checkout,environment=prod"
FP_A = "000000000000000a"
FP_B = "000000000000000b"
FP_C = "000000000000000c"


def alert(
    fp: str = FP_A,
    status: AlertStatus = FIRING,
    *,
    at: float = 1000.0,
    starts_at: float | None = None,
    ends_at: float | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    received_at: float | None = None,
) -> Alert:
    """A firing alert starting ``at``, or a resolved one ending ``at``."""
    start = starts_at if starts_at is not None else (at if status is FIRING else at - 60.0)
    end = ends_at if ends_at is not None or status is FIRING else at
    return Alert(
        fingerprint=fp,
        source="test",
        status=status,
        labels=dict(labels if labels is not None else {**CHECKOUT, "instance": fp}),
        annotations=dict(annotations if annotations is not None else {}),
        starts_at=start,
        ends_at=end,
        received_at=received_at if received_at is not None else at + 1.0,
    )


def ids(prefix: str = "INC") -> Iterator[str]:
    return (f"{prefix}-{n}" for n in itertools.count(1))


def run(*batches: Sequence[Event], fold: FoldSettings = SETTINGS) -> tuple[Snapshot, list[Outcome]]:
    snapshot, outcomes, supply = empty(), [], ids()
    for batch in batches:
        out = fold_batch(batch, snapshot, supply, fold)
        outcomes.append(out)
        snapshot = merged(snapshot, out)
    return snapshot, outcomes


# --- opening, joining --------------------------------------------------------------------


def test_new_alert_opens_an_incident() -> None:
    first = alert(
        labels={**CHECKOUT, "severity": "critical"},
        annotations={"summary": "p99 latency above 2s\nsecond line"},
        ends_at=1240.0,
    )
    out = fold_batch([first], empty(), ids(), SETTINGS)
    assert out.created == ["INC-1"]
    assert out.key_index == {CHECKOUT_KEY: "INC-1"}
    assert out.attached == {"INC-1": [FP_A]}
    incident = out.incidents["INC-1"]
    assert incident.status is IncidentStatus.TRIGGERED
    assert incident.key == CHECKOUT_KEY
    assert incident.title == "p99 latency above 2s"
    assert incident.priority == "P1"
    assert incident.group == "triage-queue"
    assert incident.labels == first.labels
    assert incident.source == "test"
    assert (incident.alert_count, incident.firing_count) == (1, 1)
    assert incident.created_at == first.received_at
    assert incident.started_at == first.starts_at
    assert incident.triage["priority"]["decided_by"] == "severity_map"
    assert incident.triage["correlation"]["key"] == CHECKOUT_KEY
    assert out.states[FP_A].incident_id == "INC-1"
    assert out.expiry_set == {FP_A: 1240.0}
    assert out.changes[Change.NEW] == 1
    assert out.changes["incident_open"] == 1
    [entry] = out.timeline["INC-1"]
    assert entry.kind == "open"
    assert entry.data == {"fingerprint": FP_A, "key": CHECKOUT_KEY}


def test_title_falls_back_to_alertname_and_service() -> None:
    out = fold_batch([alert()], empty(), ids(), SETTINGS)
    assert out.incidents["INC-1"].title == "HighLatency on checkout"
    assert out.incidents["INC-1"].priority == "P3"  # no severity label: unknown -> P3


def test_second_alert_with_the_same_key_joins() -> None:
    snapshot, [first, second] = run([alert(FP_A)], [alert(FP_B, at=1010.0)])
    assert first.created == ["INC-1"]
    assert second.created == []
    assert second.attached == {"INC-1": [FP_B]}
    incident = snapshot.incidents["INC-1"]
    assert (incident.alert_count, incident.firing_count) == (2, 2)
    assert snapshot.states[FP_B].incident_id == "INC-1"
    assert second.changes["incident_join"] == 1


def test_two_alerts_with_one_key_in_one_batch_open_one_incident() -> None:
    out = fold_batch([alert(FP_A), alert(FP_B)], empty(), ids(), SETTINGS)
    assert out.created == ["INC-1"]
    assert out.incidents["INC-1"].alert_count == 2


def test_alerts_with_different_keys_open_separate_incidents() -> None:
    other = {**CHECKOUT, "service": "payments"}
    out = fold_batch([alert(FP_A), alert(FP_B, labels=other)], empty(), ids(), SETTINGS)
    assert out.created == ["INC-1", "INC-2"]
    assert out.key_index == {CHECKOUT_KEY: "INC-1", "service=payments,environment=prod": "INC-2"}


def test_refresh_of_a_firing_alert_is_a_dedup_hit() -> None:
    snapshot, [_, second] = run([alert(ends_at=1240.0)], [alert(ends_at=1300.0)])
    assert second.changes[Change.REFRESHED] == 1
    assert second.created == []
    assert second.attached == {}
    incident = snapshot.incidents["INC-1"]
    assert (incident.alert_count, incident.firing_count) == (1, 1)
    assert snapshot.states[FP_A].count == 2
    assert second.expiry_set == {FP_A: 1300.0}


# --- resolving ---------------------------------------------------------------------------


def test_resolving_every_alert_auto_resolves_the_incident() -> None:
    snapshot, [_, second, third] = run(
        [alert(FP_A), alert(FP_B)],
        [alert(FP_A, RESOLVED, at=1500.0)],
        [alert(FP_B, RESOLVED, at=1600.0)],
    )
    assert second.incidents["INC-1"].status is IncidentStatus.TRIGGERED
    assert second.incidents["INC-1"].firing_count == 1
    incident = snapshot.incidents["INC-1"]
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolved_at == 1600.0
    assert incident.firing_count == 0
    assert third.timeline["INC-1"] == [
        TimelineEntry(
            at=1600.0,
            kind="resolve",
            actor="triaged",
            message="all alerts resolved",
            data={"from": "triggered", "auto": True},
        )
    ]
    assert FP_B in third.expiry_clear


def test_auto_resolve_is_never_dated_before_the_incident_was_created() -> None:
    # Delivered late: the alert ended at 900, before triaged opened the incident at 1000.
    snapshot, _ = run(
        [alert(at=800.0, received_at=1000.0)],
        [alert(FP_A, RESOLVED, at=900.0, received_at=1001.0)],
    )
    incident = snapshot.incidents["INC-1"]
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolved_at == incident.created_at == 1000.0


def test_grace_schedules_the_resolve_instead() -> None:
    snapshot, [_, second] = run([alert()], [alert(FP_A, RESOLVED, at=1500.0)], fold=GRACE)
    assert second.resolve_due == {"INC-1": 1620.0}
    assert snapshot.incidents["INC-1"].status is IncidentStatus.TRIGGERED
    assert snapshot.incidents["INC-1"].firing_count == 0
    assert "INC-1" not in second.timeline


def test_refire_within_the_grace_cancels_the_scheduled_resolve() -> None:
    out = fold_batch(
        [alert(), alert(FP_A, RESOLVED, at=1500.0), alert(at=1550.0)], empty(), ids(), GRACE
    )
    assert out.resolve_due == {}
    assert out.incidents["INC-1"].status is IncidentStatus.TRIGGERED
    assert out.incidents["INC-1"].firing_count == 1


def test_expiry_resolves_the_alert_and_its_incident() -> None:
    snapshot, [_, second] = run([alert(ends_at=1240.0)], [Expiry(fingerprint=FP_A, ends_at=1240.0)])
    assert second.changes[Change.EXPIRED] == 1
    assert snapshot.states[FP_A].status is RESOLVED
    assert snapshot.incidents["INC-1"].status is IncidentStatus.RESOLVED
    assert snapshot.incidents["INC-1"].resolved_at == 1240.0
    assert FP_A in second.expiry_clear


def test_expiry_of_a_refreshed_alert_changes_nothing() -> None:
    _, [_, second] = run(
        [alert(ends_at=1240.0), alert(ends_at=1300.0)], [Expiry(fingerprint=FP_A, ends_at=1240.0)]
    )
    assert second.changes[Change.STALE] == 1
    assert second.states == {}
    assert second.incidents == {}


def test_refresh_after_expiry_brings_the_incident_back() -> None:
    snapshot, [_, expired, _] = run(
        [alert(at=1000.0, ends_at=1240.0)],
        [Expiry(fingerprint=FP_A, ends_at=1240.0)],
        [alert(at=1000.0, ends_at=1600.0, received_at=1360.0)],
    )
    assert expired.incidents["INC-1"].status is IncidentStatus.RESOLVED
    assert snapshot.states[FP_A].status is FIRING
    assert snapshot.incidents[snapshot.key_index[CHECKOUT_KEY]].status.is_open


# --- reopening ---------------------------------------------------------------------------


def test_refire_within_the_reopen_window_reopens() -> None:
    snapshot, [_, _, third] = run(
        [alert(at=1000.0)],
        [alert(FP_A, RESOLVED, at=1100.0)],
        [alert(at=1100.0 + WINDOW)],
    )
    assert third.created == []
    assert third.changes["incident_reopen"] == 1
    incident = snapshot.incidents["INC-1"]
    assert incident.status is IncidentStatus.TRIGGERED
    assert incident.reopen_count == 1
    assert incident.resolved_at is None
    assert (incident.alert_count, incident.firing_count) == (1, 1)
    assert [e.kind for e in third.timeline["INC-1"]] == ["reopen"]


def test_another_alert_of_the_key_also_reopens() -> None:
    snapshot, [_, _, third] = run(
        [alert(FP_A, at=1000.0)], [alert(FP_A, RESOLVED, at=1100.0)], [alert(FP_B, at=1200.0)]
    )
    assert third.created == []
    assert snapshot.incidents["INC-1"].status is IncidentStatus.TRIGGERED
    assert snapshot.incidents["INC-1"].alert_count == 2


def test_refire_after_the_window_opens_a_new_incident() -> None:
    snapshot, [_, _, third] = run(
        [alert(at=1000.0)],
        [alert(FP_A, RESOLVED, at=1100.0)],
        [alert(at=1100.0 + WINDOW + 1.0)],
    )
    assert third.created == ["INC-2"]
    assert snapshot.key_index[CHECKOUT_KEY] == "INC-2"
    assert snapshot.incidents["INC-1"].status is IncidentStatus.RESOLVED
    assert snapshot.incidents["INC-2"].status is IncidentStatus.TRIGGERED
    assert snapshot.states[FP_A].incident_id == "INC-2"


def test_refire_after_the_incident_was_closed_opens_a_new_incident() -> None:
    snapshot, _ = run([alert(at=1000.0)], [alert(FP_A, RESOLVED, at=1100.0)])
    closed = msgspec.structs.replace(
        snapshot.incidents["INC-1"], status=IncidentStatus.CLOSED, closed_at=1150.0
    )
    snapshot.incidents["INC-1"] = closed
    out = fold_batch([alert(at=1200.0)], snapshot, ids("NEW"), SETTINGS)
    assert out.created == ["NEW-1"]


# --- acknowledgements from senders -------------------------------------------------------


def test_sender_acknowledgement_acknowledges_the_triggered_incident() -> None:
    snapshot, _ = run([alert()])
    ack = Acknowledgement(fingerprint=FP_A, at=1100.0, actor="pagerduty:alice", received_at=1101.0)
    out = fold_batch([ack], snapshot, ids(), SETTINGS)
    incident = out.incidents["INC-1"]
    assert incident.status is IncidentStatus.ACKNOWLEDGED
    assert incident.acknowledged_at == 1100.0
    [entry] = out.timeline["INC-1"]
    assert (entry.kind, entry.actor) == ("acknowledge", "pagerduty:alice")


def test_sender_acknowledgement_of_unknown_alert_is_ignored() -> None:
    ack = Acknowledgement(fingerprint=FP_A, at=1100.0, actor="x", received_at=1101.0)
    out = fold_batch([ack], empty(), ids(), SETTINGS)
    assert out.incidents == {}
    assert out.changes["incident_ack_ignored"] == 1


# --- ids ---------------------------------------------------------------------------------


def test_too_few_ids_raise_ids_exhausted() -> None:
    other = {**CHECKOUT, "service": "payments"}
    with pytest.raises(IdsExhausted):
        fold_batch([alert(FP_A), alert(FP_B, labels=other)], empty(), iter(["INC-1"]), SETTINGS)


def test_no_ids_are_needed_to_join() -> None:
    snapshot, _ = run([alert(FP_A)])
    out = fold_batch([alert(FP_B)], snapshot, iter([]), SETTINGS)
    assert out.incidents["INC-1"].alert_count == 2


def test_keys_needing_incidents_counts_first_firing_per_new_key() -> None:
    snapshot, _ = run([alert(FP_A)])
    payments = {**CHECKOUT, "service": "payments"}
    batch: list[Event] = [
        alert(FP_B),  # joins INC-1
        alert(FP_C, labels=payments),  # new key
        alert("00000000000000dd", labels=payments),  # same new key
        alert("00000000000000ee", RESOLVED, labels={"alertname": "Other"}),  # resolves open nothing
        Expiry(fingerprint=FP_A, ends_at=1.0),
    ]
    assert keys_needing_incidents(batch, snapshot, SETTINGS) == [
        "service=payments,environment=prod"
    ]


def test_event_keys_are_computed_once_per_event() -> None:
    events: list[Event] = [alert(FP_A), Expiry(fingerprint=FP_A, ends_at=1.0)]
    assert event_keys(events, DEFAULT_KEY_LABELS) == [CHECKOUT_KEY, ""]


# --- replay and isolation ----------------------------------------------------------------


def test_replaying_a_batch_against_the_same_snapshot_gives_the_same_outcome() -> None:
    snapshot, _ = run([alert(FP_A)])
    batch: list[Event] = [
        alert(FP_B),
        alert(FP_A, RESOLVED, at=1200.0),
        alert(FP_B, RESOLVED, at=1300.0),
        alert(FP_C, labels={"alertname": "Other"}),
    ]
    first = fold_batch(batch, snapshot, ids(), SETTINGS)
    second = fold_batch(batch, snapshot, ids(), SETTINGS)
    assert msgspec.to_builtins(first) == msgspec.to_builtins(second)


def test_fold_does_not_mutate_the_snapshot() -> None:
    snapshot, _ = run([alert(FP_A)])
    before = msgspec.to_builtins(snapshot)
    fold_batch([alert(FP_A, RESOLVED, at=1500.0), alert(FP_B)], snapshot, ids("X"), SETTINGS)
    assert msgspec.to_builtins(snapshot) == before


def test_fire_and_resolve_in_either_order_end_resolved_and_only_a_seen_firing_opens() -> None:
    """Decided (triage/dedup.py): a resolve seen before its firing records the alert but
    opens nothing, because senders report "OK" for things never seen failing."""
    fire, resolve = alert(at=1000.0), alert(FP_A, RESOLVED, at=1100.0)
    in_order, _ = run([fire], [resolve])
    reversed_order, _ = run([resolve], [fire])
    assert in_order.states[FP_A].status is reversed_order.states[FP_A].status is RESOLVED
    assert [i.status for i in in_order.incidents.values()] == [IncidentStatus.RESOLVED]
    assert reversed_order.incidents == {}
    assert reversed_order.states[FP_A].incident_id is None


# --- properties --------------------------------------------------------------------------

LABELS_BY_FP = {
    f"{n:016x}": {"alertname": "A", "service": f"svc{n % 3}", "instance": str(n)} for n in range(6)
}


@st.composite
def in_order_history(draw: st.DrawFn) -> list[list[Event]]:
    """Batches of events delivered in event-time order, as one sender posting them.

    Each alert fires (then is refreshed with the same start) and resolves at the current
    time; batches are separated by gaps that may exceed the reopen window, while one batch
    spans less than it.
    """
    now = 0.0
    started: dict[str, float] = {}
    batches: list[list[Event]] = []
    for _ in range(draw(st.integers(1, 4))):
        now += draw(st.sampled_from([1.0, 300.0, WINDOW + 1.0, 5000.0]))
        batch: list[Event] = []
        for _ in range(draw(st.integers(0, 6))):
            now += draw(st.integers(1, 50))
            fp = draw(st.sampled_from(sorted(LABELS_BY_FP)))
            labels = LABELS_BY_FP[fp]
            if draw(st.booleans()):
                start = started.setdefault(fp, now)
                batch.append(Alert(fp, "t", FIRING, labels, {}, start, None, now))
            elif fp in started:
                batch.append(Alert(fp, "t", RESOLVED, labels, {}, started.pop(fp), now, now))
        batches.append(batch)
    return batches


@settings(max_examples=300, deadline=None)
@given(in_order_history(), st.sampled_from([SETTINGS, GRACE]))
def test_estimate_matches_the_incidents_opened_for_in_order_batches(
    batches: list[list[Event]], fold: FoldSettings
) -> None:
    snapshot = empty()
    supply = ids()
    for batch in batches:
        needed = keys_needing_incidents(batch, snapshot, fold)
        allocated = list(itertools.islice(supply, len(needed)))
        out = fold_batch(batch, snapshot, iter(allocated), fold)  # must not exhaust
        assert out.created == allocated
        assert sorted(out.incidents[i].key for i in out.created) == sorted(needed)
        snapshot = merged(snapshot, out)


any_event = st.one_of(
    st.builds(
        lambda fp, firing, at, lifetime, received: Alert(
            fp,
            "t",
            FIRING if firing else RESOLVED,
            LABELS_BY_FP[fp],
            {},
            float(at),
            float(at + lifetime) if lifetime or not firing else None,
            float(received),
        ),
        st.sampled_from(sorted(LABELS_BY_FP)),
        st.booleans(),
        st.integers(0, 3000),
        st.sampled_from([0, 50, 300]),
        st.integers(0, 3000),
    ),
    st.builds(
        lambda fp, at: Expiry(fp, float(at)),
        st.sampled_from(sorted(LABELS_BY_FP)),
        st.integers(0, 3000),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(any_event, max_size=8), max_size=4), st.sampled_from([SETTINGS, GRACE]))
def test_invariants_hold_for_any_event_order(
    batches: list[list[Event]], fold: FoldSettings
) -> None:
    """Whatever arrives in whatever order: one open incident per key at most, firing
    counts equal the firing alerts attached, and the id estimate only falls short
    (``IdsExhausted``) when the fold really needs more ids than estimated."""
    snapshot = empty()
    for n, batch in enumerate(batches):
        needed = keys_needing_incidents(batch, snapshot, fold)
        unbounded = fold_batch(batch, snapshot, ids(f"B{n}"), fold)
        try:
            fold_batch(
                batch, snapshot, iter([f"B{n}-{i}" for i in range(1, len(needed) + 1)]), fold
            )
        except IdsExhausted:
            assert len(unbounded.created) > len(needed)
        else:
            assert len(unbounded.created) <= len(needed)
        assert len(set(unbounded.created)) == len(unbounded.created)
        snapshot = merged(snapshot, unbounded)
        open_per_key = Counter(i.key for i in snapshot.incidents.values() if i.status.is_open)
        assert all(count == 1 for count in open_per_key.values()), open_per_key
        for incident in snapshot.incidents.values():
            attached = [s for s in snapshot.states.values() if s.incident_id == incident.id]
            assert incident.firing_count == sum(1 for s in attached if s.firing)
            assert incident.alert_count >= len(attached)
        for key, incident_id in snapshot.key_index.items():
            assert snapshot.incidents[incident_id].key == key
