"""Operators' corrections as training labels: kept in a Redis stream, remembered at once.

A reassignment or a reclassification is appended to ``triaged:stream:corrections`` in the
same checked commit as the incident change, so a label exists exactly when the change does.
Every daemon replays the stream into its models' corrections memory at start and then
follows it, so a correction made through any daemon steers the next incidents of all of
them, without a retrain; a retrain reads the same stream as extra training data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

import msgspec
import structlog
from redis.asyncio import Redis

from daemon import keys
from daemon.commit import Commit
from daemon.triage_models import TriagerRef
from triage.classify import Correction

log = structlog.get_logger("triaged.corrections")

FIELD = b"c"
READ_COUNT = 5000
"""Corrections read per round trip."""


class CorrectionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One label with where it came from, for audits and for the retrain's hold-out."""

    incident_id: str
    actor: str
    at: float
    action: str
    correction: Correction


_decoder = msgspec.json.Decoder(CorrectionRecord)


def queue(commit: Commit, record: CorrectionRecord) -> None:
    """Append the label inside the commit that changes the incident."""
    commit.command(
        "XADD",
        keys.CORRECTIONS_STREAM,
        "MAXLEN",
        "~",
        keys.CORRECTIONS_MAX,
        "*",
        FIELD,
        msgspec.json.encode(record),
    )


Entries = list[tuple[bytes, dict[bytes, bytes]]]


def _decode(entries: Entries) -> list[CorrectionRecord]:
    records: list[CorrectionRecord] = []
    for entry_id, fields in entries:
        try:
            records.append(_decoder.decode(fields[FIELD]))
        except (KeyError, msgspec.DecodeError) as exc:
            log.warning("correction_skipped", entry_id=entry_id.decode(), error=str(exc))
    return records


async def read_all(redis: Redis) -> tuple[list[CorrectionRecord], bytes]:
    """Every correction kept, oldest first, and the id of the last one (or ``0-0``)."""
    records: list[CorrectionRecord] = []
    last = b"0-0"
    while True:
        entries = cast(
            "Entries",
            await redis.xrange(keys.CORRECTIONS_STREAM, min=f"({last.decode()}", count=READ_COUNT),
        )
        if not entries:
            return records, last
        records += _decode(entries)
        last = entries[-1][0]


class CorrectionsFeed:
    """Keeps the models' corrections memory in step with the stream.

    The classify stage polls it (without waiting) before it classifies a batch that opens
    incidents, so a correction committed before that batch was read always counts, through
    whichever daemon it was made. The memory is changed in the models' thread, in the order
    the stream holds, before any batch classified after the poll.
    """

    def __init__(self, redis: Redis, models: TriagerRef) -> None:
        self.redis = redis
        self.models = models
        self.last = b"0-0"
        self._lock = asyncio.Lock()

    async def catch_up(self) -> int:
        async with self._lock:
            records, self.last = await read_all(self.redis)
            await self._remember(records)
            return len(records)

    async def poll(self) -> int:
        """Remember what arrived since the last read, however much that is."""
        found = 0
        async with self._lock:
            while True:
                response = cast(
                    "list[tuple[bytes, Entries]]",
                    await self.redis.xread({keys.CORRECTIONS_STREAM: self.last}, count=READ_COUNT),
                )
                entries = [entry for _stream, batch in response or [] for entry in batch]
                if not entries:
                    return found
                await self._remember(_decode(entries))
                self.last = entries[-1][0]
                found += len(entries)
                if len(entries) < READ_COUNT:
                    return found

    async def _remember(self, records: Sequence[CorrectionRecord]) -> None:
        if records:
            triager = self.models.triager
            await self.models.run(triager.remember, [r.correction for r in records])
