"""The Redis store: snapshot loading and atomic commits for the pipeline and the API.

Writers are optimistic: read plain values, decide with the pure core, then apply the
result as a ``Commit`` that checks nothing read has changed (``daemon.commit``). If
another worker or daemon changed a read key in the meantime, nothing is applied and the
caller decides again from fresh state. The pipeline puts its XACK in the same commit, so
a batch is applied and acknowledged together: a crash before it leaves the batch pending
for another consumer, never half-applied.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import cast

import msgspec
from redis.asyncio import Redis

from daemon import keys
from daemon.commit import Commit
from triage.alert import AdmissionDue, Event
from triage.batch import Outcome, Snapshot
from triage.correlation import IncidentProfile, Override, Pending
from triage.correlation.fold import CorrelationSnapshot, Reads
from triage.correlation.index import entity_slots
from triage.dedup import AlertState
from triage.incident import Action, Incident, IncidentStatus, TimelineEntry, perform

_json = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(AlertState)
_incident_decoder = msgspec.json.Decoder(Incident)
_entry_decoder = msgspec.json.Decoder(TimelineEntry)
_profile_decoder = msgspec.json.Decoder(IncidentProfile)
_pending_decoder = msgspec.json.Decoder(Pending)
_override_decoder = msgspec.json.Decoder(Override)

# The first read of a batch, in one call: alert states, incident-key slots and pending
# admission records of the batch's keys; then the incidents (and correlation profiles)
# the key slots name, the states of the alerts the pending records hold, the operator
# overrides of the keys that have one (``triaged:corr:overrides`` says which), and, with
# a horizon, the keys whose admission pause ran out by then, with their slots and records.
# Dereferencing inside Redis saves the round trip a second MGET would cost.
_LOAD = """
local nf, nk, np = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local values = {}
for i = 1, #KEYS do values[i] = redis.call('GET', KEYS[i]) end
local ids, incidents, profiles, seen = {}, {}, {}, {}
local function incident(id)
  if id and not seen[id] then
    seen[id] = true
    ids[#ids + 1] = id
    incidents[#ids] = redis.call('GET', ARGV[4] .. id)
    profiles[#ids] = redis.call('GET', ARGV[5] .. id)
  end
end
local held, held_states = {}, {}
local function holds(record)
  if record then
    for _, h in ipairs(cjson.decode(record).held or {}) do
      held[#held + 1] = h[1]
      held_states[#held] = redis.call('GET', ARGV[6] .. h[1])
    end
  end
end
for i = nf + 1, nf + nk do incident(values[i]) end
for i = nf + nk + 1, nf + nk + np do holds(values[i]) end
local due, due_slots, due_pending = {}, {}, {}
if ARGV[11] ~= '' then
  local found = redis.call('ZRANGEBYSCORE', ARGV[10], '-inf', ARGV[11], 'WITHSCORES',
    'LIMIT', 0, tonumber(ARGV[14]))
  for i = 1, #found, 2 do
    due[#due + 1] = found[i]
    due[#due + 1] = found[i + 1]
    local id = redis.call('GET', ARGV[12] .. found[i])
    due_slots[#due_slots + 1] = id
    incident(id)
    local record = redis.call('GET', ARGV[13] .. found[i])
    due_pending[#due_pending + 1] = record
    holds(record)
  end
end
local overrides = {}
if redis.call('EXISTS', ARGV[7]) == 1 then
  local skip = tonumber(ARGV[9])
  for i = nf + 1, nf + nk do
    local key = string.sub(KEYS[i], skip + 1)
    if redis.call('ZSCORE', ARGV[7], key) then
      overrides[#overrides + 1] = key
      overrides[#overrides + 1] = redis.call('GET', ARGV[8] .. key)
    end
  end
end
return {values, ids, incidents, profiles, held, held_states, overrides, due, due_slots, due_pending}
"""

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


_PROFILES_CACHED = 4096
_profiles: OrderedDict[bytes, IncidentProfile] = OrderedDict()


def decode_profile(raw: bytes) -> IncidentProfile:
    """Profiles are read and rewritten on every batch that touches their incident, and
    are immutable: the ones this process decoded or wrote last are kept by their bytes."""
    found = _profiles.get(raw)
    if found is None:
        found = _profile_decoder.decode(raw)
        _remember(raw, found)
    else:
        _profiles.move_to_end(raw)
    return found


def encode_profile(profile: IncidentProfile) -> bytes:
    raw = _json.encode(profile)
    _remember(raw, profile)
    return raw


def _remember(raw: bytes, profile: IncidentProfile) -> None:
    _profiles[raw] = profile
    if len(_profiles) > _PROFILES_CACHED:
        _profiles.popitem(last=False)


class Loaded(msgspec.Struct):
    """A snapshot plus the raw bytes it was decoded from, for the commit's checks, and
    the keys whose admission pause ran out by the load's horizon (key, due time)."""

    snapshot: Snapshot
    raw: dict[str, bytes | None]
    due: list[tuple[str, float]] = []

    def expect_all(self, commit: Commit) -> None:
        for key, raw in self.raw.items():
            commit.expect(key, raw)


DUE_PER_BATCH = 100  # admissions a batch takes on besides its own events


async def load_snapshot(
    redis: Redis,
    events: Sequence[Event],
    event_keys: Sequence[str],
    *,
    admission: bool = False,
    horizon: float | None = None,
) -> Loaded:
    """Read what a batch's fold starts from, in one call (``_LOAD``); ``load_more`` adds
    what the fold then wants. Pending admission records are read only with ``admission``
    (thresholds configured: without them the fold never consults one); with a
    ``horizon`` too, so are the keys whose pause ran out by then (``Loaded.due``).

    Every value read is kept raw for the commit's checks, except correlation profiles (a
    profile is only ever written together with its incident, whose bytes the commit
    checks) and absent overrides (an operator's correction changes the incidents and key
    slots a batch checks; the override itself only guides later alerts)."""
    fingerprints = list(
        dict.fromkeys(e.fingerprint for e in events if not isinstance(e, AdmissionDue))
    )
    incident_keys = [key for key in dict.fromkeys(event_keys) if key]
    state_keys = [keys.alert(fp) for fp in fingerprints]
    slot_keys = [keys.incident_for_key(k) for k in incident_keys]
    pending_keys = [keys.corr_pending(k) for k in incident_keys] if admission else []
    read = [*state_keys, *slot_keys, *pending_keys]
    corr = CorrelationSnapshot(pending_read=set(incident_keys) if admission else set())
    snapshot = Snapshot(states={}, key_index={}, incidents={}, corr=corr)
    loaded = Loaded(snapshot, {})
    if not read:
        return loaded
    script = redis.register_script(_LOAD)
    answer = await script(
        keys=read,
        args=[
            len(state_keys),
            len(slot_keys),
            len(pending_keys),
            keys.incident(""),
            keys.corr_profile(""),
            keys.alert(""),
            keys.OVERRIDES,
            keys.corr_override(""),
            len(keys.incident_for_key("")),
            keys.ADMISSIONS,
            "" if horizon is None or not admission else repr(horizon),
            keys.incident_for_key(""),
            keys.corr_pending(""),
            DUE_PER_BATCH,
        ],
    )
    values, ids, incidents, profiles, held, held_states, overrides, due, slots, records = cast(
        "list[list[bytes | None]]", answer
    )
    n, k, p = len(state_keys), len(slot_keys), len(pending_keys)
    loaded.raw.update(zip(read, values, strict=True))
    for fp, value in zip(fingerprints, values[:n], strict=True):
        if value is not None:
            snapshot.states[fp] = decode_state(value)
    for key, value in zip(incident_keys, values[n : n + k], strict=True):
        if value is not None:
            snapshot.key_index[key] = text(value)
    for key, value in zip(
        incident_keys if admission else [], values[n + k : n + k + p], strict=True
    ):
        if value is not None:
            corr.pending[key] = _pending_decoder.decode(value)
    for pinned, value in zip(overrides[::2], overrides[1::2], strict=True):
        if value is not None:
            name = text(cast("bytes", pinned))
            loaded.raw[keys.corr_override(name)] = value
            corr.overrides[name] = _override_decoder.decode(value)
    for n, (held_key, slot_value, record) in enumerate(zip(due[::2], slots, records, strict=True)):
        due_key = text(cast("bytes", held_key))
        loaded.due.append((due_key, float(cast("bytes", due[2 * n + 1]))))
        loaded.raw[keys.incident_for_key(due_key)] = slot_value
        loaded.raw[keys.corr_pending(due_key)] = record
        corr.pending_read.add(due_key)
        if slot_value is not None:
            snapshot.key_index[due_key] = text(slot_value)
        if record is not None:
            corr.pending[due_key] = _pending_decoder.decode(record)
    _add_incidents(loaded, [text(cast("bytes", i)) for i in ids], incidents, profiles)
    _add_states(loaded, [text(cast("bytes", fp)) for fp in held], held_states)
    return loaded


def _add_incidents(
    loaded: Loaded,
    ids: Sequence[str],
    docs: Sequence[bytes | None],
    profiles: Sequence[bytes | None],
) -> None:
    snapshot = loaded.snapshot
    for incident_id, doc, profile in zip(ids, docs, profiles, strict=True):
        snapshot.corr.looked_up.add(incident_id)
        loaded.raw[keys.incident(incident_id)] = doc
        if doc is not None:
            snapshot.incidents[incident_id] = decode_incident(doc)
        if profile is not None:
            snapshot.corr.profiles[incident_id] = decode_profile(profile)


def _add_states(loaded: Loaded, fingerprints: Sequence[str], docs: Sequence[bytes | None]) -> None:
    for fp, doc in zip(fingerprints, docs, strict=True):
        if keys.alert(fp) in loaded.raw:
            continue  # read already: keep the first read, which the fold has used
        loaded.raw[keys.alert(fp)] = doc
        if doc is not None:
            loaded.snapshot.states[fp] = decode_state(doc)


async def load_more(redis: Redis, loaded: Loaded, reads: Reads, slot_size: int) -> None:
    """Add what a fold wanted to the snapshot, in one pipelined round trip: incidents
    with their profiles, alert states, pending records, and index slots (newest first,
    at most ``slot_size`` entries at or after the time wanted)."""
    corr = loaded.snapshot.corr
    incident_ids = sorted(reads.incidents - corr.looked_up)
    fingerprints = sorted(reads.states)
    pending = sorted(reads.pending - corr.pending_read)
    slots = sorted(reads.slots.items())
    async with redis.pipeline(transaction=False) as pipe:
        for incident_id in incident_ids:
            pipe.get(keys.incident(incident_id))
            pipe.get(keys.corr_profile(incident_id))
        for fp in fingerprints:
            pipe.get(keys.alert(fp))
        for key in pending:
            pipe.get(keys.corr_pending(key))
        for name, since in slots:
            pipe.zrevrangebyscore(
                keys.corr_slot(name), "+inf", since, start=0, num=slot_size, withscores=True
            )
        answers = await pipe.execute()
    n = 2 * len(incident_ids)
    _add_incidents(loaded, incident_ids, answers[0:n:2], answers[1:n:2])
    _add_states(loaded, fingerprints, answers[n : n + len(fingerprints)])
    n += len(fingerprints)
    for key, value in zip(pending, answers[n : n + len(pending)], strict=True):
        loaded.raw[keys.corr_pending(key)] = value
        corr.pending_read.add(key)
        if value is not None:
            corr.pending[key] = _pending_decoder.decode(value)
    n += len(pending)
    for (name, since), entries in zip(slots, answers[n:], strict=True):
        corr.slots[name] = [(text(member), float(score)) for member, score in entries]
        corr.slots_since[name] = since


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
    """A closing incident gives up every key that still names it (its own and those its
    alerts brought in through correlation) and leaves the candidate index."""
    raw = cast("bytes | None", await redis.get(keys.corr_profile(incident.id)))
    profile = None if raw is None else decode_profile(raw)
    for key in sorted({incident.key, *(profile.keys if profile else ())}):
        commit.delete_if(keys.incident_for_key(key), incident.id)
    if profile is not None:
        for name in entity_slots(profile.scope, profile.entities):
            commit.zrem(keys.corr_slot(name), [incident.id])


async def act_on_incident(
    redis: Redis, incident_id: str, action: Action, *, actor: str, message: str, now: float
) -> Incident:
    """A lifecycle action (acknowledge, resolve, close, reopen, note)."""

    def decide(incident: Incident) -> tuple[Incident, list[TimelineEntry]]:
        new, entry = perform(incident, action, actor=actor, message=message, now=now)
        return new, [entry]

    return await update_incident(redis, incident_id, decide)
