"""Stakeholder subscriptions: who hears of an incident besides the group working it.

People who are not on the resolver team still need to know (the service's owner, support,
management): a subscription sends them the notices of procedures that call for it (the
major procedure: opening, each status update, resolution) through a configured channel.
Subscriptions are per service (every incident whose ``service`` label names it) or per
incident, added, listed and removed through the API:

- ``POST /api/v1/services/{service}/subscribers``, ``GET`` the same path,
  ``DELETE /api/v1/services/{service}/subscribers/{sub}?actor=...``;
- ``POST|GET /api/v1/incidents/{id}/subscribers``,
  ``DELETE /api/v1/incidents/{id}/subscribers/{sub}?actor=...`` (on the incident's timeline).

A subscription names a configured channel (webhook, Slack or e-mail: the URLs and relays
with their secrets stay in the config file) and, for an e-mail channel, may name the
recipient's address, so one relay serves many stakeholders. A webhook URL cannot be given
through the API: the daemon would post incident details wherever a token holder asked.
Notices are queued in the outbox by the process timer (``daemon.process_timers``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from email.utils import parseaddr
from typing import Annotated, Final, cast

import msgspec
import structlog
from aiohttp import web
from redis.asyncio import Redis

from daemon import keys, store
from daemon.api_body import read_api_body
from daemon.api_times import iso
from daemon.appkeys import REDIS, SETTINGS
from daemon.auth import require_api
from daemon.delivery import Notification, summarize, transition
from daemon.errors import error_response, json_response
from daemon.process_views import can_read, forbidden
from daemon.validation import FieldError
from triage.incident import Incident, TimelineEntry
from triage.process.live import Notice

log = structlog.get_logger("triaged.stakeholders")

SERVICE: Final = "service"
INCIDENT: Final = "incident"
MAX_PER_SCOPE: Final = 1000

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class NewSubscription(msgspec.Struct, forbid_unknown_fields=True):
    actor: Text
    channel: Text
    name: Text | None = None  # who this is (for the listing); default: the address or channel
    address: Annotated[str, msgspec.Meta(max_length=320)] = ""  # e-mail channels only


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    channel: str
    name: str
    address: str = ""
    created_by: str
    created_at: float


_decoder = msgspec.json.Decoder(Subscription)


def subscription_id(channel: str, address: str) -> str:
    """Stable for a channel and address, so subscribing twice is one subscription."""
    return "SUB-" + hashlib.sha256(f"{channel}\0{address}".encode()).hexdigest()[:12]


async def subscriptions(redis: Redis, scopes: Iterable[tuple[str, str]]) -> list[Subscription]:
    """Every subscription of the given ``(scope, name)`` pairs, one per channel and address."""
    wanted = [keys.subscribers(scope, name) for scope, name in scopes if name]
    if not wanted:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for key in wanted:
            pipe.hvals(key)
        found = cast("list[list[bytes]]", await pipe.execute())
    unique = {s.id: s for values in found for s in (_decoder.decode(v) for v in values)}
    return sorted(unique.values(), key=lambda s: s.id)


def incident_scopes(incident: Incident) -> list[tuple[str, str]]:
    return [(SERVICE, incident.labels.get("service", "")), (INCIDENT, incident.id)]


def notifications(
    incident: Incident,
    notices: Iterable[Notice],
    subscribers: Iterable[Subscription],
    *,
    now: float,
    url: str,
) -> list[Notification]:
    """One notification per notice and subscriber; the transition names the notice
    (``opened``, ``update:2``, ``resolved#1``) and the target the subscription, so every
    subscriber gets each notice once however often it is queued."""
    summary = summarize(incident, url=url)
    return [
        Notification(
            incident_id=incident.id,
            transition=notice_transition(notice),
            target=sub.id,
            channel=sub.channel,
            incident=summary,
            created_at=now,
            message=notice.message,
            address=sub.address,
        )
        for notice in notices
        for sub in subscribers
    ]


def notice_transition(notice: Notice) -> str:
    return transition(notice.kind, notice.number, cycle=notice.cycle)


# ---------------------------------------------------------------------------- the API


def _scope(request: web.Request) -> tuple[str, str]:
    if "service" in request.match_info:
        return SERVICE, request.match_info["service"]
    return INCIDENT, request.match_info["id"]


async def _incident_problem(request: web.Request, name: str) -> web.Response | None:
    """404 for an unknown incident, 403 for one the token may not read."""
    incident = await store.load_incident(request.app[REDIS], name)
    if incident is None:
        return error_response(
            404, "incident not found", [FieldError("id", f"no incident {name!r}")]
        )
    if not can_read(request, incident):
        return forbidden(incident, request.app[SETTINGS].process.procedures)
    return None


async def add(request: web.Request) -> web.Response:
    body = await read_api_body(request, NewSubscription, "invalid subscription")
    if isinstance(body, web.Response):
        return body
    scope, name = _scope(request)
    if scope == INCIDENT and (problem := await _incident_problem(request, name)) is not None:
        return problem
    settings = request.app[SETTINGS]
    channels = {c.name: c for c in settings.config.channels}
    channel = channels.get(body.channel)
    errors: list[FieldError] = []
    if channel is None:
        known = ", ".join(sorted(channels)) or "none configured"
        errors.append(FieldError("channel", f"unknown channel; known: {known}"))
    elif body.address and channel.type != "email":
        errors.append(
            FieldError("address", f"only for e-mail channels; {body.channel} is a {channel.type}")
        )
    elif body.address and "@" not in parseaddr(body.address)[1]:
        errors.append(FieldError("address", "not an e-mail address"))
    if errors:
        return error_response(400, "invalid subscription", errors)
    now = settings.clock()
    sub = Subscription(
        id=subscription_id(body.channel, body.address),
        channel=body.channel,
        name=body.name or body.address or body.channel,
        address=body.address,
        created_by=body.actor,
        created_at=now,
    )
    redis = request.app[REDIS]
    key = keys.subscribers(scope, name)
    if await redis.hlen(key) >= MAX_PER_SCOPE and not await redis.hexists(key, sub.id):
        return error_response(
            409, "too many subscriptions", [FieldError(scope, f"at most {MAX_PER_SCOPE}")]
        )
    entry = TimelineEntry(
        at=now,
        kind="subscribe",
        actor=body.actor,
        message=f"{sub.name} subscribed via {sub.channel}",
        data={"subscription": sub.id, "channel": sub.channel},
    )
    if not await _write(redis, scope, name, sub, entry):
        existing = await redis.hget(key, sub.id)  # subscribed already: the one on record
        return json_response(view(_decoder.decode(existing) if existing else sub))
    log.info("subscription_added", scope=scope, name=name, subscription=sub.id, actor=body.actor)
    return json_response(view(sub), status=201)


# Change a subscription and note it on the incident's timeline (if any) in one step, and
# only if it changed, so two requests adding or removing the same one log it once.
_ADD: Final = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then redis.call('RPUSHX', KEYS[2], ARGV[3]) end
return 1
"""
_REMOVE: Final = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' then redis.call('RPUSHX', KEYS[2], ARGV[2]) end
return 1
"""


async def _write(
    redis: Redis, scope: str, name: str, sub: Subscription, entry: TimelineEntry
) -> bool:
    note = store.encode(entry) if scope == INCIDENT else b""
    script = redis.register_script(_ADD)
    added = await script(
        keys=[keys.subscribers(scope, name), keys.incident_timeline(name)],
        args=[sub.id, msgspec.json.encode(sub), note],
    )
    return bool(added)


async def listing(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    scope, name = _scope(request)
    if scope == INCIDENT and (problem := await _incident_problem(request, name)) is not None:
        return problem
    found = await subscriptions(request.app[REDIS], [(scope, name)])
    return json_response({"subscribers": [view(s) for s in found]})


async def remove(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    actor = request.query.get("actor", "").strip()
    if not actor:
        return error_response(
            400, "invalid request", [FieldError("actor", "name who removes it: ?actor=...")]
        )
    scope, name = _scope(request)
    if scope == INCIDENT and (problem := await _incident_problem(request, name)) is not None:
        return problem
    sub_id = request.match_info["sub"]
    redis = request.app[REDIS]
    raw = await redis.hget(keys.subscribers(scope, name), sub_id)
    if raw is None:
        return error_response(
            404, "subscription not found", [FieldError("sub", f"no subscription {sub_id!r}")]
        )
    sub = _decoder.decode(raw)
    entry = TimelineEntry(
        at=request.app[SETTINGS].clock(), kind="unsubscribe", actor=actor,
        message=f"{sub.name} unsubscribed from {sub.channel}", data={"subscription": sub.id},
    )  # fmt: skip
    script = redis.register_script(_REMOVE)
    removed = await script(
        keys=[keys.subscribers(scope, name), keys.incident_timeline(name)],
        args=[sub_id, store.encode(entry) if scope == INCIDENT else b""],
    )
    if not removed:  # someone else removed it in between
        return error_response(
            404, "subscription not found", [FieldError("sub", f"no subscription {sub_id!r}")]
        )
    log.info("subscription_removed", scope=scope, name=name, subscription=sub_id, actor=actor)
    return json_response(view(sub))


def view(sub: Subscription) -> dict[str, object]:
    found: dict[str, object] = msgspec.to_builtins(sub)
    found["created_at"] = iso(sub.created_at)
    return found


def add_routes(app: web.Application) -> None:
    for base in ("/api/v1/services/{service}", "/api/v1/incidents/{id}"):
        app.router.add_post(f"{base}/subscribers", add)
        app.router.add_get(f"{base}/subscribers", listing)
        app.router.add_delete(f"{base}/subscribers/{{sub}}", remove)
