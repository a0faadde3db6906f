"""Reading the incident record in bulk for reports: KPI facts and recurrence occurrences.

``triaged report``, ``GET /api/v1/reports/kpis`` and ``GET /api/v1/problems`` read the
same things the same way: every live incident still in the store (newest first, a page at
a time with its timeline in one round trip) and, for KPIs, the imported history
(``triaged import``), so both measure with one definition of every figure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import cast

import msgspec
from redis.asyncio import Redis

from daemon import keys, store
from triage.incident import Incident, TimelineEntry
from triage.process import live
from triage.process.kpis import IncidentFacts, facts_from_record, is_drill
from triage.process.recurrence import Occurrence

_PAGE = 500
_facts = msgspec.msgpack.Decoder(IncidentFacts)


async def incidents_with_timelines(
    redis: Redis, *, created_after: float | None = None, timelines: bool = True
) -> AsyncIterator[tuple[Incident, list[TimelineEntry]]]:
    """Every incident (newest first) with its timeline (empty without ``timelines``);
    with ``created_after``, stop at the first page that holds none created after it
    (ids grow with creation)."""
    cursor: int | None = None
    while True:
        page, cursor = await store.list_incidents(redis, {}, limit=_PAGE, before=cursor)
        raw_timelines: list[list[bytes]] = [[] for _ in page]
        if timelines and page:
            async with redis.pipeline(transaction=False) as pipe:
                for incident in page:
                    pipe.lrange(keys.incident_timeline(incident.id), 0, -1)
                raw_timelines = cast("list[list[bytes]]", await pipe.execute())
        recent = False
        for incident, raw in zip(page, raw_timelines, strict=True):
            if created_after is not None and incident.created_at <= created_after:
                continue
            recent = True
            yield incident, [store.decode_entry(e) for e in raw]
        if cursor is None or (created_after is not None and not recent):
            return


async def all_facts(redis: Redis) -> list[IncidentFacts]:
    """Imported history plus every live incident still in the store."""
    raw = cast("dict[bytes, bytes]", await redis.hgetall(keys.HISTORY))
    facts = [_facts.decode(value) for value in raw.values()]
    async for incident, timeline in incidents_with_timelines(redis):
        facts.append(facts_from_record(incident, timeline))
    return facts


async def occurrences(
    redis: Redis, *, since: float, readable: Callable[[Incident], bool]
) -> list[Occurrence]:
    """Live incidents created after ``since`` as recurrence counts them: neither
    cancelled nor drills, and only those ``readable`` by the caller."""
    found: list[Occurrence] = []
    async for incident, _ in incidents_with_timelines(redis, created_after=since, timelines=False):
        record = live.record_of(incident)
        if record.cancelled is not None or is_drill(incident.labels) or not readable(incident):
            continue
        found.append(
            Occurrence(
                id=incident.id,
                key=incident.key,
                service=incident.labels.get("service", ""),
                category=incident.category,
                created_at=incident.created_at,
                problem_id=record.problem_id,
            )
        )
    return found
