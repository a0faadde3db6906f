"""What an operator can tune in correlation, as one validated value.

Every field has a default that works without topology and without any threshold, so a
deployment that configures nothing keeps the key-based grouping of ``triage.correlate``
plus label/text similarity. Times are seconds.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Seconds = Annotated[float, msgspec.Meta(ge=0)]
Count = Annotated[int, msgspec.Meta(ge=1)]
Weight = Annotated[float, msgspec.Meta(ge=0, le=1)]


class Thresholds(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When a key with no incident may open one.

    A held alert is admitted when ``min_alerts`` alerts of its key arrived within
    ``min_alerts_window`` seconds, or when it has been firing for ``pause`` seconds
    (``pause`` 0 disables the time rule). With both at their defaults every alert is
    admitted at once. Alerts that resolve while held open nothing; they are counted.
    """

    min_alerts: Count = 1
    min_alerts_window: Seconds = 60.0
    pause: Seconds = 0.0
    max_held: Count = 1000  # a key holding this many alerts is admitted: it is no blip

    @property
    def immediate(self) -> bool:
        return self.min_alerts <= 1 and self.pause == 0


class Flapping(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An alert that changes state more than ``max_changes`` times within ``window``
    seconds is flapping until its changes in the window drop to ``clear_at`` or fewer
    (hysteresis, so it does not toggle between flapping and not on every change)."""

    max_changes: Count = 6
    window: Seconds = 1800.0
    clear_at: Annotated[int, msgspec.Meta(ge=0)] = 2


class Weights(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the similarity score mixes its three parts; they should sum to 1.

    ``entities`` rewards naming the same component (a ``destination_service`` that is a
    failing service of the incident), ``text`` the Jaccard index of the normalised word
    sets of summary and description, ``labels`` the Jaccard index of the label pairs.
    """

    entities: Weight = 0.5
    text: Weight = 0.3
    labels: Weight = 0.2


class CorrelationConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    service_label: str = "service"
    # The first of these labels present scopes the alert: incidents of another scope
    # (environment) are never joined by topology or similarity.
    scope_labels: tuple[str, ...] = ("environment", "env")
    # Labels whose values name a component; they are the similarity index's keys.
    entity_labels: tuple[str, ...] = (
        "service",
        "destination_service",
        "destination_workload",
        "envoy_cluster_name",
        "upstream",
        "peer_service",
        "database",
        "queue",
        "topic",
        "node",
        "host",
    )
    # Labels that name one replica: left out of label similarity and removed from text,
    # and counted as instances for the blast radius.
    instance_labels: tuple[str, ...] = ("instance", "pod", "container", "pod_name", "nodename")
    # Words (in the summary or the alertname) of alerts that travel along dependencies:
    # errors, latency, availability -- the golden signals a caller sees when what it
    # calls fails. Only such alerts are joined by topology; a volume filling up or a
    # certificate about to expire on a caller is its own problem.
    symptom_terms: frozenset[str] = frozenset(
        {"error", "errors", "5xx", "latency", "slow", "slowing", "down", "unavailable"}
        | {"unreachable", "timeout", "timeouts", "failed", "failure", "failures", "failing"}
        | {"refused", "rejected", "unhealthy", "healthy", "probe", "upstream", "circuit"}
        | {"crash", "looping", "ready", "lag", "connection", "connections", "partition"}
        | {"primary", "master", "overflow", "overflowing", "deadlocked", "red", "alarm"}
        | {"broken", "degraded", "outage"}
    )
    # Alerts at least this severe may be the deeper cause of an incident's failures even
    # when their name says nothing of errors ("MySQL slave IO thread not running").
    cause_severity: str = "critical"
    reopen_window: Seconds = 600.0
    topology_window: Seconds = 900.0
    # A failure reaches a caller within minutes: a caller's alert joins through a failing
    # dependency only if it fired within this many seconds of that dependency's first
    # alert, and a deeper cause only if it fired no later than this after the root's.
    propagation_window: Seconds = 180.0
    max_depth: Annotated[int, msgspec.Meta(ge=0, le=8)] = 2
    max_reach: Count = 256  # services one bounded graph query may return (hubs)
    max_neighbours: Count = 32  # of which the nearest become index reads
    similarity_window: Seconds = 900.0
    similarity_threshold: Weight = 0.5
    weights: Weights = Weights()
    # Index bounds: each slot keeps this many most recently active incidents, and at
    # most ``max_candidates`` distinct incidents are scored per alert.
    slot_size: Count = 16
    max_candidates: Count = 32
    max_exemplars: Count = 8
    max_services: Count = 256
    instance_bits: Annotated[int, msgspec.Meta(ge=64, le=65536, multiple_of=8)] = 1024
    max_keys: Count = 64
    auto_merge: bool = True
    override_ttl: Seconds = 7 * 86400.0
    thresholds: Thresholds = Thresholds()
    flapping: Flapping = Flapping()
