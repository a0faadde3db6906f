"""The correlation engine behind a simulated shell, in memory: the offline benchmark.

``Shell`` does, with dicts, what the daemon's pipeline must do with Redis (the call order
of docs/correlation.md): dedup by fingerprint, admission through the per-key pending
record and its timer, ``plan`` / slot reads / ``pick`` / ``correlate``, then applying the
decision (open, join, reopen, merge), auto-resolving an incident when its last alert
resolves and taking it out of the slots. It is deliberately plain so that it reads as a
reference for the wiring.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from triage.correlate import DEFAULT_KEY_LABELS, incident_key
from triage.correlation import (
    Action,
    AlertFacts,
    Candidate,
    CorrelationConfig,
    Decision,
    FlapState,
    Gate,
    IncidentProfile,
    Override,
    Pending,
    SlotIndex,
    Topology,
    correlate,
    entity_slots,
    key_is_live,
    merge,
    observe,
    on_due,
    on_firing,
    on_resolved,
    pick,
    plan,
)
from triage.correlation.corrections import AUTOMATIC, GroupingCorrection
from triage.incident import Incident, IncidentStatus, auto_resolve, reopen_by_alert


def _no_clock() -> float:
    return 0.0


@dataclass(slots=True)
class SimAlert:
    facts: AlertFacts
    firing: bool
    incident_id: str | None = None
    flap: FlapState | None = None


@dataclass(slots=True)
class Shell:
    topology: Topology
    config: CorrelationConfig
    index: SlotIndex = field(init=False)
    alerts: dict[str, SimAlert] = field(default_factory=dict)
    key_index: dict[str, str] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    profiles: dict[str, IncidentProfile] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    overrides: dict[str, Override] = field(default_factory=dict)
    corrections: list[GroupingCorrection] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    # With a clock, every ``decide`` is timed (the micro-benchmark's figures): the
    # engine's pure calls, and those plus the simulated index reads and loads.
    clock: Callable[[], float] | None = None
    engine_seconds: float = 0.0
    decide_seconds: float = 0.0
    candidates_seen: int = 0
    _timers: list[tuple[float, str]] = field(default_factory=list)
    _next_id: int = 1

    def __post_init__(self) -> None:
        self.index = SlotIndex(self.config.slot_size)

    # --- events --------------------------------------------------------------------------

    def fire(
        self,
        fingerprint: str,
        labels: dict[str, str],
        annotations: dict[str, str],
        starts_at: float,
        now: float,
    ) -> None:
        """A firing event (first or re-sent) received at ``now``."""
        self.advance(now)
        known = self.alerts.get(fingerprint)
        if known is not None and known.firing:
            self.counts["duplicate"] += 1
            return
        key = incident_key(labels, DEFAULT_KEY_LABELS, fingerprint)
        facts = AlertFacts.of(fingerprint, key, labels, annotations, starts_at)
        alert = SimAlert(
            facts, True, known.incident_id if known else None, known.flap if known else None
        )
        self.alerts[fingerprint] = alert
        quiet = known is not None and not self._flapped(alert, starts_at)
        override = self.overrides.get(key)
        pinned = self.incidents.get(override.incident_id or "") if override else None
        current = self.incidents.get(self.key_index.get(key, ""))
        if key_is_live(current, override, pinned, starts_at, self.config):
            self._correlate(fingerprint, quiet)
            return
        record, admission = on_firing(
            self.pending.get(key), key, fingerprint, starts_at, self.config.thresholds
        )
        self._keep_pending(key, record)
        if admission.verdict is Gate.ADMIT:
            self._admit(admission.fingerprints, quiet)
        elif admission.due_at is not None:
            heapq.heappush(self._timers, (admission.due_at, key))

    def resolve(self, fingerprint: str, at: float) -> None:
        self.advance(at)
        alert = self.alerts.get(fingerprint)
        if alert is None or not alert.firing:
            return
        alert.firing = False
        self._flapped(alert, at)
        if alert.incident_id is None:
            record, admission = on_resolved(
                self.pending.get(alert.facts.key), fingerprint, at, self.config.thresholds
            )
            self._keep_pending(alert.facts.key, record)
            self.counts["transient"] += admission.verdict is Gate.TRANSIENT
            return
        incident = self.incidents[alert.incident_id]
        incident = msgspec.structs.replace(incident, firing_count=max(0, incident.firing_count - 1))
        if incident.firing_count == 0 and incident.status.is_open:
            incident, _ = auto_resolve(incident, at=max(at, incident.created_at))
            profile = self.profiles[incident.id]
            self.index.remove(entity_slots(profile.scope, profile.entities), incident.id)
        self.incidents[incident.id] = incident

    def advance(self, now: float) -> None:
        """Run the admission timers due by ``now``."""
        while self._timers and self._timers[0][0] <= now:
            due, key = heapq.heappop(self._timers)
            record, admission = on_due(self.pending.get(key), due, self.config.thresholds)
            self._keep_pending(key, record)
            if admission.verdict is Gate.ADMIT:
                self._admit(admission.fingerprints, quiet=False)
            elif admission.due_at is not None and admission.due_at > due:
                heapq.heappush(self._timers, (admission.due_at, key))

    # --- the engine ----------------------------------------------------------------------

    def decide(self, fingerprint: str) -> Decision:
        """Plan, read the slots, pick, load, correlate: the read side of one alert.
        With a clock, the engine's part (plan, pick, correlate) and the whole are timed."""
        clock = self.clock or _no_clock
        t0 = clock()
        facts = self.alerts[fingerprint].facts
        lookup = plan(facts, self.topology, self.config)
        t1 = clock()
        found = {name: self.index.read(name, lookup.since) for name in lookup.slots}
        t2 = clock()
        wanted = pick(lookup, found, self.config)
        t3 = clock()
        key_incident = self.key_index.get(facts.key)
        override = self.overrides.get(facts.key)
        for extra in (key_incident, override.incident_id if override else None):
            if extra is not None:
                wanted.append(extra)
        candidates = {
            i: Candidate(self.incidents[i], self.profiles[i]) for i in wanted if i in self.incidents
        }
        t4 = clock()
        decision = correlate(
            lookup,
            candidates,
            key_incident=key_incident,
            override=override,
            topology=self.topology,
            config=self.config,
        )
        t5 = clock()
        self.candidates_seen += len(candidates)
        self.engine_seconds += (t1 - t0) + (t3 - t2) + (t5 - t4)
        self.decide_seconds += t5 - t0
        return decision

    def _admit(self, fingerprints: tuple[str, ...], quiet: bool) -> None:
        for fingerprint in fingerprints:
            alert = self.alerts[fingerprint]
            if alert.firing:
                self._correlate(fingerprint, quiet)

    def _correlate(self, fingerprint: str, quiet: bool) -> None:
        decision = self.decide(fingerprint)
        self.counts[f"rule_{decision.evidence.rule}"] += 1
        alert = self.alerts[fingerprint]
        at = alert.facts.at
        if decision.action is Action.OPEN:
            incident = self._open(alert.facts)
        else:
            incident = self.incidents[decision.evidence.incident_id or ""]
            if decision.action is Action.REOPEN:
                incident, _ = reopen_by_alert(incident, fingerprint=fingerprint, at=at)
        if decision.action is not Action.JOIN and not quiet:
            self.counts["notifications"] += 1
        elif decision.action is not Action.JOIN:
            self.counts["notifications_quieted"] += 1
        profile = msgspec.structs.replace(decision.profile, incident_id=incident.id)
        self.profiles[incident.id] = profile
        self.index.touch(decision.slots, incident.id, profile.last_at)
        if decision.claims_key:
            self.key_index[alert.facts.key] = incident.id
        members = self.members.setdefault(incident.id, set())
        fresh = fingerprint not in members
        members.add(fingerprint)
        alert.incident_id = incident.id
        self.incidents[incident.id] = msgspec.structs.replace(
            incident,
            firing_count=incident.firing_count + 1,
            alert_count=incident.alert_count + fresh,
            updated_at=max(incident.updated_at, at),
        )
        if decision.merge:
            self._merge(
                incident.id, decision.merge, at, f"alert {fingerprint} is their common cause"
            )

    def _open(self, facts: AlertFacts) -> Incident:
        incident_id = f"INC-{self._next_id}"
        self._next_id += 1
        self.counts["opened"] += 1
        return Incident(
            id=incident_id,
            key=facts.key,
            title=facts.summary,
            status=IncidentStatus.TRIGGERED,
            priority="P3",
            category="other",
            group="ops",
            procedure="standard",
            created_at=facts.at,
            updated_at=facts.at,
            started_at=facts.at,
            labels=facts.labels,
        )

    def _merge(self, target: str, sources: tuple[str, ...], at: float, reason: str) -> None:
        result = merge(
            self.profiles[target],
            [self.profiles[s] for s in sources],
            members={s: sorted(self.members.get(s, ())) for s in sources},
            actor=AUTOMATIC,
            reason=reason,
            at=at,
            topology=self.topology,
            config=self.config,
        )
        self.counts["merged"] += len(sources)
        self.corrections.append(result.correction)
        moved_firing = 0
        for fingerprint, into in result.moved.items():
            alert = self.alerts[fingerprint]
            alert.incident_id = into
            moved_firing += alert.firing
            self.members[into].add(fingerprint)
        for source in result.closed:
            closed = self.incidents[source]
            self.incidents[source] = msgspec.structs.replace(
                closed, status=IncidentStatus.CLOSED, closed_at=at, firing_count=0
            )
            self.members.pop(source, None)
            self.index.remove(result.slots_remove[source], source)
        incident = self.incidents[target]
        self.incidents[target] = msgspec.structs.replace(
            incident,
            firing_count=incident.firing_count + moved_firing,
            alert_count=len(self.members[target]),
        )
        self.profiles[target] = result.profile
        self.key_index.update(result.key_index)
        self.overrides.update(result.overrides)
        self.index.touch(result.slots_add, target, result.profile.last_at)

    def _flapped(self, alert: SimAlert, at: float) -> bool:
        """Record a state change; True when it may notify (not flapping, or its start)."""
        alert.flap, verdict = observe(alert.flap, at, self.config.flapping)
        self.counts["flapping_started"] += verdict.started
        return verdict.notify

    def _keep_pending(self, key: str, record: Pending | None) -> None:
        if record is None:
            self.pending.pop(key, None)
        else:
            self.pending[key] = record

    # --- results -------------------------------------------------------------------------

    def assignment(self) -> dict[str, str]:
        """Each alert's incident at the end (after merges); held alerts have none."""
        return {fp: a.incident_id for fp, a in self.alerts.items() if a.incident_id is not None}

    def final_incidents(self) -> list[str]:
        """Incidents not closed as merged into another."""
        return [i for i in self.incidents if i in self.members]
