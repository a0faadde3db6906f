"""Dedup: folding alert events into the stored state of one fingerprint."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from triage.alert import Alert, AlertStatus, Expiry
from triage.dedup import AlertState, Change, apply_alert, apply_expiry

FP = "00000000000000aa"
FIRING = AlertStatus.FIRING
RESOLVED = AlertStatus.RESOLVED


def alert(
    status: AlertStatus = FIRING,
    *,
    starts_at: float = 100.0,
    ends_at: float | None = None,
    received_at: float = 1000.0,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    fingerprint: str = FP,
) -> Alert:
    return Alert(
        fingerprint=fingerprint,
        source="test",
        status=status,
        labels=labels if labels is not None else {"alertname": "DiskFull"},
        annotations=annotations if annotations is not None else {"summary": "disk full"},
        starts_at=starts_at,
        ends_at=ends_at,
        received_at=received_at,
        generator_url="http://prometheus.example/graph",
    )


def fold(events: Iterable[Alert], state: AlertState | None = None) -> AlertState:
    for event in events:
        state, _ = apply_alert(state, event)
    assert state is not None
    return state


# --- NEW ---------------------------------------------------------------------------------


def test_first_firing_event_is_new() -> None:
    event = alert(starts_at=100.0, ends_at=400.0, received_at=105.0)
    state, change = apply_alert(None, event)
    assert change is Change.NEW
    assert state.fingerprint == FP
    assert state.source == "test"
    assert state.status is FIRING
    assert state.firing
    assert state.labels == {"alertname": "DiskFull"}
    assert state.annotations == {"summary": "disk full"}
    assert state.starts_at == 100.0
    assert state.ends_at == 400.0
    assert state.status_at == 100.0  # a firing event asserts its status at starts_at
    assert state.first_seen == state.last_seen == 105.0
    assert state.count == 1
    assert state.generator_url == "http://prometheus.example/graph"
    assert state.incident_id is None


def test_first_resolved_event_is_new_and_dated_by_ends_at() -> None:
    state, change = apply_alert(None, alert(RESOLVED, starts_at=100.0, ends_at=250.0))
    assert change is Change.NEW
    assert state.status is RESOLVED
    assert not state.firing
    assert state.status_at == 250.0


def test_resolved_event_without_ends_at_is_dated_by_receipt() -> None:
    state, _ = apply_alert(None, alert(RESOLVED, ends_at=None, received_at=777.0))
    assert state.status_at == 777.0


# --- REFRESHED ---------------------------------------------------------------------------


def test_firing_again_while_firing_is_a_refresh() -> None:
    first, _ = apply_alert(None, alert(starts_at=100.0, ends_at=400.0, received_at=110.0))
    first = msgspec.structs.replace(first, incident_id="INC-1")
    refresh = alert(
        starts_at=100.0,
        ends_at=460.0,
        received_at=170.0,
        annotations={"summary": "disk still full"},
    )
    state, change = apply_alert(first, refresh)
    assert change is Change.REFRESHED
    assert state.status is FIRING
    assert state.count == 2
    assert state.first_seen == 110.0
    assert state.last_seen == 170.0
    assert state.ends_at == 460.0  # the later end re-arms expiry
    assert state.annotations == {"summary": "disk still full"}
    assert state.incident_id == "INC-1"
    assert state.status_at == 100.0


def test_refresh_keeps_the_later_end_and_the_earlier_start() -> None:
    first = fold([alert(starts_at=100.0, ends_at=500.0)])
    state, change = apply_alert(first, alert(starts_at=120.0, ends_at=450.0))
    assert change is Change.REFRESHED
    assert state.ends_at == 500.0
    assert state.starts_at == 100.0
    assert state.status_at == 120.0


def test_refresh_without_end_disarms_expiry_and_refresh_with_end_rearms_it() -> None:
    with_end = fold([alert(ends_at=500.0)])
    without, _ = apply_alert(with_end, alert(ends_at=None))
    assert without.ends_at is None
    again, _ = apply_alert(without, alert(ends_at=600.0))
    assert again.ends_at == 600.0


# --- RESOLVED ----------------------------------------------------------------------------


def test_resolve_of_a_firing_alert() -> None:
    firing = fold([alert(starts_at=100.0, received_at=101.0)])
    firing = msgspec.structs.replace(firing, incident_id="INC-7")
    state, change = apply_alert(
        firing, alert(RESOLVED, starts_at=100.0, ends_at=300.0, received_at=305.0)
    )
    assert change is Change.RESOLVED
    assert state.status is RESOLVED
    assert state.status_at == 300.0
    assert state.ends_at == 300.0
    assert state.starts_at == 100.0  # the activation's start survives the resolve
    assert state.incident_id == "INC-7"  # still belongs to its incident
    assert state.count == 2
    assert (state.first_seen, state.last_seen) == (101.0, 305.0)


# --- REFIRED -----------------------------------------------------------------------------


def test_firing_after_resolve_is_a_refire_with_the_new_start() -> None:
    resolved = fold([alert(starts_at=100.0), alert(RESOLVED, starts_at=100.0, ends_at=300.0)])
    resolved = msgspec.structs.replace(resolved, incident_id="INC-3")
    state, change = apply_alert(resolved, alert(starts_at=400.0, ends_at=700.0))
    assert change is Change.REFIRED
    assert state.status is FIRING
    assert state.starts_at == 400.0
    assert state.status_at == 400.0
    assert state.ends_at == 700.0
    assert state.count == 3
    assert state.incident_id == "INC-3"


# --- DUPLICATE ---------------------------------------------------------------------------


def test_resolved_again_while_resolved_is_a_duplicate() -> None:
    resolved = fold(
        [
            alert(starts_at=100.0, received_at=101.0),
            alert(RESOLVED, ends_at=300.0, received_at=301.0),
        ]
    )
    state, change = apply_alert(resolved, alert(RESOLVED, ends_at=300.0, received_at=900.0))
    assert change is Change.DUPLICATE
    assert state.status is RESOLVED
    assert state.status_at == 300.0
    assert state.count == 3
    assert state.last_seen == 900.0


# --- STALE -------------------------------------------------------------------------------


def test_event_older_than_the_stored_status_is_stale() -> None:
    resolved = fold(
        [
            alert(starts_at=100.0, received_at=105.0),
            alert(RESOLVED, ends_at=300.0, received_at=310.0),
        ]
    )
    late_firing = alert(starts_at=100.0, received_at=50.0, annotations={"summary": "late"})
    state, change = apply_alert(resolved, late_firing)
    assert change is Change.STALE
    assert state.status is RESOLVED
    assert state.status_at == 300.0
    assert state.annotations == {"summary": "disk full"}  # nothing but receipt counters
    assert state.count == 3
    assert state.first_seen == 50.0  # receipt bounds still widen
    assert state.last_seen == 310.0


def test_older_resolve_after_a_newer_refire_is_stale() -> None:
    refired = fold([alert(starts_at=100.0), alert(starts_at=500.0)])
    state, change = apply_alert(refired, alert(RESOLVED, starts_at=100.0, ends_at=300.0))
    assert change is Change.STALE
    assert state.status is FIRING
    assert state.status_at == 500.0


# --- EXPIRED (apply_expiry) --------------------------------------------------------------


def test_firing_alert_whose_end_passed_expires() -> None:
    firing = fold([alert(starts_at=100.0, ends_at=400.0)])
    state, change = apply_expiry(firing, Expiry(fingerprint=FP, ends_at=400.0))
    assert change is Change.EXPIRED
    assert state is not None
    assert state.status is RESOLVED
    assert state.status_at == 400.0
    assert state.count == firing.count  # an expiry is not a received event


def test_expiry_after_a_refresh_that_extended_the_end_is_stale() -> None:
    refreshed = fold([alert(ends_at=400.0), alert(ends_at=460.0)])
    state, change = apply_expiry(refreshed, Expiry(fingerprint=FP, ends_at=400.0))
    assert change is Change.STALE
    assert state is refreshed


@pytest.mark.parametrize(
    "prev",
    [
        None,
        AlertState(
            fingerprint=FP,
            source="test",
            status=RESOLVED,
            labels={},
            annotations={},
            starts_at=1.0,
            ends_at=5.0,
            status_at=5.0,
            first_seen=1.0,
            last_seen=5.0,
            count=2,
        ),
        AlertState(
            fingerprint=FP,
            source="test",
            status=FIRING,
            labels={},
            annotations={},
            starts_at=1.0,
            ends_at=None,
            status_at=1.0,
            first_seen=1.0,
            last_seen=1.0,
            count=1,
        ),
    ],
    ids=["unknown", "already-resolved", "firing-without-end"],
)
def test_expiry_that_does_not_apply_is_stale(prev: AlertState | None) -> None:
    state, change = apply_expiry(prev, Expiry(fingerprint=FP, ends_at=10.0))
    assert change is Change.STALE
    assert state is prev


def test_expiry_never_moves_status_time_backwards() -> None:
    # ends_at earlier than starts_at (clock skew at the sender) must not date the
    # resolve before the firing it ends.
    firing = fold([alert(starts_at=300.0, ends_at=200.0)])
    state, change = apply_expiry(firing, Expiry(fingerprint=FP, ends_at=200.0))
    assert change is Change.EXPIRED
    assert state is not None
    assert state.status_at == 300.0


def test_every_change_kind_is_covered_here() -> None:
    seen: set[Change] = set()
    state, change = apply_alert(None, alert(starts_at=1.0))
    seen.add(change)
    for event in (
        alert(starts_at=1.0),  # refreshed
        alert(RESOLVED, ends_at=5.0),  # resolved
        alert(RESOLVED, ends_at=5.0),  # duplicate
        alert(starts_at=2.0),  # stale
        alert(starts_at=9.0, ends_at=20.0),  # refired
    ):
        state, change = apply_alert(state, event)
        seen.add(change)
    _, change = apply_expiry(state, Expiry(fingerprint=FP, ends_at=20.0))
    seen.add(change)
    assert seen == set(Change)


# --- order tolerance ---------------------------------------------------------------------


def final(events: Sequence[Alert]) -> tuple[AlertStatus, float]:
    state = fold(events)
    return state.status, state.status_at


def test_every_order_of_fire_resolve_refire_converges() -> None:
    events = [
        alert(starts_at=100.0, received_at=1.0),
        alert(starts_at=100.0, received_at=2.0),  # a refresh
        alert(RESOLVED, starts_at=100.0, ends_at=200.0, received_at=3.0),
        alert(starts_at=300.0, received_at=4.0),
    ]
    outcomes = {final(order) for order in itertools.permutations(events)}
    assert outcomes == {(FIRING, 300.0)}


def test_every_order_of_fire_and_resolve_converges_on_resolved() -> None:
    events = [
        alert(starts_at=100.0, received_at=1.0),
        alert(RESOLVED, starts_at=100.0, ends_at=200.0, received_at=2.0),
        alert(RESOLVED, starts_at=100.0, ends_at=200.0, received_at=3.0),
    ]
    outcomes = {final(order) for order in itertools.permutations(events)}
    assert outcomes == {(RESOLVED, 200.0)}


def test_receipt_counters_are_order_independent() -> None:
    events = [
        alert(starts_at=100.0, received_at=10.0),
        alert(RESOLVED, ends_at=200.0, received_at=30.0),
        alert(starts_at=300.0, received_at=20.0),
    ]
    results = {
        (s.count, s.first_seen, s.last_seen)
        for s in (fold(order) for order in itertools.permutations(events))
    }
    assert results == {(3, 10.0, 30.0)}


@st.composite
def one_activation_and_refire(draw: st.DrawFn) -> list[Alert]:
    """Fire at s1 (refreshed), resolve at e1 (resent), fire again at s2: s1 < e1 < s2.

    Every resolved event of one activation carries the same ``ends_at``, as Alertmanager
    and Prometheus resend them.
    """
    s1, e1, s2 = sorted(draw(st.lists(st.integers(0, 1000), min_size=3, max_size=3, unique=True)))
    fires1 = draw(st.integers(0, 3))
    resolves = draw(st.integers(0, 3))
    fires2 = draw(st.integers(0, 3))
    events = (
        [alert(starts_at=s1, ends_at=s1 + 300) for _ in range(fires1)]
        + [alert(RESOLVED, starts_at=s1, ends_at=e1) for _ in range(resolves)]
        + [alert(starts_at=s2, ends_at=s2 + 300) for _ in range(fires2)]
    )
    if not events:
        events = [alert(starts_at=s1)]
    receipts = draw(
        st.lists(st.floats(0, 1e6), min_size=len(events), max_size=len(events), unique=True)
    )
    return [
        msgspec.structs.replace(e, received_at=at) for e, at in zip(events, receipts, strict=True)
    ]


@given(one_activation_and_refire(), st.data())
def test_any_permutation_converges_on_the_latest_event(
    events: list[Alert], data: st.DataObject
) -> None:
    latest = max(events, key=lambda e: e.event_at)
    shuffled = data.draw(st.permutations(events))
    assert final(shuffled) == final(events) == (latest.status, latest.event_at)
    state = fold(shuffled)
    assert state.count == len(events)
    assert state.first_seen == min(e.received_at for e in events)
    assert state.last_seen == max(e.received_at for e in events)


@st.composite
def activations(draw: st.DrawFn) -> list[Alert]:
    """Several activations of one alert, s1 < e1 < s2 < e2 < ..., each fired (and
    refreshed) at its start and resolved (and resent) at its end; the last one may still
    be firing. This is how Alertmanager and Prometheus report an alert over time."""
    n = draw(st.integers(1, 3))
    times = sorted(
        draw(st.lists(st.integers(0, 10_000), min_size=2 * n, max_size=2 * n, unique=True))
    )
    events: list[Alert] = []
    for i in range(n):
        start, end = times[2 * i], times[2 * i + 1]
        events += [alert(starts_at=start) for _ in range(draw(st.integers(1, 2)))]
        if i < n - 1 or draw(st.booleans()):
            events += [
                alert(RESOLVED, starts_at=start, ends_at=end)
                for _ in range(draw(st.integers(1, 2)))
            ]
    return events


@given(activations(), st.data())
def test_receipt_counters_converge_for_any_history(
    events: list[Alert], data: st.DataObject
) -> None:
    state = fold(data.draw(st.permutations(events)))
    assert state.count == len(events)
    assert state.status_at in {e.event_at for e in events}


@st.composite
def activations_in_some_order(draw: st.DrawFn) -> tuple[list[Alert], list[Alert]]:
    events = draw(activations())
    return events, draw(st.permutations(events))


SEVERAL_ACTIVATIONS = [
    alert(starts_at=0.0),
    alert(RESOLVED, starts_at=0.0, ends_at=1.0),
    alert(starts_at=2.0),
    alert(RESOLVED, starts_at=2.0, ends_at=3.0),
]


@given(activations_in_some_order())
@example(
    (
        SEVERAL_ACTIVATIONS,
        # both resolves first: the second is a DUPLICATE stuck at 1, so the firing at 2
        # refires the alert although it resolved at 3
        [SEVERAL_ACTIVATIONS[i] for i in (1, 3, 0, 2)],
    )
)
def test_any_permutation_of_several_activations_converges(
    history: tuple[list[Alert], list[Alert]],
) -> None:
    events, shuffled = history
    latest = max(events, key=lambda e: e.event_at)
    assert final(shuffled) == final(events) == (latest.status, latest.event_at)


def test_duplicate_resolves_with_different_end_times_converge() -> None:
    events = [
        alert(starts_at=0.0),
        alert(RESOLVED, starts_at=0.0, ends_at=10.0),
        alert(RESOLVED, starts_at=0.0, ends_at=20.0),
        alert(starts_at=15.0),
    ]
    outcomes = {final(order) for order in itertools.permutations(events)}
    assert len(outcomes) == 1


def test_firing_and_resolved_at_the_same_instant_converge() -> None:
    events = [alert(starts_at=10.0), alert(RESOLVED, starts_at=10.0, ends_at=10.0)]
    outcomes = {final(order) for order in itertools.permutations(events)}
    assert len(outcomes) == 1


def test_refresh_arriving_after_expiry_revives_the_alert() -> None:
    firing = fold([alert(starts_at=100.0, ends_at=340.0, received_at=100.0)])
    expired, change = apply_expiry(firing, Expiry(fingerprint=FP, ends_at=340.0))
    assert change is Change.EXPIRED
    assert expired is not None
    state, change = apply_alert(expired, alert(starts_at=100.0, ends_at=700.0, received_at=460.0))
    assert state.status is FIRING
    assert change is Change.REFIRED


def test_refresh_arriving_before_expiry_keeps_the_alert_firing() -> None:
    firing = fold([alert(starts_at=100.0, ends_at=340.0), alert(starts_at=100.0, ends_at=700.0)])
    state, change = apply_expiry(firing, Expiry(fingerprint=FP, ends_at=340.0))
    assert change is Change.STALE
    assert state is not None
    assert state.status is FIRING
