"""The service topology correlation uses: which services fail together.

``PUT /api/v1/topology`` replaces the graph (validated: every dependency names a known
service, no service depends on itself); ``GET`` returns it. The graph is stored in Redis
so every daemon sharing the store sees the same one.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from daemon import keys
from daemon.api_body import read_api_body
from daemon.appkeys import REDIS, SETTINGS
from daemon.auth import require_api
from daemon.errors import error_response, json_response
from daemon.validation import FieldError

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class Service(msgspec.Struct, forbid_unknown_fields=True):
    depends_on: Annotated[list[Name], msgspec.Meta(max_length=1000)] = []


class Topology(msgspec.Struct, forbid_unknown_fields=True):
    services: Annotated[dict[Name, Service], msgspec.Meta(max_length=100000)]


def problems(topology: Topology) -> list[FieldError]:
    errors: list[FieldError] = []
    for name, service in topology.services.items():
        for index, dependency in enumerate(service.depends_on):
            where = f"services.{name}.depends_on[{index}]"
            if dependency == name:
                errors.append(FieldError(where, "a service cannot depend on itself"))
            elif dependency not in topology.services:
                errors.append(FieldError(where, f"unknown service {dependency!r}"))
    return errors


async def put_topology(request: web.Request) -> web.Response:
    topology = await read_api_body(request, Topology, "invalid topology")
    if isinstance(topology, web.Response):
        return topology
    if errors := problems(topology):
        return error_response(400, "invalid topology", errors)
    await request.app[REDIS].set(keys.TOPOLOGY, msgspec.json.encode(topology))
    edges = sum(len(s.depends_on) for s in topology.services.values())
    return json_response({"services": len(topology.services), "dependencies": edges})


async def get_topology(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    raw = await request.app[REDIS].get(keys.TOPOLOGY)
    if raw is None:
        return json_response({"services": {}})
    return web.Response(body=raw, content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_put("/api/v1/topology", put_topology)
    app.router.add_get("/api/v1/topology", get_topology)
