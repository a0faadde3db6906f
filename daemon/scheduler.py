"""The scheduler: the pipeline's clock.

Once a second it turns due timers into work: firing alerts whose ``endsAt`` passed become
expiry events in the ingest stream (so they are resolved by the same idempotent path as
any other event), and so do incident keys whose admission pause ran out, queued
automatic merges are applied, incidents whose auto-resolve grace ran out are resolved, acknowledged
entries are trimmed from the stream, retention deletes old closed incidents and resolved
alerts, and the store gauges are refreshed. Every step is safe to run in several daemon
processes at once: timers are popped atomically and updates are checked commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from daemon import keys, store
from daemon.commit import Commit
from daemon.enqueue import ADMISSION_FIELD, EXPIRY_FIELD
from daemon.escalations import escalate_due
from daemon.grouping import Grouper
from daemon.heartbeats import raise_missed
from daemon.metrics import Metrics
from daemon.notify_stage import announce
from daemon.process_stage import record_change
from daemon.process_timers import process_gauges, run_due
from daemon.routing_stage import RoutingRef
from daemon.suppress_stage import SilenceCache, prune_silences, release_ended
from triage.incident import auto_resolve
from triage.process.config import ProcessSettings, default_process

log = structlog.get_logger("triaged.scheduler")

# Pop due timers (expiries, admissions) and queue them as one stream entry, atomically,
# so two schedulers never queue the same timer twice and a crash never loses one.
_POP_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
if #due == 0 then return 0 end
local items = {}
for i = 1, #due, 2 do
  items[#items + 1] = {due[i], due[i + 1]}  -- the score as Redis prints it: full precision
  redis.call('ZREM', KEYS[1], due[i])
end
redis.call('XADD', KEYS[2], '*', ARGV[3], cjson.encode(items))
return #items
"""


class Scheduler:
    def __init__(
        self,
        redis: Redis,
        metrics: Metrics,
        routing: RoutingRef,
        *,
        public_url: str | None = None,
        retain_closed: float,
        retain_resolved_alerts: float,
        interval: float = 1.0,
        grouping: Grouper | None = None,
        clock: Callable[[], float] = time.time,
        process: ProcessSettings | None = None,
    ):
        self.redis = redis
        self.clock = clock
        self.process = process or default_process()
        self.metrics = metrics
        self.routing = routing
        self.public_url = public_url
        self.silences = SilenceCache(redis)
        self.retain_closed = retain_closed
        self.retain_resolved_alerts = retain_resolved_alerts
        self.interval = interval
        self.grouping = grouping
        self._pop_due = redis.register_script(_POP_DUE)
        self._last_housekeeping = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick(self.clock())
                self.metrics.redis_up.set(1)
            except RedisError as exc:
                self.metrics.redis_up.set(0)
                log.warning("scheduler_store_error", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def tick(self, now: float) -> None:
        await self.queue_expiries(now)
        await self._queue_due(keys.ADMISSIONS, ADMISSION_FIELD, now)
        if self.grouping is not None:
            await self.grouping.drain(now)
        await escalate_due(self.redis, self.routing, self.metrics, now, self.public_url)
        released = await release_ended(
            self.redis, self.routing.table, self.silences, now, self.public_url
        )
        for incident_id in released:
            log.info("incident_unsuppressed", incident_id=incident_id)
        self.metrics.heartbeats.labels("missed").inc(await raise_missed(self.redis, now))
        await self.resolve_due(now)
        await run_due(self.redis, self.routing, self.process, self.metrics, now, self.public_url)
        await self.refresh_gauges()
        if now - self._last_housekeeping >= 30:
            self._last_housekeeping = now
            await self.trim_stream()
            await self.apply_retention(now)
            await prune_silences(self.redis, now - self.retain_closed)
            await process_gauges(self.redis, self.process, self.metrics, now)
            await self.prune_slots(now)

    async def queue_expiries(self, now: float) -> None:
        self.metrics.expiries.inc(await self._queue_due(keys.EXPIRY, EXPIRY_FIELD, now))

    async def _queue_due(self, timers: str, field: bytes, now: float) -> int:
        queued = 0
        while True:
            count = int(
                await self._pop_due(keys=[timers, keys.INGEST_STREAM], args=[now, 1000, field])
            )
            queued += count
            if count < 1000:
                return queued

    async def resolve_due(self, now: float) -> None:
        for incident_id in await self._due(keys.AUTO_RESOLVE, now, 500):
            await self._resolve_if_quiet(incident_id, now)

    async def _due(self, timers: str, until: float, limit: int) -> list[str]:
        """Members of a timer set whose time has come, oldest first."""
        members = await self.redis.zrangebyscore(timers, "-inf", until, start=0, num=limit)
        return [store.text(cast("bytes", m)) for m in members]

    async def _resolve_if_quiet(self, incident_id: str, now: float) -> None:
        for _ in range(10):
            raw = await self.redis.get(keys.incident(incident_id))
            due = await self.redis.zscore(keys.AUTO_RESOLVE, incident_id)
            if due is None or due > now:
                return
            commit = Commit()
            commit.expect(keys.incident(incident_id), raw)
            commit.zrem(keys.AUTO_RESOLVE, [incident_id])
            incident = None if raw is None else store.decode_incident(raw)
            quiet = incident is not None and incident.firing_count == 0 and incident.status.is_open
            if incident is not None and quiet:
                resolved, entry = auto_resolve(incident, at=due)
                resolved = announce(commit, incident, resolved, now=now, public_url=self.public_url)
                record_change(commit, incident, resolved, self.process, now)
                store.write_incident(commit, incident, resolved)
                commit.rpush(keys.incident_timeline(incident_id), [store.encode(entry)])
            if await commit.apply(self.redis):
                if quiet:
                    self.metrics.incidents_resolved.labels("auto").inc()
                return

    async def refresh_gauges(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(keys.INGEST_STREAM)
            pipe.zcard(keys.index("status", "triggered"))
            pipe.zcard(keys.index("status", "acknowledged"))
            pipe.info("memory")
            pipe.zcard(keys.ADMISSIONS)
            length, triggered, acknowledged, memory, held = await pipe.execute()
        self.metrics.keys_held.set(held)
        self.metrics.stream_length.set(length)
        self.metrics.incidents_open.set(triggered + acknowledged)
        self.metrics.redis_rss.set(memory.get("used_memory_rss", 0))
        try:
            summary = await self.redis.xpending(keys.INGEST_STREAM, keys.PIPELINE_GROUP)
        except ResponseError:  # no group yet
            return
        self.metrics.stream_pending.set(summary["pending"])

    async def trim_stream(self) -> None:
        """Drop entries every consumer has acknowledged; never one still to be processed."""
        try:
            groups = await self.redis.xinfo_groups(keys.INGEST_STREAM)
            pending = await self.redis.xpending(keys.INGEST_STREAM, keys.PIPELINE_GROUP)
        except ResponseError:
            return
        group = next(
            (g for g in groups if g["name"] in (keys.PIPELINE_GROUP, keys.PIPELINE_GROUP.encode())),
            None,
        )
        if group is None:
            return
        last = group["last-delivered-id"]
        floor = pending["min"] if pending["pending"] else _next_id(last)
        await self.redis.xtrim(keys.INGEST_STREAM, minid=floor, approximate=True)

    async def apply_retention(self, now: float) -> None:
        for incident_id in await self._due(keys.RETAIN_INCIDENTS, now - self.retain_closed, 1000):
            await self._delete_incident(incident_id)
        fingerprints = await self._due(keys.RETAIN_ALERTS, now - self.retain_resolved_alerts, 5000)
        if fingerprints:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(*(keys.alert(fp) for fp in fingerprints))
                pipe.zrem(keys.RETAIN_ALERTS, *fingerprints)
                await pipe.execute()
            log.info("retention_deleted_alerts", count=len(fingerprints))

    async def _delete_incident(self, incident_id: str) -> None:
        raw = await self.redis.get(keys.incident(incident_id))
        async with self.redis.pipeline(transaction=True) as pipe:
            if raw is not None:
                incident = store.decode_incident(raw)
                for field in store.INDEXED_FIELDS:
                    pipe.zrem(keys.index(field, str(getattr(incident, field))), incident_id)
            pipe.zrem(keys.INCIDENTS_INDEX, incident_id)
            pipe.zrem(keys.RETAIN_INCIDENTS, incident_id)
            pipe.delete(
                keys.incident(incident_id),
                keys.incident_alerts(incident_id),
                keys.incident_timeline(incident_id),
                keys.subscribers("incident", incident_id),
                keys.corr_profile(incident_id),
            )
            await pipe.execute()
        log.info("retention_deleted_incident", incident_id=incident_id)

    async def prune_slots(self, now: float) -> None:
        """Drop index slots nobody touched for twice the correlation windows (whatever
        they hold is too old to be a candidate), and expired overrides from their index."""
        if self.grouping is None:
            return
        config = self.grouping.config
        horizon = now - 2 * max(config.topology_window, config.similarity_window)
        await self.redis.zremrangebyscore(keys.OVERRIDES, "-inf", now)
        stale = await self._due(keys.CORR_SLOTS, horizon, 1000)
        if stale:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(*(keys.corr_slot(name) for name in stale))
                pipe.zrem(keys.CORR_SLOTS, *stale)
                await pipe.execute()


def _next_id(entry_id: bytes | str) -> str:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    millis, seq = text.split("-")
    return f"{millis}-{int(seq) + 1}"
