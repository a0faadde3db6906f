"""Operations endpoints: liveness, readiness, metrics, and the published schemas."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from daemon import openapi
from daemon.appkeys import METRICS, REDIS, WORKERS
from daemon.errors import json_response
from daemon.sources.generic import GenericAlert, GenericBatch
from daemon.validation import mark_times

_WORKER_STALL_SECONDS = 30.0


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    problems: list[str] = []
    try:
        await request.app[REDIS].ping()
    except (RedisError, OSError) as exc:
        problems.append(f"redis: {exc}")
    workers = request.app[WORKERS]
    now = time.monotonic()
    stalled = [w.consumer for w in workers if now - w.last_loop_at > _WORKER_STALL_SECONDS]
    if not workers:
        problems.append("no pipeline workers")
    elif stalled:
        problems.append(f"workers stalled: {', '.join(stalled)}")
    if problems:
        return json_response({"status": "not ready", "problems": problems}, status=503)
    return json_response({"status": "ready", "workers": len(workers)})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


@cache
def _openapi_body() -> bytes:
    return msgspec.json.encode(openapi.build())


@cache
def generic_schema() -> dict[str, Any]:
    (one, many), defs = msgspec.json.schema_components([GenericAlert, GenericBatch])
    mark_times([GenericAlert, GenericBatch], defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "triaged generic alert",
        "oneOf": [one, many],
        "$defs": defs,
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=_openapi_body(), content_type="application/json")


async def generic_alert_schema(request: web.Request) -> web.Response:
    return json_response(generic_schema())
