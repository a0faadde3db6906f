"""Receive: authenticate, bound, decode and normalise, then enqueue; answer 202.

Nothing is written before the whole request has been validated, so a rejected request
leaves no trace in the store; an accepted one is in the stream before the 202 is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from daemon import subscriptions
from daemon.appkeys import APPENDER, METRICS, RATE_LIMITER, SETTINGS
from daemon.auth import header_identity, header_problem, signature_valid, unauthorized
from daemon.config import SourceConfig
from daemon.credentials import Credentials
from daemon.enqueue import StoreUnavailable, encode_events
from daemon.errors import error_response, json_response
from daemon.metrics import Metrics
from daemon.sources import ADAPTERS, PROMETHEUS, Adapter, PayloadError
from daemon.validation import FieldError

log = structlog.get_logger("triaged.receive")

_RETRY = {"Retry-After": "5"}


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


def vendor_path(source: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler for a vendor's own path (PagerDuty's /v2/enqueue, Alerta's /api/alert)."""
    adapter = ADAPTERS[source]

    async def handler(request: web.Request) -> web.Response:
        return await _receive(request, source, adapter)

    return handler


def origin_allowed(config: SourceConfig | None, origin: str | None) -> bool:
    """An allow-list of sender identities (SNS topic ARNs), when one is configured."""
    if config is None or not config.allowed_origins:
        return True
    return origin is not None and origin in config.allowed_origins


async def _receive(request: web.Request, source: str, adapter: Adapter) -> web.Response:
    with structlog.contextvars.bound_contextvars(source=source):
        return await _receive_bound(request, source, adapter)


async def _receive_bound(request: web.Request, source: str, adapter: Adapter) -> web.Response:
    settings = request.app[SETTINGS]
    metrics = request.app[METRICS]
    limiter = request.app[RATE_LIMITER]
    credentials = settings.credentials_for(source)
    identity = header_identity(credentials, request) if credentials.required else None
    rejected = _before_body(request, adapter, credentials, identity)
    if rejected is None and limiter.retry_after(source, identity, 0):
        rejected = _rate_limited(limiter.retry_after(source, identity, 0))
    if rejected is not None:
        return _refuse(metrics, source, rejected)
    body = await request.read()
    if credentials.required and identity is None:
        if not signature_valid(credentials, request, body):
            problem = (
                "invalid signature" if _signed(credentials, request) else header_problem(request)
            )
            return _refuse(metrics, source, unauthorized(credentials, problem))
        identity = "signature"
    received_at = settings.clock()
    try:
        received = adapter.parse(body, received_at, settings.limits)
    except PayloadError as exc:
        log.info("payload_rejected", source=source, status=exc.status, problems=len(exc.errors))
        return _refuse(metrics, source, error_response(exc.status, exc.title, exc.errors))
    if not origin_allowed(settings.config.sources.get(source), received.origin):
        refused = [
            FieldError("origin", f"{received.origin!r} is not in sources.{source}.allowed_origins")
        ]
        return _refuse(metrics, source, error_response(403, "origin not allowed", refused))
    if received.subscribe_url is not None:
        await subscriptions.record(
            request.app, source, received.origin or "", received.subscribe_url
        )
    events = received.events
    wait = limiter.retry_after(source, identity, len(events))
    if wait:
        metrics.alerts_received.labels(source, "rate_limited").inc(len(events))
        return _refuse(metrics, source, _rate_limited(wait))
    if events:
        try:
            await request.app[APPENDER].append(encode_events(source, events))
        except StoreUnavailable as exc:
            metrics.alerts_received.labels(source, "unavailable").inc(len(events))
            log.warning("store_unavailable", source=source, error=str(exc))
            outage = [FieldError("(store)", str(exc))]
            return _refuse(
                metrics, source, error_response(503, "store unavailable", outage, headers=_RETRY)
            )
    metrics.alerts_received.labels(source, "accepted").inc(len(events))
    return json_response(received.reply or {"accepted": len(events)}, status=202)


def _refuse(metrics: Metrics, source: str, response: web.Response) -> web.Response:
    metrics.requests_rejected.labels(source, str(response.status)).inc()
    return response


def _rate_limited(wait: int) -> web.Response:
    return error_response(
        429,
        "rate limited",
        [FieldError("(source)", f"over this source's alert rate; retry in {wait}s")],
        headers={"Retry-After": str(wait)},
    )


def _signed(credentials: Credentials, request: web.Request) -> bool:
    return credentials.hmac is not None and credentials.hmac.header in request.headers


def _before_body(
    request: web.Request, adapter: Adapter, credentials: Credentials, identity: str | None
) -> web.Response | None:
    """Auth (unless only a body signature can prove it), size and content type."""
    if credentials.required and identity is None and not _signed(credentials, request):
        return unauthorized(credentials, header_problem(request))
    limit = request.app[SETTINGS].config.server.max_body_bytes
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
