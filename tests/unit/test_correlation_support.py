"""Helpers for the correlation tests (this module holds no tests).

``Store`` does in memory the least a shell must do with a decision -- keep incidents,
profiles, the key index and the slots, and apply open / join / reopen -- so a test can
feed alerts one after another with times it chooses (the controllable clock: every
engine function takes its time as an argument).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from triage.correlate import DEFAULT_KEY_LABELS, incident_key
from triage.correlation import (
    Action,
    AlertFacts,
    Candidate,
    CorrelationConfig,
    Decision,
    IncidentProfile,
    Override,
    SlotIndex,
    Topology,
    correlate,
    pick,
    plan,
)
from triage.incident import Incident, IncidentStatus

T0 = 1_700_000_000.0
CONFIG = CorrelationConfig(max_depth=3)  # the tests' graph is built to exercise depth 3
# db <- orders <- checkout <- web <- edge ; cache <- search ; orders also calls cache
GRAPH: dict[str, object] = {
    "services": {
        "db": {"depends_on": []},
        "cache": {"depends_on": []},
        "orders": {"depends_on": ["db", "cache"]},
        "checkout": {"depends_on": ["orders"]},
        "web": {"depends_on": ["checkout"]},
        "edge": {"depends_on": ["web"]},
        "search": {"depends_on": ["cache"]},
        "billing": {"depends_on": []},
    }
}
TOPOLOGY = Topology.configured(GRAPH, CONFIG)


def facts(
    service: str | None,
    *,
    at: float,
    alertname: str = "HighErrorRate",
    fp: str | None = None,
    severity: str = "warning",
    summary: str = "",
    env: str = "prod",
    **labels: str,
) -> AlertFacts:
    """An alert on ``service`` at ``T0 + at`` (its key as the daemon computes it)."""
    all_labels = {"alertname": alertname, "severity": severity, "environment": env, **labels}
    if service is not None:
        all_labels["service"] = service
    fingerprint = fp or f"{service}-{alertname}-{labels.get('pod', '0')}-{env}"
    key = incident_key(all_labels, DEFAULT_KEY_LABELS, fingerprint)
    return AlertFacts(fingerprint, key, all_labels, T0 + at, summary or alertname)


@dataclass
class Store:
    topology: Topology = TOPOLOGY
    config: CorrelationConfig = CONFIG
    incidents: dict[str, Incident] = field(default_factory=dict)
    profiles: dict[str, IncidentProfile] = field(default_factory=dict)
    key_index: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Override] = field(default_factory=dict)
    index: SlotIndex = field(default_factory=lambda: SlotIndex(CONFIG.slot_size))

    def __post_init__(self) -> None:
        if self.config is not CONFIG and self.topology is TOPOLOGY:
            self.topology = Topology.configured(GRAPH, self.config)

    def decide(self, alert: AlertFacts) -> Decision:
        lookup = plan(alert, self.topology, self.config)
        found = {name: self.index.read(name, lookup.since) for name in lookup.slots}
        wanted = pick(lookup, found, self.config)
        override = self.overrides.get(alert.key)
        pinned = override.incident_id if override else None
        wanted += [i for i in (self.key_index.get(alert.key), pinned) if i]
        candidates = {
            i: Candidate(self.incidents[i], self.profiles[i]) for i in wanted if i in self.incidents
        }
        return correlate(
            lookup,
            candidates,
            key_incident=self.key_index.get(alert.key),
            override=override,
            topology=self.topology,
            config=self.config,
        )

    def feed(self, alert: AlertFacts) -> Decision:
        """Decide and apply; returns the decision with the incident id filled in."""
        decision = self.decide(alert)
        if decision.action is Action.OPEN:
            incident_id = f"INC-{len(self.incidents) + 1}"
            self.incidents[incident_id] = incident(incident_id, alert.key, alert.at)
        else:
            incident_id = decision.evidence.incident_id or ""
            if decision.action is Action.REOPEN:
                self.set_status(incident_id, IncidentStatus.TRIGGERED)
        profile = msgspec.structs.replace(decision.profile, incident_id=incident_id)
        self.profiles[incident_id] = profile
        self.index.touch(decision.slots, incident_id, profile.last_at)
        if decision.claims_key:
            self.key_index[alert.key] = incident_id
        evidence = msgspec.structs.replace(decision.evidence, incident_id=incident_id)
        return msgspec.structs.replace(decision, evidence=evidence, profile=profile)

    def set_status(self, incident_id: str, status: IncidentStatus, at: float | None = None) -> None:
        self.incidents[incident_id] = msgspec.structs.replace(
            self.incidents[incident_id],
            status=status,
            resolved_at=at if status is IncidentStatus.RESOLVED else None,
        )


def incident(incident_id: str, key: str, at: float) -> Incident:
    return Incident(
        id=incident_id,
        key=key,
        title="t",
        status=IncidentStatus.TRIGGERED,
        priority="P3",
        category="other",
        group="ops",
        procedure="standard",
        created_at=at,
        updated_at=at,
        started_at=at,
    )
