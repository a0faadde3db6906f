"""Amazon SNS subscription confirmations.

SNS sends a ``SubscriptionConfirmation`` with a URL that must be visited before it
delivers anything. triaged records it (and logs it) for the operator; with
``sources.cloudwatch.confirm_subscriptions: true`` it visits the URL itself. Either way
the pending or confirmed subscriptions are listed at
``GET /api/v1/sources/{source}/subscriptions``.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

import aiohttp
import msgspec
import structlog
from aiohttp import web

from daemon import keys
from daemon.appkeys import REDIS, SETTINGS
from daemon.auth import require_api
from daemon.errors import json_response

log = structlog.get_logger("triaged.subscriptions")

CONFIRMATIONS = web.AppKey("subscription_confirmations", set[asyncio.Task[None]])
"""Confirmation visits in flight (held so they are not garbage-collected mid-way)."""


class Subscription(msgspec.Struct):
    source: str
    origin: str
    subscribe_url: str
    received_at: float
    status: str = "pending"  # pending | confirmed | failed
    detail: str = ""


def _key(source: str) -> str:
    return f"{keys.PREFIX}subscriptions:{source}"


async def record(app: web.Application, source: str, origin: str, url: str) -> None:
    subscription = Subscription(
        source=source, origin=origin, subscribe_url=url, received_at=app[SETTINGS].clock()
    )
    await app[REDIS].hset(_key(source), origin or url, msgspec.json.encode(subscription))
    log.warning("subscription_pending", source=source, origin=origin, subscribe_url=url)
    config = app[SETTINGS].config.sources.get(source)
    if config is not None and config.confirm_subscriptions:
        confirm = asyncio.create_task(_confirm(app, subscription))
        app[CONFIRMATIONS].add(confirm)
        confirm.add_done_callback(app[CONFIRMATIONS].discard)


async def _confirm(app: web.Application, subscription: Subscription) -> None:
    """Visit the SubscribeURL (https only, as SNS sends it) and record the outcome."""
    status, detail = "failed", ""
    if urlparse(subscription.subscribe_url).scheme != "https":
        detail = "not an https URL; not visited"
    else:
        try:
            timeout = aiohttp.ClientTimeout(total=10)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(subscription.subscribe_url) as response,
            ):
                status = "confirmed" if response.status == 200 else "failed"
                detail = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            detail = str(exc) or type(exc).__name__
    done = msgspec.structs.replace(subscription, status=status, detail=detail)
    await app[REDIS].hset(
        _key(subscription.source),
        subscription.origin or subscription.subscribe_url,
        msgspec.json.encode(done),
    )
    log.info("subscription_confirmation", source=subscription.source, status=status, detail=detail)


async def listing(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    raw = await request.app[REDIS].hvals(_key(request.match_info["source"]))
    items = [msgspec.json.decode(r) for r in raw]
    return json_response({"subscriptions": items})
