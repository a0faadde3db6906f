"""Ingest over the real aiohttp app and the real Redis: accepted alerts become incidents,
and every malformed request is refused with a 4xx naming the problem, storing nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon import keys
from daemon.app import create_app
from daemon.embedded_redis import EmbeddedRedis
from tests.conftest import SettingsFactory
from tests.payloads import am_alert, am_webhook, prom_alert
from tests.stored import last_ingest_id
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]
JSON = {"Content-Type": "application/json"}


async def incidents(client: Client, **query: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/incidents", params=query)
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    result: list[dict[str, Any]] = body["incidents"]
    return result


async def test_alertmanager_webhook_opens_one_incident_per_key(client: Client) -> None:
    alerts = [
        am_alert(
            {
                "alertname": "HighLatency",
                "service": "checkout",
                "environment": "prod",
                "pod": f"p{i}",
            }
        )
        for i in range(3)
    ] + [am_alert({"alertname": "DiskFull", "service": "db", "environment": "prod"})]
    response = await client.post("/api/v1/alerts/alertmanager", json=am_webhook(alerts))
    assert response.status == 202
    assert await response.json() == {"accepted": 4}

    found = await eventually(
        lambda: _when(incidents(client), lambda found: len(found) == 2), what="2 incidents"
    )
    by_key = {i["key"]: i for i in found}
    assert set(by_key) == {"service=checkout,environment=prod", "service=db,environment=prod"}
    assert by_key["service=checkout,environment=prod"]["alert_count"] == 3
    assert by_key["service=checkout,environment=prod"]["status"] == "triggered"
    assert sorted(by_key["service=db,environment=prod"]["fingerprints"]) == [
        alerts[3]["fingerprint"]
    ]


async def test_resolving_every_alert_resolves_the_incident(client: Client) -> None:
    labels = {"alertname": "Down", "service": "api"}
    started = time.time() - 120
    await client.post(
        "/api/v1/alerts/alertmanager", json=am_webhook([am_alert(labels, starts_at=started)])
    )
    await eventually(lambda: _when(incidents(client, status="triggered"), len))
    resolved = am_alert(labels, status="resolved", starts_at=started, ends_at=time.time())
    await client.post("/api/v1/alerts/alertmanager", json=am_webhook([resolved]))
    [incident] = await eventually(lambda: _when(incidents(client, status="resolved"), len))
    assert incident["resolved_at"] is not None
    detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert [e["kind"] for e in detail["timeline"]] == ["open", "classify", "procedure", "resolve"]
    assert detail["alerts"][0]["status"] == "resolved"


async def test_prometheus_and_alertmanager_copies_of_an_alert_are_one_alert(client: Client) -> None:
    labels = {"alertname": "QueueBacklog", "service": "billing", "severity": "warning"}
    now = time.time()
    response = await client.post(
        "/api/v2/alerts", json=[prom_alert(labels, starts_at=now - 30, ends_at=now + 300)]
    )
    assert response.status == 202
    await client.post(
        "/api/v1/alerts/alertmanager", json=am_webhook([am_alert(labels, starts_at=now - 30)])
    )
    await eventually(lambda: _when(incidents(client), len))
    response = await client.get("/api/v1/incidents")
    [incident] = (await response.json())["incidents"]
    detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert incident["alert_count"] == 1
    assert detail["alerts"][0]["count"] == 2, "the second copy is a dedup hit"
    assert incident["priority"] == "P3"


async def test_prometheus_alert_resolves_when_its_end_passes_unrefreshed(client: Client) -> None:
    labels = {"alertname": "CertExpiry", "service": "edge"}
    now = time.time()
    for ends_at in (now + 0.5, now + 1.5):  # a refresh pushes the end further out
        response = await client.post(
            "/api/v2/alerts", json=[prom_alert(labels, starts_at=now - 30, ends_at=ends_at)]
        )
        assert response.status == 202
    [incident] = await eventually(lambda: _when(incidents(client), len))
    [resolved] = await eventually(
        lambda: _when(incidents(client, status="resolved"), len), within=8, what="expiry"
    )
    assert resolved["id"] == incident["id"]
    detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert detail["alerts"][0]["status"] == "resolved"
    assert detail["alerts"][0]["ends_at"] >= incident["created_at"]


async def test_generic_alert_single_and_batch(client: Client) -> None:
    one = {"summary": "Payment form returns 500", "service": "payments", "severity": "critical"}
    response = await client.post("/api/v1/alerts/generic", json=one)
    assert (response.status, await response.json()) == (202, {"accepted": 1})
    batch = {"alerts": [{"dedup_key": "job-42", "summary": "nightly export failed"}] * 2}
    response = await client.post("/api/v1/alerts/generic", json=batch)
    assert (response.status, await response.json()) == (202, {"accepted": 2})
    found = await eventually(lambda: _when(incidents(client), lambda found: len(found) == 2))
    titles = {i["title"]: i for i in found}
    assert titles["Payment form returns 500"]["priority"] == "P2"
    assert titles["nightly export failed"]["alert_count"] == 1


async def test_empty_alert_list_is_accepted_and_stores_nothing(
    client: Client, aredis: Redis
) -> None:
    response = await client.post("/api/v1/alerts/alertmanager", json=am_webhook([]))
    assert (response.status, await response.json()) == (202, {"accepted": 0})
    assert await aredis.xlen(keys.INGEST_STREAM) == 0


VALID_AM = json.dumps(am_webhook([am_alert({"alertname": "X", "service": "s"})]))


def _am_with(**changes: Any) -> str:
    body = am_webhook([am_alert({"alertname": "X", "service": "s"})])
    alert = body["alerts"][0]
    for name, value in changes.items():
        if name.startswith("alert_"):
            alert[name.removeprefix("alert_")] = value
        else:
            body[name] = value
    return json.dumps(body)


# What running workers write whatever is posted: the consumer groups on the ingest and
# outbox streams (created at start) and each worker's heartbeat.
WORKER_KEYS = tuple(
    key.encode() for key in (keys.INGEST_STREAM, keys.OUTBOX_STREAM, keys.consumer_alive(""))
)

# (path, headers, body, status, fragment the answer must contain)
BAD_REQUESTS: list[tuple[str, dict[str, str], str | bytes, int, str]] = [
    ("/api/v1/alerts/alertmanager", JSON, "{", 400, "malformed JSON"),
    ("/api/v1/alerts/alertmanager", JSON, "", 400, "malformed JSON"),
    ("/api/v1/alerts/alertmanager", JSON, "[]", 400, "(body)"),
    ("/api/v1/alerts/alertmanager", JSON, '"text"', 400, "(body)"),
    ("/api/v1/alerts/alertmanager", JSON, '{"version": "4"}', 400, "alerts"),
    ("/api/v1/alerts/alertmanager", JSON, _am_with(version="3"), 400, "version"),
    ("/api/v1/alerts/alertmanager", JSON, _am_with(version=4), 400, "version"),
    ("/api/v1/alerts/alertmanager", JSON, _am_with(alerts="nope"), 400, "alerts"),
    (
        "/api/v1/alerts/alertmanager",
        JSON,
        _am_with(alert_status="burning"),
        400,
        "alerts[0].status",
    ),
    (
        "/api/v1/alerts/alertmanager",
        JSON,
        _am_with(alert_labels={"a": 1}),
        400,
        "alerts[0].labels.a",
    ),
    ("/api/v1/alerts/alertmanager", JSON, _am_with(alert_labels={}), 400, "alerts[0].labels"),
    ("/api/v1/alerts/alertmanager", JSON, _am_with(alert_labels=None), 400, "alerts[0].labels"),
    (
        "/api/v1/alerts/alertmanager",
        JSON,
        _am_with(alert_startsAt="yesterday"),
        400,
        "alerts[0].startsAt",
    ),
    (
        "/api/v1/alerts/alertmanager",
        JSON,
        _am_with(alert_fingerprint="XYZ"),
        400,
        "alerts[0].fingerprint",
    ),
    ("/api/v1/alerts/alertmanager", {"Content-Type": "text/plain"}, VALID_AM, 415, "Content-Type"),
    ("/api/v1/alerts/alertmanager", {}, VALID_AM.encode(), 415, "Content-Type"),
    ("/api/v1/alerts/alertmanager", JSON, "x" * (1024 * 1024 + 1), 413, "(body)"),
    ("/api/v1/alerts/nagios-classic", JSON, VALID_AM, 404, "source"),
    ("/api/v2/alerts", JSON, "{}", 400, "(body)"),
    ("/api/v2/alerts", JSON, '[{"labels": {}}]', 400, "[0].labels"),
    ("/api/v2/alerts", JSON, '[{"annotations": {}}]', 400, "[0].labels"),
    (
        "/api/v2/alerts",
        JSON,
        json.dumps(
            [
                {
                    "labels": {"a": "b"},
                    "startsAt": "2024-01-02T00:00:00Z",
                    "endsAt": "2024-01-01T00:00:00Z",
                }
            ]
        ),
        400,
        "[0].endsAt",
    ),
    ("/api/v1/alerts/generic", JSON, '{"summary": "x"}', 400, "needs labels or a dedup_key"),
    ("/api/v1/alerts/generic", JSON, '{"service": "s", "colour": "red"}', 400, "colour"),
    ("/api/v1/alerts/generic", JSON, '{"service": "s", "status": "open"}', 400, "status"),
    ("/api/v1/alerts/generic", JSON, '{"dedup_key": ""}', 400, "dedup_key"),
    ("/api/v1/alerts/generic", JSON, json.dumps({"dedup_key": "k" * 256}), 400, "dedup_key"),
    ("/api/v1/alerts/generic", JSON, '{"alerts": [{"service": 5}]}', 400, "alerts[0].service"),
    (
        "/api/v1/alerts/generic",
        JSON,
        json.dumps({"alerts": [{"service": f"s{i}"} for i in range(1001)]}),
        413,
        "alerts",
    ),
    (
        "/api/v1/alerts/generic",
        JSON,
        json.dumps({"service": "s", "labels": {"": "x"}}),
        400,
        "empty name",
    ),
]


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "fragment"),
    BAD_REQUESTS,
    ids=[f"{n:02d}-{status}-{fragment}" for n, (*_, status, fragment) in enumerate(BAD_REQUESTS)],
)
async def test_bad_request_is_refused_and_nothing_is_stored(
    client: Client,
    aredis: Redis,
    path: str,
    headers: dict[str, str],
    body: str | bytes,
    status: int,
    fragment: str,
) -> None:
    response = await client.post(path, data=body, headers=headers)
    assert response.status == status
    answer = await response.json()
    assert answer["status"] == status
    assert answer["errors"], "an error answer names at least one problem"
    assert fragment in json.dumps(answer), answer
    assert await last_ingest_id(aredis) == "0-0", "nothing was ever appended to the stream"
    stored = [k async for k in aredis.scan_iter(match=keys.PREFIX + "*")]
    assert not [k for k in stored if not k.startswith(WORKER_KEYS)], stored
    # The daemon keeps serving: ready, and the same client can still post a valid alert.
    assert (await client.get("/readyz")).status == 200
    ok = await client.post("/api/v1/alerts/alertmanager", data=VALID_AM, headers=JSON)
    assert ok.status == 202
    assert await last_ingest_id(aredis) != "0-0"


def test_the_bad_input_matrix_is_at_least_20_requests_over_every_ingest_path() -> None:
    assert len(BAD_REQUESTS) >= 20
    assert {path for path, *_ in BAD_REQUESTS} >= {
        "/api/v1/alerts/alertmanager",
        "/api/v2/alerts",
        "/api/v1/alerts/generic",
    }
    assert {status for *_, status, _ in BAD_REQUESTS} == {400, 404, 413, 415}


async def test_tokens_are_required_when_configured(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        "auth:\n  api_tokens: [api-secret]\nsources:\n  alertmanager:\n    tokens: [am-secret]\n"
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        no_token = await client.post("/api/v1/alerts/alertmanager", data=VALID_AM, headers=JSON)
        assert no_token.status == 401
        assert no_token.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = await client.post(
            "/api/v1/alerts/alertmanager",
            data=VALID_AM,
            headers={**JSON, "Authorization": "Bearer api-secret"},
        )
        assert wrong.status == 401, "a source with its own tokens does not take the API token"
        assert "invalid credentials" in await wrong.text()
        right = await client.post(
            "/api/v1/alerts/alertmanager",
            data=VALID_AM,
            headers={**JSON, "Authorization": "Bearer am-secret"},
        )
        assert right.status == 202
        generic = await client.post(
            "/api/v1/alerts/generic",
            json={"service": "s"},
            headers={"Authorization": "Bearer api-secret"},
        )
        assert generic.status == 202, "sources without tokens of their own take the API tokens"
        listing = await client.get("/api/v1/incidents")
        assert listing.status == 401
        listing = await client.get(
            "/api/v1/incidents", headers={"Authorization": "Bearer api-secret"}
        )
        assert listing.status == 200


async def test_store_outage_answers_503_with_retry_after(
    make_settings: SettingsFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = EmbeddedRedis(tmp_path_factory.mktemp("doomed"))
    url = server.start()
    settings = make_settings("server:\n  store_timeout: 2s\n", redis_url=url)
    try:
        async with TestClient(TestServer(create_app(settings, run_workers=False))) as client:
            assert (
                await client.post("/api/v1/alerts/alertmanager", data=VALID_AM, headers=JSON)
            ).status == 202
            server.stop()
            started = time.monotonic()
            response = await client.post("/api/v1/alerts/alertmanager", data=VALID_AM, headers=JSON)
            assert response.status == 503
            assert response.headers["Retry-After"].isdigit()
            assert (await response.json())["error"] == "store unavailable"
            assert time.monotonic() - started < 5, "an outage is answered, not hung"
            assert (await client.get("/healthz")).status == 200
            assert (await client.get("/readyz")).status == 503
    finally:
        server.stop()


async def _when(awaitable: Any, check: Any) -> Any:
    value = await awaitable
    return value if check(value) else None
