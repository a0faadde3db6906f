"""Probes of what requests left in Redis, for "nothing of a rejected request is stored".

The stream's length is no such probe while workers run: the scheduler trims entries once
they are processed. Redis keeps the id of the last entry ever appended, which only an
append changes.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from daemon import keys


async def last_ingest_id(redis: Redis) -> str:
    """The id of the last entry appended to the ingest stream ("0-0": none yet)."""
    try:
        info = await redis.xinfo_stream(keys.INGEST_STREAM)
    except ResponseError:  # no stream yet
        return "0-0"
    last = info["last-generated-id"]
    return last.decode() if isinstance(last, bytes) else str(last)
