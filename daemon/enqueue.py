"""Enqueue: append accepted alerts to the ingest stream, many requests per round trip.

Each request waits until Redis confirmed its entry; meanwhile requests arriving together
are sent in one pipelined write (group commit). Under load this turns a round trip per
request into a round trip per burst, without delaying a lone request.
"""

from __future__ import annotations

import asyncio

import msgspec
from redis.asyncio import Redis

from daemon import keys
from triage.alert import SenderEvent

_encoder = msgspec.msgpack.Encoder()
_events_decoder = msgspec.msgpack.Decoder(list[SenderEvent])

SOURCE_FIELD = b"s"
ALERTS_FIELD = b"a"
EXPIRY_FIELD = b"x"
ADMISSION_FIELD = b"d"  # keys whose admission timer fired: [[key, due_at], ...]


def encode_events(source: str, events: list[SenderEvent]) -> dict[bytes, bytes]:
    return {SOURCE_FIELD: source.encode(), ALERTS_FIELD: _encoder.encode(events)}


def decode_events(payload: bytes) -> list[SenderEvent]:
    return _events_decoder.decode(payload)


class StoreUnavailable(Exception):
    """Redis did not confirm in time; the request is answered 503 and may be retried."""


class StreamAppender:
    def __init__(self, redis: Redis, *, timeout: float):
        self._redis = redis
        self._timeout = timeout
        self._pending: list[tuple[dict[bytes, bytes], asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="stream-appender")

    async def stop(self) -> None:
        """Flush what is queued, then stop."""
        if self._task is None:
            return
        self._closing = True
        self._wakeup.set()
        await self._task

    async def append(self, fields: dict[bytes, bytes]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((fields, future))
        self._wakeup.set()
        try:
            async with asyncio.timeout(self._timeout):
                await future
        except TimeoutError as exc:
            raise StoreUnavailable(f"Redis did not confirm within {self._timeout:g}s") from exc

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._flush(batch)
            elif self._closing:
                return

    async def _flush(self, batch: list[tuple[dict[bytes, bytes], asyncio.Future[None]]]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for fields, _ in batch:
                    pipe.xadd(keys.INGEST_STREAM, fields)  # type: ignore[arg-type]
                await pipe.execute()
        except Exception as exc:
            error = StoreUnavailable(f"Redis write failed: {exc}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
