"""Admission thresholds: N alerts of a key in M seconds, or one firing for a pause."""

from __future__ import annotations

from triage.correlation import Gate, Thresholds, on_due, on_firing, on_resolved
from triage.correlation.gate import expired

THREE_IN_60 = Thresholds(min_alerts=3, min_alerts_window=60, pause=120)


def test_without_thresholds_every_alert_is_admitted_at_once() -> None:
    record, admission = on_firing(None, "k", "a", 0.0, Thresholds())
    assert record is None
    assert admission.verdict is Gate.ADMIT
    assert admission.fingerprints == ("a",)


def test_held_until_the_third_alert_within_the_window() -> None:
    record, first = on_firing(None, "k", "a", 0.0, THREE_IN_60)
    record, second = on_firing(record, "k", "b", 30.0, THREE_IN_60)
    assert first.verdict is second.verdict is Gate.HOLD
    assert second.due_at == 120.0  # the oldest held alert's pause
    record, third = on_firing(record, "k", "c", 59.0, THREE_IN_60)
    assert record is None
    assert third.verdict is Gate.ADMIT
    assert third.fingerprints == ("a", "b", "c")  # oldest first
    assert "3 alerts within 60s" in third.reason


def test_alerts_outside_the_window_do_not_count() -> None:
    record, _ = on_firing(None, "k", "a", 0.0, THREE_IN_60)
    record, _ = on_firing(record, "k", "b", 30.0, THREE_IN_60)
    record, third = on_firing(record, "k", "c", 91.0, THREE_IN_60)  # "a" is 91 s old
    assert third.verdict is Gate.HOLD
    assert record is not None
    assert len(record.held) == 3


def test_a_repeat_of_a_held_alert_is_not_a_new_arrival() -> None:
    record, _ = on_firing(None, "k", "a", 0.0, THREE_IN_60)
    for at in (10.0, 20.0, 30.0):
        record, again = on_firing(record, "k", "a", at, THREE_IN_60)
        assert again.verdict is Gate.HOLD
    assert record is not None
    assert record.arrivals == (0.0,)


def test_the_pause_admits_a_lone_alert_that_keeps_firing() -> None:
    record, _ = on_firing(None, "k", "a", 0.0, THREE_IN_60)
    record, early = on_due(record, 119.0, THREE_IN_60)
    assert early.verdict is Gate.HOLD
    assert early.due_at == 120.0
    record, due = on_due(record, 120.0, THREE_IN_60)
    assert record is None
    assert due.verdict is Gate.ADMIT
    assert due.fingerprints == ("a",)


def test_an_alert_resolving_within_the_pause_is_transient_and_counted() -> None:
    record, _ = on_firing(None, "k", "a", 0.0, THREE_IN_60)
    record, gone = on_resolved(record, "a", 40.0, THREE_IN_60)
    assert gone.verdict is Gate.TRANSIENT
    assert gone.transient == 1
    assert record is not None
    assert record.held == ()
    assert record.transient == 1
    record, nothing = on_due(record, 120.0, THREE_IN_60)
    assert nothing.verdict is Gate.NONE  # it opens nothing
    assert record is not None
    assert expired(record, 101.0, THREE_IN_60)
    assert not expired(record, 100.0, THREE_IN_60)


def test_a_transient_still_counts_towards_the_burst() -> None:
    record, _ = on_firing(None, "k", "a", 0.0, THREE_IN_60)
    record, _ = on_resolved(record, "a", 5.0, THREE_IN_60)
    record, _ = on_firing(record, "k", "b", 10.0, THREE_IN_60)
    record, third = on_firing(record, "k", "c", 20.0, THREE_IN_60)
    assert third.verdict is Gate.ADMIT
    assert third.fingerprints == ("b", "c")  # only what still fires
    assert third.transient == 1


def test_resolving_an_alert_that_is_not_held_changes_nothing() -> None:
    record, _ = on_firing(None, "k", "a", 0.0, THREE_IN_60)
    same, nothing = on_resolved(record, "zzz", 5.0, THREE_IN_60)
    assert same is record
    assert nothing.verdict is Gate.NONE
    assert on_resolved(None, "a", 5.0, THREE_IN_60)[1].verdict is Gate.NONE


def test_a_key_holding_max_held_alerts_is_admitted() -> None:
    thresholds = Thresholds(min_alerts=100, min_alerts_window=1, pause=0, max_held=3)
    record = None
    for n, fp in enumerate("abc"):
        record, admission = on_firing(record, "k", fp, float(n * 10), thresholds)
    assert admission.verdict is Gate.ADMIT
    assert admission.fingerprints == ("a", "b", "c")


def test_count_rule_alone_never_admits_a_lone_alert() -> None:
    thresholds = Thresholds(min_alerts=2, min_alerts_window=60, pause=0)
    record, held = on_firing(None, "k", "a", 0.0, thresholds)
    assert held.verdict is Gate.HOLD
    assert held.due_at is None
    assert on_due(record, 10_000.0, thresholds)[1].verdict is Gate.HOLD
