"""The correlation rules, one by one, with times the test chooses.

Graph (tests/unit/test_correlation_support.py): db <- orders <- checkout <- web <- edge,
cache <- orders, cache <- search, and billing alone.
"""

from __future__ import annotations

import msgspec
import pytest

from tests.unit.test_correlation_support import CONFIG, TOPOLOGY, Store, facts
from triage.correlation import (
    Action,
    Lookup,
    Relation,
    Rule,
    Topology,
    features,
    pick,
    plan,
    similarity,
)
from triage.incident import IncidentStatus

DOWN = {"alertname": "PostgresDown", "severity": "critical", "summary": "Postgres down"}
ERRORS = {"alertname": "HighErrorRate", "severity": "warning", "summary": "5xx error rate high"}


# --- key ---------------------------------------------------------------------------------


def test_first_alert_opens_and_a_second_of_its_key_joins() -> None:
    store = Store()
    first = store.feed(facts("billing", at=0, fp="a", **ERRORS))
    second = store.feed(facts("billing", at=5, fp="b", pod="p2", **ERRORS))
    assert first.action is Action.OPEN
    assert first.evidence.rule is Rule.NEW
    assert second.action is Action.JOIN
    assert second.evidence.rule is Rule.KEY
    assert second.evidence.incident_id == first.evidence.incident_id
    assert not second.claims_key  # the key already points there


def test_key_reopens_within_the_reopen_window_and_opens_after_it() -> None:
    store = Store()
    opened = store.feed(facts("billing", at=0, fp="a", **ERRORS))
    incident_id = opened.evidence.incident_id or ""
    store.set_status(
        incident_id, IncidentStatus.RESOLVED, at=store.incidents[incident_id].created_at + 60
    )
    again = store.decide(facts("billing", at=60 + CONFIG.reopen_window, fp="a", **ERRORS))
    assert again.action is Action.REOPEN
    later = store.decide(facts("billing", at=61 + CONFIG.reopen_window, fp="a", **ERRORS))
    assert later.action is Action.OPEN


def test_reopen_puts_the_incident_back_in_all_its_slots() -> None:
    store = Store()
    opened = store.feed(facts("orders", at=0, fp="a", envoy_cluster_name="db", **ERRORS))
    store.set_status(
        opened.evidence.incident_id or "",
        IncidentStatus.RESOLVED,
        at=store.incidents["INC-1"].created_at,
    )
    again = store.decide(facts("orders", at=10, fp="b", **ERRORS))
    assert again.action is Action.REOPEN
    assert len(again.slots) == 2  # its own service, and "db" the first alert named


# --- topology ----------------------------------------------------------------------------


def test_a_caller_joins_the_incident_of_a_failing_dependency() -> None:
    store = Store()
    root = store.feed(facts("db", at=0, fp="db", **DOWN))
    caller = store.feed(facts("checkout", at=60, fp="c", **ERRORS))
    assert caller.evidence.rule is Rule.TOPOLOGY
    assert caller.evidence.relation is Relation.VICTIM
    assert caller.evidence.path == ("checkout", "orders", "db")
    assert caller.evidence.incident_id == root.evidence.incident_id
    assert caller.claims_key
    assert "checkout -> orders -> db" in caller.evidence.describe()


def test_a_deeper_cause_joins_and_becomes_the_suspected_root() -> None:
    store = Store()
    store.feed(facts("checkout", at=0, fp="c", **ERRORS))
    store.feed(facts("web", at=5, fp="w", **ERRORS))
    cause = store.feed(facts("db", at=30, fp="db", **DOWN))
    assert cause.evidence.relation is Relation.CAUSE
    assert cause.evidence.path == ("db", "orders", "checkout")
    profile = cause.profile
    assert profile.roots == ("db",)
    assert profile.root is not None
    assert profile.root.service == "db"
    assert profile.root.fingerprint == "db"
    assert profile.root.explains == 3


def test_depth_is_bounded() -> None:
    store = Store()
    store.feed(facts("db", at=0, fp="db", **DOWN))
    # edge -> web -> checkout -> orders -> db is four hops: no relation
    assert store.decide(facts("edge", at=30, fp="e", **ERRORS)).action is Action.OPEN


def test_nothing_joins_after_the_topology_window() -> None:
    config = msgspec.structs.replace(CONFIG, propagation_window=10_000)
    store = Store(config=config)
    store.feed(facts("db", at=0, fp="db", **DOWN))
    late = facts("orders", at=config.topology_window + 1, fp="o", **ERRORS)
    assert store.decide(late).action is Action.OPEN


def test_a_caller_joins_only_near_the_dependency_s_first_failure() -> None:
    store = Store()
    store.feed(facts("db", at=0, fp="db", **DOWN))
    store.feed(
        facts("db", at=CONFIG.propagation_window, fp="db2", pod="p2", **DOWN)
    )  # keeps it active
    late = facts("orders", at=CONFIG.propagation_window + 1, fp="o", **ERRORS)
    assert store.decide(late).action is Action.OPEN
    on_time = facts("orders", at=CONFIG.propagation_window, fp="o", **ERRORS)
    assert store.decide(on_time).evidence.rule is Rule.TOPOLOGY


def test_local_alerts_are_not_joined_by_topology() -> None:
    store = Store()
    store.feed(facts("db", at=0, fp="db", **DOWN))
    volume = facts(
        "orders", at=10, fp="v", alertname="VolumeAlmostFull", summary="Volume almost full"
    )
    assert store.decide(volume).action is Action.OPEN


def test_a_dependency_with_only_local_alerts_explains_nothing() -> None:
    store = Store()
    store.feed(
        facts("db", at=0, fp="v", alertname="VolumeAlmostFull", summary="Volume almost full")
    )
    assert store.decide(facts("orders", at=10, fp="o", **ERRORS)).action is Action.OPEN


def test_another_scope_is_never_joined() -> None:
    store = Store()
    store.feed(facts("db", at=0, fp="db", env="staging", **DOWN))
    assert store.decide(facts("orders", at=10, fp="o", env="prod", **ERRORS)).action is Action.OPEN


def test_the_nearest_and_freshest_related_incident_wins() -> None:
    store = Store()
    db = store.feed(facts("db", at=0, fp="db", **DOWN))
    cache = store.feed(facts("cache", at=100, fp="cache", **DOWN))
    assert cache.action is Action.OPEN  # db and cache are unrelated
    joined = store.feed(facts("orders", at=110, fp="o", **ERRORS))  # depends on both, 1 hop
    assert joined.evidence.incident_id == cache.evidence.incident_id
    assert joined.evidence.incident_id != db.evidence.incident_id
    assert joined.merge == ()  # a victim of two failures does not say they are one


def test_a_common_cause_merges_the_incidents_it_explains() -> None:
    store = Store()
    first = store.feed(facts("checkout", at=0, fp="c", **ERRORS))
    other = store.feed(facts("search", at=5, fp="s", **ERRORS))
    assert first.action is other.action is Action.OPEN
    cache = store.feed(facts("cache", at=20, fp="cache", **DOWN))
    # search calls cache directly, checkout through orders: the nearest takes the alert
    assert cache.evidence.incident_id == other.evidence.incident_id
    assert cache.merge == (first.evidence.incident_id,)
    assert cache.trace()["merged"] == [first.evidence.incident_id]


def test_a_link_of_the_chain_merges_its_cause_and_its_victims() -> None:
    store = Store(topology=Topology.empty())  # db and checkout first open apart
    db = store.feed(facts("db", at=0, fp="db", **DOWN))
    checkout = store.feed(facts("checkout", at=10, fp="c", **ERRORS))
    assert db.action is checkout.action is Action.OPEN
    store.topology = TOPOLOGY
    # orders is db's victim and checkout's cause: db -> orders -> checkout is one failure
    orders = store.feed(facts("orders", at=20, fp="o", **ERRORS))
    assert orders.evidence.incident_id == checkout.evidence.incident_id  # the fresher link
    assert orders.evidence.relation is Relation.CAUSE
    assert orders.merge == (db.evidence.incident_id,)


def test_auto_merge_can_be_turned_off() -> None:
    store = Store(config=msgspec.structs.replace(CONFIG, auto_merge=False))
    store.feed(facts("checkout", at=0, fp="c", **ERRORS))
    store.feed(facts("search", at=5, fp="s", **ERRORS))
    assert store.feed(facts("cache", at=20, fp="cache", **DOWN)).merge == ()


def test_incidents_kept_apart_are_not_merged() -> None:
    store = Store()
    first = store.feed(facts("checkout", at=0, fp="c", **ERRORS))
    other = store.feed(facts("search", at=5, fp="s", **ERRORS))
    target = first.evidence.incident_id or ""
    store.profiles[target] = msgspec.structs.replace(
        store.profiles[target], kept_apart=frozenset({other.evidence.incident_id or ""})
    )
    assert store.feed(facts("cache", at=20, fp="cache", **DOWN)).merge == ()


# --- similarity --------------------------------------------------------------------------


def test_an_alert_naming_a_failing_service_joins_by_similarity_without_topology() -> None:
    store = Store(topology=Topology.empty())
    root = store.feed(facts("db", at=0, fp="db", **DOWN))
    caller = store.feed(facts("orders", at=30, fp="o", envoy_cluster_name="db", **ERRORS))
    assert caller.evidence.rule is Rule.SIMILARITY
    assert caller.evidence.incident_id == root.evidence.incident_id
    assert caller.evidence.parts["entities"] == 1.0
    assert caller.evidence.score is not None
    assert caller.evidence.score >= CONFIG.similarity_threshold


def test_similarity_needs_a_shared_component() -> None:
    store = Store(topology=Topology.empty())
    store.feed(facts("orders", at=0, fp="a", **ERRORS))
    # the same rule and text on another service, naming nothing in common
    assert store.decide(facts("billing", at=5, fp="b", **ERRORS)).action is Action.OPEN


def test_similarity_below_the_threshold_opens() -> None:
    strict = msgspec.structs.replace(CONFIG, similarity_threshold=0.99)
    store = Store(topology=Topology.empty(), config=strict)
    store.feed(facts("db", at=0, fp="db", **DOWN))
    caller = facts("orders", at=30, fp="o", envoy_cluster_name="db", **ERRORS)
    assert store.decide(caller).action is Action.OPEN


def test_similarity_window() -> None:
    store = Store(topology=Topology.empty())
    store.feed(facts("db", at=0, fp="db", **DOWN))
    late = facts(
        "orders", at=CONFIG.similarity_window + 1, fp="o", envoy_cluster_name="db", **ERRORS
    )
    assert store.decide(late).action is Action.OPEN


def test_similarity_score_parts() -> None:
    store = Store(topology=Topology.empty())
    opened = store.feed(facts("orders", at=0, fp="a", envoy_cluster_name="db", **ERRORS))
    same_kind = features(facts("checkout", at=1, envoy_cluster_name="db", **ERRORS), CONFIG)
    score, parts = similarity(same_kind, opened.profile, CONFIG)
    assert parts["entities"] == 0.5  # names db, as the incident does; not orders
    assert parts["text"] == 1.0  # the same words
    assert 0.0 < parts["labels"] < 1.0
    assert score == pytest.approx(0.5 * 0.5 + 0.3 * 1.0 + 0.2 * parts["labels"], abs=1e-3)


# --- impact ------------------------------------------------------------------------------


def test_impact_counts_services_and_instances() -> None:
    store = Store()
    store.feed(facts("db", at=0, fp="db", pod="db-0", **DOWN))
    for n in range(3):
        store.feed(facts("orders", at=10 + n, fp=f"o{n}", pod=f"orders-{n}", **ERRORS))
    impact = store.profiles["INC-1"].impact()
    assert impact.services == ("db", "orders")
    assert (impact.service_count, impact.instance_count, impact.alert_count) == (2, 4, 4)
    assert impact.root is not None
    assert impact.root.service == "db"


def test_instances_are_counted_in_fixed_space() -> None:
    store = Store(config=msgspec.structs.replace(CONFIG, instance_bits=512))
    for n in range(400):
        store.feed(facts("orders", at=n, fp=f"o{n}", pod=f"orders-{n}", **ERRORS))
        store.feed(facts("orders", at=n, fp=f"r{n}", pod=f"orders-{n}", **DOWN))  # same pod
    profile = store.profiles["INC-1"]
    assert len(profile.instance_bits) == 64
    assert profile.impact().instance_count == pytest.approx(400, rel=0.1)


# --- plan and pick -----------------------------------------------------------------------


def test_plan_reads_own_components_then_neighbours_nearest_first() -> None:
    lookup = plan(facts("orders", at=0, envoy_cluster_name="db"), TOPOLOGY, CONFIG)
    assert lookup.slots[:2] == ('["prod","orders"]', '["prod","db"]')
    assert lookup.slots[2:] == (
        '["prod","cache"]',
        '["prod","checkout"]',
        '["prod","web"]',
        '["prod","edge"]',
    )
    assert lookup.since == lookup.alert.at - max(CONFIG.topology_window, CONFIG.similarity_window)


def test_plan_reads_at_most_max_neighbours() -> None:
    config = msgspec.structs.replace(CONFIG, max_neighbours=1)
    assert len(plan(facts("orders", at=0), TOPOLOGY, config).slots) == 2


def test_pick_takes_slots_round_robin_up_to_the_bound() -> None:
    lookup = Lookup(
        alert=facts("x", at=0),
        features=features(facts("x", at=0), CONFIG),
        slots=("a", "b"),
        since=0,
    )
    found = {"a": ["a1", "a2", "a3"], "b": ["b1", "a1"]}
    assert pick(lookup, found, CONFIG) == ["a1", "b1", "a2", "a3"]
    assert pick(lookup, found, msgspec.structs.replace(CONFIG, max_candidates=3)) == [
        "a1",
        "b1",
        "a2",
    ]
