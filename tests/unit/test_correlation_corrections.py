"""Operator merge and split: what changes, the correction record, and that later alerts
of the same keys follow the operator rather than the rule that grouped them wrongly."""

from __future__ import annotations

import msgspec
import pytest

from tests.unit.test_correlation_support import CONFIG, T0, TOPOLOGY, Store, facts, incident
from triage.correlation import Action, AlertFacts, Rule, merge, split
from triage.correlation.corrections import AUTOMATIC, MergeResult, SplitResult
from triage.incident import IncidentStatus

DOWN = {"alertname": "PostgresDown", "severity": "critical", "summary": "Postgres down"}
ERRORS = {"alertname": "HighErrorRate", "severity": "warning", "summary": "5xx error rate high"}


def apply_merge(store: Store, result: MergeResult) -> None:
    store.profiles[result.profile.incident_id] = result.profile
    for source in result.closed:
        store.set_status(source, IncidentStatus.CLOSED)
        store.index.remove(result.slots_remove[source], source)
    store.key_index.update(result.key_index)
    store.overrides.update(result.overrides)
    store.index.touch(result.slots_add, result.profile.incident_id, result.profile.last_at)


def apply_split(store: Store, result: SplitResult) -> None:
    new_id = result.split.incident_id
    store.incidents[new_id] = incident(new_id, "split", result.correction.at)
    store.profiles[result.source.incident_id] = result.source
    store.profiles[new_id] = result.split
    store.index.remove(result.slots_remove, result.source.incident_id)
    store.index.touch(result.slots_source, result.source.incident_id, result.source.last_at)
    store.index.touch(result.slots_split, new_id, result.split.last_at)
    store.key_index.update(result.key_index)
    store.overrides.update(result.overrides)


# --- merge -------------------------------------------------------------------------------


def two_unrelated() -> tuple[Store, str, str]:
    store = Store()
    a = store.feed(facts("billing", at=0, fp="b1", **ERRORS))
    b = store.feed(facts("search", at=5, fp="s1", **ERRORS))
    assert a.action is b.action is Action.OPEN
    return store, a.evidence.incident_id or "", b.evidence.incident_id or ""


def test_merge_moves_alerts_closes_sources_and_records_the_correction() -> None:
    store, target, source = two_unrelated()
    result = merge(
        store.profiles[target],
        [store.profiles[source]],
        members={source: ["s1"]},
        actor="alice",
        reason="same outage",
        at=T0 + 100,
        topology=TOPOLOGY,
        config=CONFIG,
    )
    assert result.moved == {"s1": target}
    assert result.closed == (source,)
    assert set(result.profile.services) == {"billing", "search"}
    assert result.profile.alerts == 2
    search_key = facts("search", at=0).key
    assert result.key_index == {search_key: target}
    assert result.overrides[search_key].incident_id == target
    assert result.overrides[search_key].expires_at == T0 + 100 + CONFIG.override_ttl
    assert result.slots_remove[source] == ('["prod","search"]',)
    correction = result.correction
    assert (correction.kind, correction.actor, correction.reason) == (
        "merge",
        "alice",
        "same outage",
    )
    assert (correction.target, correction.sources, correction.fingerprints) == (
        target,
        (source,),
        ("s1",),
    )


def test_an_operator_merge_is_respected_by_later_alerts_of_the_merged_key() -> None:
    store, target, source = two_unrelated()
    result = merge(
        store.profiles[target],
        [store.profiles[source]],
        members={source: ["s1"]},
        actor="alice",
        reason="same outage",
        at=T0 + 100,
        topology=TOPOLOGY,
        config=CONFIG,
    )
    apply_merge(store, result)
    store.key_index[facts("search", at=0).key] = source  # even with a stale key index
    later = store.feed(facts("search", at=200, fp="s2", pod="p2", **ERRORS))
    assert later.action is Action.JOIN
    assert later.evidence.rule is Rule.OVERRIDE
    assert later.evidence.incident_id == target


def test_an_automatic_merge_pins_nothing() -> None:
    store, target, source = two_unrelated()
    result = merge(
        store.profiles[target],
        [store.profiles[source]],
        members={},
        actor=AUTOMATIC,
        reason="common cause",
        at=T0 + 100,
        topology=TOPOLOGY,
        config=CONFIG,
    )
    assert result.overrides == {}
    assert result.correction.kind == "auto-merge"
    assert result.key_index  # keys still follow the merged incident


def test_merge_recomputes_the_root_over_both() -> None:
    store = Store(config=msgspec.structs.replace(CONFIG, topology_window=10.0))
    victims = store.feed(facts("checkout", at=0, fp="c", **ERRORS))
    root = store.feed(facts("db", at=100, fp="db", **DOWN))  # too late to join by topology
    assert root.action is Action.OPEN
    result = merge(
        store.profiles[victims.evidence.incident_id or ""],
        [store.profiles[root.evidence.incident_id or ""]],
        members={},
        actor="alice",
        reason="r",
        at=T0 + 200,
        topology=TOPOLOGY,
        config=CONFIG,
    )
    assert result.profile.roots == ("db",)
    assert result.profile.root is not None
    assert result.profile.root.service == "db"


def test_merge_refuses_the_target_itself_or_nothing() -> None:
    store, target, _ = two_unrelated()
    for sources in ([], [store.profiles[target]]):
        with pytest.raises(ValueError, match="distinct source"):
            merge(
                store.profiles[target],
                sources,
                members={},
                actor="a",
                reason="r",
                at=T0,
                topology=TOPOLOGY,
                config=CONFIG,
            )


# --- split -------------------------------------------------------------------------------


def db_and_callers() -> tuple[Store, str, list[AlertFacts]]:
    store = Store()
    alerts = [
        facts("db", at=0, fp="db", **DOWN),
        facts("orders", at=20, fp="o1", pod="o1", **ERRORS),
        facts("orders", at=25, fp="o2", pod="o2", **ERRORS),
    ]
    decisions = [store.feed(a) for a in alerts]
    incident_id = decisions[0].evidence.incident_id or ""
    assert all(d.evidence.incident_id == incident_id for d in decisions)
    return store, incident_id, alerts


def split_orders(store: Store, incident_id: str, alerts: list[AlertFacts]) -> SplitResult:
    return split(
        store.profiles[incident_id],
        alerts,
        {"o1", "o2"},
        "INC-9",
        actor="bob",
        reason="orders had its own bad deploy",
        at=T0 + 60,
        topology=TOPOLOGY,
        config=CONFIG,
    )


def test_split_rebuilds_both_sides_and_keeps_them_apart() -> None:
    store, incident_id, alerts = db_and_callers()
    result = split_orders(store, incident_id, alerts)
    assert set(result.source.services) == {"db"}
    assert result.source.alerts == 1
    assert set(result.split.services) == {"orders"}
    assert result.split.alerts == 2
    assert result.moved == {"o1": "INC-9", "o2": "INC-9"}
    orders_key, db_key = facts("orders", at=0).key, facts("db", at=0).key
    assert result.key_index == {orders_key: "INC-9"}
    assert result.overrides[orders_key].separate_from == (incident_id,)
    assert result.overrides[db_key].separate_from == ("INC-9",)
    assert "INC-9" in result.source.kept_apart
    assert incident_id in result.split.kept_apart
    assert result.slots_remove == ('["prod","orders"]',)
    assert result.correction.kind == "split"
    assert result.correction.fingerprints == ("o1", "o2")


def test_a_split_is_respected_by_later_alerts_of_the_split_key() -> None:
    store, incident_id, alerts = db_and_callers()
    apply_split(store, split_orders(store, incident_id, alerts))
    # another replica of orders fails: it goes to the split-off incident, not back to db's
    later = store.feed(facts("orders", at=90, fp="o3", pod="o3", **ERRORS))
    assert later.evidence.rule is Rule.OVERRIDE
    assert later.evidence.incident_id == "INC-9"
    # once that incident is closed, orders alerts open anew rather than join db's by topology
    store.set_status("INC-9", IncidentStatus.CLOSED)
    after = store.decide(facts("orders", at=120, fp="o4", pod="o4", **ERRORS))
    assert after.action is Action.OPEN
    # without the override the topology rule would have joined db's incident
    del store.overrides[facts("orders", at=0).key]
    assert (
        store.decide(facts("orders", at=120, fp="o4", pod="o4", **ERRORS)).evidence.incident_id
        == incident_id
    )


def test_split_sides_are_not_merged_back_automatically() -> None:
    store, incident_id, alerts = db_and_callers()
    apply_split(store, split_orders(store, incident_id, alerts))
    # a new db alert bridges nothing: the operator kept orders apart
    again = store.feed(facts("db", at=70, fp="db2", pod="db-1", **DOWN))
    assert again.evidence.incident_id == incident_id
    assert again.merge == ()


def test_split_must_move_some_but_not_all() -> None:
    store, incident_id, alerts = db_and_callers()
    for move in (set(), {"db", "o1", "o2"}, {"nope"}):
        with pytest.raises(ValueError, match="some, not all"):
            split(
                store.profiles[incident_id],
                alerts,
                move,
                "INC-9",
                actor="a",
                reason="r",
                at=T0,
                topology=TOPOLOGY,
                config=CONFIG,
            )


def test_an_expired_override_is_ignored() -> None:
    store, target, source = two_unrelated()
    result = merge(
        store.profiles[target],
        [store.profiles[source]],
        members={},
        actor="alice",
        reason="r",
        at=T0,
        topology=TOPOLOGY,
        config=CONFIG,
    )
    apply_merge(store, result)
    store.key_index.pop(facts("search", at=0).key)
    late = store.decide(facts("search", at=CONFIG.override_ttl + 1, fp="s9", **ERRORS))
    assert late.evidence.rule is not Rule.OVERRIDE
