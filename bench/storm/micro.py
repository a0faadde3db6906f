"""Engine cost per alert against the number of open incidents.

A one-episode storm is fed through ``sim.Shell`` into an empty store and into stores
preloaded with open incidents, and the read side of each correlated alert is timed --
the part that could grow with open incidents (applying a decision is the same few writes
either way): the engine's pure calls (``plan``, ``pick``, ``correlate``), and those plus
the simulated shell's slot reads and candidate loads, which in the daemon are one Redis
pipeline.

Scenarios (``SCENARIOS``):

- ``none``: no open incident before the storm;
- ``estate``: open incidents spread over an estate of ``ESTATE_SERVICES`` services (the
  storm's among them), their last alert at a uniform time over the past day -- how a
  store with many open incidents looks;
- ``crowded``: every open incident on one of the storm's own services and active a minute
  before it starts -- the worst case, where every slot the storm reads is full of live
  candidates, so each alert scores ``max_candidates`` of them.

The preloaded state is frozen out of the garbage collector (``gc.freeze``): in the daemon
it lives in Redis, not in the worker's heap.
"""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Callable

import msgspec

from bench.storm.evaluate import feed
from bench.storm.generate import ENVIRONMENT, Storm
from bench.storm.sim import Shell, SimAlert
from triage.correlate import DEFAULT_KEY_LABELS, incident_key
from triage.correlation import (
    AlertFacts,
    CorrelationConfig,
    Topology,
    entity_slots,
    features,
)
from triage.correlation.profile import new_profile
from triage.incident import Incident, IncidentStatus

_BACKGROUND_RULES = ("HighErrorRate", "HighLatency", "ProbeFailed", "PodCrashLooping")


SCENARIOS = ("none", "estate", "crowded")
ESTATE_SERVICES = 5000


class CostResult(msgspec.Struct, frozen=True):
    scenario: str
    open_incidents: int
    alerts: int  # correlated alerts timed
    engine_us: float  # plan + pick + correlate per alert, best of the repeats
    with_reads_us: float  # the same plus the simulated slot reads and candidate loads
    candidates_per_alert: float


def preload(shell: Shell, storm: Storm, count: int, scenario: str, *, seed: int) -> None:
    """Open ``count`` incidents before the storm, placed as ``scenario`` says."""
    rng = random.Random(seed)
    services = sorted(storm.graph.services)
    if scenario == "estate":
        services += [f"estate-{n:04d}" for n in range(ESTATE_SERVICES - len(services))]
    within = 60.0 if scenario == "crowded" else 86400.0
    start = storm.events[0].at if storm.events else 0.0
    for number in range(count):
        service = rng.choice(services)
        labels = {
            "alertname": rng.choice(_BACKGROUND_RULES),
            "severity": "critical",
            "environment": ENVIRONMENT,
            "service": service,
            "pod": f"{service}-bg-{number}",
            "cluster": f"bg-{number}",  # a key of its own: only slots can find it
        }
        key = incident_key(labels, (*DEFAULT_KEY_LABELS, ("cluster",)), str(number))
        at = start - rng.uniform(0, within)
        facts = AlertFacts(
            f"bg{number:012d}", key, labels, at, f"{labels['alertname']} on {service}"
        )
        incident_id = f"BG-{number}"
        profile = new_profile(facts, features(facts, shell.config), shell.topology, shell.config)
        shell.profiles[incident_id] = msgspec.structs.replace(profile, incident_id=incident_id)
        shell.incidents[incident_id] = Incident(
            id=incident_id,
            key=key,
            title=facts.summary,
            status=IncidentStatus.TRIGGERED,
            priority="P3",
            category="other",
            group="ops",
            procedure="standard",
            created_at=at,
            updated_at=at,
            started_at=at,
            firing_count=1,
            alert_count=1,
        )
        shell.members[incident_id] = {facts.fingerprint}
        shell.alerts[facts.fingerprint] = SimAlert(facts, True, incident_id)
        shell.index.touch(entity_slots(profile.scope, profile.entities), incident_id, at)


def measure(
    storm: Storm,
    config: CorrelationConfig,
    runs: list[tuple[str, int]],
    *,
    repeats: int = 7,
    clock: Callable[[], float] = time.perf_counter,
) -> list[CostResult]:
    """Best-of-``repeats`` mean ``decide`` time per correlated alert for each
    (scenario, open incidents) run; repeats are interleaved across runs so that a
    slow moment of the machine does not land on one run only."""
    best = dict.fromkeys(runs, math.inf)
    best_reads = dict(best)
    seen: dict[tuple[str, int], tuple[int, int]] = {}
    for repeat in range(repeats):
        for scenario, count in runs:
            shell = Shell(Topology.configured(storm.graph.topology(), config), config, clock=clock)
            preload(shell, storm, count, scenario, seed=repeat)
            gc.collect()
            gc.freeze()
            try:
                feed(shell, storm)
            finally:
                gc.unfreeze()
            decided = sum(v for k, v in shell.counts.items() if k.startswith("rule_"))
            seen[scenario, count] = decided, shell.candidates_seen
            per = max(decided, 1)
            best[scenario, count] = min(best[scenario, count], shell.engine_seconds / per)
            best_reads[scenario, count] = min(
                best_reads[scenario, count], shell.decide_seconds / per
            )
    return [
        CostResult(
            scenario=scenario,
            open_incidents=count,
            alerts=seen[scenario, count][0],
            engine_us=round(best[scenario, count] * 1e6, 2),
            with_reads_us=round(best_reads[scenario, count] * 1e6, 2),
            candidates_per_alert=round(
                seen[scenario, count][1] / max(seen[scenario, count][0], 1), 2
            ),
        )
        for scenario, count in runs
    ]
