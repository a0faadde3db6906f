"""Run the engine offline on a storm and score it, next to the static baselines.

Everything here is in-process and deterministic for a seed: the storm's events are fed
in time order through ``sim.Shell``; the baselines group the same events.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import msgspec

from bench.storm.baselines import BASELINES, group_by
from bench.storm.generate import Storm
from bench.storm.scoring import Score, score
from bench.storm.sim import Shell
from triage.correlation import CorrelationConfig, Topology


class EngineRun(msgspec.Struct, frozen=True):
    score: Score
    root_correct: float | None  # share of cascades whose incident names the true root
    opened: int  # incidents opened, including those later merged away
    counts: dict[str, int]


class SeedResult(msgspec.Struct, frozen=True):
    seed: int
    profile: str
    alerts: int
    events: int
    problems: dict[str, int]
    engine: dict[str, EngineRun]  # "topology" / "no-topology"
    baselines: dict[str, Score]


def feed(shell: Shell, storm: Storm) -> Shell:
    for event in storm.events:
        alert = event.alert
        if event.firing:
            shell.fire(
                alert.fingerprint, alert.labels, alert.annotations, event.starts_at, event.at
            )
        else:
            shell.resolve(
                alert.fingerprint, event.ends_at if event.ends_at is not None else event.at
            )
    shell.advance(math.inf)
    return shell


def run_engine(storm: Storm, config: CorrelationConfig, *, with_topology: bool) -> EngineRun:
    topology = (
        Topology.configured(storm.graph.topology(), config) if with_topology else Topology.empty()
    )
    shell = feed(Shell(topology, config), storm)
    finals = shell.final_incidents()
    return EngineRun(
        score=score(storm.truth, shell.assignment(), groups=len(finals)),
        root_correct=root_accuracy(storm, shell),
        opened=shell.counts["opened"],
        counts=dict(sorted(shell.counts.items())),
    )


def root_accuracy(storm: Storm, shell: Shell) -> float | None:
    """For each cascade, the incident holding most of its alerts: does its suspected
    root service equal the service the cascade started from?"""
    assignment = shell.assignment()
    verdicts: list[bool] = []
    for problem in storm.problems.values():
        if problem.kind != "cascade" or problem.root is None:
            continue
        held = Counter(assignment[fp] for fp in problem.alerts if fp in assignment)
        if not held:
            continue
        profile = shell.profiles[held.most_common(1)[0][0]]
        verdicts.append(profile.root is not None and profile.root.service == problem.root)
    return round(sum(verdicts) / len(verdicts), 4) if verdicts else None


def run_baselines(storm: Storm) -> dict[str, Score]:
    results = {}
    for name, labels in BASELINES.items():
        assigned, formed = group_by(storm.events, labels)
        results[name] = score(storm.truth, assigned, groups=formed)
    return results


def evaluate(storm: Storm, config: CorrelationConfig, modes: Mapping[str, bool]) -> SeedResult:
    """``modes`` names engine runs and whether each has the topology."""
    return SeedResult(
        seed=storm.seed,
        profile=storm.profile,
        alerts=len(storm.alerts),
        events=len(storm.events),
        problems=dict(Counter(p.kind for p in storm.problems.values())),
        engine={name: run_engine(storm, config, with_topology=on) for name, on in modes.items()},
        baselines=run_baselines(storm),
    )
