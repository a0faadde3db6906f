"""The pipeline worker: stream entries in, incidents out, one batch at a time.

A batch goes through the stages in this order, each named after the module that decides:

1. decode    -- stream entries back into events (``daemon.enqueue``)
2. load      -- alert states, the key index, incidents and the correlation state they
                need (``daemon.store``; more when the fold wants it)
3. fold      -- dedup, admission, correlate, flapping, lifecycle (``triage.dedup``,
                ``triage.correlation``, ``triage.incident`` via ``triage.batch``); the
                correlation writes go out with ``daemon.correlation_stage``
4. suppress  -- mark alerts muted by silences, maintenance, inhibition (``daemon.suppress_stage``)
5. classify  -- category, priority, a group suggestion from the models (``daemon.classify_stage``)
6. route     -- new incidents to resolver groups; escalation timers (``daemon.routing_stage``)
7. process   -- procedures started; process timers and recurrence (``daemon.process_stage``)
8. notify    -- announcements queued to the outbox in the same commit (``daemon.notify_stage``)
9. record    -- one checked commit with every write and the XACK (``daemon.commit``)

Delivery is at-least-once through a consumer group; because apply and acknowledge commit
together, a replayed entry is either already acknowledged or was never applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from daemon import correlation_stage, keys, store
from daemon.classify_stage import ClassifyStage
from daemon.commit import Commit
from daemon.consumers import consumer_name
from daemon.correlation_stage import TopologyRef, write_correlation
from daemon.enqueue import ADMISSION_FIELD, ALERTS_FIELD, EXPIRY_FIELD, decode_events
from daemon.grouping import Grouper
from daemon.metrics import Metrics
from daemon.notify_stage import announce
from daemon.process_stage import ProcessStage
from daemon.process_stage import observe as observe_process
from daemon.routing_stage import RoutingRef, count_route_hits, escalation_timers, route_new
from daemon.suppress_stage import SilenceCache, inhibiting_states, suppress
from triage.alert import AdmissionDue, Alert, Event, Expiry
from triage.batch import (
    FoldSettings,
    IdsExhausted,
    NeedsReads,
    Outcome,
    fold_batch,
    keys_needing_incidents,
)
from triage.batch import event_keys as batch_keys
from triage.process.config import ProcessSettings, default_process

log = structlog.get_logger("triaged.pipeline")

Entry = tuple[bytes, dict[bytes, bytes]]

_HEARTBEAT_TTL = 15
_MAX_ATTEMPTS_PER_BATCH = 20
_MAX_LOADS_PER_FOLD = 8  # a batch normally needs two: index slots, then their incidents


async def ensure_group(redis: Redis) -> None:
    with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
        await redis.xgroup_create(keys.INGEST_STREAM, keys.PIPELINE_GROUP, id="0", mkstream=True)


def _chunks(
    decoded: list[tuple[bytes, list[Event]]], max_events: int
) -> list[list[tuple[bytes, list[Event]]]]:
    """Split a read into commits of at most ``max_events`` events (never splitting an
    entry), so one large read does not become one long blocking commit."""
    chunks: list[list[tuple[bytes, list[Event]]]] = [[]]
    size = 0
    for entry in decoded:
        if chunks[-1] and size + len(entry[1]) > max_events:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += len(entry[1])
    return [chunk for chunk in chunks if chunk]


def stream_time(events: Sequence[Event], now: float) -> float | None:
    """How far the senders' clock has gone by this batch: its latest alert time, never
    past ``now``. Admission pauses run out by it, so a storm replayed fast (or a backlog
    drained after an outage) holds and admits alerts as their own times say, and the
    scheduler's timer only matters when no alert arrives."""
    latest = max((e.event_at for e in events if isinstance(e, Alert)), default=None)
    return None if latest is None else min(latest, now)


def decode_entry(fields: dict[bytes, bytes]) -> list[Event]:
    if ALERTS_FIELD in fields:
        return list(decode_events(fields[ALERTS_FIELD]))
    if EXPIRY_FIELD in fields:
        return [
            Expiry(fingerprint=fp, ends_at=float(at)) for fp, at in json.loads(fields[EXPIRY_FIELD])
        ]
    if ADMISSION_FIELD in fields:
        return [
            AdmissionDue(key=key, at=float(at)) for key, at in json.loads(fields[ADMISSION_FIELD])
        ]
    raise ValueError(
        f"stream entry has none of {ALERTS_FIELD!r}, {EXPIRY_FIELD!r}, {ADMISSION_FIELD!r}"
    )


class Worker:
    def __init__(
        self,
        redis: Redis,
        settings: FoldSettings,
        metrics: Metrics,
        routing: RoutingRef,
        *,
        public_url: str | None = None,
        batch_size: int,
        max_batch_alerts: int = 5000,
        claim_idle: float,
        max_deliveries: int,
        consumer: str | None = None,
        topology: TopologyRef | None = None,
        clock: Callable[[], float] = time.time,
        classify: ClassifyStage | None = None,
        process: ProcessSettings | None = None,
    ):
        self.redis = redis
        self.clock = clock
        self.classify = classify
        self.process_stage = ProcessStage(redis, process or default_process())
        self.settings = settings
        self.routing = routing
        self.public_url = public_url
        self.topology = topology or TopologyRef(redis, settings.correlation)
        self.grouper = Grouper(
            redis,
            settings.correlation,
            self.topology,
            metrics,
            key_labels=settings.key_labels,
            routing=routing,
            public_url=public_url,
        )
        self.silences = SilenceCache(redis)
        self.metrics = metrics
        self.batch_size = batch_size
        self.max_batch_alerts = max_batch_alerts
        self.claim_idle = claim_idle
        self.max_deliveries = max_deliveries
        self.consumer = consumer or consumer_name()
        self.last_loop_at = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        """Read and process batches until ``stop`` is set; never leaves a batch half done."""
        await ensure_group(self.redis)
        last_claim = 0.0
        log.info("worker_started", consumer=self.consumer)
        while not stop.is_set():
            self.last_loop_at = time.monotonic()
            try:
                if self.last_loop_at - last_claim > min(5.0, self.claim_idle / 2):
                    last_claim = self.last_loop_at
                    await self._heartbeat()
                    await self.claim_abandoned()
                response = await self.redis.xreadgroup(
                    keys.PIPELINE_GROUP,
                    self.consumer,
                    {keys.INGEST_STREAM: ">"},
                    count=self.batch_size,
                    block=200,
                )
                for _stream, entries in cast("list[tuple[bytes, list[Entry]]]", response or []):
                    await self.process(entries)
            except RedisError as exc:
                log.warning("worker_store_error", error=str(exc), consumer=self.consumer)
                await asyncio.sleep(0.5)
        with contextlib.suppress(RedisError):
            await self.redis.delete(keys.consumer_alive(self.consumer))
        log.info("worker_stopped", consumer=self.consumer)

    async def process(self, entries: Sequence[Entry]) -> None:
        decoded: list[tuple[bytes, list[Event]]] = []
        for entry_id, fields in entries:
            try:
                decoded.append((entry_id, decode_entry(fields)))
            except (ValueError, TypeError) as exc:
                await self.dead_letter(entry_id, fields, f"undecodable entry: {exc}")
        by_id = dict(list(entries))
        for chunk in _chunks(decoded, self.max_batch_alerts):
            await self._apply_isolating_failures(chunk, by_id)

    async def _apply_isolating_failures(
        self, chunk: list[tuple[bytes, list[Event]]], fields: dict[bytes, dict[bytes, bytes]]
    ) -> None:
        """A bug triggered by one entry must not stall the others: on failure, retry
        entry by entry and dead-letter the ones that still fail."""
        try:
            await self.apply(chunk)
        except RedisError:
            raise
        except Exception:
            log.exception("batch_failed_retrying_per_entry", entries=len(chunk))
            for entry_id, events in chunk:
                try:
                    await self.apply([(entry_id, events)])
                except RedisError:
                    raise
                except Exception as exc:
                    log.exception("entry_failed", entry_id=entry_id.decode())
                    await self.dead_letter(entry_id, fields[entry_id], repr(exc))

    async def apply(self, decoded: Sequence[tuple[bytes, list[Event]]]) -> Outcome:
        events = [event for _, batch in decoded for event in batch]
        entry_ids = [entry_id for entry_id, _ in decoded]
        started = time.perf_counter()
        for _attempt in range(_MAX_ATTEMPTS_PER_BATCH):
            outcome = await self._apply_once(events, entry_ids)
            if outcome is not None:
                self._observe(events, outcome, time.perf_counter() - started)
                return outcome
            self.metrics.conflicts.inc()
        raise RuntimeError(f"batch conflicted {_MAX_ATTEMPTS_PER_BATCH} times in a row")

    async def _apply_once(self, events: list[Event], entry_ids: list[bytes]) -> Outcome | None:
        """One read-decide-commit round; None when another writer got there first."""
        stage = self.metrics.stage_seconds
        t0 = time.perf_counter()
        event_keys = batch_keys(events, self.settings.key_labels)
        loaded = await store.load_snapshot(
            self.redis,
            events,
            event_keys,
            admission=not self.settings.correlation.thresholds.immediate,
            horizon=stream_time(events, self.clock()),
        )
        if loaded.due:  # keys whose pause ran out by the senders' clock: admit them first
            events = [*(AdmissionDue(key=k, at=at) for k, at in loaded.due), *events]
            event_keys = [*(k for k, _ in loaded.due), *event_keys]
        snapshot = loaded.snapshot
        topology = await self.topology.current()
        t1 = time.perf_counter()
        needed = keys_needing_incidents(events, snapshot, self.settings, event_keys)
        ids = await store.allocate_ids(self.redis, len(needed))
        loads = 0
        while True:
            try:
                outcome = fold_batch(
                    events, snapshot, iter(ids), self.settings, event_keys, topology
                )
                break
            except IdsExhausted:
                ids += await store.allocate_ids(self.redis, 1 + len(ids))
            except NeedsReads as wanted:
                loads += 1
                if loads > _MAX_LOADS_PER_FOLD:
                    raise RuntimeError(f"fold kept wanting reads: {wanted.reads}") from None
                await store.load_more(
                    self.redis, loaded, wanted.reads, self.settings.correlation.slot_size
                )
        table = self.routing.table
        now = self.clock()
        silences = await self.silences.current(table)
        sources = await inhibiting_states(self.redis) if table.inhibit_rules else []
        inhibiting, not_inhibiting = suppress(outcome, table, silences, sources, now)
        suggestions = await self.classify.classify(outcome, snapshot, now) if self.classify else {}
        route_new(outcome, table, now, suggestions)
        await self.process_stage.apply(outcome, snapshot, now)
        timers = escalation_timers(list(outcome.incidents.values()), table)
        commit = Commit()
        loaded.expect_all(commit)
        for incident_id, incident in outcome.incidents.items():
            outcome.incidents[incident_id] = announce(
                commit,
                snapshot.incidents.get(incident_id),
                incident,
                now=now,
                public_url=self.public_url,
            )
        store.write_outcome(commit, snapshot, outcome)
        write_correlation(commit, outcome.corr, self.settings.correlation, now)
        store.write_timers(commit, keys.ESCALATIONS, timers.due, timers.cleared)
        self.process_stage.write(commit, outcome, snapshot, now)
        if inhibiting:
            commit.sadd(keys.INHIBITING, inhibiting)
        if not_inhibiting and table.inhibit_rules:
            commit.command("SREM", keys.INHIBITING, *not_inhibiting)
        muted = [i for i in outcome.created if outcome.incidents[i].suppressed_by]
        if muted:
            commit.sadd(keys.SUPPRESSED_INCIDENTS, muted)
        commit.xack(keys.INGEST_STREAM, keys.PIPELINE_GROUP, entry_ids)
        t2 = time.perf_counter()
        applied = await commit.apply(self.redis)
        t3 = time.perf_counter()
        stage.labels("load").observe(t1 - t0)
        stage.labels("fold").observe(t2 - t1)
        stage.labels("record").observe(t3 - t2)
        if applied and outcome.corr.merges:
            await self.grouper.drain(now)
        return outcome if applied else None

    def _observe(self, events: list[Event], outcome: Outcome, elapsed: float) -> None:
        m = self.metrics
        m.batch_size.observe(len(events))
        m.processed.inc(len(events))
        for change, count in outcome.changes.items():
            if change.startswith(("incident_", correlation_stage.CHANGE_PREFIX)):
                continue
            m.dedup.labels(change).inc(count)
        correlation_stage.observe(m, outcome.changes)
        m.incidents_opened.inc(len(outcome.created))
        count_route_hits(outcome, m)
        m.incidents_reopened.inc(outcome.changes.get("incident_reopen", 0))
        resolved = sum(
            1 for entries in outcome.timeline.values() for e in entries if e.kind == "resolve"
        )
        m.incidents_resolved.labels("auto").inc(resolved)
        now = self.clock()
        for event in events:
            if isinstance(event, Alert):
                m.end_to_end.observe(max(0.0, now - event.received_at))
        m.stage_seconds.labels("batch").observe(elapsed)
        observe_process(outcome, m)
        if self.classify is not None:
            self.classify.observe(outcome)
        for incident_id in outcome.created:
            incident = outcome.incidents[incident_id]
            opened = outcome.timeline[incident_id][0].data
            log.info(
                "incident_opened",
                incident_id=incident_id,
                fingerprint=opened.get("fingerprint"),
                key=incident.key,
                group=incident.group,
                priority=incident.priority,
                source=incident.source,
            )

    async def dead_letter(self, entry_id: bytes, fields: dict[bytes, bytes], reason: str) -> None:
        """Keep an entry that cannot be processed where an operator can inspect and redrive it."""
        self.metrics.dead_letters.inc()
        log.error("entry_dead_lettered", entry_id=entry_id.decode(), reason=reason)
        async with self.redis.pipeline(transaction=True) as pipe:
            dead: dict[Any, Any] = {**fields, b"entry": entry_id, b"reason": reason.encode()}
            pipe.xadd(keys.DEAD_STREAM, dead)
            pipe.xack(keys.INGEST_STREAM, keys.PIPELINE_GROUP, entry_id)
            await pipe.execute()

    async def _heartbeat(self) -> None:
        await self.redis.set(keys.consumer_alive(self.consumer), b"1", ex=_HEARTBEAT_TTL)

    async def claim_abandoned(self) -> None:
        """Process entries of consumers that died: at once when their heartbeat is gone,
        else after ``claim_idle`` -- this worker's own included, so a batch whose commit
        failed on a Redis error is retried. Entries delivered too often go to dead-letter."""
        consumers = await self.redis.xinfo_consumers(keys.INGEST_STREAM, keys.PIPELINE_GROUP)
        for info in consumers:
            name = info["name"].decode() if isinstance(info["name"], bytes) else str(info["name"])
            alive = name == self.consumer or await self.redis.exists(keys.consumer_alive(name))
            if info["pending"] == 0:
                if not alive:
                    await self.redis.xgroup_delconsumer(
                        keys.INGEST_STREAM, keys.PIPELINE_GROUP, name
                    )
                continue
            min_idle = self.claim_idle if alive else 0
            await self._claim_from(name, min_idle_ms=int(min_idle * 1000))

    async def _claim_from(self, owner: str, *, min_idle_ms: int) -> None:
        while True:
            pending: list[dict[str, Any]] = await self.redis.xpending_range(
                keys.INGEST_STREAM,
                keys.PIPELINE_GROUP,
                min="-",
                max="+",
                count=self.batch_size,
                consumername=owner,
                idle=min_idle_ms,
            )
            if not pending:
                return
            too_often = [
                p["message_id"] for p in pending if p["times_delivered"] >= self.max_deliveries
            ]
            ids = [p["message_id"] for p in pending]
            claimed = cast(
                "list[tuple[bytes, dict[bytes, bytes] | None]]",
                await self.redis.xclaim(
                    keys.INGEST_STREAM, keys.PIPELINE_GROUP, self.consumer, min_idle_ms, ids
                ),
            )
            self.metrics.claimed.inc(len(claimed))
            log.warning("entries_claimed", owner=owner, count=len(claimed), consumer=self.consumer)
            live = [(i, f) for i, f in claimed if f is not None]
            for entry_id, fields in live:
                if entry_id in too_often:
                    await self.dead_letter(entry_id, fields, "delivered too often")
            await self.process([(i, f) for i, f in live if i not in too_often])
            gone = [i for i, f in claimed if f is None]  # trimmed away: nothing left to process
            if gone:
                await self.redis.xack(keys.INGEST_STREAM, keys.PIPELINE_GROUP, *gone)
            if len(pending) < self.batch_size:
                return
