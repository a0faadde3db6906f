"""Routing and escalation through the real app and Redis, with the scheduler's clock
driven by the test."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon import keys
from daemon.app import create_app
from daemon.escalations import escalate_due
from daemon.metrics import Metrics
from daemon.routing_stage import RoutingRef
from tests.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.payloads import am_alert, am_webhook
from tests.receiver import Receiver
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]

ROUTING = """
groups:
  - name: triage-queue
  - name: database
    escalation_policy: page
  - name: sre
escalation_policies:
  - name: page
    levels:
      - {timeout: 10m, targets: ["person:alice"]}
      - {timeout: 15m, targets: ["person:bob"]}
route:
  group: triage-queue
  routes:
    - name: databases
      matchers: ['service=~"postgres|mysql"']
      group: database
"""


@pytest.fixture
async def routed(make_settings: SettingsFactory, tmp_path: Path) -> Any:
    (tmp_path / "routing.yaml").write_text(ROUTING)
    settings = make_settings("routing_file: routing.yaml\n")
    app = create_app(settings)
    async with TestClient(TestServer(app)) as client:
        yield client, RoutingRef(settings.routing)


async def open_incident(client: Client, service: str) -> dict[str, Any]:
    alert = am_alert({"alertname": "Down", "service": service})
    assert (
        await client.post("/api/v1/alerts/alertmanager", json=am_webhook([alert]))
    ).status == 202

    async def found() -> dict[str, Any] | None:
        body = await (await client.get("/api/v1/incidents")).json()
        match = [i for i in body["incidents"] if i["key"] == f"service={service}"]
        return match[0] if match else None

    return await eventually(found)


async def detail(client: Client, incident_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    return result


def created(incident: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(incident["created_at"].replace("Z", "+00:00")).timestamp()


async def test_routes_by_rule_and_defaults_to_the_triage_queue(routed: Any) -> None:
    client, _ = routed
    db = await open_incident(client, "postgres")
    other = await open_incident(client, "frontend")
    assert (db["group"], db["triage"]["group"]["route"]) == ("database", "root/databases")
    assert db["triage"]["route"]["decided_by"] == "rule"
    assert (other["group"], other["triage"]["route"]["decided_by"]) == ("triage-queue", "default")
    metrics = await (await client.get("/metrics")).text()
    assert 'triaged_route_hits_total{route="root/databases"} 1.0' in metrics


async def test_unacknowledged_incident_escalates_on_time_once(
    routed: Any, aredis: Redis, redis_url: str
) -> None:
    client, routing = routed
    incident = await open_incident(client, "mysql")
    t0 = created(incident)
    metrics = Metrics()
    assert await escalate_due(aredis, routing, metrics, t0 + 1) == 1, "level 1 pages at once"
    assert await escalate_due(aredis, routing, metrics, t0 + 1 + 599) == 0, "not before the timeout"
    # Two daemons' schedulers reach the due time together: the step happens once.
    other = Redis.from_url(redis_url)
    try:
        results = await asyncio.gather(
            escalate_due(aredis, routing, metrics, t0 + 1 + 600),
            escalate_due(other, routing, Metrics(), t0 + 1 + 600),
        )
    finally:
        await other.aclose()
    assert sorted(results) == [0, 1]
    after = await detail(client, incident["id"])
    steps = [e for e in after["timeline"] if e["kind"] == "escalate"]
    assert [(s["data"]["level"], s["data"]["people"]) for s in steps] == [
        (1, ["alice"]),
        (2, ["bob"]),
    ]
    assert after["escalation_level"] == 2


async def test_acknowledged_incident_stops_escalating(routed: Any, aredis: Redis) -> None:
    client, routing = routed
    incident = await open_incident(client, "postgres")
    t0 = created(incident)
    await escalate_due(aredis, routing, Metrics(), t0 + 1)
    response = await client.post(
        f"/api/v1/incidents/{incident['id']}/acknowledge", json={"actor": "alice"}
    )
    assert response.status == 200
    assert await aredis.zscore(keys.ESCALATIONS, incident["id"]) is None
    assert await escalate_due(aredis, routing, Metrics(), t0 + 3600) == 0
    steps = [
        e for e in (await detail(client, incident["id"]))["timeline"] if e["kind"] == "escalate"
    ]
    assert len(steps) == 1


async def test_manual_escalate_and_reassign(routed: Any) -> None:
    client, _ = routed
    incident = await open_incident(client, "postgres")
    url = f"/api/v1/incidents/{incident['id']}"
    response = await client.post(f"{url}/escalate", json={"actor": "carol"})
    assert (response.status, (await response.json())["escalation_level"]) == (200, 1)
    response = await client.post(
        f"{url}/reassign", json={"actor": "carol", "group": "sre", "reason": "not the DB"}
    )
    body = await response.json()
    assert (response.status, body["group"], body["escalation_level"]) == (200, "sre", 0)
    assert body["triage"]["group"]["decided_by"] == "operator"
    response = await client.post(f"{url}/escalate", json={"actor": "carol"})
    assert response.status == 409, "sre has no escalation policy"
    response = await client.post(f"{url}/reassign", json={"actor": "carol", "group": "nobody"})
    assert response.status == 400
    response = await client.post(f"{url}/reassign", json={"actor": "carol"})
    assert response.status == 400
    kinds = [e["kind"] for e in (await detail(client, incident["id"]))["timeline"]]
    assert kinds == ["open", "classify", "procedure", "escalate", "reassign"]


CLOCKED = """
groups:
  - name: database
    channels: [db-hook]
    escalation_policy: page
escalation_policies:
  - name: page
    levels:
      - {timeout: 10m, targets: ["group:database"]}
      - {timeout: 15m, targets: ["group:database"]}
      - {timeout: 30m, targets: ["group:database"]}
route:
  group: database
"""

TICK = 1.5  # the scheduler looks at the clock once a second


async def test_the_scheduler_escalates_on_the_injected_clock_until_acknowledged(
    make_settings: SettingsFactory, tmp_path: Path, receiver: Receiver
) -> None:
    """The real scheduler loop on a ManualClock: level 1 at the opening, level 2 exactly
    at its timeout and not a second before, nothing after the acknowledgement."""
    (tmp_path / "routing.yaml").write_text(CLOCKED)
    clock = ManualClock()
    settings = make_settings(
        "routing_file: routing.yaml\n"
        f"channels:\n  - {{name: db-hook, type: webhook, url: '{receiver.url()}'}}\n",
        clock=clock,
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        incident = await open_incident(client, "postgres")
        assert created(incident) == clock.now
        url = f"/api/v1/incidents/{incident['id']}"

        async def pages(*events: str) -> bool:
            return all(receiver.events()[e] == 1 for e in events)

        await eventually(lambda: pages("opened", "escalated:1"), what="level 1 at the opening")
        clock.advance(599)
        await asyncio.sleep(TICK)
        assert (await detail(client, incident["id"]))["escalation_level"] == 1
        clock.advance(1)
        await eventually(lambda: pages("escalated:2"), what="level 2 at 10 minutes")
        after = await detail(client, incident["id"])
        assert after["escalation_level"] == 2
        [_, second] = [e for e in after["timeline"] if e["kind"] == "escalate"]
        assert second["at"] == "2026-01-01T00:10:00Z"
        response = await client.post(f"{url}/acknowledge", json={"actor": "alice"})
        assert response.status == 200
        await eventually(lambda: pages("acknowledged"), what="the acknowledgement announced")
        clock.advance(3600)
        await asyncio.sleep(TICK)
        final = await detail(client, incident["id"])
    assert final["escalation_level"] == 2
    assert [e["kind"] for e in final["timeline"]].count("escalate") == 2
    assert receiver.events() == Counter(
        {"opened": 1, "escalated:1": 1, "escalated:2": 1, "acknowledged": 1}
    )
    assert all(count == 1 for count in receiver.delivered().values())
