"""The pipeline workers against the real Redis: races, replays, crashes and poison."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from daemon import keys, store
from daemon.config import DEFAULT_ROUTING
from daemon.enqueue import encode_events
from daemon.metrics import Metrics
from daemon.pipeline import Worker, ensure_group
from daemon.routing_stage import RoutingRef
from daemon.scheduler import Scheduler
from routing import load_routing
from tests.waiting import eventually
from triage.alert import Alert, AlertStatus
from triage.batch import FoldSettings
from triage.correlate import DEFAULT_KEY_LABELS
from triage.fingerprint import label_fingerprint
from triage.incident import Action, Incident, IncidentStatus

SETTINGS = FoldSettings(
    key_labels=DEFAULT_KEY_LABELS,
    reopen_window=600.0,
    auto_resolve_grace=0.0,
    default_group="triage-queue",
)


def alert(
    labels: dict[str, str], *, status: AlertStatus = AlertStatus.FIRING, at: float | None = None
) -> Alert:
    t = at if at is not None else time.time()
    return Alert(
        fingerprint=label_fingerprint(labels),
        source="test",
        status=status,
        labels=labels,
        annotations={},
        starts_at=t if status is AlertStatus.FIRING else t - 60,
        ends_at=None if status is AlertStatus.FIRING else t,
        received_at=time.time(),
    )


def worker(redis: Redis, name: str, **options: float) -> Worker:
    return Worker(
        redis,
        SETTINGS,
        Metrics(),
        RoutingRef(load_routing(DEFAULT_ROUTING)),
        batch_size=int(options.get("batch_size", 50)),
        claim_idle=options.get("claim_idle", 30.0),
        max_deliveries=int(options.get("max_deliveries", 5)),
        consumer=name,
    )


async def enqueue(redis: Redis, alerts: list[Alert]) -> None:
    await ensure_group(redis)
    async with redis.pipeline(transaction=False) as pipe:
        for item in alerts:
            pipe.xadd(keys.INGEST_STREAM, encode_events("test", [item]))  # type: ignore[arg-type]
        await pipe.execute()


async def drained(redis: Redis) -> bool:
    summary = await redis.xpending(keys.INGEST_STREAM, keys.PIPELINE_GROUP)
    groups = await redis.xinfo_groups(keys.INGEST_STREAM)
    last_id = await redis.xrevrange(keys.INGEST_STREAM, count=1)
    delivered = groups[0]["last-delivered-id"]
    return summary["pending"] == 0 and (not last_id or last_id[0][0] == delivered)


async def all_incidents(redis: Redis) -> list[Incident]:
    page, _ = await store.list_incidents(redis, {}, limit=500, before=None)
    return page


async def run_until_drained(redis: Redis, workers: list[Worker], within: float = 20) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        await eventually(lambda: drained(redis), within=within, what="stream drained")
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_two_workers_racing_on_one_key_open_one_incident(
    aredis: Redis, redis_url: str
) -> None:
    alerts = [alert({"alertname": f"A{i}", "service": "shared", "pod": str(i)}) for i in range(200)]
    await enqueue(aredis, alerts)
    second = Redis.from_url(redis_url)
    try:
        # Small batches so both workers hold entries of the same key at the same time.
        await run_until_drained(
            aredis, [worker(aredis, "w1", batch_size=5), worker(second, "w2", batch_size=5)]
        )
    finally:
        await second.aclose()
    [incident] = await all_incidents(aredis)
    assert incident.key == "service=shared"
    assert incident.alert_count == 200
    assert incident.firing_count == 200
    assert await aredis.scard(keys.incident_alerts(incident.id)) == 200


async def test_replaying_the_stream_converges_to_the_same_state(aredis: Redis) -> None:
    t0 = time.time() - 100
    labels = [{"alertname": "Err", "service": f"svc{i % 3}", "pod": str(i)} for i in range(9)]
    events = [alert(lbl, at=t0) for lbl in labels] + [
        alert(lbl, status=AlertStatus.RESOLVED, at=t0 + 5) for lbl in labels[:4]
    ]
    await enqueue(aredis, events)
    await run_until_drained(aredis, [worker(aredis, "w1")])
    before = {i.id: (i.status, i.alert_count, i.firing_count) for i in await all_incidents(aredis)}
    # Replay every event again, in reverse order: nothing may change but receipt counts.
    await enqueue(aredis, list(reversed(events)))
    await run_until_drained(aredis, [worker(aredis, "w1")])
    after = {i.id: (i.status, i.alert_count, i.firing_count) for i in await all_incidents(aredis)}
    assert after == before
    assert len(after) == 3


async def test_entries_of_a_dead_consumer_are_claimed_and_processed(aredis: Redis) -> None:
    await enqueue(aredis, [alert({"alertname": "Lost", "service": f"s{i}"}) for i in range(5)])
    # A consumer reads the entries and dies before acknowledging (no heartbeat key).
    taken: Any = await aredis.xreadgroup(
        keys.PIPELINE_GROUP, "ghost", {keys.INGEST_STREAM: ">"}, count=10
    )
    assert len(taken[0][1]) == 5
    await run_until_drained(aredis, [worker(aredis, "rescuer")])
    assert len(await all_incidents(aredis)) == 5
    consumers = await aredis.xinfo_consumers(keys.INGEST_STREAM, keys.PIPELINE_GROUP)
    assert all(c["pending"] == 0 for c in consumers)


async def test_a_poison_entry_goes_to_dead_letter_and_the_rest_is_processed(aredis: Redis) -> None:
    await ensure_group(aredis)
    await aredis.xadd(keys.INGEST_STREAM, {b"s": b"test", b"a": b"\xc1not msgpack"})
    await enqueue(aredis, [alert({"alertname": "Fine", "service": "ok"})])
    await run_until_drained(aredis, [worker(aredis, "w1")])
    assert len(await all_incidents(aredis)) == 1
    dead: Any = await aredis.xrange(keys.DEAD_STREAM)
    [(_, fields)] = dead
    assert b"undecodable" in fields[b"reason"]


async def test_refire_within_window_reopens_and_after_close_opens_new(aredis: Redis) -> None:
    labels = {"alertname": "Flappy", "service": "cache"}
    t0 = time.time() - 300
    await enqueue(
        aredis, [alert(labels, at=t0), alert(labels, status=AlertStatus.RESOLVED, at=t0 + 10)]
    )
    await run_until_drained(aredis, [worker(aredis, "w1")])
    [incident] = await all_incidents(aredis)
    assert incident.status is IncidentStatus.RESOLVED
    await enqueue(aredis, [alert(labels, at=t0 + 60)])
    await run_until_drained(aredis, [worker(aredis, "w1")])
    [reopened] = await all_incidents(aredis)
    assert (reopened.id, reopened.status, reopened.reopen_count) == (
        incident.id,
        IncidentStatus.TRIGGERED,
        1,
    )
    # Resolve and close by hand: the next firing opens a new incident.
    for action in (Action.RESOLVE, Action.CLOSE):
        await store.act_on_incident(
            aredis, incident.id, action, actor="alice", message="", now=time.time()
        )
    await enqueue(
        aredis, [alert(labels, status=AlertStatus.RESOLVED, at=t0 + 70), alert(labels, at=t0 + 80)]
    )
    await run_until_drained(aredis, [worker(aredis, "w1")])
    newest, old = await all_incidents(aredis)
    assert old.id == incident.id
    assert old.status is IncidentStatus.CLOSED
    assert newest.status is IncidentStatus.TRIGGERED
    assert newest.id != incident.id


async def test_auto_resolve_grace_waits_for_the_scheduler(aredis: Redis) -> None:
    graceful = msgspec.structs.replace(SETTINGS, auto_resolve_grace=60.0)
    labels = {"alertname": "Blip", "service": "web"}
    t0 = time.time() - 30
    await enqueue(
        aredis, [alert(labels, at=t0), alert(labels, status=AlertStatus.RESOLVED, at=t0 + 1)]
    )
    w = worker(aredis, "w1")
    w.settings = graceful
    await run_until_drained(aredis, [w])
    [incident] = await all_incidents(aredis)
    assert incident.status is IncidentStatus.TRIGGERED, "the grace period has not passed"
    due = await aredis.zscore(keys.AUTO_RESOLVE, incident.id)
    assert due == pytest.approx(t0 + 61)
    scheduler = Scheduler(
        aredis,
        Metrics(),
        RoutingRef(load_routing(DEFAULT_ROUTING)),
        retain_closed=86400.0,
        retain_resolved_alerts=86400.0,
    )
    await scheduler.tick(t0 + 30)
    assert (await store.load_incident(aredis, incident.id)).status is IncidentStatus.TRIGGERED  # type: ignore[union-attr]
    await scheduler.tick(t0 + 62)
    resolved = await store.load_incident(aredis, incident.id)
    assert resolved is not None
    assert resolved.status is IncidentStatus.RESOLVED
    assert resolved.resolved_at == pytest.approx(t0 + 61)


async def test_retention_deletes_old_closed_incidents_and_resolved_alerts(aredis: Redis) -> None:
    labels = {"alertname": "Old", "service": "legacy"}
    t0 = time.time() - 1000
    await enqueue(
        aredis, [alert(labels, at=t0), alert(labels, status=AlertStatus.RESOLVED, at=t0 + 1)]
    )
    await run_until_drained(aredis, [worker(aredis, "w1")])
    [incident] = await all_incidents(aredis)
    await store.act_on_incident(
        aredis, incident.id, Action.CLOSE, actor="bob", message="", now=t0 + 2
    )
    scheduler = Scheduler(
        aredis,
        Metrics(),
        RoutingRef(load_routing(DEFAULT_ROUTING)),
        retain_closed=100.0,
        retain_resolved_alerts=100.0,
    )
    await scheduler.apply_retention(t0 + 50)
    assert await store.load_incident(aredis, incident.id) is not None, "not old enough yet"
    await scheduler.apply_retention(t0 + 500)
    assert await store.load_incident(aredis, incident.id) is None
    assert await all_incidents(aredis) == []
    assert await aredis.exists(keys.alert(label_fingerprint(labels))) == 0
    assert await aredis.zcard(keys.index("status", "closed")) == 0
