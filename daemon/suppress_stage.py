"""The suppress stage: silences, maintenance windows and inhibition in the pipeline.

Silences created through the API (``daemon.silences_api``) are stored in Redis with
their author and comment. The pipeline reads the silences at most once a second (they
change rarely) and marks every firing alert they mute; an incident whose opening alert is
muted is kept but not escalated. Inhibition sources are the firing alerts that match an
inhibition rule's source side, kept in a small Redis set so every batch can see them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

import msgspec
from redis.asyncio import Redis

from daemon import keys, store
from daemon.commit import Commit
from daemon.notify_stage import announce
from daemon.routing_stage import escalation_timers
from routing import RoutingTable, compile_silence, index_firing, suppression_for
from routing.matchers import Subject, matches_all
from routing.silences import Silence, SuppressionKind
from triage.batch import Outcome
from triage.dedup import AlertState
from triage.incident import TimelineEntry

_REFRESH_SECONDS = 1.0


class SilenceRecord(msgspec.Struct, frozen=True):
    id: str
    kind: Literal["silence", "maintenance"]
    matchers: list[str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    expired_by: str | None = None


records_decoder = msgspec.json.Decoder(SilenceRecord)


def compiled(record: SilenceRecord) -> Silence:
    return compile_silence(
        {
            "id": record.id,
            "matchers": record.matchers,
            "starts_at": datetime.fromtimestamp(record.starts_at, UTC).isoformat(),
            "ends_at": datetime.fromtimestamp(record.ends_at, UTC).isoformat(),
            "created_by": record.created_by,
            "comment": record.comment,
        },
        SuppressionKind(record.kind),
    )


async def load_records(redis: Redis) -> list[SilenceRecord]:
    raw = await redis.hvals(keys.SILENCES)
    return sorted((records_decoder.decode(r) for r in raw), key=lambda r: r.starts_at)


class SilenceCache:
    """The silences in force for the pipeline, re-read at most once a second."""

    def __init__(self, redis: Redis):
        self._redis = redis
        self._loaded_at = float("-inf")
        self._silences: tuple[Silence, ...] = ()

    async def current(self, table: RoutingTable) -> tuple[Silence, ...]:
        now = time.monotonic()
        if now - self._loaded_at >= _REFRESH_SECONDS:
            self._silences = tuple(compiled(r) for r in await load_records(self._redis))
            self._loaded_at = now
        return table.silences + self._silences


async def inhibiting_states(redis: Redis) -> list[AlertState]:
    fingerprints = [store.text(m) for m in await redis.smembers(keys.INHIBITING)]
    if not fingerprints:
        return []
    docs = await redis.mget([keys.alert(fp) for fp in fingerprints])
    return [store.decode_state(d) for d in docs if d is not None]


def suppress(
    outcome: Outcome,
    table: RoutingTable,
    silences: tuple[Silence, ...],
    sources: list[AlertState],
    now: float,
) -> tuple[list[str], list[str]]:
    """Mark muted firing alerts and incidents opened by one; returns the fingerprints to add
    to and remove from the inhibition sources."""
    rules = table.inhibit_rules
    current = {s.fingerprint: s for s in sources}
    current.update(outcome.states)
    firing = [(fp, s.labels) for fp, s in current.items() if s.firing]
    index = index_firing(rules, firing)
    add: list[str] = []
    remove: list[str] = []
    for fp, state in outcome.states.items():
        is_source = state.firing and any(
            matches_all(r.source, Subject(labels=state.labels)) for r in rules
        )
        (add if is_source else remove).append(fp)
        if not state.firing:
            continue
        reasons = [
            f"{r.kind}:{r.id}"
            for r in suppression_for(fp, state.labels, now, silences, index).reasons
        ]
        if reasons != state.suppressed_by:
            outcome.states[fp] = msgspec.structs.replace(state, suppressed_by=reasons)
    for incident_id in outcome.created:
        incident = outcome.incidents[incident_id]
        opener = next((s for s in outcome.states.values() if s.incident_id == incident_id), None)
        if opener is not None and opener.suppressed_by:
            outcome.incidents[incident_id] = msgspec.structs.replace(
                incident, suppressed_by=list(opener.suppressed_by)
            )
    return add, remove


async def release_ended(
    redis: Redis, table: RoutingTable, cache: SilenceCache, now: float, public_url: str | None
) -> list[str]:
    """Incidents whose muting silences have ended: unmute them and start escalation, so a
    problem that outlived its silence is escalated like any other. Returns their ids."""
    members = [store.text(m) for m in await redis.smembers(keys.SUPPRESSED_INCIDENTS)]
    if not members:
        return []
    silences = await cache.current(table)
    nobody_inhibits = index_firing((), ())
    released: list[str] = []
    for incident_id in members:
        raw = await redis.get(keys.incident(incident_id))
        commit = Commit()
        commit.expect(keys.incident(incident_id), raw)
        incident = None if raw is None else store.decode_incident(raw)
        if incident is not None and incident.status.is_open:
            muted = suppression_for("", incident.labels, now, silences, nobody_inhibits)
            if muted.suppressed:
                continue
            unmuted = msgspec.structs.replace(incident, suppressed_by=[], updated_at=now)
            unmuted = announce(commit, incident, unmuted, now=now, public_url=public_url)
            store.write_incident(commit, incident, unmuted)
            entry = TimelineEntry(
                at=now,
                kind="unsuppressed",
                actor="triaged",
                message=f"no longer muted (was: {', '.join(incident.suppressed_by)})",
            )
            commit.rpush(keys.incident_timeline(incident_id), [store.encode(entry)])
            timers = escalation_timers([unmuted], table)
            store.write_timers(commit, keys.ESCALATIONS, timers.due, timers.cleared)
        commit.command("SREM", keys.SUPPRESSED_INCIDENTS, incident_id)
        if await commit.apply(redis) and incident is not None and incident.status.is_open:
            released.append(incident_id)
    return released


async def prune_silences(redis: Redis, expired_before: float) -> int:
    """Drop silence records that ended before the retention horizon."""
    old = [r.id for r in await load_records(redis) if r.ends_at < expired_before]
    if old:
        await redis.hdel(keys.SILENCES, *old)
    return len(old)
