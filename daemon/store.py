"""The Redis store: snapshot loading and atomic commits for the pipeline and the API.

Writers use optimistic transactions: WATCH what they read, compute with the pure core,
then MULTI/EXEC the result. If another worker or daemon changed any watched key in the
meantime, EXEC fails and the caller recomputes from fresh state. The pipeline also puts
its XACK inside the same transaction, so a batch is applied and acknowledged together:
a crash before EXEC leaves it pending for another consumer, never half-applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from daemon import keys
from triage.alert import Alert, Expiry
from triage.batch import Outcome, Snapshot
from triage.correlate import incident_key
from triage.dedup import AlertState
from triage.incident import Action, Incident, IncidentStatus, TimelineEntry, perform

_json = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(AlertState)
_incident_decoder = msgspec.json.Decoder(Incident)
_entry_decoder = msgspec.json.Decoder(TimelineEntry)

INDEXED_FIELDS = ("status", "group", "priority", "category")

Event = Alert | Expiry


def encode(value: msgspec.Struct) -> bytes:
    return _json.encode(value)


def text(value: bytes | str) -> str:
    """redis-py answers bytes (we do not ask it to decode); keys and ids are UTF-8."""
    return value.decode() if isinstance(value, bytes) else value


def begin(pipe: Pipeline) -> None:
    """Start MULTI on a watching pipeline (redis-py leaves ``multi`` unannotated)."""
    pipe.multi()  # type: ignore[no-untyped-call]


def decode_state(raw: bytes | str) -> AlertState:
    return _state_decoder.decode(raw)


def decode_incident(raw: bytes | str) -> Incident:
    return _incident_decoder.decode(raw)


def decode_entry(raw: bytes | str) -> TimelineEntry:
    return _entry_decoder.decode(raw)


async def load_snapshot(
    pipe: Pipeline, events: Sequence[Event], key_labels: Sequence[Sequence[str]]
) -> Snapshot:
    """Read, and WATCH, everything a batch's fold can touch: three round trips."""
    fingerprints = list(dict.fromkeys(event.fingerprint for event in events))
    incident_keys = list(
        dict.fromkeys(
            incident_key(event.labels, key_labels, event.fingerprint)
            for event in events
            if isinstance(event, Alert)
        )
    )
    watched = [keys.alert(fp) for fp in fingerprints] + [
        keys.incident_for_key(k) for k in incident_keys
    ]
    await pipe.watch(*watched)
    raw = await pipe.mget(watched)
    states = {
        fp: decode_state(value)
        for fp, value in zip(fingerprints, raw, strict=False)
        if value is not None
    }
    key_index = {
        key: text(value)
        for key, value in zip(incident_keys, raw[len(fingerprints) :], strict=True)
        if value is not None
    }
    incident_ids = list(
        dict.fromkeys(
            [*key_index.values(), *(s.incident_id for s in states.values() if s.incident_id)]
        )
    )
    incidents: dict[str, Incident] = {}
    if incident_ids:
        incident_keys_watched = [keys.incident(i) for i in incident_ids]
        await pipe.watch(*incident_keys_watched)
        docs = await pipe.mget(incident_keys_watched)
        incidents = {
            i: decode_incident(doc)
            for i, doc in zip(incident_ids, docs, strict=True)
            if doc is not None
        }
    return Snapshot(states=states, key_index=key_index, incidents=incidents)


async def allocate_ids(redis: Redis, count: int) -> list[str]:
    if count == 0:
        return []
    last = int(await redis.incrby(keys.INCIDENT_SEQ, count))
    return [keys.incident_id(n) for n in range(last - count + 1, last + 1)]


def queue_outcome(pipe: Pipeline, snapshot: Snapshot, outcome: Outcome) -> None:
    """Queue every write of a folded batch on a pipeline already in MULTI."""
    if outcome.states:
        pipe.mset({keys.alert(fp): encode(state) for fp, state in outcome.states.items()})
        resolved = {fp: s.status_at for fp, s in outcome.states.items() if not s.firing}
        firing = [fp for fp, s in outcome.states.items() if s.firing]
        if resolved:
            pipe.zadd(keys.RETAIN_ALERTS, resolved)
        if firing:
            pipe.zrem(keys.RETAIN_ALERTS, *firing)
    if outcome.key_index:
        pipe.mset({keys.incident_for_key(k): v for k, v in outcome.key_index.items()})
    for incident in outcome.incidents.values():
        queue_incident(pipe, snapshot.incidents.get(incident.id), incident)
    for incident_id, fingerprints in outcome.attached.items():
        pipe.sadd(keys.incident_alerts(incident_id), *fingerprints)
    for incident_id, entries in outcome.timeline.items():
        pipe.rpush(keys.incident_timeline(incident_id), *(encode(e) for e in entries))
    if outcome.expiry_set:
        pipe.zadd(keys.EXPIRY, outcome.expiry_set)
    if outcome.expiry_clear:
        pipe.zrem(keys.EXPIRY, *outcome.expiry_clear)
    if outcome.resolve_due:
        pipe.zadd(keys.AUTO_RESOLVE, outcome.resolve_due)


def queue_incident(pipe: Pipeline, old: Incident | None, new: Incident) -> None:
    """Write an incident and keep its list indexes and retention entry in step."""
    pipe.set(keys.incident(new.id), encode(new))
    number = keys.incident_number(new.id)
    if old is None:
        pipe.zadd(keys.INCIDENTS_INDEX, {new.id: number})
    for field in INDEXED_FIELDS:
        before = None if old is None else str(getattr(old, field))
        after = str(getattr(new, field))
        if before != after:
            if before is not None:
                pipe.zrem(keys.index(field, before), new.id)
            pipe.zadd(keys.index(field, after), {new.id: number})
    if new.status is IncidentStatus.CLOSED and new.closed_at is not None:
        pipe.zadd(keys.RETAIN_INCIDENTS, {new.id: new.closed_at})
    elif old is not None and old.status is IncidentStatus.CLOSED:
        pipe.zrem(keys.RETAIN_INCIDENTS, new.id)


async def load_incident(redis: Redis, incident_id: str) -> Incident | None:
    raw = await redis.get(keys.incident(incident_id))
    return None if raw is None else decode_incident(raw)


async def incident_details(
    redis: Redis, incident_id: str
) -> tuple[Incident, list[AlertState], list[TimelineEntry]] | None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.incident(incident_id))
        pipe.smembers(keys.incident_alerts(incident_id))
        pipe.lrange(keys.incident_timeline(incident_id), 0, -1)
        raw, members, timeline = await pipe.execute()
    if raw is None:
        return None
    fingerprints = sorted(text(m) for m in members)
    states: list[AlertState] = []
    if fingerprints:
        docs = await redis.mget([keys.alert(fp) for fp in fingerprints])
        states = [decode_state(d) for d in docs if d is not None]
    return decode_incident(raw), states, [decode_entry(e) for e in timeline]


async def list_incidents(
    redis: Redis, filters: dict[str, str], *, limit: int, before: int | None
) -> tuple[list[Incident], int | None]:
    """Newest first. With several filters, walk the smallest index and check the rest.

    Returns the page and the cursor (the last id number) when more may follow.
    """
    candidates = [keys.index(f, v) for f, v in filters.items()] or [keys.INCIDENTS_INDEX]
    if len(candidates) > 1:
        async with redis.pipeline(transaction=False) as pipe:
            for index_key in candidates:
                pipe.zcard(index_key)
            sizes = await pipe.execute()
        size = dict(zip(candidates, sizes, strict=True))
        candidates.sort(key=size.__getitem__)
    driver = candidates[0]
    page: list[Incident] = []
    upper: float | str = f"({before}" if before is not None else "+inf"
    scan = max(limit * 4, 100)
    while len(page) < limit:
        ids = cast(
            "list[tuple[bytes, float]]",
            await redis.zrevrangebyscore(driver, upper, "-inf", start=0, num=scan, withscores=True),
        )
        if not ids:
            return page, None
        docs = await redis.mget([keys.incident(text(i)) for i, _ in ids])
        for (_, score), doc in zip(ids, docs, strict=True):
            upper = f"({int(score)}"
            if doc is None:
                continue
            incident = decode_incident(doc)
            if all(str(getattr(incident, f)) == v for f, v in filters.items()):
                page.append(incident)
                if len(page) == limit:
                    return page, int(score)
        if len(ids) < scan:
            return page, None
    return page, None


class IncidentNotFound(Exception):
    pass


async def act_on_incident(
    redis: Redis, incident_id: str, action: Action, *, actor: str, message: str, now: float
) -> Incident:
    """Apply an operator action in an optimistic transaction; raises TransitionError (409)
    or IncidentNotFound (404). Closing releases the incident key, so the next alert of the
    key opens a new incident instead of joining a closed record."""
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(keys.incident(incident_id))
                raw = await pipe.get(keys.incident(incident_id))
                if raw is None:
                    raise IncidentNotFound(incident_id)
                old = decode_incident(raw)
                new, entry = perform(old, action, actor=actor, message=message, now=now)
                key_slot = keys.incident_for_key(old.key)
                if action is Action.CLOSE:
                    await pipe.watch(key_slot)
                    current = await pipe.get(key_slot)
                begin(pipe)
                queue_incident(pipe, old, new)
                pipe.rpush(keys.incident_timeline(incident_id), encode(entry))
                if action is Action.CLOSE and current is not None and text(current) == incident_id:
                    pipe.delete(key_slot)
                await pipe.execute()
                return new
            except WatchError:
                continue
