"""Fold one pipeline batch through dedup and correlation.

The shell loads a snapshot (alert states, the key index, the incidents they name), calls
``fold_batch`` once, and writes the ``Outcome`` back in one transaction. Events are
applied in stream order; everything the batch changes is collected so that a replay of
the same batch against the same snapshot yields the same outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import msgspec

from triage.alert import Acknowledgement, Alert, AlertStatus, Event, Expiry
from triage.correlate import Decision, decide, incident_key
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


class IdsExhausted(Exception):
    """The batch opens more incidents than ids were allocated; allocate more and refold."""


class FoldSettings(msgspec.Struct, frozen=True):
    key_labels: tuple[tuple[str, ...], ...]
    reopen_window: float
    auto_resolve_grace: float
    default_group: str


class Snapshot(msgspec.Struct):
    states: dict[str, AlertState]
    key_index: dict[str, str]
    incidents: dict[str, Incident]


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


def event_keys(events: Sequence[Event], key_labels: Sequence[Sequence[str]]) -> list[str]:
    """The incident key of every alert event ("" for expiries), computed once per batch
    and shared by the load, the id estimate and the fold."""
    return [
        incident_key(e.labels, key_labels, e.fingerprint) if isinstance(e, Alert) else ""
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
    more through its id supply and the shell allocates them.
    """
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
) -> Outcome:
    folder = _Folder(snapshot, new_ids, settings)
    for event, key in zip(events, keys or event_keys(events, settings.key_labels), strict=True):
        if isinstance(event, Alert):
            folder.alert(event, key)
        elif isinstance(event, Expiry):
            folder.expire(event)
        else:
            folder.acknowledge(event)
    return folder.out


def _current(snapshot: Snapshot, key: str) -> Incident | None:
    incident_id = snapshot.key_index.get(key)
    return snapshot.incidents.get(incident_id) if incident_id else None


class _Folder:
    """Working copy of the snapshot while a batch is applied event by event."""

    def __init__(self, snapshot: Snapshot, new_ids: Iterator[str], settings: FoldSettings):
        self.snap = Snapshot(
            states=dict(snapshot.states),
            key_index=dict(snapshot.key_index),
            incidents=dict(snapshot.incidents),
        )
        self.new_ids = new_ids
        self.settings = settings
        self.out = Outcome()

    def alert(self, alert: Alert, key: str) -> None:
        prev = self.snap.states.get(alert.fingerprint)
        state, change = apply_alert(prev, alert)
        self.out.changes[change] += 1
        if state.firing and (change in (Change.NEW, Change.REFIRED) or state.incident_id is None):
            state = self._correlate(state, alert, key)
        elif change is Change.RESOLVED:
            self._alert_resolved(state, at=state.status_at)
        self._track_expiry(state)
        self._put_state(state)

    def expire(self, expiry: Expiry) -> None:
        state, change = apply_expiry(self.snap.states.get(expiry.fingerprint), expiry)
        self.out.changes[change] += 1
        if state is None or change is not Change.EXPIRED:
            return
        self._alert_resolved(state, at=state.status_at)
        self._track_expiry(state)
        self._put_state(state)

    def acknowledge(self, ack: Acknowledgement) -> None:
        state = self.snap.states.get(ack.fingerprint)
        incident = self.snap.incidents.get(state.incident_id or "") if state else None
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

    def _correlate(self, state: AlertState, alert: Alert, key: str) -> AlertState:
        current = _current(self.snap, key)
        decision = decide(
            current, fired_at=alert.event_at, reopen_window=self.settings.reopen_window
        )
        self.out.changes[f"incident_{decision}"] += 1
        if decision is Decision.OPEN or current is None:
            incident = self._open(key, state)
        elif decision is Decision.REOPEN:
            incident, entry = reopen_by_alert(
                current, fingerprint=state.fingerprint, at=alert.event_at
            )
            self._log(incident.id, entry)
        else:
            incident = current
        attached_here = state.incident_id == incident.id
        incident = msgspec.structs.replace(
            incident,
            firing_count=incident.firing_count + 1,
            alert_count=incident.alert_count + (0 if attached_here else 1),
            updated_at=max(incident.updated_at, alert.received_at),
            started_at=min(incident.started_at, state.starts_at),
        )
        if not attached_here:
            self.out.attached.setdefault(incident.id, []).append(state.fingerprint)
        self.out.resolve_due.pop(incident.id, None)
        self._put_incident(incident)
        return msgspec.structs.replace(state, incident_id=incident.id)

    def _open(self, key: str, state: AlertState) -> Incident:
        incident_id = next(self.new_ids, None)
        if incident_id is None:
            raise IdsExhausted
        severity = parse_severity(state.labels.get("severity"))
        incident = Incident(
            id=incident_id,
            key=key,
            title=_title(state),
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
                "correlation": {"key": key, "reason": "key"},
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
        self._log(
            incident_id,
            TimelineEntry(
                at=state.last_seen,
                kind="open",
                actor="triaged",
                message=f"opened by alert {state.fingerprint}",
                data={"fingerprint": state.fingerprint, "key": key},
            ),
        )
        return incident

    def _alert_resolved(self, state: AlertState, *, at: float) -> None:
        incident = self.snap.incidents.get(state.incident_id or "")
        if incident is None:
            return
        incident = msgspec.structs.replace(incident, firing_count=max(0, incident.firing_count - 1))
        if incident.firing_count == 0 and incident.status.is_open:
            if self.settings.auto_resolve_grace > 0:
                self.out.resolve_due[incident.id] = at + self.settings.auto_resolve_grace
            else:
                incident, entry = auto_resolve(incident, at=max(at, incident.created_at))
                self._log(incident.id, entry)
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


def _title(state: AlertState) -> str:
    for name in ("summary", "title", "message", "description"):
        text = state.annotations.get(name)
        if text:
            return text.splitlines()[0][:200]
    name = state.labels.get("alertname", "alert")
    where = state.labels.get("service") or state.labels.get("instance") or state.labels.get("job")
    return f"{name} on {where}" if where else name
