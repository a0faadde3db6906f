"""Static group_by baselines: groups by label values, living while an alert fires."""

from __future__ import annotations

from bench.storm.baselines import group_by
from bench.storm.generate import Event, StormAlert


def alert(fp: str, **labels: str) -> StormAlert:
    return StormAlert(fp, labels, {}, "P")


def fire(at: float, a: StormAlert) -> Event:
    return Event(at, a, True, at, None)


def resolve(at: float, a: StormAlert) -> Event:
    return Event(at, a, False, 0.0, at)


def test_alerts_sharing_the_labels_share_a_group_and_missing_labels_count_as_empty() -> None:
    a, b = alert("a", alertname="X", service="s1"), alert("b", alertname="X", service="s2")
    c = alert("c", alertname="X")
    assigned, formed = group_by([fire(0, a), fire(1, b), fire(2, c)], ("alertname",))
    assert formed == 1
    assert len(set(assigned.values())) == 1
    assigned, formed = group_by([fire(0, a), fire(1, b), fire(2, c)], ("service",))
    assert formed == 3


def test_a_group_ends_grace_seconds_after_its_last_alert_resolved() -> None:
    a, b, c = alert("a", alertname="X"), alert("b", alertname="X"), alert("c", alertname="X")
    events = [fire(0, a), resolve(10, a), fire(300, b), resolve(310, b), fire(700, c)]
    assigned, formed = group_by(events, ("alertname",), grace=300)
    assert assigned["a"] == assigned["b"] != assigned["c"]
    assert formed == 2


def test_repeats_do_not_count_twice() -> None:
    a = alert("a", alertname="X")
    assigned, formed = group_by([fire(0, a), fire(60, a), resolve(70, a)], ("alertname",))
    assert formed == 1
    assert assigned == {"a": "G1"}
