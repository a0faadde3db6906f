"""An alert's incident reaches its group's webhook through the whole daemon: routed,
announced on opening, announced again on resolution, signed, once per transition."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from daemon.app import create_app
from tests.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.payloads import am_alert, am_webhook
from tests.receiver import Receiver
from tests.waiting import eventually

SECRET = b"hook-secret"


async def test_routed_incident_is_announced_signed_on_open_and_resolve_despite_a_silence(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        received.append(
            {
                "valid": hmac.compare_digest(request.headers["X-Triaged-Signature"], expected),
                "event": request.headers["X-Triaged-Event"],
                "key": request.headers["Idempotency-Key"],
                "body": await request.json(),
            }
        )
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    async with TestServer(receiver) as server:
        (tmp_path / "routing.yaml").write_text(
            "groups:\n  - name: triage-queue\n  - name: payments\n    channels: [pay-hook]\n"
            "route:\n  group: triage-queue\n  routes:\n"
            "    - matchers: ['service=\"payments\"']\n      group: payments\n"
        )
        hook_url = server.make_url("/hook")
        settings = make_settings(
            "routing_file: routing.yaml\n"
            "server: {public_url: 'https://triaged.example'}\n"
            "channels:\n"
            f"  - {{name: pay-hook, type: webhook, url: '{hook_url}', secret: hook-secret}}\n"
        )
        async with TestClient(TestServer(create_app(settings))) as client:
            labels = {"alertname": "CardDeclines", "service": "payments"}
            started = time.time() - 60
            firing = am_webhook([am_alert(labels, starts_at=started)])
            assert (await client.post("/api/v1/alerts/alertmanager", json=firing)).status == 202
            await eventually(lambda: _count(received, 1), what="the opening notification")
            # A silence starting now does not hide the resolution of what was announced.
            silence = {
                "matchers": ['service="payments"'],
                "duration": "1h",
                "created_by": "bob",
                "comment": "deploy",
            }
            assert (await client.post("/api/v1/silences", json=silence)).status == 201
            resolved = am_webhook(
                [am_alert(labels, status="resolved", starts_at=started, ends_at=time.time())]
            )
            assert (await client.post("/api/v1/alerts/alertmanager", json=resolved)).status == 202
            await eventually(lambda: _count(received, 2), what="the resolution notification")
            incident_id = received[0]["body"]["incident"]["id"]
            detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert [r["event"] for r in received] == ["opened", "resolved"]
    assert all(r["valid"] for r in received), "every body carries a valid signature"
    assert len({r["key"] for r in received}) == 2
    assert (
        received[0]["body"]["incident"]["url"]
        == f"https://triaged.example/api/v1/incidents/{incident_id}"
    )
    deliveries = [e for e in detail["timeline"] if e["kind"] == "delivery"]
    assert [d["data"]["outcome"] for d in deliveries] == ["delivered", "delivered"]


async def _count(received: list[dict[str, Any]], n: int) -> bool:
    return len(received) >= n


async def test_an_alert_still_firing_when_its_silence_ends_is_announced(
    make_settings: SettingsFactory, tmp_path: Path, receiver: Receiver
) -> None:
    """Muted by a silence, an incident is recorded but nobody is told; when the silence
    runs out (on the injected clock) and the alert still fires, the group hears of it."""
    (tmp_path / "routing.yaml").write_text(
        "groups:\n  - name: payments\n    channels: [pay-hook]\nroute:\n  group: payments\n"
    )
    clock = ManualClock()
    settings = make_settings(
        "routing_file: routing.yaml\n"
        f"channels:\n  - {{name: pay-hook, type: webhook, url: '{receiver.url()}'}}\n",
        clock=clock,
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        silence = {
            "matchers": ['service="payments"'],
            "duration": "1h",
            "created_by": "bob",
            "comment": "deploy",
        }
        assert (await client.post("/api/v1/silences", json=silence)).status == 201
        labels = {"alertname": "CardDeclines", "service": "payments"}
        firing = am_webhook([am_alert(labels, starts_at=clock.now - 60)])
        assert (await client.post("/api/v1/alerts/alertmanager", json=firing)).status == 202

        async def muted() -> dict[str, Any] | None:
            body = await (await client.get("/api/v1/incidents")).json()
            return body["incidents"][0] if body["incidents"] else None

        incident = await eventually(muted, what="the muted incident")
        assert incident["suppressed_by"]
        await asyncio.sleep(1.5)  # a scheduler tick inside the silence: still quiet
        assert receiver.requests == []
        clock.advance(3600)

        async def announced() -> bool:
            return receiver.events()["opened"] == 1

        await eventually(announced, what="the opening announced when the silence ended")
        detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert detail["suppressed_by"] == []
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.index("unsuppressed") < kinds.index("delivery")
    [request] = receiver.requests
    assert json.loads(request.body)["incident"]["id"] == incident["id"]
