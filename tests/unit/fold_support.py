"""The correlation state a test carries from one folded batch to the next, in memory.

A simulated shell: it applies a batch's ``CorrelationWrites`` as ``daemon.store`` applies
them to Redis (profiles, pending records, slot members with their scores, removals), and
marks the snapshot complete, so the fold never wants a read the store could not answer.
"""

from __future__ import annotations

from triage.batch import Outcome, Snapshot
from triage.correlation.fold import CorrelationSnapshot, CorrelationWrites


def empty() -> Snapshot:
    return Snapshot(states={}, key_index={}, incidents={}, corr=complete())


def merged(snapshot: Snapshot, out: Outcome) -> Snapshot:
    """What the shell writes back: the snapshot with the outcome applied."""
    return Snapshot(
        states={**snapshot.states, **out.states},
        key_index={**snapshot.key_index, **out.key_index},
        incidents={**snapshot.incidents, **out.incidents},
        corr=complete(snapshot.corr, out.corr),
    )


def complete(
    corr: CorrelationSnapshot | None = None, writes: CorrelationWrites | None = None
) -> CorrelationSnapshot:
    corr = corr or CorrelationSnapshot()
    if writes is None:
        return CorrelationSnapshot(
            profiles=dict(corr.profiles),
            pending=dict(corr.pending),
            overrides=dict(corr.overrides),
            slots=dict(corr.slots),
            complete=True,
        )
    pending = {**corr.pending, **writes.pending_set}
    for key in writes.pending_clear:
        pending.pop(key, None)
    slots = {name: dict(entries) for name, entries in corr.slots.items()}
    for name, touched in writes.slot_touch.items():
        entries = slots.setdefault(name, {})
        for incident_id, score in touched.items():
            entries[incident_id] = max(score, entries.get(incident_id, score))
    for name, removed in writes.slot_remove.items():
        for incident_id in removed:
            slots.get(name, {}).pop(incident_id, None)
    return CorrelationSnapshot(
        profiles={**corr.profiles, **writes.profiles},
        pending=pending,
        overrides=dict(corr.overrides),
        slots={
            name: sorted(entries.items(), key=lambda e: (-e[1], e[0]))
            for name, entries in slots.items()
            if entries
        },
        complete=True,
    )
