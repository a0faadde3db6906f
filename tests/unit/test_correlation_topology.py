"""The dependency graph: bounded-depth reach both ways, paths, and the bounds."""

from __future__ import annotations

import pytest

from tests.unit.test_correlation_support import CONFIG, GRAPH, TOPOLOGY
from triage.correlation import Topology, TopologyDocument


def test_dependencies_are_transitive_with_hop_counts() -> None:
    assert TOPOLOGY.dependencies("checkout").distance == {"orders": 1, "db": 2, "cache": 2}


def test_dependants_walk_the_other_way() -> None:
    assert TOPOLOGY.dependants("db").distance == {"orders": 1, "checkout": 2, "web": 3}


def test_depth_bound_stops_the_walk() -> None:
    # edge depends on db through four hops; the default bound is three
    assert "db" not in TOPOLOGY.dependencies("edge").distance
    assert not TOPOLOGY.depends("edge", "db")
    assert TOPOLOGY.depends("web", "db")


def test_path_is_spelt_from_the_origin() -> None:
    assert TOPOLOGY.dependencies("web").path_to("db") == ("web", "checkout", "orders", "db")
    assert TOPOLOGY.dependants("cache").path_to("checkout") == ("cache", "orders", "checkout")
    assert TOPOLOGY.dependencies("web").path_to("billing") == ()


def test_reach_bound_keeps_the_nearest() -> None:
    hub: dict[str, dict[str, list[str]]] = {"hub": {"depends_on": []}}
    hub |= {f"s{i}": {"depends_on": ["hub"]} for i in range(10)}
    graph = Topology.from_document({"services": hub}, max_depth=3, max_reach=4)
    assert len(graph.dependants("hub").distance) == 4


def test_cycles_terminate() -> None:
    graph = Topology({"a": ["b"], "b": ["c"], "c": ["a"]}, max_depth=5, max_reach=100)
    assert graph.dependencies("a").distance == {"b": 1, "c": 2}


def test_unknown_service_relates_to_nothing() -> None:
    assert TOPOLOGY.dependencies("nope").distance == {}
    assert TOPOLOGY.neighbours("nope") == ()
    assert "nope" not in TOPOLOGY
    assert "db" in TOPOLOGY


def test_neighbours_are_nearest_first() -> None:
    assert TOPOLOGY.neighbours("orders") == ("cache", "checkout", "db", "web", "edge")


def test_self_dependency_is_ignored() -> None:
    graph = Topology({"a": ["a", "b"]}, max_depth=2, max_reach=10)
    assert graph.dependencies("a").distance == {"b": 1}


def test_document_round_trip_and_validation() -> None:
    document = TopologyDocument(services={})
    assert len(Topology.configured(document, CONFIG)) == 0
    assert len(Topology.configured(GRAPH, CONFIG)) == 8
    with pytest.raises(Exception, match="depends_on"):
        Topology.configured({"services": {"a": {"depends_on": "b"}}}, CONFIG)
