"""Heartbeats through the real app: a missed check-in opens an incident, the next one
resolves it, and bad check-ins are refused."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]


async def heartbeat_incidents(client: Client, status: str) -> list[dict[str, Any]] | None:
    body = await (await client.get("/api/v1/incidents", params={"status": status})).json()
    found = [i for i in body["incidents"] if i["key"] == "service=backup-job"]
    return found or None


async def test_missed_heartbeat_opens_and_late_check_in_resolves(client: Client) -> None:
    response = await client.post("/api/v1/heartbeats/backup-job", json={"interval": "1s"})
    assert response.status == 202
    assert (await response.json())["interval"] == 1.0
    [incident] = await eventually(
        lambda: heartbeat_incidents(client, "triggered"), within=8, what="missed heartbeat incident"
    )
    assert incident["title"] == "heartbeat backup-job missed"
    # A late check-in (no interval: the known one is kept) resolves it.
    assert (await client.post("/api/v1/heartbeats/backup-job")).status == 202
    [resolved] = await eventually(lambda: heartbeat_incidents(client, "resolved"), within=8)
    assert resolved["id"] == incident["id"]


async def test_regular_check_ins_raise_nothing(client: Client) -> None:
    for _ in range(3):
        assert (await client.post("/api/v1/heartbeats/steady?interval=1m")).status == 202
    body = await (await client.get("/api/v1/incidents")).json()
    assert body["incidents"] == []


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "field"),
    [
        ("/api/v1/heartbeats/new-job", {}, 400, "interval"),
        ("/api/v1/heartbeats/x?interval=soon", {}, 400, "interval"),
        ("/api/v1/heartbeats/x", {"json": {"interval": 5}}, 400, "interval"),
        ("/api/v1/heartbeats/x", {"json": {"every": "5m"}}, 400, "every"),
        (
            "/api/v1/heartbeats/x",
            {"data": b"5m", "headers": {"Content-Type": "text/plain"}},
            415,
            "Content-Type",
        ),
        ("/api/v1/heartbeats/bad%20name?interval=1m", {}, 400, "name"),
    ],
)
async def test_bad_check_ins(
    client: Client, path: str, kwargs: dict[str, Any], status: int, field: str
) -> None:
    response = await client.post(path, **kwargs)
    assert response.status == status
    assert field in [e["field"] for e in (await response.json())["errors"]]
