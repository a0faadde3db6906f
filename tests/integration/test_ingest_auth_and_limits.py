"""Per-source credentials (bearer, basic, HMAC signature) and flood control."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon import keys
from daemon.app import create_app
from tests.conftest import SettingsFactory
from tests.payloads import am_alert, am_webhook
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]
JSON = {"Content-Type": "application/json"}
BODY = json.dumps(am_webhook([am_alert({"alertname": "X", "service": "s"})])).encode()

CREDENTIALS = """
sources:
  alertmanager:
    basic: [{username: am, password: hunter2}]
  generic:
    hmac: {secret: {env: HOOK_SECRET}, header: X-Hub-Signature-256}
"""


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {**JSON, "Authorization": f"Basic {token}"}


def signed(body: bytes, secret: bytes) -> dict[str, str]:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {**JSON, "X-Hub-Signature-256": f"sha256={digest}"}


@pytest.fixture
async def guarded(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Client]:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    settings = make_settings(CREDENTIALS)
    async with TestClient(TestServer(create_app(settings, run_workers=False))) as client:
        yield client


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        (basic("am", "hunter2"), 202, "accepted"),
        (basic("am", "wrong"), 401, "invalid credentials"),
        (basic("other", "hunter2"), 401, "invalid credentials"),
        ({**JSON, "Authorization": "Basic !!notbase64"}, 401, "invalid credentials"),
        (JSON, 401, "missing credentials"),
        ({**JSON, "Authorization": "Bearer hunter2"}, 401, "invalid credentials"),
    ],
)
async def test_basic_auth(
    guarded: Client, aredis: Redis, headers: dict[str, str], status: int, fragment: str
) -> None:
    response = await guarded.post("/api/v1/alerts/alertmanager", data=BODY, headers=headers)
    assert response.status == status
    assert fragment in await response.text()
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Basic realm="triaged"'
        assert await aredis.xlen(keys.INGEST_STREAM) == 0


@pytest.mark.parametrize(
    ("secret", "tamper", "status"),
    [(b"s3cret", False, 202), (b"guess", False, 401), (b"s3cret", True, 401)],
)
async def test_hmac_signature_over_the_raw_body(
    guarded: Client, aredis: Redis, secret: bytes, tamper: bool, status: int
) -> None:
    body = json.dumps({"service": "payments", "summary": "card declines"}).encode()
    headers = signed(body, secret)
    sent = body.replace(b"card", b"cash") if tamper else body
    response = await guarded.post("/api/v1/alerts/generic", data=sent, headers=headers)
    assert response.status == status
    if status == 401:
        assert "invalid signature" in await response.text()
        assert 'HMAC-SHA256 header="X-Hub-Signature-256"' in response.headers["WWW-Authenticate"]
        assert await aredis.xlen(keys.INGEST_STREAM) == 0


async def test_unsigned_request_to_a_signed_source_is_refused_before_reading(
    guarded: Client,
) -> None:
    response = await guarded.post("/api/v1/alerts/generic", json={"service": "x"})
    assert response.status == 401
    assert "missing credentials" in await response.text()


async def test_a_flooding_source_is_limited_while_another_is_served(
    make_settings: SettingsFactory, aredis: Redis
) -> None:
    settings = make_settings(
        "sources:\n  alertmanager:\n    rate: {alerts_per_second: 20, burst: 40}\n"
    )
    async with TestClient(TestServer(create_app(settings))) as client:

        async def flood(i: int) -> int:
            alerts = [
                am_alert({"alertname": f"Flood{i}", "service": "noisy", "n": str(j)})
                for j in range(10)
            ]
            response = await client.post("/api/v1/alerts/alertmanager", json=am_webhook(alerts))
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
            return response.status

        async def calm(i: int) -> int:
            response = await client.post("/api/v1/alerts/generic", json={"service": f"quiet{i}"})
            return response.status

        results = await asyncio.gather(
            *(flood(i) for i in range(30)), *(calm(i) for i in range(30))
        )
        flood_statuses, calm_statuses = results[:30], results[30:]
        assert flood_statuses.count(202) <= 5, "the burst admits at most 40 of 300 alerts"
        assert flood_statuses.count(429) >= 25
        assert calm_statuses == [202] * 30

        async def all_quiet_incidents() -> bool:
            body = await (await client.get("/api/v1/incidents", params={"limit": "500"})).json()
            quiet = [i for i in body["incidents"] if i["key"].startswith("service=quiet")]
            return len(quiet) == 30

        assert await eventually(all_quiet_incidents, what="30 incidents of the calm source")


async def test_one_flooding_token_is_limited_while_another_token_of_the_source_is_served(
    make_settings: SettingsFactory, aredis: Redis
) -> None:
    settings = make_settings(
        "sources:\n  generic:\n    tokens: [noisy-token, calm-token]\n"
        "    token_rate: {alerts_per_second: 0.01, burst: 5}\n"
    )
    async with TestClient(TestServer(create_app(settings, run_workers=False))) as client:

        async def post(token: str, i: int) -> int:
            response = await client.post(
                "/api/v1/alerts/generic",
                json={"service": f"s{i}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
            return response.status

        noisy = [await post("noisy-token", i) for i in range(20)]
        calm = [await post("calm-token", i) for i in range(5)]
    assert noisy.count(202) == 5, "the noisy token's burst"
    assert noisy.count(429) == 15
    assert calm == [202] * 5, "the other token's bucket is its own"
    assert await aredis.xlen(keys.INGEST_STREAM) == 10
