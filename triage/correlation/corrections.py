"""Merge and split: correcting how alerts were grouped.

Both are pure: they return what changes (alerts moved, incidents closed as merged, keys
re-pointed, index slots to update, overrides for later alerts) plus a
``GroupingCorrection`` record the shell appends to both incidents' timelines and to the
corrections log, like a routing correction. Operator corrections also write
``Override``s, so later alerts of the same keys follow the operator instead of the rule
that grouped them wrongly; the automatic merge of incidents bridged by a common cause
(``engine.Decision.merge``) moves keys but pins nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import msgspec

from triage.correlation.config import CorrelationConfig
from triage.correlation.engine import Override
from triage.correlation.features import AlertFacts
from triage.correlation.index import entity_slots
from triage.correlation.profile import IncidentProfile, build_profile, merged_profile
from triage.correlation.topology import Topology

AUTOMATIC = "triaged"


class GroupingCorrection(msgspec.Struct, frozen=True):
    kind: str  # "merge", "split" or "auto-merge"
    at: float
    actor: str
    reason: str
    target: str
    sources: tuple[str, ...]
    fingerprints: tuple[str, ...]
    keys: tuple[str, ...]


class MergeResult(msgspec.Struct, frozen=True):
    profile: IncidentProfile  # the target's, with the sources folded in
    moved: dict[str, str]  # fingerprint -> target id
    closed: tuple[str, ...]  # close these as merged into the target
    key_index: dict[str, str]  # key -> incident id to write
    overrides: dict[str, Override]
    slots_remove: dict[str, tuple[str, ...]]  # source id -> slots it leaves
    slots_add: tuple[str, ...]  # slots to touch for the target at profile.last_at
    correction: GroupingCorrection


class SplitResult(msgspec.Struct, frozen=True):
    source: IncidentProfile  # rebuilt from the alerts that stay
    split: IncidentProfile  # the new incident's, from the moved alerts
    moved: dict[str, str]  # fingerprint -> new incident id
    key_index: dict[str, str]
    overrides: dict[str, Override]
    slots_remove: tuple[str, ...]  # slots the source leaves
    slots_source: tuple[str, ...]  # slots to touch for the source
    slots_split: tuple[str, ...]  # slots to touch for the new incident
    correction: GroupingCorrection


def merge(
    target: IncidentProfile,
    sources: Sequence[IncidentProfile],
    *,
    members: Mapping[str, Sequence[str]],
    actor: str,
    reason: str,
    at: float,
    topology: Topology,
    config: CorrelationConfig,
) -> MergeResult:
    """Merge ``sources`` into ``target``: their alerts move, they close as merged, and
    their keys point at the target. ``members`` lists each source's fingerprints."""
    ids = [s.incident_id for s in sources]
    if not ids or target.incident_id in ids or len(set(ids)) != len(ids):
        raise ValueError("merge needs distinct source incidents other than the target")
    profile = merged_profile(target, sources, topology, config)
    profile = msgspec.structs.replace(
        profile, kept_apart=profile.kept_apart - {*ids, target.incident_id}
    )
    moved = {fp: target.incident_id for s in sources for fp in members.get(s.incident_id, ())}
    keys = tuple(dict.fromkeys(k for s in sources for k in s.keys))
    operator = actor != AUTOMATIC
    overrides = {
        key: Override(
            key=key,
            incident_id=target.incident_id,
            kind="merge",
            actor=actor,
            at=at,
            expires_at=at + config.override_ttl,
        )
        for key in keys
        if operator
    }
    return MergeResult(
        profile=profile,
        moved=moved,
        closed=tuple(ids),
        key_index=dict.fromkeys(keys, target.incident_id),
        overrides=overrides,
        slots_remove={s.incident_id: _slots(s) for s in sources},
        slots_add=_slots(profile),
        correction=GroupingCorrection(
            kind="merge" if operator else "auto-merge",
            at=at,
            actor=actor,
            reason=reason,
            target=target.incident_id,
            sources=tuple(ids),
            fingerprints=tuple(sorted(moved)),
            keys=keys,
        ),
    )


def split(
    source: IncidentProfile,
    alerts: Sequence[AlertFacts],
    move: Collection[str],
    new_id: str,
    *,
    actor: str,
    reason: str,
    at: float,
    topology: Topology,
    config: CorrelationConfig,
) -> SplitResult:
    """Move the alerts ``move`` (fingerprints) of ``source`` into a new incident
    ``new_id``. ``alerts`` are all of the source's alerts; both profiles are rebuilt from
    them. Keys whose alerts all moved follow the new incident; keys whose alerts all
    stayed stay; both sides are kept apart from each other from now on."""
    moving = [a for a in alerts if a.fingerprint in move]
    staying = [a for a in alerts if a.fingerprint not in move]
    if not moving or not staying or len(moving) != len(set(move)):
        raise ValueError("split must move some, not all, of the incident's alerts")
    kept = build_profile(source.incident_id, staying, topology, config)
    split_off = build_profile(new_id, moving, topology, config)
    kept = msgspec.structs.replace(kept, kept_apart=source.kept_apart | {new_id})
    split_off = msgspec.structs.replace(split_off, kept_apart=frozenset({source.incident_id}))
    moved_keys = {a.key for a in moving} - {a.key for a in staying}
    stayed_keys = {a.key for a in staying} - {a.key for a in moving}
    overrides = {
        key: Override(
            key=key,
            incident_id=pinned,
            kind="split",
            actor=actor,
            at=at,
            expires_at=at + config.override_ttl,
            separate_from=(other,),
        )
        for keys, pinned, other in (
            (moved_keys, new_id, source.incident_id),
            (stayed_keys, source.incident_id, new_id),
        )
        for key in sorted(keys)
    }
    kept_slots = _slots(kept)
    return SplitResult(
        source=kept,
        split=split_off,
        moved={a.fingerprint: new_id for a in moving},
        key_index=dict.fromkeys(sorted(moved_keys), new_id),
        overrides=overrides,
        slots_remove=tuple(s for s in _slots(source) if s not in kept_slots),
        slots_source=kept_slots,
        slots_split=_slots(split_off),
        correction=GroupingCorrection(
            kind="split",
            at=at,
            actor=actor,
            reason=reason,
            target=new_id,
            sources=(source.incident_id,),
            fingerprints=tuple(sorted(a.fingerprint for a in moving)),
            keys=tuple(sorted(moved_keys)),
        ),
    )


def _slots(profile: IncidentProfile) -> tuple[str, ...]:
    return entity_slots(profile.scope, profile.entities)
