"""The outbox: notifications waiting for delivery, in a Redis stream of their own.

Notifications are queued in the same atomic commit that records the incident change
(``queue``), so a change is never recorded without its notifications or the other way
round, and ingestion never waits for a receiver. The ``delivery`` consumer group then
sends them (``daemon.delivery.worker``).

Stream entry fields: ``n`` the notification as JSON, ``a`` the attempts made so far.
Retry timers are members ``<attempts>:<notification JSON>`` of a sorted set scored by
due time; ``requeue_due`` moves due ones back into the stream in one Lua call, so with
several daemons each timer fires once and a crash never loses one. Dead letters keep
``n`` and ``a`` and add why they died; a redrive moves one back with ``a`` reset to 0.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, cast

import msgspec
from redis.asyncio import Redis

from daemon import keys
from daemon.commit import Commit
from triage.incident import Incident

NOTIFICATION_FIELD: Final = b"n"
ATTEMPTS_FIELD: Final = b"a"

# The dead-letter stream is capped (approximately) so a receiver that is gone for weeks
# cannot fill Redis; the gauge triaged_delivery_queue_entries{queue="dead"} shows it.
DEAD_MAXLEN: Final = 10_000

ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


class IncidentSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a message shows of the incident, frozen at the transition it announces."""

    id: str
    key: str
    title: str
    status: str
    priority: str
    category: str = ""
    group: str = ""
    escalation_level: int = 0
    url: str = ""
    links: dict[str, str] = {}


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One message for one channel about one transition of one incident.

    ``transition`` must name the event uniquely within the incident, because it is part
    of the idempotency key: ``escalated:2`` for level 2, ``update:3`` for the third
    stakeholder update, and a ``#<reopen_count>`` suffix once an incident was reopened
    (see ``transition``), or the second resolution would be taken for a duplicate of
    the first. ``target`` is the group or person paged, or "" for a channel post; for a
    stakeholder it is the subscription. ``message`` is text a person wrote (an update,
    resolution notes); ``address`` sends an e-mail channel's message to that recipient
    instead of the channel's own list (a stakeholder's subscription).
    """

    incident_id: str
    transition: str
    target: str
    channel: str
    incident: IncidentSummary
    created_at: float
    message: str = ""
    address: str = ""

    @property
    def key(self) -> str:
        return idempotency_key(self)

    @property
    def event(self) -> str:
        """The transition's kind without its detail: ``escalated`` for ``escalated:2#1``."""
        return self.transition.split("#", 1)[0].split(":", 1)[0]


def idempotency_key(notification: Notification) -> str:
    """Stable across processes and versions: SHA-256 of the JSON array of (incident id,
    transition, target, channel), so no choice of separator can make two tuples collide.
    128 bits of hex, the form receivers put in a unique index."""
    n = notification
    identity = msgspec.json.encode([n.incident_id, n.transition, n.target, n.channel])
    return hashlib.sha256(identity).hexdigest()[:32]


def transition(kind: str, detail: str | int | None = None, *, cycle: int = 0) -> str:
    """``kind[:detail][#cycle]``: e.g. ``escalated:2``, or ``resolved#1`` for the
    resolution after the first reopen (pass ``incident.reopen_count`` as ``cycle``)."""
    text = kind if detail is None else f"{kind}:{detail}"
    return text if cycle == 0 else f"{text}#{cycle}"


def summarize(
    incident: Incident, *, url: str = "", links: Mapping[str, str] | None = None
) -> IncidentSummary:
    return IncidentSummary(
        id=incident.id,
        key=incident.key,
        title=incident.title,
        status=str(incident.status),
        priority=incident.priority,
        category=incident.category,
        group=incident.group,
        escalation_level=incident.escalation_level,
        url=url,
        links=dict(links or {}),
    )


def notifications_for(
    incident: Incident,
    transition: str,
    channels: Iterable[str],
    *,
    now: float,
    target: str = "",
    url: str = "",
    links: Mapping[str, str] | None = None,
    message: str = "",
) -> list[Notification]:
    """One notification per channel (duplicates dropped) for one transition."""
    summary = summarize(incident, url=url, links=links)
    return [
        Notification(
            incident_id=incident.id,
            transition=transition,
            target=target,
            channel=channel,
            incident=summary,
            created_at=now,
            message=message,
        )
        for channel in dict.fromkeys(channels)
    ]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Notification)


def encode(notification: Notification) -> bytes:
    return _encoder.encode(notification)


def decode(raw: bytes) -> Notification:
    return _decoder.decode(raw)


def entry_fields(notification: Notification, attempts: int = 0) -> dict[bytes, bytes]:
    return {NOTIFICATION_FIELD: encode(notification), ATTEMPTS_FIELD: str(attempts).encode()}


def decode_entry(fields: Mapping[bytes, bytes]) -> tuple[Notification, int]:
    """Raises ValueError (msgspec's errors are ValueErrors) for a malformed entry."""
    raw = fields.get(NOTIFICATION_FIELD)
    if raw is None:
        raise ValueError("entry has no notification field 'n'")
    return decode(raw), int(fields.get(ATTEMPTS_FIELD, b"0"))


def retry_member(notification: Notification, attempts: int) -> str:
    return f"{attempts}:{encode(notification).decode()}"


def _xadd(commit: Commit, stream: str, fields: Mapping[bytes, bytes]) -> None:
    commit.command("XADD", stream, "*", *(item for pair in fields.items() for item in pair))


def queue(commit: Commit, notifications: Iterable[Notification]) -> None:
    """Add the notifications to ``commit``: they are queued if and only if it applies."""
    for notification in notifications:
        _xadd(commit, keys.OUTBOX_STREAM, entry_fields(notification))


async def queue_now(redis: Redis, notifications: Iterable[Notification]) -> None:
    """Queue notifications on their own (all or none) for callers outside a commit."""
    commit = Commit()
    queue(commit, notifications)
    await commit.apply(redis)


# Pop due retry timers and append them to the outbox, atomically (see module docstring).
_REQUEUE_DUE: Final = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  local sep = string.find(member, ':', 1, true)
  redis.call('XADD', KEYS[2], '*', 'n', string.sub(member, sep + 1),
             'a', string.sub(member, 1, sep - 1))
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""


async def requeue_due(redis: Redis, now: float, *, limit: int = 1000) -> int:
    """Move retry timers due at ``now`` back into the outbox; returns how many."""
    script = redis.register_script(_REQUEUE_DUE)
    moved = 0
    while True:
        count = int(
            await script(keys=[keys.DELIVERY_RETRIES, keys.OUTBOX_STREAM], args=[now, limit])
        )
        moved += count
        if count < limit:
            return moved


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    reason: str
    cause: str
    attempts: int
    failed_at: float | None
    status: int | None
    notification: Notification | None


def dead_fields(
    fields: Mapping[bytes, bytes],
    *,
    reason: str,
    cause: str,
    attempts: int,
    failed_at: float,
    status: int | None,
) -> dict[bytes, bytes]:
    """The original entry's fields (``n`` and whatever else it had) plus why it died."""
    extra = {
        b"a": str(attempts).encode(),
        b"reason": reason.encode(),
        b"cause": cause.encode(),
        b"failed_at": repr(failed_at).encode(),
        b"status": b"" if status is None else str(status).encode(),
    }
    return {**fields, **extra}


def add_dead(commit: Commit, fields: Mapping[bytes, bytes]) -> None:
    commit.command(
        "XADD",
        keys.OUTBOX_DEAD,
        "MAXLEN",
        "~",
        DEAD_MAXLEN,
        "*",
        *(item for pair in fields.items() for item in pair),
    )


def _dead_letter(entry_id: bytes, fields: Mapping[bytes, bytes]) -> DeadLetter:
    try:
        notification: Notification | None = decode(fields[NOTIFICATION_FIELD])
    except (KeyError, ValueError):
        notification = None
    status = fields.get(b"status", b"")
    failed_at = fields.get(b"failed_at")
    return DeadLetter(
        id=entry_id.decode(),
        reason=fields.get(b"reason", b"").decode(errors="replace"),
        cause=fields.get(b"cause", b"").decode(errors="replace"),
        attempts=int(fields.get(ATTEMPTS_FIELD, b"0") or 0),
        failed_at=float(failed_at) if failed_at else None,
        status=int(status) if status.isdigit() else None,
        notification=notification,
    )


async def list_dead(
    redis: Redis, *, limit: int, before: str | None = None
) -> tuple[list[DeadLetter], str | None]:
    """Newest first; the cursor is the last id returned when more may follow."""
    upper = f"({before}" if before else "+"
    entries = cast(
        "list[tuple[bytes, dict[bytes, bytes]]]",
        await redis.xrevrange(keys.OUTBOX_DEAD, max=upper, min="-", count=limit + 1),
    )
    page = [_dead_letter(entry_id, fields) for entry_id, fields in entries[:limit]]
    more = len(entries) > limit
    return page, page[-1].id if more and page else None


# For each id: 1 moved back into the outbox (attempts reset), 0 no such dead letter,
# -1 nothing to redrive (an undecodable entry without a notification). Checking and
# moving in one script means two operators redriving at once queue it once.
_REDRIVE: Final = """
local out = {}
for i, id in ipairs(ARGV) do
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if #found == 0 then
    out[i] = 0
  else
    local fields, n = found[1][2], nil
    for j = 1, #fields, 2 do
      if fields[j] == 'n' then n = fields[j + 1] end
    end
    if n then
      redis.call('XADD', KEYS[2], '*', 'n', n, 'a', '0')
      redis.call('XDEL', KEYS[1], id)
      out[i] = 1
    else
      out[i] = -1
    end
  end
end
return out
"""

REDRIVEN, UNKNOWN, NOT_REDRIVABLE = 1, 0, -1


async def redrive(redis: Redis, entry_ids: Sequence[str]) -> list[int]:
    """Move dead letters back into the outbox; one result per id (``REDRIVEN``,
    ``UNKNOWN``, ``NOT_REDRIVABLE``). Ids must match ``ENTRY_ID``."""
    if not entry_ids:
        return []
    script = redis.register_script(_REDRIVE)
    results = await script(keys=[keys.OUTBOX_DEAD, keys.OUTBOX_STREAM], args=list(entry_ids))
    return [int(r) for r in results]


async def redrive_all(redis: Redis, *, page: int = 200) -> int:
    """Redrive every dead letter there is now; returns how many were re-queued.

    Only entries up to the newest one at the start: a redriven notification that dies
    again while this runs is not picked up a second time."""
    newest = cast(
        "list[tuple[bytes, dict[bytes, bytes]]]", await redis.xrevrange(keys.OUTBOX_DEAD, count=1)
    )
    if not newest:
        return 0
    last = newest[0][0].decode()
    moved = 0
    start = "-"
    while True:
        entries = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            await redis.xrange(keys.OUTBOX_DEAD, min=start, max=last, count=page),
        )
        if not entries:
            return moved
        results = await redrive(redis, [entry_id.decode() for entry_id, _ in entries])
        moved += results.count(REDRIVEN)
        if len(entries) < page:
            return moved
        start = "(" + entries[-1][0].decode()
