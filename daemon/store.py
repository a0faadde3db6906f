"""The Redis store: snapshot loading and atomic commits for the pipeline and the API.

Writers are optimistic: read plain values, decide with the pure core, then apply the
result as a ``Commit`` that checks nothing read has changed (``daemon.commit``). If
another worker or daemon changed a read key in the meantime, nothing is applied and the
caller decides again from fresh state. The pipeline puts its XACK in the same commit, so
a batch is applied and acknowledged together: a crash before it leaves the batch pending
for another consumer, never half-applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import msgspec
from redis.asyncio import Redis

from daemon import keys
from daemon.commit import Commit
from triage.alert import Event
from triage.batch import Outcome, Snapshot
from triage.dedup import AlertState
from triage.incident import Action, Incident, IncidentStatus, TimelineEntry, perform

_json = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(AlertState)
_incident_decoder = msgspec.json.Decoder(Incident)
_entry_decoder = msgspec.json.Decoder(TimelineEntry)

INDEXED_FIELDS = ("status", "group", "priority", "category")


def connect(url: str) -> Redis:
    """A client for triaged's store; short timeouts, so an unreachable Redis is an answer
    (503) rather than a hang."""
    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, max_connections=256)


def encode(value: msgspec.Struct) -> bytes:
    return _json.encode(value)


def text(value: bytes | str) -> str:
    """redis-py answers bytes (we do not ask it to decode); keys and ids are UTF-8."""
    return value.decode() if isinstance(value, bytes) else value


def decode_state(raw: bytes | str) -> AlertState:
    return _state_decoder.decode(raw)


def decode_incident(raw: bytes | str) -> Incident:
    return _incident_decoder.decode(raw)


def decode_entry(raw: bytes | str) -> TimelineEntry:
    return _entry_decoder.decode(raw)


class Loaded(msgspec.Struct):
    """A snapshot plus the raw bytes it was decoded from, for the commit's checks."""

    snapshot: Snapshot
    raw: dict[str, bytes | None]

    def expect_all(self, commit: Commit) -> None:
        for key, raw in self.raw.items():
            commit.expect(key, raw)


async def load_snapshot(redis: Redis, events: Sequence[Event], event_keys: Sequence[str]) -> Loaded:
    """Read everything a batch's fold can touch: two round trips."""
    fingerprints = list(dict.fromkeys(event.fingerprint for event in events))
    incident_keys = [key for key in dict.fromkeys(event_keys) if key]
    first = [keys.alert(fp) for fp in fingerprints]
    first += [keys.incident_for_key(k) for k in incident_keys]
    values = cast("list[bytes | None]", await redis.mget(first)) if first else []
    raw = dict(zip(first, values, strict=True))
    states = {
        fp: decode_state(value)
        for fp, value in zip(fingerprints, values, strict=False)
        if value is not None
    }
    key_index = {
        key: text(value)
        for key, value in zip(incident_keys, values[len(fingerprints) :], strict=True)
        if value is not None
    }
    incident_ids = list(
        dict.fromkeys(
            [*key_index.values(), *(s.incident_id for s in states.values() if s.incident_id)]
        )
    )
    incidents: dict[str, Incident] = {}
    if incident_ids:
        second = [keys.incident(i) for i in incident_ids]
        docs = cast("list[bytes | None]", await redis.mget(second))
        raw.update(zip(second, docs, strict=True))
        incidents = {
            i: decode_incident(doc)
            for i, doc in zip(incident_ids, docs, strict=True)
            if doc is not None
        }
    return Loaded(Snapshot(states=states, key_index=key_index, incidents=incidents), raw)


async def allocate_ids(redis: Redis, count: int) -> list[str]:
    if count == 0:
        return []
    last = int(await redis.incrby(keys.INCIDENT_SEQ, count))
    return [keys.incident_id(n) for n in range(last - count + 1, last + 1)]


def write_outcome(commit: Commit, snapshot: Snapshot, outcome: Outcome) -> None:
    """Every write of a folded batch."""
    if outcome.states:
        commit.mset({keys.alert(fp): encode(state) for fp, state in outcome.states.items()})
        resolved = {fp: s.status_at for fp, s in outcome.states.items() if not s.firing}
        firing = [fp for fp, s in outcome.states.items() if s.firing]
        if resolved:
            commit.zadd(keys.RETAIN_ALERTS, resolved)
        if firing:
            commit.zrem(keys.RETAIN_ALERTS, firing)
    if outcome.key_index:
        commit.mset({keys.incident_for_key(k): v for k, v in outcome.key_index.items()})
    for incident in outcome.incidents.values():
        write_incident(commit, snapshot.incidents.get(incident.id), incident)
    for incident_id, fingerprints in outcome.attached.items():
        commit.sadd(keys.incident_alerts(incident_id), fingerprints)
    for incident_id, entries in outcome.timeline.items():
        commit.rpush(keys.incident_timeline(incident_id), (encode(e) for e in entries))
    if outcome.expiry_set:
        commit.zadd(keys.EXPIRY, outcome.expiry_set)
    if outcome.expiry_clear:
        commit.zrem(keys.EXPIRY, outcome.expiry_clear)
    if outcome.resolve_due:
        commit.zadd(keys.AUTO_RESOLVE, outcome.resolve_due)


def write_timers(commit: Commit, timers: str, due: dict[str, float], cleared: list[str]) -> None:
    if due:
        commit.zadd(timers, due)
    if cleared:
        commit.zrem(timers, cleared)


def write_incident(commit: Commit, old: Incident | None, new: Incident) -> None:
    """Write an incident and keep its list indexes and retention entry in step."""
    commit.set(keys.incident(new.id), encode(new))
    number = keys.incident_number(new.id)
    if old is None:
        commit.zadd(keys.INCIDENTS_INDEX, {new.id: number})
    for field in INDEXED_FIELDS:
        before = None if old is None else str(getattr(old, field))
        after = str(getattr(new, field))
        if before != after:
            if before is not None:
                commit.zrem(keys.index(field, before), [new.id])
            commit.zadd(keys.index(field, after), {new.id: number})
    if new.status is IncidentStatus.CLOSED and new.closed_at is not None:
        commit.zadd(keys.RETAIN_INCIDENTS, {new.id: new.closed_at})
    elif old is not None and old.status is IncidentStatus.CLOSED:
        commit.zrem(keys.RETAIN_INCIDENTS, [new.id])


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


Decision = Callable[[Incident], tuple[Incident, list[TimelineEntry]]]
Extra = Callable[[Commit, Incident, Incident], Incident]


async def update_incident(
    redis: Redis, incident_id: str, decide: Decision, extra: Extra | None = None
) -> Incident:
    """Read, decide (a pure function of the incident), and commit if nothing changed in
    between; else decide again. ``extra`` adds to the commit what the change calls for
    (timers, notifications) and may mark the incident before it is written. ``decide``
    raises TransitionError (409) and this raises IncidentNotFound (404). Closing releases
    the incident key, so the next alert of the key opens a new incident instead of joining
    a closed record."""
    while True:
        raw = await redis.get(keys.incident(incident_id))
        if raw is None:
            raise IncidentNotFound(incident_id)
        old = decode_incident(raw)
        new, entries = decide(old)
        commit = Commit()
        commit.expect(keys.incident(incident_id), raw)
        if new.status is IncidentStatus.CLOSED and old.status is not IncidentStatus.CLOSED:
            await release_key(redis, commit, old)
        if extra is not None:
            new = extra(commit, old, new)
        write_incident(commit, old, new)
        if entries:
            commit.rpush(keys.incident_timeline(incident_id), [encode(e) for e in entries])
        if await commit.apply(redis):
            return new


async def release_key(redis: Redis, commit: Commit, incident: Incident) -> None:
    """Closing gives up the incident's key (if it still holds it), checked in ``commit``."""
    key_slot = keys.incident_for_key(incident.key)
    current = await redis.get(key_slot)
    commit.expect(key_slot, current)
    if current is not None and text(current) == incident.id:
        commit.delete(key_slot)


async def act_on_incident(
    redis: Redis, incident_id: str, action: Action, *, actor: str, message: str, now: float
) -> Incident:
    """A lifecycle action (acknowledge, resolve, close, reopen, note)."""

    def decide(incident: Incident) -> tuple[Incident, list[TimelineEntry]]:
        new, entry = perform(incident, action, actor=actor, message=message, now=now)
        return new, [entry]

    return await update_incident(redis, incident_id, decide)
