"""Heartbeat check-ins over HTTP and the scheduler's check for missed ones.

Both sides change a heartbeat with a checked commit that also queues the alert event,
so with several daemons a miss is raised once and a late check-in resolves it once.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
import structlog
from aiohttp import web
from redis.asyncio import Redis

from daemon import keys
from daemon.appkeys import METRICS, REDIS, SETTINGS
from daemon.auth import header_identity, header_problem, unauthorized
from daemon.commit import Commit
from daemon.config_types import DURATION_PATTERN, seconds
from daemon.enqueue import encode_events
from daemon.errors import error_response, json_response
from daemon.sources.common import PayloadError, decode
from daemon.validation import FieldError
from triage.alert import AlertStatus
from triage.heartbeat import HeartbeatState, beat, heartbeat_alert, is_missed

log = structlog.get_logger("triaged.heartbeats")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_codec = msgspec.json.Decoder(HeartbeatState)


class CheckIn(msgspec.Struct, forbid_unknown_fields=True):
    interval: (
        Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN, description="e.g. 5m")] | None
    ) = None


def _queue_alert(
    commit: Commit, name: str, state: HeartbeatState, status: AlertStatus, now: float
) -> None:
    event = heartbeat_alert(name, state, status=status, now=now)
    fields = encode_events("heartbeat", [event])
    commit.command(
        "XADD", keys.INGEST_STREAM, "*", *(item for pair in fields.items() for item in pair)
    )


async def check_in(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    credentials = settings.credentials_for("heartbeat")
    if credentials.required and header_identity(credentials, request) is None:
        return unauthorized(credentials, header_problem(request))
    name = request.match_info["name"]
    if not _NAME.match(name):
        return error_response(
            400, "invalid heartbeat name", [FieldError("name", "1-128 of A-Z a-z 0-9 _ . : -")]
        )
    interval_text = request.query.get("interval")
    if request.can_read_body:
        if request.content_type != "application/json":
            return error_response(
                415,
                "unsupported content type",
                [FieldError("Content-Type", "send application/json")],
            )
        try:
            interval_text = decode(await request.read(), CheckIn).interval or interval_text
        except PayloadError as exc:
            return error_response(400, "invalid heartbeat", exc.errors)
    if interval_text is not None and not re.fullmatch(DURATION_PATTERN, interval_text):
        return error_response(
            400, "invalid heartbeat", [FieldError("interval", "a duration such as 5m")]
        )
    interval = seconds(interval_text) if interval_text else None
    redis = request.app[REDIS]
    while True:
        raw = await redis.get(keys.heartbeat(name))
        prev = None if raw is None else _codec.decode(raw)
        try:
            now = settings.clock()
            state = beat(prev, interval, now)
        except ValueError:
            return error_response(
                400, "invalid heartbeat", [FieldError("interval", "a new heartbeat needs one")]
            )
        commit = Commit()
        commit.expect(keys.heartbeat(name), raw)
        commit.set(keys.heartbeat(name), msgspec.json.encode(state))
        commit.zadd(keys.HEARTBEATS, {name: state.deadline})
        if prev is not None and prev.missing:
            _queue_alert(commit, name, prev, AlertStatus.RESOLVED, now)
        if await commit.apply(redis):
            break
    request.app[METRICS].heartbeats.labels("received").inc()
    return json_response(
        {"name": name, "interval": state.interval, "next_deadline": state.deadline}, status=202
    )


async def raise_missed(redis: Redis, now: float) -> int:
    """Raise an alert for each heartbeat past its deadline; returns how many."""
    due = await redis.zrangebyscore(keys.HEARTBEATS, "-inf", now, start=0, num=500)
    raised = 0
    for member in due:
        name = member.decode() if isinstance(member, bytes) else str(member)
        raw = await redis.get(keys.heartbeat(name))
        commit = Commit()
        commit.expect(keys.heartbeat(name), raw)
        commit.zrem(keys.HEARTBEATS, [name])
        state = None if raw is None else _codec.decode(raw)
        missed = state is not None and is_missed(state, now)
        if state is not None and missed:
            commit.set(
                keys.heartbeat(name),
                msgspec.json.encode(msgspec.structs.replace(state, missing=True)),
            )
            _queue_alert(commit, name, state, AlertStatus.FIRING, now)
        if await commit.apply(redis) and missed:
            raised += 1
            log.warning("heartbeat_missed", heartbeat=name)
    return raised
