"""Dead letters over HTTP: list them, and redrive one or all once the receiver is fixed.

- ``GET  /api/v1/deliveries/dead?limit=&cursor=`` newest first, ``{"dead": [...], "next"}``
- ``POST /api/v1/deliveries/dead/{id}/redrive`` one (404 unknown, 409 nothing to redrive)
- ``POST /api/v1/deliveries/dead/redrive`` all there are now

A redriven notification starts again at attempt 1 with its original idempotency key, so
a receiver that did get an earlier attempt can still drop it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import structlog
from aiohttp import web

from daemon.appkeys import METRICS, REDIS, SETTINGS
from daemon.auth import require_api
from daemon.delivery import outbox
from daemon.delivery.outbox import DeadLetter
from daemon.errors import error_response, json_response
from daemon.validation import FieldError

log = structlog.get_logger("triaged.delivery")

_MAX_LIMIT: Final = 500


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/deliveries/dead", list_dead)
    app.router.add_post("/api/v1/deliveries/dead/redrive", redrive_all)
    app.router.add_post("/api/v1/deliveries/dead/{id}/redrive", redrive_one)


def dead_view(dead: DeadLetter) -> dict[str, Any]:
    n = dead.notification
    return {
        "id": dead.id,
        "reason": dead.reason,
        "cause": dead.cause,
        "attempts": dead.attempts,
        "status": dead.status,
        "failed_at": None
        if dead.failed_at is None
        else datetime.fromtimestamp(dead.failed_at, UTC),
        "incident_id": n.incident_id if n else None,
        "channel": n.channel if n else None,
        "target": n.target if n else None,
        "transition": n.transition if n else None,
        "idempotency_key": n.key if n else None,
        "notification": msgspec.to_builtins(n) if n else None,
    }


async def list_dead(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    query = request.query
    unknown = sorted(set(query) - {"limit", "cursor"})
    errors = [FieldError(name, "unknown query parameter") for name in unknown]
    limit_text = query.get("limit", "100")
    limit = int(limit_text) if limit_text.isdigit() else 0
    if not 1 <= limit <= _MAX_LIMIT:
        errors.append(FieldError("limit", f"an integer between 1 and {_MAX_LIMIT}"))
    cursor = query.get("cursor") or None
    if cursor is not None and not outbox.ENTRY_ID.match(cursor):
        errors.append(FieldError("cursor", "not a cursor from a previous page"))
    if errors:
        return error_response(400, "invalid query", errors)
    page, next_cursor = await outbox.list_dead(request.app[REDIS], limit=limit, before=cursor)
    return json_response({"dead": [dead_view(d) for d in page], "next": next_cursor})


async def redrive_one(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    entry_id = request.match_info["id"]
    if not outbox.ENTRY_ID.match(entry_id):
        return _no_such(entry_id)
    [result] = await outbox.redrive(request.app[REDIS], [entry_id])
    if result == outbox.UNKNOWN:
        return _no_such(entry_id)
    if result == outbox.NOT_REDRIVABLE:
        problem = FieldError("id", f"dead letter {entry_id} holds no notification (undecodable)")
        return error_response(409, "nothing to redrive", [problem])
    return _redriven(request, 1)


async def redrive_all(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    return _redriven(request, await outbox.redrive_all(request.app[REDIS]))


def _redriven(request: web.Request, count: int) -> web.Response:
    request.app[METRICS].delivery_redriven.inc(count)
    log.info("dead_letters_redriven", count=count)
    return json_response({"redriven": count})


def _no_such(entry_id: str) -> web.Response:
    return error_response(404, "not found", [FieldError("id", f"no dead letter {entry_id!r}")])
