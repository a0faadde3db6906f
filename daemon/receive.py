"""Receive: authenticate, bound, decode and normalise, then enqueue; answer 202.

Nothing is written before the whole request has been validated, so a rejected request
leaves no trace in the store; an accepted one is in the stream before the 202 is sent.
"""

from __future__ import annotations

import time

import structlog
from aiohttp import web

from daemon.appkeys import APPENDER, METRICS, SETTINGS
from daemon.auth import unauthorized
from daemon.enqueue import StoreUnavailable, encode_events
from daemon.errors import error_response, json_response
from daemon.sources import ADAPTERS, PROMETHEUS, Adapter, PayloadError
from daemon.validation import FieldError

log = structlog.get_logger("triaged.receive")

_RETRY_AFTER = {"Retry-After": "5"}


async def receive_source(request: web.Request) -> web.Response:
    source = request.match_info["source"]
    adapter = ADAPTERS.get(source)
    if adapter is None:
        known = ", ".join(sorted(ADAPTERS))
        return error_response(
            404, "unknown source", [FieldError("source", f"{source!r}; known: {known}")]
        )
    return await _receive(request, source, adapter)


async def receive_prometheus(request: web.Request) -> web.Response:
    return await _receive(request, "prometheus", PROMETHEUS)


async def _receive(request: web.Request, source: str, adapter: Adapter) -> web.Response:
    settings = request.app[SETTINGS]
    metrics = request.app[METRICS]
    rejected = _check_request(request, source, adapter)
    if rejected is not None:
        metrics.requests_rejected.labels(source, str(rejected.status)).inc()
        return rejected
    body = await request.read()
    received_at = time.time()
    try:
        received = adapter.parse(body, received_at, settings.limits)
    except PayloadError as exc:
        metrics.requests_rejected.labels(source, str(exc.status)).inc()
        log.info("payload_rejected", source=source, status=exc.status, problems=len(exc.errors))
        return error_response(exc.status, exc.title, exc.errors)
    events = received.events
    if events:
        try:
            await request.app[APPENDER].append(encode_events(source, events))
        except StoreUnavailable as exc:
            metrics.alerts_received.labels(source, "unavailable").inc(len(events))
            metrics.requests_rejected.labels(source, "503").inc()
            log.warning("store_unavailable", source=source, error=str(exc))
            return error_response(
                503, "store unavailable", [FieldError("(store)", str(exc))], headers=_RETRY_AFTER
            )
    metrics.alerts_received.labels(source, "accepted").inc(len(events))
    return json_response(received.reply or {"accepted": len(events)}, status=202)


def _check_request(request: web.Request, source: str, adapter: Adapter) -> web.Response | None:
    """Auth, size and content type: everything decidable before reading the body."""
    settings = request.app[SETTINGS]
    denied = unauthorized(settings.tokens_for(source), request)
    if denied is not None:
        return denied
    limit = settings.config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return error_response(
            413,
            "request body too large",
            [FieldError("(body)", f"{request.content_length} bytes, at most {limit}")],
        )
    if request.content_type not in adapter.content_types:
        expected = " or ".join(sorted(adapter.content_types))
        return error_response(
            415,
            "unsupported content type",
            [FieldError("Content-Type", f"{request.content_type!r}; send {expected}")],
        )
    return None
