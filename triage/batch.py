"""Fold one pipeline batch through dedup, admission, correlation and flapping.

The shell loads a snapshot (alert states, the key index, the incidents they name, and
the correlation state of ``triage.correlation.fold``), calls ``fold_batch``, and writes
the ``Outcome`` back in one transaction. Events are applied in stream order; everything
the batch changes is collected so that a replay of the same batch against the same
snapshot yields the same outcome. When the fold wanted values the snapshot lacks (index
slots, candidate incidents), it raises ``NeedsReads`` after the whole batch, and the
shell loads them and folds again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import msgspec

from triage.alert import Acknowledgement, AdmissionDue, Alert, AlertStatus, Event, Expiry
from triage.correlate import Decision, decide, incident_key
from triage.correlation import (
    Action as Correlated,
)
from triage.correlation import (
    Admission,
    AlertFacts,
    CorrelationConfig,
    Gate,
    IncidentProfile,
    Topology,
    observe,
)
from triage.correlation import Decision as Correlation
from triage.correlation.fold import (
    CorrelationSnapshot,
    CorrelationWrites,
    Grouping,
    Reads,
)
from triage.dedup import AlertState, Change, apply_alert, apply_expiry
from triage.incident import (
    Action,
    Incident,
    IncidentStatus,
    TimelineEntry,
    auto_resolve,
    perform,
    reopen_by_alert,
)
from triage.severity import DEFAULT_PRIORITY_BY_SEVERITY, parse_severity

ROUTINE_RULES = frozenset({"key"})
"""Attachments the timeline does not list one by one: an alert of the incident's own key is
what the incident is, counted in ``triage.correlation.attached``; a storm of them would make
the timeline as long as the alert list. Topology, similarity and operators' overrides each
get an ``attach`` entry with their reason."""


class IdsExhausted(Exception):
    """The batch opens more incidents than ids were allocated; allocate more and refold."""


class NeedsReads(Exception):
    """The fold wanted values the snapshot lacks; load them and fold again."""

    def __init__(self, reads: Reads):
        super().__init__(f"fold wanted {reads}")
        self.reads = reads


NO_TOPOLOGY = Topology.empty()
RECENT_ATTACHMENTS = 5  # attachments kept with their reasons in an incident's trace


class FoldSettings(msgspec.Struct, frozen=True):
    key_labels: tuple[tuple[str, ...], ...]
    reopen_window: float
    auto_resolve_grace: float
    default_group: str
    correlation: CorrelationConfig = CorrelationConfig()


class Snapshot(msgspec.Struct):
    states: dict[str, AlertState]
    key_index: dict[str, str]
    incidents: dict[str, Incident]
    corr: CorrelationSnapshot = msgspec.field(default_factory=CorrelationSnapshot)


class Outcome(msgspec.Struct):
    states: dict[str, AlertState] = {}
    incidents: dict[str, Incident] = {}
    created: list[str] = []
    key_index: dict[str, str] = {}
    attached: dict[str, list[str]] = {}
    timeline: dict[str, list[TimelineEntry]] = {}
    expiry_set: dict[str, float] = {}
    expiry_clear: set[str] = set()
    resolve_due: dict[str, float] = {}
    changes: Counter[str] = msgspec.field(default_factory=Counter)
    corr: CorrelationWrites = msgspec.field(default_factory=CorrelationWrites)


def event_keys(events: Sequence[Event], key_labels: Sequence[Sequence[str]]) -> list[str]:
    """The incident key of every alert and admission event ("" for the others), computed
    once per batch and shared by the load, the id estimate and the fold."""
    return [
        incident_key(e.labels, key_labels, e.fingerprint)
        if isinstance(e, Alert)
        else e.key
        if isinstance(e, AdmissionDue)
        else ""
        for e in events
    ]


def keys_needing_incidents(
    events: Sequence[Event],
    snapshot: Snapshot,
    settings: FoldSettings,
    keys: Sequence[str] | None = None,
) -> list[str]:
    """Keys whose first firing alert in this batch will open a new incident.

    The shell allocates that many ids before folding, so ids normally have no gaps; when
    events of one batch interact in a way this estimate misses, ``fold_batch`` asks for
    more through its id supply and the shell allocates them. With admission thresholds a
    new key opens nothing at first, so nothing is estimated for it.
    """
    if not settings.correlation.thresholds.immediate:
        return []
    seen: set[str] = set()
    needed: list[str] = []
    for event, key in zip(events, keys or event_keys(events, settings.key_labels), strict=True):
        if not isinstance(event, Alert) or event.status is not AlertStatus.FIRING:
            continue
        if key in seen:
            continue
        prev = snapshot.states.get(event.fingerprint)
        if prev is not None and prev.firing and prev.incident_id is not None:
            continue
        seen.add(key)
        current = _current(snapshot, key)
        if decide(current, fired_at=event.event_at, reopen_window=settings.reopen_window) is (
            Decision.OPEN
        ):
            needed.append(key)
    return needed


def fold_batch(
    events: Sequence[Event],
    snapshot: Snapshot,
    new_ids: Iterator[str],
    settings: FoldSettings,
    keys: Sequence[str] | None = None,
    topology: Topology = NO_TOPOLOGY,
) -> Outcome:
    """Raises ``IdsExhausted`` (allocate more ids) or ``NeedsReads`` (load more)."""
    folder = _Folder(snapshot, new_ids, settings, topology)
    for event, key in zip(events, keys or event_keys(events, settings.key_labels), strict=True):
        if isinstance(event, Alert):
            folder.alert(event, key)
        elif isinstance(event, Expiry):
            folder.expire(event)
        elif isinstance(event, AdmissionDue):
            folder.admission_due(event)
        else:
            folder.acknowledge(event)
    if folder.grouping.wanted:
        raise NeedsReads(folder.grouping.wanted)
    return folder.finish()


def _current(snapshot: Snapshot, key: str) -> Incident | None:
    incident_id = snapshot.key_index.get(key)
    return snapshot.incidents.get(incident_id) if incident_id else None


class _Folder:
    """Working copy of the snapshot while a batch is applied event by event."""

    def __init__(
        self,
        snapshot: Snapshot,
        new_ids: Iterator[str],
        settings: FoldSettings,
        topology: Topology,
    ):
        self.snap = Snapshot(
            states=dict(snapshot.states),
            key_index=dict(snapshot.key_index),
            incidents=dict(snapshot.incidents),
        )
        self.new_ids = new_ids
        self.settings = settings
        self.config = settings.correlation
        self.out = Outcome()
        self.grouping = Grouping(snapshot.corr, self.snap.incidents, self.config, topology)
        self.out.corr = self.grouping.out
        self._provisional = 0
        self._opened: set[str] = set()
        self._impacted: dict[str, IncidentProfile] = {}

    def finish(self) -> Outcome:
        """The batch's outcome, every incident's impact set once from its last profile."""
        for incident_id, profile in self._impacted.items():
            incident = self.snap.incidents[incident_id]
            impact: dict[str, object] = msgspec.to_builtins(profile.impact())
            impact["alert_count"] = incident.alert_count
            triage = {**incident.triage, "impact": impact}
            self._put_incident(msgspec.structs.replace(incident, triage=triage))
        return self.out

    def alert(self, alert: Alert, key: str) -> None:
        prev = self.snap.states.get(alert.fingerprint)
        state, change = apply_alert(prev, alert)
        self.out.changes[change] += 1
        flapping = False
        if change in (Change.REFIRED, Change.RESOLVED):
            state, flapping = self._flap(state)
        if state.firing and (change in (Change.NEW, Change.REFIRED) or state.incident_id is None):
            state = self._correlate(state, key)
        elif change is Change.RESOLVED:
            self._alert_resolved(state, at=state.status_at, key=key, flapping=flapping)
        self._track_expiry(state)
        self._put_state(state)

    def expire(self, expiry: Expiry) -> None:
        state, change = apply_expiry(self.snap.states.get(expiry.fingerprint), expiry)
        self.out.changes[change] += 1
        if state is None or change is not Change.EXPIRED:
            return
        state, flapping = self._flap(state)
        key = incident_key(state.labels, self.settings.key_labels, state.fingerprint)
        self._alert_resolved(state, at=state.status_at, key=key, flapping=flapping)
        self._track_expiry(state)
        self._put_state(state)

    def admission_due(self, due: AdmissionDue) -> None:
        """A key's admission timer fired: admit its held alerts if their time has come."""
        admission = self.grouping.admit_due(due.key, due.at)
        if admission.verdict is Gate.ADMIT:
            self._admit(due.key, admission, None)

    def acknowledge(self, ack: Acknowledgement) -> None:
        state = self.snap.states.get(ack.fingerprint)
        incident = self.grouping.incident(state.incident_id) if state else None
        if incident is None or incident.status is not IncidentStatus.TRIGGERED:
            self.out.changes["incident_ack_ignored"] += 1
            return
        incident, entry = perform(
            incident,
            Action.ACKNOWLEDGE,
            actor=ack.actor,
            message=f"acknowledged through alert {ack.fingerprint}",
            now=ack.at,
        )
        self.out.changes["incident_acknowledged"] += 1
        self._put_incident(incident)
        self._log(incident.id, entry)

    def _correlate(self, state: AlertState, key: str) -> AlertState:
        """A firing alert that needs an incident: through the admission gate unless its
        key is live, then to the engine."""
        facts = _facts(state, key)
        if self.grouping.is_live(facts, self._current(key)):
            return self._attach(state, key, facts, None)
        admission = self.grouping.admit_firing(key, state.fingerprint, state.starts_at)
        if admission.verdict is not Gate.ADMIT:
            self.out.changes["corr_held"] += 1
            return msgspec.structs.replace(state, incident_id=None)
        return self._admit(key, admission, state) or state

    def _admit(
        self, key: str, admission: Admission, current: AlertState | None
    ) -> AlertState | None:
        """Correlate the admitted alerts of a key in order; returns ``current`` attached."""
        attached = None
        for fingerprint in admission.fingerprints:
            if current is not None and fingerprint == current.fingerprint:
                attached = self._attach(current, key, _facts(current, key), admission)
                continue
            state = self.snap.states.get(fingerprint)
            if state is None:
                self.grouping.want_state(fingerprint)
                continue
            if not state.firing or state.incident_id is not None:
                continue
            state = self._attach(state, key, _facts(state, key), admission)
            self._track_expiry(state)
            self._put_state(state)
        return attached

    def _attach(
        self, state: AlertState, key: str, facts: AlertFacts, admission: Admission | None
    ) -> AlertState:
        decision = self.grouping.decide(facts, self._current(key))
        self.out.changes[f"incident_{decision.action}"] += 1
        self.out.changes[f"corr_rule_{decision.evidence.rule}"] += 1
        target = self.grouping.incident(decision.incident_id)
        if decision.action is Correlated.OPEN or target is None:
            incident = self._open(key, state, decision, admission)
        elif decision.action is Correlated.REOPEN:
            incident, entry = reopen_by_alert(
                target, fingerprint=state.fingerprint, at=state.starts_at
            )
            self._log(incident.id, entry)
        else:
            incident = target
        reopened = decision.action is Correlated.REOPEN
        profile = self.grouping.applied(decision, incident.id, state.fingerprint, reopened=reopened)
        attached_here = state.incident_id == incident.id
        if (
            not attached_here
            and incident.id not in self._opened
            and decision.evidence.rule not in ROUTINE_RULES
        ):
            self._log(incident.id, _attachment(state, decision, incident.id))
        incident = msgspec.structs.replace(
            incident,
            firing_count=incident.firing_count + 1,
            alert_count=incident.alert_count + (0 if attached_here else 1),
            updated_at=max(incident.updated_at, state.last_seen),
            started_at=min(incident.started_at, state.starts_at),
            triage={
                **incident.triage,
                "correlation": _traced(incident, decision, state.fingerprint),
            },
        )
        self._impacted[incident.id] = profile
        if not attached_here:
            self.out.attached.setdefault(incident.id, []).append(state.fingerprint)
        if decision.claims_key and self.snap.key_index.get(key) != incident.id:
            self.snap.key_index[key] = incident.id
            self.out.key_index[key] = incident.id
        self.out.resolve_due.pop(incident.id, None)
        self._put_incident(incident)
        return msgspec.structs.replace(state, incident_id=incident.id)

    def _current(self, key: str) -> Incident | None:
        return self.grouping.incident(self.snap.key_index.get(key))

    def _next_id(self) -> str:
        incident_id = next(self.new_ids, None)
        if incident_id is not None:
            return incident_id
        if self.grouping.wanted:  # this fold is discarded anyway: do not ask for ids
            self._provisional += 1
            return f"provisional-{self._provisional}"
        raise IdsExhausted

    def _open(
        self, key: str, state: AlertState, decision: Correlation, admission: Admission | None
    ) -> Incident:
        incident_id = self._next_id()
        severity = parse_severity(state.labels.get("severity"))
        trace = {**decision.trace(), "incident_id": incident_id}
        if admission is not None and admission.reason != "no thresholds":
            trace["admission"] = {"reason": admission.reason, "transient": admission.transient}
        incident = Incident(
            id=incident_id,
            key=key,
            title=alert_title(state),
            description=_description(state),
            status=IncidentStatus.TRIGGERED,
            priority=DEFAULT_PRIORITY_BY_SEVERITY[severity],
            category="other",
            group=self.settings.default_group,
            procedure="standard",
            created_at=state.last_seen,
            updated_at=state.last_seen,
            started_at=state.starts_at,
            labels=dict(state.labels),
            source=state.source,
            triage={
                "correlation": trace,
                "priority": {
                    "value": DEFAULT_PRIORITY_BY_SEVERITY[severity],
                    "decided_by": "severity_map",
                    "severity": severity.name.lower(),
                },
                "group": {"value": self.settings.default_group, "decided_by": "default_group"},
            },
        )
        self.snap.key_index[key] = incident_id
        self.out.key_index[key] = incident_id
        self.out.created.append(incident_id)
        self._opened.add(incident_id)
        self._log(
            incident_id,
            TimelineEntry(
                at=state.last_seen,
                kind="open",
                actor="triaged",
                message=f"opened by alert {state.fingerprint}: {decision.evidence.describe()}",
                data={"fingerprint": state.fingerprint, "key": key},
            ),
        )
        return incident

    def _flap(self, state: AlertState) -> tuple[AlertState, bool]:
        """Record a state change; returns the state and whether the alert is flapping."""
        flap, verdict = observe(state.flap, state.status_at, self.config.flapping)
        state = msgspec.structs.replace(state, flap=flap)
        if verdict.started or verdict.stopped:
            self.out.changes[
                "corr_flapping_started" if verdict.started else "corr_flapping_stopped"
            ] += 1
            incident = self.grouping.incident(state.incident_id)
            if incident is not None:
                window = f"{self.config.flapping.window:g}s"
                what = (
                    f"is flapping: {verdict.changes} changes within {window}"
                    if verdict.started
                    else "stopped flapping"
                )
                self._log(
                    incident.id,
                    TimelineEntry(
                        at=state.status_at,
                        kind="flapping" if verdict.started else "flapping_stopped",
                        actor="triaged",
                        message=f"alert {state.fingerprint} {what}",
                        data={"fingerprint": state.fingerprint, "changes": verdict.changes},
                    ),
                )
        return state, verdict.flapping

    def _alert_resolved(self, state: AlertState, *, at: float, key: str, flapping: bool) -> None:
        """A firing alert resolved. Its incident resolves with its last firing alert (after
        the grace, or, while the alert flaps, once it kept still for the flapping window:
        a flapping alert is one ongoing problem, not an incident resolved and reopened on
        every toggle). An alert that never reached an incident may be a transient."""
        if state.incident_id is None:
            admission = self.grouping.resolved_unadmitted(key, state.fingerprint, at)
            if admission.verdict is Gate.TRANSIENT:
                self.out.changes["corr_transient"] += 1
            return
        incident = self.grouping.incident(state.incident_id)
        if incident is None:
            return
        incident = msgspec.structs.replace(incident, firing_count=max(0, incident.firing_count - 1))
        if incident.firing_count == 0 and incident.status.is_open:
            grace = self.settings.auto_resolve_grace
            if flapping:
                grace = max(grace, self.config.flapping.window)
            if grace > 0:
                self.out.resolve_due[incident.id] = at + grace
            else:
                incident, entry = auto_resolve(incident, at=max(at, incident.created_at))
                self._log(incident.id, entry)
                self.grouping.left(incident)
        self._put_incident(incident)

    def _track_expiry(self, state: AlertState) -> None:
        if state.firing and state.ends_at is not None:
            self.out.expiry_set[state.fingerprint] = state.ends_at
            self.out.expiry_clear.discard(state.fingerprint)
        else:
            self.out.expiry_set.pop(state.fingerprint, None)
            self.out.expiry_clear.add(state.fingerprint)

    def _put_state(self, state: AlertState) -> None:
        self.snap.states[state.fingerprint] = state
        self.out.states[state.fingerprint] = state

    def _put_incident(self, incident: Incident) -> None:
        self.snap.incidents[incident.id] = incident
        self.out.incidents[incident.id] = incident

    def _log(self, incident_id: str, entry: TimelineEntry) -> None:
        self.out.timeline.setdefault(incident_id, []).append(entry)


def _description(state: AlertState) -> str:
    """The opening alert's longer text, which the models read besides the title."""
    for name in ("description", "message", "details", "text"):
        text = state.annotations.get(name)
        if text:
            return text[:4000]
    return ""


def _facts(state: AlertState, key: str) -> AlertFacts:
    return AlertFacts.of(state.fingerprint, key, state.labels, state.annotations, state.starts_at)


def _attachment(state: AlertState, decision: Correlation, incident_id: str) -> TimelineEntry:
    evidence = decision.evidence
    data: dict[str, object] = {"fingerprint": state.fingerprint, "rule": str(evidence.rule)}
    if evidence.path:
        data["path"] = list(evidence.path)
    if evidence.score is not None:
        data["score"] = evidence.score
    return TimelineEntry(
        at=state.starts_at,
        kind="attach",
        actor="triaged",
        message=f"alert {state.fingerprint} joined: {evidence.describe()}",
        data=data,
    )


def _traced(incident: Incident, decision: Correlation, fingerprint: str) -> dict[str, object]:
    """The incident's correlation trace: the opening decision, attachments counted by
    rule, and the most recent attachments by topology, similarity or override with their
    reasons (every attachment's reason is also in the timeline)."""
    trace = dict(incident.triage.get("correlation") or {})
    counted = dict(trace.get("attached") or {})
    rule = str(decision.evidence.rule)
    counted[rule] = counted.get(rule, 0) + 1
    trace["attached"] = counted
    if rule not in ("key", "new"):  # the others say more than "same key": keep their reasons
        recent = list(trace.get("recent") or [])
        why = decision.evidence.describe()
        recent.append({"fingerprint": fingerprint, "rule": rule, "why": why})
        trace["recent"] = recent[-RECENT_ATTACHMENTS:]
    if decision.merge:
        trace["merges"] = [*(trace.get("merges") or []), list(decision.merge)]
    return trace


def alert_title(state: AlertState) -> str:
    """An incident's title from the alert that opens it."""
    for name in ("summary", "title", "message", "description"):
        text = state.annotations.get(name)
        if text:
            return text.splitlines()[0][:200]
    name = state.labels.get("alertname", "alert")
    where = state.labels.get("service") or state.labels.get("instance") or state.labels.get("job")
    return f"{name} on {where}" if where else name
