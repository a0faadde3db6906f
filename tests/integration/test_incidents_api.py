"""The incidents API over the real app: listing, paging, details and every action."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from daemon.app import create_app
from tests.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.payloads import am_alert, am_webhook
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]


async def open_incidents(
    client: Client, count: int, severity: str = "critical"
) -> list[dict[str, Any]]:
    alerts = [
        am_alert({"alertname": "Err", "service": f"svc{i}", "severity": severity})
        for i in range(count)
    ]
    assert (await client.post("/api/v1/alerts/alertmanager", json=am_webhook(alerts))).status == 202

    async def listed() -> list[dict[str, Any]] | None:
        body = await (await client.get("/api/v1/incidents", params={"limit": "500"})).json()
        found: list[dict[str, Any]] = body["incidents"]
        return found if len(found) >= count else None

    return await eventually(listed, what=f"{count} incidents")


async def act(
    client: Client, incident_id: str, action: str, **body: str | bool
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        f"/api/v1/incidents/{incident_id}/{action}", json={"actor": "alice", **body}
    )
    return response.status, await response.json()


async def test_cursor_paging_walks_every_incident_newest_first(client: Client) -> None:
    await open_incidents(client, 7)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = await (await client.get("/api/v1/incidents", params=params)).json()
        seen += [i["id"] for i in body["incidents"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [f"INC-{n}" for n in range(7, 0, -1)]


async def test_filters_combine(client: Client) -> None:
    incidents = await open_incidents(client, 4)
    status, _ = await act(client, incidents[0]["id"], "acknowledge")
    assert status == 200
    body = await (await client.get("/api/v1/incidents", params={"status": "acknowledged"})).json()
    assert [i["id"] for i in body["incidents"]] == [incidents[0]["id"]]
    body = await (
        await client.get(
            "/api/v1/incidents",
            params={"status": "triggered", "priority": "P2", "group": "triage-queue"},
        )
    ).json()
    assert len(body["incidents"]) == 3
    body = await (await client.get("/api/v1/incidents", params={"priority": "P5"})).json()
    assert body == {"incidents": [], "next": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "-3"}, "cursor"),
        ({"status": "open"}, "status"),
        ({"sort": "asc"}, "sort"),
    ],
)
async def test_bad_list_queries_name_the_parameter(
    client: Client, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/v1/incidents", params=params)
    assert response.status == 400
    assert [e["field"] for e in (await response.json())["errors"]] == [field]


async def test_lifecycle_actions_append_to_the_timeline(client: Client) -> None:
    [incident] = await open_incidents(client, 1)
    incident_id = incident["id"]
    resolve: dict[str, str | bool] = {"code": "fixed", "notes": "renewed the certificate"}
    steps: list[tuple[str, dict[str, str | bool], str]] = [
        ("acknowledge", {}, "acknowledged"),
        ("resolve", resolve, "resolved"),
        ("reopen", {}, "triggered"),
        ("resolve", resolve, "resolved"),
        ("close", {"force": True, "reason": "drill of the API"}, "closed"),
    ]
    for action, fields, status in steps:
        code, body = await act(client, incident_id, action, **fields)
        assert (code, body["status"]) == (200, status)
    code, _ = await act(client, incident_id, "note", message="root cause: expired certificate")
    assert code == 200
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    kinds = [(e["kind"], e["actor"]) for e in detail["timeline"]]
    assert kinds == [
        ("open", "triaged"),
        ("classify", "triaged"),
        ("procedure", "triaged"),
        ("acknowledge", "alice"),
        ("resolve", "alice"),
        ("reopen", "alice"),
        ("resolve", "alice"),
        ("close", "alice"),
        ("note", "alice"),
    ]
    assert detail["timeline"][-1]["message"] == "root cause: expired certificate"
    assert detail["closed_at"] is not None
    assert detail["acknowledged_at"] is None
    assert detail["alerts"][0]["labels"]["service"] == "svc0"


async def test_impossible_transitions_are_409_and_change_nothing(client: Client) -> None:
    [incident] = await open_incidents(client, 1)
    code, body = await act(client, incident["id"], "close")
    assert code == 409
    assert "it is triggered" in body["errors"][0]["message"]
    await act(client, incident["id"], "acknowledge")
    code, _ = await act(client, incident["id"], "acknowledge")
    assert code == 409
    detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert detail["status"] == "acknowledged"
    assert [e["kind"] for e in detail["timeline"]] == [
        "open",
        "classify",
        "procedure",
        "acknowledge",
    ]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/v1/incidents/INC-999/acknowledge", {"actor": "a"}, 404, "id"),
        ("/api/v1/incidents/INC-1/explode", {"actor": "a"}, 400, "action"),
        ("/api/v1/incidents/INC-1/acknowledge", {}, 400, "actor"),
        ("/api/v1/incidents/INC-1/acknowledge", {"actor": ""}, 400, "actor"),
        ("/api/v1/incidents/INC-1/acknowledge", {"actor": "a", "extra": 1}, 400, "extra"),
        ("/api/v1/incidents/INC-1/note", {"actor": "a"}, 400, "message"),
    ],
)
async def test_bad_actions_are_refused(
    client: Client, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    await open_incidents(client, 1)
    response = await client.post(path, json=body)
    assert response.status == status
    assert field in [e["field"] for e in (await response.json())["errors"]]
    detail = await (await client.get("/api/v1/incidents/INC-1")).json()
    assert detail["status"] == "triggered"
    assert [e["kind"] for e in detail["timeline"]] == ["open", "classify", "procedure"]


async def test_unknown_incident_is_404(client: Client) -> None:
    response = await client.get("/api/v1/incidents/INC-404")
    assert response.status == 404
    assert (await response.json())["error"] == "incident not found"


async def test_operations_endpoints(client: Client) -> None:
    await open_incidents(client, 1)
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert (ready.status, (await ready.json())["status"]) == (200, "ready")
    metrics = await (await client.get("/metrics")).text()
    for name in (
        'triaged_alerts_received_total{outcome="accepted",source="alertmanager"} 1.0',
        "triaged_incidents_opened_total 1.0",
        'triaged_dedup_events_total{change="new"} 1.0',
        "triaged_pipeline_end_to_end_seconds_count 1.0",
    ):
        assert name in metrics, name
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert {
        "/api/v1/alerts/alertmanager",
        "/api/v2/alerts",
        "/api/v1/incidents/{id}/{action}",
    } <= set(spec["paths"])
    schema = await (await client.get("/api/v1/schemas/generic-alert.json")).json()
    assert schema["title"] == "triaged generic alert"
    missing = await client.get("/api/v1/nothing-here")
    assert (missing.status, (await missing.json())["status"]) == (404, 404)


async def test_logs_name_the_incident_and_its_opening_alert(client: Client) -> None:
    with structlog.testing.capture_logs() as logs:
        [incident] = await open_incidents(client, 1)
    [opened] = [e for e in logs if e["event"] == "incident_opened"]
    assert opened["incident_id"] == incident["id"]
    assert opened["fingerprint"] == incident["fingerprints"][0]
    assert opened["source"] == "alertmanager"


async def test_the_injected_clock_dates_alerts_and_actions(make_settings: SettingsFactory) -> None:
    clock = ManualClock()
    opened_at = clock.now
    async with TestClient(TestServer(create_app(make_settings(clock=clock)))) as client:
        alert = {"summary": "disk full", "service": "db"}
        assert (await client.post("/api/v1/alerts/generic", json=alert)).status == 202

        async def listed() -> list[dict[str, Any]] | None:
            body = await (await client.get("/api/v1/incidents")).json()
            return body["incidents"] or None

        (incident,) = await eventually(listed, what="the incident")
        assert incident["created_at"] == "2026-01-01T00:00:00Z"
        clock.advance(90)
        status, acked = await act(client, incident["id"], "acknowledge")
        assert status == 200
        assert acked["acknowledged_at"] == "2026-01-01T00:01:30Z"
        assert clock.now - opened_at == 90
