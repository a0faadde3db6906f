"""The storm generator: deterministic per seed, and a ground truth that is consistent."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from bench.fingerprint import fingerprint
from bench.storm import vocab
from bench.storm.generate import PROFILES, Storm, generate, render

BUILTIN = vocab.builtin()


@pytest.fixture(scope="module")
def storm() -> Storm:
    return generate(7, PROFILES["storm"], BUILTIN)


def test_same_seed_same_storm(storm: Storm) -> None:
    again = generate(7, PROFILES["storm"], BUILTIN)
    assert [(e.at, e.alert.fingerprint, e.firing) for e in again.events] == [
        (e.at, e.alert.fingerprint, e.firing) for e in storm.events
    ]
    assert generate(8, PROFILES["storm"], BUILTIN).truth != storm.truth


def test_every_alert_belongs_to_one_problem_and_is_fingerprinted_like_alertmanager(
    storm: Storm,
) -> None:
    for fp, alert in storm.alerts.items():
        assert fingerprint(alert.labels) == fp
        assert fp in storm.problems[alert.problem].alerts
    assert sum(len(p.alerts) for p in storm.problems.values()) == len(storm.alerts)


def test_events_are_in_time_order_and_every_firing_ends(storm: Storm) -> None:
    times = [e.at for e in storm.events]
    assert times == sorted(times)
    firing = Counter(e.alert.fingerprint for e in storm.events if not e.firing)
    windows = Counter({fp: len(a.windows) for fp, a in storm.alerts.items()})
    assert firing == windows


def test_the_storm_has_every_kind_of_trouble(storm: Storm) -> None:
    kinds = Counter(p.kind for p in storm.problems.values())
    assert {"cascade", "fanout", "isolated", "flapping", "blip"} <= set(kinds)
    repeats = len(storm.events) - sum(len(a.windows) * 2 for a in storm.alerts.values())
    assert repeats > 0  # re-sends: duplicates for dedup


def test_a_cascade_climbs_from_its_root_to_callers(storm: Storm) -> None:
    graph = storm.graph
    for problem in storm.problems.values():
        if problem.kind != "cascade" or problem.root is None:
            continue
        services = {storm.alerts[fp].labels["service"] for fp in problem.alerts}
        for service in services - {problem.root}:
            # every failing caller depends on something failing in the same cascade
            assert set(graph.services[service].depends_on) & (services | {problem.root})


def test_duplicates_profile_resends_more() -> None:
    one = dataclasses.replace(PROFILES["duplicates"], episodes=1)
    dupes = generate(3, one, BUILTIN)
    per_alert = len(dupes.events) / len(dupes.alerts)
    assert per_alert > 10


def test_render_fills_prometheus_templates() -> None:
    text = "Pod {{ $labels.pod }} at {{ $value | humanize }} {{ $labels }}"
    assert render(text, {"pod": "p-1"}, "42") == "Pod p-1 at 42 map[pod:p-1]"


@pytest.mark.dataset
@pytest.mark.skipif(not vocab.RULES_FILE.is_file(), reason=f"{vocab.RULES_FILE} not found")
def test_the_catalogue_vocabulary_has_every_role() -> None:
    words = vocab.load()
    assert words.source == vocab.ATTRIBUTION
    for role in ("symptom", "upstream", "local", "host", "root:app", "fanout", "flapping"):
        assert words.roles[role], role
