"""The published OpenAPI document is valid and covers every route the app serves."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from daemon.sources import ADAPTERS

Client = TestClient[web.Request, web.Application]


async def test_openapi_is_valid_and_lists_every_route(client: Client) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    validate(spec)
    served = {
        (resource.canonical, route.method.lower())
        for resource in client.app.router.resources()
        for route in resource
        if route.method != "HEAD"
    }
    documented = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    # /api/v1/alerts/{source} is served by one route and documented once per source.
    served.discard(("/api/v1/alerts/{source}", "post"))
    assert served <= documented, served - documented
    for source in ADAPTERS:
        assert "requestBody" in spec["paths"][f"/api/v1/alerts/{source}"]["post"]
    for path in ("/api/v2/alerts", "/v2/enqueue", "/api/alert"):
        assert "429" in spec["paths"][path]["post"]["responses"]


async def test_published_schemas_say_which_strings_are_times(client: Client) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    starts = spec["components"]["schemas"]["WebhookAlert"]["properties"]["startsAt"]
    assert {"type": "string", "format": "date-time"} in starts["anyOf"]
    generic = await (await client.get("/api/v1/schemas/generic-alert.json")).json()
    ends = generic["$defs"]["GenericAlert"]["properties"]["ends_at"]
    assert {"type": "string", "format": "date-time"} in ends["anyOf"]
    assert "format" not in generic["$defs"]["GenericAlert"]["properties"]["summary"]
