"""The corrections memory: operators' reassignments apply at once, to alike incidents only."""

from __future__ import annotations

import pytest

from triage.classify.memory import CorrectionsMemory
from triage.classify.values import TriageInput

SYMPTOMS = [
    ("LatencyHigh", "p99 latency above 2 seconds"),
    ("QueueBacklog", "work queue backlog keeps growing"),
    ("ErrorRate", "more than 5% of requests fail"),
    ("Down", "no instance answers the health check"),
    ("DiskFull", "volume for the journal is almost full"),
    ("RestartLoop", "process restarted 6 times in 10 minutes"),
    ("SlowConsumers", "consumers fall behind the producers"),
    ("CertExpiry", "client certificate expires soon"),
    ("MemoryHigh", "resident memory above its limit"),
    ("Timeouts", "calls to the database time out"),
    ("ReplicaLag", "replica is minutes behind"),
    ("ConfigReloadFailed", "configuration reload was rejected"),
    ("ThreadPoolExhausted", "no free worker threads"),
    ("GcPauses", "garbage collection pauses over 1s"),
    ("StaleData", "last successful sync older than an hour"),
]


def alert(service: str, n: int) -> TriageInput:
    name, text = SYMPTOMS[n % len(SYMPTOMS)]
    return TriageInput(
        title=f"{service.capitalize()}{name}",
        description=f"{service} {text}",
        labels={"job": service, "namespace": "payments", "instance": f"10.1.0.{n}:8080"},
        source="alertmanager",
        severity="warning",
    )


def test_five_reassignments_route_nine_of_the_next_ten() -> None:
    memory = CorrectionsMemory()
    memory.add([alert("ledgerd", n) for n in range(5)], ["payments-sre"] * 5)
    recalled = memory.recall([alert("ledgerd", n) for n in range(5, 15)])
    hits = [r for r in recalled if r is not None and r.label == "payments-sre"]
    assert len(hits) >= 9


def test_unrelated_alerts_are_left_to_the_model() -> None:
    memory = CorrectionsMemory()
    memory.add([alert("ledgerd", n) for n in range(5)], ["payments-sre"] * 5)
    other = TriageInput(
        title="NginxDown",
        description="nginx stopped answering",
        labels={"job": "nginx"},
        source="prometheus",
    )
    assert memory.recall([other]) == [None]


def test_disagreeing_neighbours_are_not_trusted() -> None:
    memory = CorrectionsMemory(min_share=0.7)
    memory.add([alert("ledgerd", n) for n in range(4)], ["team-a", "team-b", "team-a", "team-b"])
    assert memory.recall([alert("ledgerd", 9)]) == [None]


def test_newer_corrections_replace_older_ones_beyond_capacity() -> None:
    memory = CorrectionsMemory(capacity=5)
    memory.add([alert("ledgerd", n) for n in range(5)], ["old-team"] * 5)
    memory.add([alert("ledgerd", n) for n in range(5, 10)], ["new-team"] * 5)
    assert len(memory) == 5
    recall = memory.recall([alert("ledgerd", 12)])[0]
    assert recall is not None
    assert recall.label == "new-team"


def test_empty_memory_and_mismatched_input() -> None:
    memory = CorrectionsMemory()
    assert memory.recall([alert("x", 1)]) == [None]
    with pytest.raises(ValueError, match="differ in length"):
        memory.add([alert("x", 1)], [])
