"""The service topology correlation uses: which services fail together.

``PUT /api/v1/topology`` replaces the graph (validated by ``daemon.topology``: every
dependency names a known service, no service depends on itself); ``GET`` returns the one
in service. The graph is stored in Redis with a version that every daemon sharing the
store polls (``daemon.correlation_stage.TopologyRef``), so a PUT to one daemon is in
service in all of them within a second; the daemon that took the PUT switches at once.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from daemon import keys
from daemon.api_body import read_api_body
from daemon.appkeys import REDIS, SETTINGS, TOPOLOGY
from daemon.auth import require_api
from daemon.errors import error_response, json_response
from daemon.topology import TopologyDocument, problems


async def put_topology(request: web.Request) -> web.Response:
    topology = await read_api_body(request, TopologyDocument, "invalid topology")
    if isinstance(topology, web.Response):
        return topology
    if errors := problems(topology):
        return error_response(400, "invalid topology", errors)
    async with request.app[REDIS].pipeline(transaction=True) as pipe:
        pipe.set(keys.TOPOLOGY, msgspec.json.encode(topology))
        pipe.incr(keys.TOPOLOGY_VERSION)
        _, version = await pipe.execute()
    request.app[TOPOLOGY].replace(topology, int(version))
    edges = sum(len(s.depends_on) for s in topology.services.values())
    return json_response({"services": len(topology.services), "dependencies": edges})


async def get_topology(request: web.Request) -> web.Response:
    if (denied := require_api(request.app[SETTINGS].api, request)) is not None:
        return denied
    raw = await request.app[REDIS].get(keys.TOPOLOGY)
    if raw is not None:
        return web.Response(body=raw, content_type="application/json")
    configured = request.app[SETTINGS].topology
    return json_response(msgspec.to_builtins(configured) if configured else {"services": {}})


def add_routes(app: web.Application) -> None:
    app.router.add_put("/api/v1/topology", put_topology)
    app.router.add_get("/api/v1/topology", get_topology)
