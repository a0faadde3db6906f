"""Every error answer is JSON: ``{"error": title, "status": n, "errors": [{field, message}]}``.

Senders and operators get the same shape from a bad payload, a wrong token, an unknown
route or an unavailable store, so clients need one error path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import msgspec
import structlog
from aiohttp import web
from redis.exceptions import RedisError

from daemon.appkeys import SETTINGS
from daemon.validation import FieldError

log = structlog.get_logger("triaged.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(
    status: int,
    title: str,
    errors: Sequence[FieldError] = (),
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {
        "error": title,
        "status": status,
        "errors": [{"field": e.field, "message": e.message} for e in errors],
    }
    return json_response(body, status, headers)


async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's own HTTP exceptions (404, 405, 413 from the body limit), store
    outages (503) and bugs (500, logged with the traceback) into JSON answers."""
    try:
        return await handler(request)
    except RedisError as exc:
        log.warning("store_unavailable", path=request.path, error=str(exc))
        problem = [FieldError("(store)", str(exc))]
        return error_response(503, "store unavailable", problem, headers={"Retry-After": "5"})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        title = exc.reason.lower()
        if exc.status == 413:
            limit = request.app[SETTINGS].config.server.max_body_bytes
            return error_response(
                413, "request body too large", [FieldError("(body)", f"body exceeds {limit} bytes")]
            )
        return error_response(exc.status, title, headers=_kept_headers(exc))
    except Exception:
        log.exception("request_failed", path=request.path, method=request.method)
        return error_response(500, "internal error")


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {
        k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")
    }
