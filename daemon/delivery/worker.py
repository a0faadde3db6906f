"""The delivery worker: outbox entries in, messages out, every attempt on the timeline.

One entry goes through these steps, each named after the module that decides:

1. decode  -- the notification and the attempts it had (``outbox``)
2. gate    -- skip a key already delivered, put back one in flight elsewhere, take a
              slot of the channel's rate (``gate``)
3. render  -- the channel's templates (``templates``)
4. send    -- the channel's sender (``channels``)
5. decide  -- delivered, retry after a jittered backoff, or dead-letter (``retry``)
6. record  -- one commit: acknowledge and delete the entry; mark the key delivered, or
              set a retry timer, or add a dead letter; append the timeline entry

Entries are handled concurrently, up to ``concurrency`` in flight, so one slow receiver
does not hold up the others; entries for the same incident and channel still go one
after another, in stream order, so "resolved" does not overtake "opened".

Retries: a failed attempt leaves the stream and becomes a timer in a sorted set; the
worker's loop calls ``tick``, which moves due timers back into the stream in one Lua
call (``outbox.requeue_due``; safe with several daemons, nothing lost in a crash). The
stream thus holds only what is due, and the attempt count travels with the entry.

Crashes: as in the pipeline, each worker keeps a heartbeat key; entries held by a
consumer whose heartbeat is gone are claimed at once, those of a live one (or our own,
after a store error) once idle for ``claim_idle``; an entry claimed ``max_deliveries``
times (a worker died on it each time) is dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from daemon import keys, store
from daemon.commit import Commit
from daemon.config_types import seconds
from daemon.consumers import consumer_name
from daemon.delivery import gate, outbox
from daemon.delivery.channels import HttpClient, Sender, build_sender
from daemon.delivery.config import ChannelConfig, ChannelRate
from daemon.delivery.outbox import Notification
from daemon.delivery.retry import (
    Backoff,
    Cause,
    Decision,
    SendResult,
    Verdict,
    decide,
    transient,
)
from daemon.delivery.templates import ChannelTemplates
from daemon.metrics import Metrics
from triage.incident import SYSTEM_ACTOR, TimelineEntry

log = structlog.get_logger("triaged.delivery")

Fields = dict[bytes, bytes]
Entry = tuple[bytes, Fields]
Work = Coroutine[Any, Any, None]

_HEARTBEAT_TTL: Final = 15
# How long a claim on a key outlives the longest send: the rate wait plus the timeout
# plus this margin. A worker that dies while sending frees the key after that.
_HOLD_MARGIN: Final = 30.0
# An entry whose key another worker is sending right now comes back after about this.
_IN_FLIGHT_RETRY: Final = 2.0


async def ensure_outbox(redis: Redis) -> None:
    with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
        await redis.xgroup_create(keys.OUTBOX_STREAM, keys.DELIVERY_GROUP, id="0", mkstream=True)


class Channel:
    """A configured channel, ready to send: sender, templates, retry and rate policy."""

    def __init__(self, config: ChannelConfig, http: HttpClient, *, max_rate_wait: float):
        self.name = config.name
        self.type = config.type
        self.sender: Sender = build_sender(config, http)
        template = config.template
        self.templates = ChannelTemplates(
            config.type,
            title=template.title if template else None,
            body=template.body if template else None,
            html=template.html if template else None,
        )
        self.backoff = Backoff(
            initial=seconds(config.backoff.initial),
            maximum=seconds(config.backoff.max),
            max_attempts=config.max_attempts,
        )
        self.rate: ChannelRate | None = config.rate
        self.hold = seconds(config.timeout) + max_rate_wait + _HOLD_MARGIN


class DeliveryWorker:
    def __init__(
        self,
        redis: Redis,
        channels: Sequence[ChannelConfig],
        metrics: Metrics,
        *,
        consumer: str | None = None,
        batch_size: int = 100,
        concurrency: int = 32,
        claim_idle: float = 60.0,
        max_deliveries: int = 5,
        remember_delivered: float = 7 * 86400.0,
        max_rate_wait: float = 5.0,
        read_block: float = 0.2,
        http: HttpClient | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ):
        """Builds every channel's sender now, so a missing secret fails at startup.

        ``claim_idle`` must exceed the longest send (timeout plus ``max_rate_wait``), or
        a live worker's entry is claimed while it is still being sent (the key's claim
        then keeps it from being sent twice, but it is wasted work). ``read_block`` is how
        long a read waits for new entries: it bounds how late a due retry is re-queued
        and how long ``run`` takes to notice ``stop``.
        """
        self.redis = redis
        self.metrics = metrics
        self.consumer = consumer or consumer_name()
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.claim_idle = claim_idle
        self.max_deliveries = max_deliveries
        self.remember_delivered = remember_delivered
        self.max_rate_wait = max_rate_wait
        self.read_block = read_block
        self.clock = clock
        self.rand = rand
        self._http = http or HttpClient()
        self._channels = {
            c.name: Channel(c, self._http, max_rate_wait=max_rate_wait) for c in channels
        }
        self._gate = gate.Gate(redis)
        self._in_flight: dict[asyncio.Task[None], bytes] = {}
        self._tails: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then let the sends in flight finish."""
        await ensure_outbox(self.redis)
        log.info("delivery_worker_started", consumer=self.consumer, channels=list(self._channels))
        last_claim = 0.0
        async with self._http:
            try:
                while not stop.is_set():
                    try:
                        if time.monotonic() - last_claim > min(5.0, self.claim_idle / 2):
                            last_claim = time.monotonic()
                            await self.redis.set(
                                keys.consumer_alive(self.consumer), b"1", ex=_HEARTBEAT_TTL
                            )
                            await self.claim_abandoned()
                            await self.refresh_gauges()
                        await self.tick(self.clock())
                        await self._read()
                    except RedisError as exc:
                        log.warning("delivery_store_error", error=str(exc), consumer=self.consumer)
                        await asyncio.sleep(0.5)
            finally:
                if self._in_flight:
                    await asyncio.wait(list(self._in_flight))
                with contextlib.suppress(RedisError):
                    await self.redis.delete(keys.consumer_alive(self.consumer))
        log.info("delivery_worker_stopped", consumer=self.consumer)

    async def tick(self, now: float) -> int:
        """Move retry timers due at ``now`` back into the outbox. The run loop calls it;
        a scheduler may too (it is atomic and idempotent)."""
        return await outbox.requeue_due(self.redis, now)

    async def _read(self) -> None:
        free = self.concurrency - len(self._in_flight)
        if free <= 0:
            await asyncio.wait(
                list(self._in_flight), timeout=0.2, return_when=asyncio.FIRST_COMPLETED
            )
            return
        response = await self.redis.xreadgroup(
            keys.DELIVERY_GROUP,
            self.consumer,
            {keys.OUTBOX_STREAM: ">"},
            count=min(self.batch_size, free),
            block=max(1, int(self.read_block * 1000)),
        )
        for _stream, entries in cast("list[tuple[bytes, list[Entry]]]", response or []):
            for entry_id, fields in entries:
                self._start(entry_id, fields)

    def _start(self, entry_id: bytes, fields: Fields) -> None:
        """Deliver one entry in its own task, after the previous entry of its incident
        and channel."""
        try:
            notification, attempts = outbox.decode_entry(fields)
        except ValueError as exc:
            work = self._dead_raw(entry_id, fields, f"undecodable entry: {exc}", Cause.UNDECODABLE)
            order = ("", entry_id.decode())
        else:
            order = (notification.channel, notification.incident_id)
            work = self._deliver(entry_id, notification, attempts)
        task = asyncio.create_task(self._after(self._tails.get(order), work))
        self._tails[order] = task
        self._in_flight[task] = entry_id
        task.add_done_callback(functools.partial(self._finished, order))

    def _finished(self, order: tuple[str, str], task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        if self._tails.get(order) is task:
            del self._tails[order]

    async def _after(self, previous: asyncio.Task[None] | None, work: Work) -> None:
        """Run ``work`` once ``previous`` is done. Failures stay here: the entry remains
        pending and is claimed again after ``claim_idle``."""
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await work
        except RedisError as exc:
            log.warning("delivery_store_error", error=str(exc), consumer=self.consumer)
        except Exception:
            log.exception("delivery_failed", consumer=self.consumer)

    async def _deliver(self, entry_id: bytes, notification: Notification, attempts: int) -> None:
        n = notification
        channel = self._channels.get(n.channel)
        if channel is None:
            reason = f"unknown channel {n.channel!r}: not in the configuration"
            decision = Decision(outcome=Verdict.DEAD, reason=reason, cause=Cause.UNKNOWN_CHANNEL)
            result = SendResult(verdict=Verdict.DEAD, reason=reason)
            await self._record(entry_id, n, None, attempts, result, decision, None)
            return
        key = n.key
        claim = await self._gate.claim(key, self.consumer, hold=channel.hold)
        if claim is gate.Claim.DELIVERED:
            await self._skip_duplicate(entry_id, n)
            return
        if claim is gate.Claim.IN_FLIGHT:
            delay = _IN_FLIGHT_RETRY * (1 + self.rand())
            await self._defer(entry_id, n, attempts, channel, delay, "in_flight", release=False)
            return
        if channel.rate is not None:
            slot = await self._gate.reserve(
                channel.name,
                per_second=channel.rate.per_second,
                burst=channel.rate.burst,
                now=self.clock(),
                max_wait=self.max_rate_wait,
            )
            if not slot.granted:
                await self._defer(entry_id, n, attempts, channel, slot.wait, "rate_limited")
                return
            if slot.wait > 0:
                await asyncio.sleep(slot.wait)
        attempt = attempts + 1
        result, template_error = await self._send(channel, n, key, attempt)
        decision = decide(result, attempt, channel.backoff, self.rand)
        await self._record(entry_id, n, channel, attempt, result, decision, template_error)

    async def _send(
        self, channel: Channel, n: Notification, key: str, attempt: int
    ) -> tuple[SendResult, str | None]:
        started = time.perf_counter()
        try:
            message = channel.templates.render(n)
        except Exception as exc:  # only the built-in defaults are left to fail here
            return SendResult(verdict=Verdict.DEAD, reason=f"template failed: {exc}"), None
        try:
            result = await channel.sender.send(n, message, key=key, attempt=attempt)
        except Exception as exc:  # a bug in a sender must not lose the notification
            log.exception("delivery_sender_failed", channel=channel.name, incident_id=n.incident_id)
            result = transient(f"unexpected error: {exc!r}")
        self.metrics.delivery_seconds.labels(channel.name).observe(time.perf_counter() - started)
        return result, message.template_error

    def _remove(self, commit: Commit, entry_id: bytes) -> None:
        """Acknowledge and delete: the outbox has one group, so a handled entry has no
        further reader, and deleting keeps the stream as short as the work left."""
        commit.xack(keys.OUTBOX_STREAM, keys.DELIVERY_GROUP, [entry_id])
        commit.command("XDEL", keys.OUTBOX_STREAM, entry_id)

    async def _record(
        self,
        entry_id: bytes,
        n: Notification,
        channel: Channel | None,
        attempt: int,
        result: SendResult,
        decision: Decision,
        template_error: str | None,
    ) -> None:
        now = self.clock()
        commit = Commit()
        self._remove(commit, entry_id)
        if decision.outcome is Verdict.DELIVERED:
            commit.command(
                "SET", keys.delivery(n.key), gate.DELIVERED, "EX", int(self.remember_delivered)
            )
        elif channel is not None:
            commit.delete(keys.delivery(n.key))  # our claim: free it for a later attempt
        next_at = None
        if decision.outcome is Verdict.RETRY:
            next_at = now + (decision.delay or 0.0)
            commit.zadd(keys.DELIVERY_RETRIES, {outbox.retry_member(n, attempt): next_at})
        elif decision.outcome is Verdict.DEAD:
            fields = outbox.dead_fields(
                outbox.entry_fields(n, attempt),
                reason=decision.reason,
                cause=str(decision.cause),
                attempts=attempt,
                failed_at=now,
                status=result.status,
            )
            outbox.add_dead(commit, fields)
        entry = timeline_entry(
            n, channel, attempt, result, decision, now=now, next_at=next_at,
            template_error=template_error,
        )  # fmt: skip
        _append_timeline(commit, n.incident_id, entry)
        await commit.apply(self.redis)
        self._observe(n, channel, attempt, decision)

    def _observe(
        self, n: Notification, channel: Channel | None, attempt: int, decision: Decision
    ) -> None:
        if channel is not None:
            self.metrics.delivery_attempts.labels(channel.name, str(decision.outcome)).inc()
        if decision.cause is not None:
            self.metrics.delivery_dead_letters.labels(str(decision.cause)).inc()
        event = {
            Verdict.DELIVERED: "notification_delivered",
            Verdict.RETRY: "notification_attempt_failed",
            Verdict.DEAD: "notification_dead_lettered",
        }[decision.outcome]
        log_method = log.info if decision.outcome is Verdict.DELIVERED else log.warning
        log_method(
            event,
            incident_id=n.incident_id,
            channel=n.channel,
            transition=n.transition,
            attempt=attempt,
            reason=decision.reason,
            idempotency_key=n.key,
        )

    async def _skip_duplicate(self, entry_id: bytes, n: Notification) -> None:
        commit = Commit()
        self._remove(commit, entry_id)
        await commit.apply(self.redis)
        self.metrics.delivery_duplicates.inc()
        log.info(
            "notification_duplicate_skipped",
            incident_id=n.incident_id,
            channel=n.channel,
            idempotency_key=n.key,
        )

    async def _defer(
        self,
        entry_id: bytes,
        n: Notification,
        attempts: int,
        channel: Channel,
        delay: float,
        why: str,
        *,
        release: bool = True,
    ) -> None:
        """Put an entry back for later without counting an attempt."""
        commit = Commit()
        self._remove(commit, entry_id)
        if release:
            commit.delete(keys.delivery(n.key))
        commit.zadd(keys.DELIVERY_RETRIES, {outbox.retry_member(n, attempts): self.clock() + delay})
        await commit.apply(self.redis)
        self.metrics.delivery_deferred.labels(channel.name, why).inc()

    async def _dead_raw(self, entry_id: bytes, fields: Fields, reason: str, cause: Cause) -> None:
        """Dead-letter an entry as it is (it may not even decode); if it does, the
        incident's timeline says so."""
        attempts_text = fields.get(outbox.ATTEMPTS_FIELD, b"0")
        attempts = int(attempts_text) if attempts_text.isdigit() else 0
        now = self.clock()
        commit = Commit()
        self._remove(commit, entry_id)
        outbox.add_dead(
            commit,
            outbox.dead_fields(
                fields, reason=reason, cause=str(cause), attempts=attempts, failed_at=now,
                status=None,
            ),
        )  # fmt: skip
        with contextlib.suppress(ValueError):
            n, _ = outbox.decode_entry(fields)
            result = SendResult(verdict=Verdict.DEAD, reason=reason)
            decision = Decision(outcome=Verdict.DEAD, reason=reason, cause=cause)
            entry = timeline_entry(
                n, None, attempts, result, decision, now=now, next_at=None, template_error=None
            )
            _append_timeline(commit, n.incident_id, entry)
        await commit.apply(self.redis)
        self.metrics.delivery_dead_letters.labels(str(cause)).inc()
        log.error("notification_dead_lettered", entry_id=entry_id.decode(), reason=reason)

    async def claim_abandoned(self) -> None:
        """Take over entries of workers that died (at once) or stalled (after
        ``claim_idle``), and our own left pending by a store error."""
        try:
            consumers = await self.redis.xinfo_consumers(keys.OUTBOX_STREAM, keys.DELIVERY_GROUP)
        except ResponseError:  # no group yet
            return
        for info in consumers:
            name = store.text(info["name"])
            alive = name == self.consumer or bool(
                await self.redis.exists(keys.consumer_alive(name))
            )
            if info["pending"] == 0:
                if not alive:
                    await self.redis.xgroup_delconsumer(
                        keys.OUTBOX_STREAM, keys.DELIVERY_GROUP, name
                    )
                continue
            await self._claim_from(name, min_idle_ms=int((self.claim_idle if alive else 0) * 1000))

    async def _claim_from(self, owner: str, *, min_idle_ms: int) -> None:
        free = self.concurrency - len(self._in_flight)
        if free <= 0:
            return
        pending: list[dict[str, Any]] = await self.redis.xpending_range(
            keys.OUTBOX_STREAM,
            keys.DELIVERY_GROUP,
            min="-",
            max="+",
            count=free,
            consumername=owner,
            idle=min_idle_ms,
        )
        mine = set(self._in_flight.values())
        pending = [p for p in pending if p["message_id"] not in mine]
        if not pending:
            return
        claimed = cast(
            "list[tuple[bytes, Fields | None]]",
            await self.redis.xclaim(
                keys.OUTBOX_STREAM,
                keys.DELIVERY_GROUP,
                self.consumer,
                min_idle_ms,
                [p["message_id"] for p in pending],
            ),
        )
        log.warning(
            "notifications_claimed", owner=owner, count=len(claimed), consumer=self.consumer
        )
        crashed = {p["message_id"] for p in pending if p["times_delivered"] >= self.max_deliveries}
        for entry_id, fields in claimed:
            if fields is None:  # deleted since: nothing left to deliver
                await self.redis.xack(keys.OUTBOX_STREAM, keys.DELIVERY_GROUP, entry_id)
            elif entry_id in crashed:
                reason = f"a worker stopped {self.max_deliveries} times while delivering it"
                self._spawn(entry_id, self._dead_raw(entry_id, fields, reason, Cause.CRASHED))
            else:
                self._start(entry_id, fields)

    def _spawn(self, entry_id: bytes, work: Work) -> None:
        task = asyncio.create_task(self._after(None, work))
        self._in_flight[task] = entry_id
        task.add_done_callback(functools.partial(self._finished, ("", entry_id.decode())))

    async def refresh_gauges(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(keys.OUTBOX_STREAM)
            pipe.zcard(keys.DELIVERY_RETRIES)
            pipe.xlen(keys.OUTBOX_DEAD)
            sizes = await pipe.execute()
        for queue, size in zip(("outbox", "retry", "dead"), sizes, strict=True):
            self.metrics.delivery_queue.labels(queue).set(size)


def _append_timeline(commit: Commit, incident_id: str, entry: TimelineEntry) -> None:
    """RPUSHX: a timeline that retention deleted is not brought back by a late attempt."""
    commit.command("RPUSHX", keys.incident_timeline(incident_id), store.encode(entry))


def timeline_entry(
    n: Notification,
    channel: Channel | None,
    attempt: int,
    result: SendResult,
    decision: Decision,
    *,
    now: float,
    next_at: float | None,
    template_error: str | None,
) -> TimelineEntry:
    """The incident's record of one attempt (kind ``delivery``)."""
    where = f"{channel.type} {n.channel}" if channel is not None else f"channel {n.channel}"
    if n.target:
        where += f" for {n.target}"
    if decision.outcome is Verdict.DELIVERED:
        message = f"delivered to {where} ({result.reason}), attempt {attempt}"
    elif decision.outcome is Verdict.RETRY:
        message = (
            f"attempt {attempt} to {where} failed ({result.reason});"
            f" retrying in {decision.delay or 0.0:.1f}s"
        )
    else:
        message = f"gave up on {where}: {decision.reason}"
    data: dict[str, Any] = {
        "channel": n.channel,
        "channel_type": channel.type if channel is not None else None,
        "target": n.target,
        "transition": n.transition,
        "attempt": attempt,
        "outcome": str(decision.outcome),
        "status": result.status,
        "error": None if decision.outcome is Verdict.DELIVERED else result.reason,
        "reason": decision.reason,
        "idempotency_key": n.key,
        "next_attempt_at": next_at,
    }
    if template_error is not None:
        data["template_error"] = template_error
    return TimelineEntry(at=now, kind="delivery", actor=SYSTEM_ACTOR, message=message, data=data)
