"""Grouping corrections in the store: merge incidents, split one, apply automatic merges.

The pure side is ``triage.correlation.corrections``: given profiles and alerts it returns
what moves. This module loads those values, calls it, and commits the result in one
checked commit (``daemon.commit``): alert states re-pointed, alert sets moved, merged
incidents closed as "merged into", keys re-pointed only where they still name the
incident they came from, operator overrides for later alerts of the keys (so the next
alert of a merged key joins the target, and a split key stays where the operator put
it), index slots, profiles, timelines, escalation timers, notifications, and the
correction itself on ``triaged:stream:corrections:grouping``. A concurrent change to any
incident involved fails the commit, and the correction is decided again.

The pipeline queues automatic merges (an alert that ties incidents together, see
``triage.correlation.engine``) on ``triaged:corr:merge-requests``; ``drain`` applies them,
right after the batch that queued them and on every scheduler tick.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, cast

import msgspec
import structlog
from redis.asyncio import Redis

from daemon import keys, store
from daemon.commit import Commit
from daemon.correlation_stage import TopologyRef
from daemon.metrics import Metrics
from daemon.notify_stage import announce
from daemon.routing_stage import RoutingRef, escalation_timers
from triage.batch import alert_title
from triage.correlate import incident_key
from triage.correlation import (
    AlertFacts,
    CorrelationConfig,
    GroupingCorrection,
    IncidentProfile,
    Override,
    build_profile,
    merge,
    split,
)
from triage.correlation.corrections import AUTOMATIC
from triage.correlation.fold import MergeRequest
from triage.dedup import AlertState
from triage.incident import (
    Action,
    Incident,
    IncidentStatus,
    TimelineEntry,
    auto_resolve,
    perform,
)

log = structlog.get_logger("triaged.grouping")

CORRECTIONS_KEPT = 10_000  # grouping corrections kept in the stream (approximately)
_ATTEMPTS = 20
_DRAIN_BATCH = 100
_request_decoder = msgspec.json.Decoder(MergeRequest)


class GroupingError(Exception):
    """A correction that cannot be made: ``status`` 400, 404 or 409, naming ``field``."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


class _Read(msgspec.Struct):
    """An incident as a correction reads it: the record, its profile and its alerts."""

    raw: bytes
    incident: Incident
    profile: IncidentProfile | None
    members: list[str]


class Grouper:
    """Merge and split against the store; shared by the API, the pipeline and the
    scheduler of one daemon."""

    def __init__(
        self,
        redis: Redis,
        config: CorrelationConfig,
        topology: TopologyRef,
        metrics: Metrics,
        *,
        key_labels: Sequence[Sequence[str]],
        routing: RoutingRef,
        public_url: str | None = None,
    ) -> None:
        self.redis = redis
        self.config = config
        self.topology = topology
        self.metrics = metrics
        self.key_labels = key_labels
        self.routing = routing
        self.public_url = public_url

    # --- reading -------------------------------------------------------------------------

    async def _read(self, ids: Sequence[str]) -> dict[str, _Read | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for incident_id in ids:
                pipe.get(keys.incident(incident_id))
                pipe.get(keys.corr_profile(incident_id))
                pipe.smembers(keys.incident_alerts(incident_id))
            answers = await pipe.execute()
        found: dict[str, _Read | None] = {}
        for n, incident_id in enumerate(ids):
            raw, profile, members = answers[3 * n : 3 * n + 3]
            found[incident_id] = (
                None
                if raw is None
                else _Read(
                    raw=raw,
                    incident=store.decode_incident(raw),
                    profile=None if profile is None else store.decode_profile(profile),
                    members=sorted(store.text(m) for m in members),
                )
            )
        return found

    async def _states(self, fingerprints: Collection[str]) -> dict[str, tuple[bytes, AlertState]]:
        ordered = sorted(fingerprints)
        docs = cast("list[bytes | None]", await self.redis.mget([keys.alert(fp) for fp in ordered]))
        return {
            fp: (doc, store.decode_state(doc))
            for fp, doc in zip(ordered, docs, strict=True)
            if doc is not None
        }

    def _facts(self, state: AlertState) -> AlertFacts:
        key = incident_key(state.labels, self.key_labels, state.fingerprint)
        return AlertFacts.of(
            state.fingerprint, key, state.labels, state.annotations, state.starts_at
        )

    async def _profile(
        self, read: _Read, states: dict[str, tuple[bytes, AlertState]]
    ) -> IncidentProfile:
        """The stored profile, or one rebuilt from the incident's alerts (an incident
        opened before profiles were kept)."""
        if read.profile is not None:
            return read.profile
        alerts = [self._facts(states[fp][1]) for fp in read.members if fp in states]
        if not alerts:
            incident = read.incident
            return IncidentProfile(
                incident_id=incident.id,
                scope="",
                opened_at=incident.started_at,
                last_at=incident.updated_at,
                keys=(incident.key,),
            )
        return build_profile(read.incident.id, alerts, await self.topology.current(), self.config)

    # --- merge ---------------------------------------------------------------------------

    async def merge(
        self, target_id: str, source_ids: Sequence[str], *, actor: str, reason: str, now: float
    ) -> Incident:
        """Merge ``source_ids`` into ``target_id`` (``GroupingError`` when impossible)."""
        if len(set(source_ids)) != len(source_ids):
            raise GroupingError(400, "incidents", "an incident is named twice")
        if target_id in source_ids:
            raise GroupingError(400, "incidents", f"{target_id} cannot be merged into itself")
        for _ in range(_ATTEMPTS):
            merged = await self._merge_once(target_id, source_ids, actor, reason, now)
            if merged is not None:
                return merged
        raise RuntimeError(f"merge into {target_id} conflicted {_ATTEMPTS} times in a row")

    async def _merge_once(
        self, target_id: str, source_ids: Sequence[str], actor: str, reason: str, now: float
    ) -> Incident | None:
        found = await self._read([target_id, *source_ids])
        target = found[target_id]
        if target is None:
            raise GroupingError(404, "id", f"no incident {target_id!r}")
        if target.incident.status is IncidentStatus.CLOSED:
            raise GroupingError(409, "id", f"incident {target_id} is closed")
        sources: list[_Read] = []
        for index, source_id in enumerate(source_ids):
            source = found[source_id]
            if source is None:
                raise GroupingError(400, f"incidents[{index}]", f"no incident {source_id!r}")
            if source.incident.status is IncidentStatus.CLOSED:
                raise GroupingError(409, f"incidents[{index}]", f"incident {source_id} is closed")
            sources.append(source)
        moving = {fp for s in sources for fp in s.members}
        states = await self._states(moving | set(target.members))
        topology = await self.topology.current()
        result = merge(
            await self._profile(target, states),
            [await self._profile(s, states) for s in sources],
            members={s.incident.id: s.members for s in sources},
            actor=actor,
            reason=reason,
            at=now,
            topology=topology,
            config=self.config,
        )
        commit = Commit()
        for read in (target, *sources):
            commit.expect(keys.incident(read.incident.id), read.raw)
        moved_firing = 0
        for fp in sorted(result.moved):
            if fp not in states:
                continue
            raw, state = states[fp]
            commit.expect(keys.alert(fp), raw)
            moved_firing += state.firing
            commit.set(
                keys.alert(fp), store.encode(msgspec.structs.replace(state, incident_id=target_id))
            )
        if result.moved:
            commit.sadd(keys.incident_alerts(target_id), sorted(result.moved))
        members = set(target.members) | set(result.moved)
        old = target.incident
        new = msgspec.structs.replace(
            old,
            alert_count=len(members),
            firing_count=old.firing_count + moved_firing,
            updated_at=now,
            triage={**old.triage, "impact": _impact(result.profile, len(members))},
        )
        entries = [
            TimelineEntry(
                at=now,
                kind="merge",
                actor=actor,
                message=f"merged {', '.join(result.closed)} ({len(result.moved)} alerts)"
                + (f": {reason}" if reason else ""),
                data={"sources": list(result.closed), "fingerprints": sorted(result.moved)},
            )
        ]
        if new.status is IncidentStatus.RESOLVED and moved_firing:
            new, entry = perform(
                new, Action.REOPEN, actor=actor, message="merged incidents still firing", now=now
            )
            entries.append(entry)
        for source in sources:
            self._close_merged(commit, source, target_id, actor, reason, now)
            profile_keys = source.profile.keys if source.profile else ()
            for key in sorted({source.incident.key, *profile_keys}):
                commit.set_if(keys.incident_for_key(key), target_id, source.incident.id)
            for name in result.slots_remove.get(source.incident.id, ()):
                commit.zrem(keys.corr_slot(name), [source.incident.id])
        self._finish(commit, old, new, entries, result.profile, result.slots_add)
        self._record(commit, result.correction, result.overrides)
        if not await commit.apply(self.redis):
            return None
        self.metrics.grouping_corrections.labels(result.correction.kind).inc()
        log.info(
            "incidents_merged",
            incident_id=target_id,
            sources=list(result.closed),
            actor=actor,
            alerts=len(result.moved),
        )
        return new

    def _close_merged(
        self, commit: Commit, source: _Read, target_id: str, actor: str, reason: str, now: float
    ) -> None:
        old = source.incident
        closed = msgspec.structs.replace(
            old,
            status=IncidentStatus.CLOSED,
            closed_at=now,
            resolved_at=old.resolved_at or now,
            updated_at=now,
            firing_count=0,
            alert_count=0,
            triage={**old.triage, "merged_into": target_id},
        )
        store.write_incident(commit, old, closed)
        entry = TimelineEntry(
            at=now,
            kind="merged",
            actor=actor,
            message=f"merged into {target_id}" + (f": {reason}" if reason else ""),
            data={"into": target_id},
        )
        commit.rpush(keys.incident_timeline(old.id), [store.encode(entry)])
        commit.delete(keys.incident_alerts(old.id), keys.corr_profile(old.id))
        commit.zrem(keys.ESCALATIONS, [old.id])
        commit.zrem(keys.AUTO_RESOLVE, [old.id])

    def _finish(
        self,
        commit: Commit,
        old: Incident | None,
        new: Incident,
        entries: list[TimelineEntry],
        profile: IncidentProfile,
        slots: Sequence[str],
    ) -> None:
        """Write an incident a correction changed, with its profile, slots, timeline,
        escalation timer and announcements."""
        table = self.routing.table
        new = announce(commit, old, new, now=new.updated_at, public_url=self.public_url)
        store.write_incident(commit, old, new)
        commit.set(keys.corr_profile(new.id), store.encode(profile))
        for name in slots:
            commit.command("ZADD", keys.corr_slot(name), "GT", profile.last_at, new.id)
        if entries:
            commit.rpush(keys.incident_timeline(new.id), [store.encode(e) for e in entries])
        timers = escalation_timers([new], table)
        store.write_timers(commit, keys.ESCALATIONS, timers.due, timers.cleared)

    def _record(
        self, commit: Commit, correction: GroupingCorrection, overrides: dict[str, Override]
    ) -> None:
        ttl_ms = int(self.config.override_ttl * 1000)
        for key, override in overrides.items():
            commit.command("SET", keys.corr_override(key), store.encode(override), "PX", ttl_ms)
        if overrides:
            commit.zadd(keys.OVERRIDES, {k: o.expires_at for k, o in overrides.items()})
        commit.command(
            "XADD",
            keys.GROUPING_CORRECTIONS,
            "MAXLEN",
            "~",
            CORRECTIONS_KEPT,
            "*",
            "correction",
            store.encode(correction),
        )

    # --- split ---------------------------------------------------------------------------

    async def split(
        self, source_id: str, fingerprints: Sequence[str], *, actor: str, reason: str, now: float
    ) -> tuple[Incident, Incident]:
        """Move ``fingerprints`` of ``source_id`` into a new incident; returns both."""
        if len(set(fingerprints)) != len(fingerprints):
            raise GroupingError(400, "fingerprints", "a fingerprint is named twice")
        new_id: str | None = None
        for _ in range(_ATTEMPTS):
            found = (await self._read([source_id]))[source_id]
            if found is None:
                raise GroupingError(404, "id", f"no incident {source_id!r}")
            if found.incident.status is IncidentStatus.CLOSED:
                raise GroupingError(409, "id", f"incident {source_id} is closed")
            members = set(found.members)
            for index, fp in enumerate(fingerprints):
                if fp not in members:
                    raise GroupingError(
                        400, f"fingerprints[{index}]", f"alert {fp} is not in {source_id}"
                    )
            if len(members) == len(fingerprints):
                raise GroupingError(
                    400, "fingerprints", "a split must leave at least one alert in the incident"
                )
            new_id = new_id or (await store.allocate_ids(self.redis, 1))[0]
            done = await self._split_once(found, fingerprints, new_id, actor, reason, now)
            if done is not None:
                return done
        raise RuntimeError(f"split of {source_id} conflicted {_ATTEMPTS} times in a row")

    async def _split_once(
        self,
        found: _Read,
        fingerprints: Sequence[str],
        new_id: str,
        actor: str,
        reason: str,
        now: float,
    ) -> tuple[Incident, Incident] | None:
        states = await self._states(found.members)
        alerts = [self._facts(states[fp][1]) for fp in found.members if fp in states]
        topology = await self.topology.current()
        result = split(
            await self._profile(found, states),
            alerts,
            set(fingerprints),
            new_id,
            actor=actor,
            reason=reason,
            at=now,
            topology=topology,
            config=self.config,
        )
        commit = Commit()
        old = found.incident
        commit.expect(keys.incident(old.id), found.raw)
        commit.expect(keys.incident(new_id), None)
        moving = [states[fp] for fp in sorted(result.moved) if fp in states]
        firing = sum(state.firing for _, state in moving)
        for raw, state in moving:
            commit.expect(keys.alert(state.fingerprint), raw)
            moved = msgspec.structs.replace(state, incident_id=new_id)
            commit.set(keys.alert(state.fingerprint), store.encode(moved))
        commit.srem(keys.incident_alerts(old.id), sorted(result.moved))
        commit.sadd(keys.incident_alerts(new_id), sorted(result.moved))
        for key in result.key_index:
            commit.set_if(keys.incident_for_key(key), new_id, old.id)
        for name in result.slots_remove:
            commit.zrem(keys.corr_slot(name), [old.id])
        stays = len(found.members) - len(result.moved)
        source = msgspec.structs.replace(
            old,
            alert_count=stays,
            firing_count=max(0, old.firing_count - firing),
            updated_at=now,
            triage={**old.triage, "impact": _impact(result.source, stays)},
        )
        note = f": {reason}" if reason else ""
        entries = [
            TimelineEntry(
                at=now,
                kind="split",
                actor=actor,
                message=f"split {len(result.moved)} alerts into {new_id}{note}",
                data={"into": new_id, "fingerprints": sorted(result.moved)},
            )
        ]
        if source.status.is_open and source.firing_count == 0:
            source, entry = auto_resolve(source, at=now)
            entries.append(entry)
        self._finish(commit, old, source, entries, result.source, result.slots_source)
        first = min((state for _, state in moving), key=lambda s: (s.starts_at, s.fingerprint))
        created = _split_incident(old, first, new_id, result.split, len(moving), firing, now)
        created_entry = TimelineEntry(
            at=now,
            kind="open",
            actor=actor,
            message=f"split from {old.id}{note}",
            data={"from": old.id, "fingerprints": sorted(result.moved)},
        )
        self._finish(commit, None, created, [created_entry], result.split, result.slots_split)
        self._record(commit, result.correction, result.overrides)
        if not await commit.apply(self.redis):
            return None
        self.metrics.grouping_corrections.labels("split").inc()
        log.info("incident_split", incident_id=old.id, into=new_id, actor=actor)
        return source, created

    # --- automatic merges ----------------------------------------------------------------

    async def drain(self, now: float) -> int:
        """Apply queued automatic merges; returns how many were applied."""
        applied = 0
        while True:
            queued = cast(
                "list[bytes]", await self.redis.lrange(keys.MERGE_REQUESTS, 0, _DRAIN_BATCH - 1)
            )
            for raw in queued:
                try:
                    applied += await self._apply_request(_request_decoder.decode(raw), now)
                except RuntimeError as exc:  # kept conflicting: leave it for the next tick
                    log.warning("auto_merge_deferred", error=str(exc))
                    return applied
                await self.redis.lrem(keys.MERGE_REQUESTS, 1, raw)  # type: ignore[arg-type]
            if len(queued) < _DRAIN_BATCH:
                return applied

    async def _apply_request(self, request: MergeRequest, now: float) -> int:
        target = await self._live_target(request.target)
        if target is None:
            return 0
        found = await self._read(list(request.sources))
        sources = [
            i
            for i, read in found.items()
            if read is not None
            and i != target
            and read.incident.status is not IncidentStatus.CLOSED
            and not (read.profile is not None and target in read.profile.kept_apart)
        ]
        if not sources:
            return 0
        try:
            await self.merge(target, sources, actor=AUTOMATIC, reason=request.reason, now=now)
        except GroupingError as exc:
            log.info("auto_merge_skipped", incident_id=target, reason=exc.message)
            return 0
        return 1

    async def _live_target(self, incident_id: str) -> str | None:
        """The incident a merge into ``incident_id`` goes to now: itself, or the one it was
        merged into since; None when it is closed for another reason or gone."""
        for _ in range(16):
            raw = await self.redis.get(keys.incident(incident_id))
            if raw is None:
                return None
            incident = store.decode_incident(raw)
            if incident.status is not IncidentStatus.CLOSED:
                return incident_id
            into = incident.triage.get("merged_into")
            if not isinstance(into, str):
                return None
            incident_id = into
        return None


def _impact(profile: IncidentProfile, alert_count: int) -> dict[str, Any]:
    impact: dict[str, Any] = msgspec.to_builtins(profile.impact())
    impact["alert_count"] = alert_count
    return impact


def _split_incident(
    source: Incident,
    first: AlertState,
    new_id: str,
    profile: IncidentProfile,
    alerts: int,
    firing: int,
    now: float,
) -> Incident:
    """The incident a split opens: the moved alerts, routed as the source was."""
    status = IncidentStatus.TRIGGERED if firing else IncidentStatus.RESOLVED
    return Incident(
        id=new_id,
        key=profile.keys[0] if profile.keys else source.key,
        title=alert_title(first),
        status=status,
        priority=source.priority,
        category=source.category,
        group=source.group,
        procedure=source.procedure,
        created_at=now,
        updated_at=now,
        started_at=min(first.starts_at, profile.opened_at),
        resolved_at=None if firing else now,
        escalation_policy=source.escalation_policy,
        channels=list(source.channels),
        source=first.source,
        alert_count=alerts,
        firing_count=firing,
        labels=dict(first.labels),
        triage={
            **{k: v for k, v in source.triage.items() if k not in ("correlation", "impact")},
            "correlation": {"rule": "split", "from": source.id, "why": f"split from {source.id}"},
            "impact": _impact(profile, alerts),
        },
    )
