"""The ``correlation`` section: engine settings, thresholds, flapping and the topology,
inline or in a file, every problem as ``file:line: field: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import load_topology_file, parse_config
from daemon.config_types import ConfigError
from daemon.settings import configured_topology

NAME = "triaged.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, NAME)
    return caught.value.problems


def test_defaults_admit_at_once_and_keep_the_engine_defaults() -> None:
    engine = parse_config("", NAME).correlation.engine()
    assert engine.thresholds.immediate
    assert engine.service_label == "service"
    assert (engine.topology_window, engine.propagation_window) == (900.0, 180.0)
    assert (engine.flapping.max_changes, engine.flapping.window) == (6, 1800.0)


def test_values_given_reach_the_engine() -> None:
    config = parse_config(
        "correlation:\n"
        "  service_label: app\n"
        "  thresholds: {min_alerts: 3, window: 2m, pause: 90s}\n"
        "  flapping: {max_changes: 4, window: 10m, clear_at: 1}\n"
        "  similarity_threshold: 0.7\n"
        "  weights: {entities: 0.6, text: 0.2, labels: 0.2}\n",
        NAME,
    )
    engine = config.correlation.engine()
    assert engine.service_label == "app"
    assert (engine.thresholds.min_alerts, engine.thresholds.min_alerts_window) == (3, 120.0)
    assert engine.thresholds.pause == 90.0
    assert (engine.flapping.max_changes, engine.flapping.window) == (4, 600.0)
    assert engine.similarity_threshold == 0.7
    assert engine.weights.entities == 0.6


def test_inline_topology_problems_name_their_line() -> None:
    found = problems(
        "correlation:\n"
        "  topology:\n"
        "    services:\n"
        "      db: {}\n"
        "      orders:\n"
        "        depends_on: [db, cache, orders]\n"
    )
    assert found == [
        f"{NAME}:6: correlation.topology.services.orders.depends_on[1]: unknown service 'cache'",
        f"{NAME}:6: correlation.topology.services.orders.depends_on[2]:"
        " a service cannot depend on itself",
    ]


def test_inline_topology_with_an_unknown_field() -> None:
    [found] = problems("correlation:\n  topology:\n    services:\n      db: {calls: [x]}\n")
    assert found.startswith(f"{NAME}:4: correlation.topology.services.db.calls")


def test_topology_inline_and_as_a_file_is_an_error() -> None:
    [found] = problems("correlation:\n  topology: {services: {}}\n  topology_file: graph.yaml\n")
    assert found.startswith(f"{NAME}:3: correlation.topology_file: give the topology inline")


def test_bad_threshold_names_the_field() -> None:
    [found] = problems("correlation:\n  thresholds:\n    min_alerts: 0\n")
    assert found.startswith(f"{NAME}:3: correlation.thresholds.min_alerts")


def test_topology_file_is_loaded_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "graph.yaml").write_text("services:\n  db: {}\n  orders: {depends_on: [db]}\n")
    config = parse_config("correlation:\n  topology_file: graph.yaml\n", NAME)
    document = configured_topology(config, tmp_path / NAME)
    assert document is not None
    assert document.services["orders"].depends_on == ["db"]


def test_topology_file_problems_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text("services:\n  db: {}\n  orders:\n    depends_on:\n      - dbx\n")
    with pytest.raises(ConfigError) as caught:
        load_topology_file(path)
    assert caught.value.problems == [
        f"{path}:5: services.orders.depends_on[0]: unknown service 'dbx'"
    ]


def test_topology_file_of_the_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text("services:\n  db:\n    depends_on: 7\n")
    with pytest.raises(ConfigError) as caught:
        load_topology_file(path)
    [found] = caught.value.problems
    assert found.startswith(f"{path}:3: services.db.depends_on")


def test_missing_topology_file(tmp_path: Path) -> None:
    config = parse_config("correlation:\n  topology_file: nowhere.yaml\n", NAME)
    with pytest.raises(ConfigError) as caught:
        configured_topology(config, tmp_path / NAME)
    assert "nowhere.yaml: cannot read" in str(caught.value)
