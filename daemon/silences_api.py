"""The silences API: create, list and expire silences and maintenance windows.

A silence is never deleted early: expiring it sets its end to now and records who did
it, so the record of why alerts were muted stays.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from daemon import keys
from daemon.api_body import read_api_body
from daemon.appkeys import REDIS, ROUTING, SETTINGS
from daemon.auth import require_api
from daemon.config_types import DURATION_PATTERN, seconds
from daemon.errors import error_response, json_response
from daemon.suppress_stage import SilenceRecord, compiled, load_records, records_decoder
from daemon.validation import FieldError, dotted
from routing import RoutingConfigError

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class NewSilence(msgspec.Struct, forbid_unknown_fields=True):
    matchers: Annotated[list[Text], msgspec.Meta(min_length=1, max_length=64)]
    created_by: Text
    comment: Text
    kind: Literal["silence", "maintenance"] = "silence"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration: (
        Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN, description="e.g. 2h")] | None
    ) = None


class Expire(msgspec.Struct, forbid_unknown_fields=True):
    actor: Text


def _state(record: SilenceRecord, now: float) -> str:
    if record.ends_at <= now:
        return "expired"
    return "active" if record.starts_at <= now else "pending"


def _view(record: SilenceRecord, now: float) -> dict[str, object]:
    view: dict[str, object] = msgspec.to_builtins(record)
    for name in ("starts_at", "ends_at", "created_at"):
        view[name] = (
            datetime.fromtimestamp(getattr(record, name), UTC).isoformat().replace("+00:00", "Z")
        )
    view["state"] = _state(record, now)
    return view


async def create(request: web.Request) -> web.Response:
    body = await read_api_body(request, NewSilence, "invalid silence")
    if isinstance(body, web.Response):
        return body
    now = request.app[SETTINGS].clock()
    starts_at = body.starts_at.timestamp() if body.starts_at else now
    if (body.ends_at is None) == (body.duration is None):
        return error_response(
            400, "invalid silence", [FieldError("ends_at", "give exactly one of ends_at, duration")]
        )
    ends_at = (
        body.ends_at.timestamp() if body.ends_at else starts_at + seconds(body.duration or "0s")
    )
    record = SilenceRecord(
        id=uuid.uuid4().hex[:12],
        kind=body.kind,
        matchers=body.matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=body.created_by,
        comment=body.comment,
        created_at=now,
    )
    try:
        compiled(record)
    except RoutingConfigError as exc:
        errors = [FieldError(dotted(p.path), p.message) for p in exc.problems]
        return error_response(400, "invalid silence", errors)
    await request.app[REDIS].hset(keys.SILENCES, record.id, msgspec.json.encode(record))
    return json_response(_view(record, now), status=201)


async def listing(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    wanted = request.query.get("state")
    if wanted not in (None, "active", "pending", "expired"):
        return error_response(
            400, "invalid query", [FieldError("state", "active, pending or expired")]
        )
    now = request.app[SETTINGS].clock()
    records = [
        r
        for r in await load_records(request.app[REDIS])
        if wanted is None or _state(r, now) == wanted
    ]
    configured = [
        {
            "id": s.id,
            "kind": str(s.kind),
            "created_by": s.created_by,
            "comment": s.comment,
            "source": "config",
        }
        for s in request.app[ROUTING].table.silences
    ]
    return json_response({"silences": [_view(r, now) for r in records], "configured": configured})


async def expire(request: web.Request) -> web.Response:
    body = await read_api_body(request, Expire, "invalid request")
    if isinstance(body, web.Response):
        return body
    silence_id = request.match_info["id"]
    redis = request.app[REDIS]
    raw = await redis.hget(keys.SILENCES, silence_id)
    if raw is None:
        return error_response(
            404, "silence not found", [FieldError("id", f"no silence {silence_id!r}")]
        )
    record = records_decoder.decode(raw)
    now = request.app[SETTINGS].clock()
    if record.ends_at <= now:
        return error_response(409, "silence already expired", [FieldError("id", silence_id)])
    ended = msgspec.structs.replace(
        record, ends_at=max(now, record.starts_at + 0.001), expired_by=body.actor
    )
    await redis.hset(keys.SILENCES, silence_id, msgspec.json.encode(ended))
    return json_response(_view(ended, now))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/silences", create)
    app.router.add_get("/api/v1/silences", listing)
    app.router.add_post("/api/v1/silences/{id}/expire", expire)
