"""Vendor senders through the real app: PagerDuty's own path with acknowledge and
resolve, Alerta's own path, and Amazon SNS subscriptions and topic allow-lists."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon.app import create_app
from tests.conftest import SettingsFactory
from tests.stored import last_ingest_id
from tests.unit.test_source_cloudwatch import TOPIC, alarm, confirmation, notification
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]
ROUTING_KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"


async def only_incident(client: Client, status: str) -> dict[str, Any] | None:
    body = await (await client.get("/api/v1/incidents", params={"status": status})).json()
    return body["incidents"][0] if body["incidents"] else None


async def test_pagerduty_enqueue_trigger_acknowledge_resolve(client: Client) -> None:
    trigger = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "disk-full-db-1",
        "payload": {
            "summary": "Disk full on db-1",
            "source": "db-1",
            "severity": "critical",
            "component": "postgres",
        },
    }
    response = await client.post("/v2/enqueue", json=trigger)
    assert response.status == 202
    assert await response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "disk-full-db-1",
    }
    opened = await eventually(lambda: only_incident(client, "triggered"))
    assert opened["priority"] == "P2"
    ack = {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "disk-full-db-1"}
    assert (await client.post("/v2/enqueue", json=ack)).status == 202
    acknowledged = await eventually(lambda: only_incident(client, "acknowledged"))
    assert acknowledged["id"] == opened["id"]
    resolve = {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "disk-full-db-1"}
    assert (await client.post("/api/v1/alerts/pagerduty", json=resolve)).status == 202
    resolved = await eventually(lambda: only_incident(client, "resolved"))
    assert resolved["id"] == opened["id"]


async def test_alerta_own_path(client: Client) -> None:
    body = {
        "resource": "web01",
        "event": "HttpError",
        "environment": "Production",
        "severity": "major",
        "service": ["Website"],
        "text": "HTTP 500 rate high",
    }
    response = await client.post("/api/alert", json=body)
    assert response.status == 202
    incident = await eventually(lambda: only_incident(client, "triggered"))
    assert incident["source"] == "alerta"


async def test_sns_subscription_is_recorded_and_unlisted_topics_refused(
    make_settings: SettingsFactory, aredis: Redis
) -> None:
    settings = make_settings(f"sources:\n  cloudwatch:\n    allowed_origins: ['{TOPIC}']\n")
    async with TestClient(TestServer(create_app(settings))) as client:
        text = {"Content-Type": "text/plain; charset=UTF-8"}
        response = await client.post(
            "/api/v1/alerts/cloudwatch", data=json.dumps(confirmation()), headers=text
        )
        assert response.status == 202
        listing = await (await client.get("/api/v1/sources/cloudwatch/subscriptions")).json()
        [pending] = listing["subscriptions"]
        assert (pending["origin"], pending["status"]) == (TOPIC, "pending")
        assert pending["subscribe_url"].startswith("https://sns.eu-west-1.amazonaws.com/")
        alarm_delivery = json.dumps(notification(alarm()))
        response = await client.post("/api/v1/alerts/cloudwatch", data=alarm_delivery, headers=text)
        assert response.status == 202
        assert (await response.json())["accepted"] == 1
        stranger = json.dumps(
            {**notification(alarm()), "TopicArn": "arn:aws:sns:us-east-1:1:other"}
        )
        appended = await last_ingest_id(aredis)
        assert appended != "0-0", "the allowed topic's alarm is stored"
        response = await client.post("/api/v1/alerts/cloudwatch", data=stranger, headers=text)
        assert response.status == 403
        assert (await response.json())["errors"][0]["field"] == "origin"
        assert await last_ingest_id(aredis) == appended, "the other topic's alarm is not"
