"""The simulated shell: admission, dedup, lifecycle and flapping around the engine."""

from __future__ import annotations

import dataclasses

from bench.storm import vocab
from bench.storm.evaluate import evaluate
from bench.storm.generate import PROFILES, generate
from bench.storm.sim import Shell
from tests.unit.test_correlation_support import GRAPH
from triage.correlation import CorrelationConfig, Thresholds, Topology
from triage.incident import IncidentStatus

GATED = CorrelationConfig(thresholds=Thresholds(min_alerts=3, min_alerts_window=60, pause=60))


def shell(config: CorrelationConfig = GATED) -> Shell:
    return Shell(Topology.configured(GRAPH, config), config)


def labels(service: str, name: str = "HighErrorRate", **more: str) -> dict[str, str]:
    return {"alertname": name, "service": service, "environment": "prod", **more}


def test_a_blip_opens_nothing_and_is_counted() -> None:
    sim = shell()
    sim.fire("f", labels("billing"), {}, 0.0, 0.0)
    sim.resolve("f", 20.0)
    sim.advance(1000.0)
    assert sim.incidents == {}
    assert sim.counts["transient"] == 1


def test_an_alert_firing_past_the_pause_opens_at_its_timer() -> None:
    sim = shell()
    sim.fire("f", labels("billing"), {}, 0.0, 0.0)
    sim.advance(59.0)
    assert sim.incidents == {}
    sim.advance(60.0)
    assert list(sim.incidents) == ["INC-1"]
    assert sim.assignment() == {"f": "INC-1"}


def test_a_burst_opens_at_once_and_a_cascade_joins_with_its_root() -> None:
    sim = shell()
    for n in range(3):
        sim.fire(
            f"db{n}", labels("db", "PostgresDown", pod=f"db-{n}", severity="critical"), {}, n, n
        )
    for n in range(3):
        sim.fire(f"o{n}", labels("orders", pod=f"o-{n}"), {"summary": "5xx errors"}, 20 + n, 20 + n)
    assert set(sim.assignment().values()) == {"INC-1"}
    profile = sim.profiles["INC-1"]
    assert profile.root is not None
    assert profile.root.service == "db"


def test_the_incident_resolves_with_its_last_alert_and_leaves_the_slots() -> None:
    sim = shell(CorrelationConfig())
    sim.fire("a", labels("billing"), {}, 0.0, 0.0)
    sim.fire("a", labels("billing"), {}, 0.0, 30.0)  # a re-send
    assert sim.counts["duplicate"] == 1
    sim.resolve("a", 40.0)
    assert sim.incidents["INC-1"].status is IncidentStatus.RESOLVED
    assert len(sim.index) == 0


def test_a_flapping_alert_stops_notifying() -> None:
    sim = shell(CorrelationConfig())
    at = 0.0
    for _ in range(8):
        sim.fire("a", labels("billing"), {}, at, at)
        sim.resolve("a", at + 30)
        at += 60
    assert sim.counts["flapping_started"] == 1
    assert sim.counts["notifications_quieted"] > 0
    assert sim.counts["opened"] == 1  # it reopened its incident each time


def test_offline_evaluation_beats_the_baselines_on_a_small_storm() -> None:
    one = dataclasses.replace(PROFILES["storm"], episodes=1)
    result = evaluate(generate(11, one, vocab.builtin()), GATED, {"on": True, "off": False})
    best = max(b.f1 for b in result.baselines.values())
    assert result.engine["on"].score.f1 > best
    assert result.engine["on"].score.noise_reduction > 0.5
