"""Before a send: was this notification delivered already, is it in flight elsewhere,
and may its channel send now?

**Once per idempotency key.** ``claim`` sets the key's marker to ``sending:<consumer>``
only if it has none; a successful delivery turns it into ``delivered`` for a long TTL
(in the same commit as the acknowledgement and the timeline entry). So a notification
queued twice (a replayed pipeline batch, a redrive of something sent since, two daemons
acting on the same transition) is sent once, and two workers never send one key at the
same time. The window that remains is a crash after the receiver answered and before
the commit: the redelivered entry is sent again, with the same ``Idempotency-Key`` for
the receiver to drop.

**Rate per channel.** A GCRA limiter in Redis, so every daemon sharing the Redis shares
the channel's budget (the limit protects the receiver, not us). A send reserves the next
free slot; a slot further away than ``max_wait`` is not reserved and the caller puts the
notification back in the retry set until about then, so a busy channel never holds a
worker slot for long.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec
from redis.asyncio import Redis

from daemon import keys

DELIVERED: Final = b"delivered"
_SENDING: Final = b"sending:"


class Claim(enum.StrEnum):
    ACQUIRED = "acquired"
    DELIVERED = "delivered"
    IN_FLIGHT = "in_flight"


class Reservation(msgspec.Struct, frozen=True):
    granted: bool
    wait: float


_CLAIM: Final = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

_RESERVE: Final = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now - (burst - 1) * interval
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, tostring(wait)} end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.6f', next_tat),
           'PX', math.ceil((next_tat - now) * 1000) + 1000)
return {1, tostring(wait)}
"""


class Gate:
    def __init__(self, redis: Redis):
        self._claim = redis.register_script(_CLAIM)
        self._reserve = redis.register_script(_RESERVE)

    async def claim(self, key: str, consumer: str, *, hold: float) -> Claim:
        """Take the key's marker for ``hold`` seconds, unless delivered or held."""
        current = await self._claim(
            keys=[keys.delivery(key)], args=[_SENDING + consumer.encode(), int(hold * 1000)]
        )
        if current is None:
            return Claim.ACQUIRED
        return Claim.DELIVERED if current == DELIVERED else Claim.IN_FLIGHT

    async def reserve(
        self, channel: str, *, per_second: float, burst: int, now: float, max_wait: float
    ) -> Reservation:
        """A send slot ``wait`` seconds from ``now``; not granted (nothing reserved)
        when that is more than ``max_wait`` away."""
        granted, wait = await self._reserve(
            keys=[keys.channel_rate(channel)], args=[now, 1.0 / per_second, burst, max_wait]
        )
        return Reservation(granted=bool(granted), wait=float(wait))
