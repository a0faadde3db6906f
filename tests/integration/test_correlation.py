"""Correlation in the running app: topology from the API (and from another daemon),
root cause and impact on the incident, operator merge and split through the API and
respected by later alerts, and every bad correction refused with nothing stored."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon import keys, store
from daemon.app import create_app
from daemon.appkeys import TOPOLOGY
from daemon.config import DEFAULT_ROUTING
from daemon.metrics import Metrics
from daemon.pipeline import Worker, ensure_group
from daemon.routing_stage import RoutingRef
from routing import load_routing
from tests.conftest import SettingsFactory
from tests.payloads import am_alert, am_webhook, rfc3339
from tests.waiting import eventually
from triage.alert import Alert, AlertStatus
from triage.batch import FoldSettings
from triage.correlate import DEFAULT_KEY_LABELS
from triage.correlation import CorrelationConfig, Thresholds
from triage.fingerprint import label_fingerprint

Client = TestClient[web.Request, web.Application]
GRAPH = {"services": {"db": {}, "orders": {"depends_on": ["db"]}, "search": {}}}
DOWN = {"alertname": "PostgresDown", "severity": "critical"}
ERRORS = {"alertname": "HighErrorRate", "severity": "warning"}


def firing(service: str, kind: dict[str, str], **labels: str) -> dict[str, Any]:
    summary = "Postgres down" if kind is DOWN else f"5xx error rate high on {service}"
    return am_alert({"service": service, **kind, **labels}, annotations={"summary": summary})


async def post(client: Client, *alerts: dict[str, Any]) -> None:
    response = await client.post("/api/v1/alerts/alertmanager", json=am_webhook(list(alerts)))
    assert response.status == 202


async def incidents(client: Client, count: int) -> list[dict[str, Any]]:
    async def listed() -> list[dict[str, Any]] | None:
        body = await (await client.get("/api/v1/incidents", params={"limit": "500"})).json()
        found: list[dict[str, Any]] = body["incidents"]
        alerts = sum(i["alert_count"] for i in found)
        return found if len(found) >= count and alerts >= count else None

    return await eventually(listed, what=f"{count} incidents")


async def incident(client: Client, incident_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    return body


async def alerts_of(client: Client, incident_id: str, count: int) -> dict[str, Any]:
    async def enough() -> dict[str, Any] | None:
        found = await incident(client, incident_id)
        return found if found["alert_count"] >= count else None

    return await eventually(enough, what=f"{count} alerts in {incident_id}")


async def test_a_caller_joins_its_failing_dependency_and_the_root_is_named(
    client: Client,
) -> None:
    assert (await client.put("/api/v1/topology", json=GRAPH)).status == 200
    await post(client, firing("db", DOWN))
    await incidents(client, 1)
    await post(client, firing("orders", ERRORS), firing("search", ERRORS))
    found = await incidents(client, 2)
    assert len(found) == 2  # search, which depends on nothing failing, stays apart
    db = await alerts_of(client, "INC-1", 2)
    impact = db["triage"]["impact"]
    assert impact["root"]["service"] == "db"
    assert impact["root"]["alertname"] == "PostgresDown"
    assert impact["services"] == ["db", "orders"]
    assert (impact["service_count"], impact["alert_count"]) == (2, 2)
    [joined] = [e for e in db["timeline"] if e["kind"] == "attach"]
    assert joined["data"]["rule"] == "topology"
    assert joined["data"]["path"] == ["orders", "db"]
    assert "topology: orders -> db (depends on, 1 hops)" in joined["message"]
    assert db["triage"]["correlation"]["attached"] == {"new": 1, "topology": 1}


async def test_without_topology_a_caller_opens_its_own_incident(client: Client) -> None:
    await post(client, firing("db", DOWN))
    await incidents(client, 1)
    await post(client, firing("orders", ERRORS))
    found = await incidents(client, 2)
    assert {i["key"] for i in found} == {"service=db", "service=orders"}


async def test_a_topology_put_to_one_daemon_reaches_another_on_the_same_redis(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings()
    async with (
        TestClient(TestServer(create_app(settings))) as one,
        TestClient(TestServer(create_app(settings))) as other,
    ):
        assert len(await other.app[TOPOLOGY].current()) == 0
        assert (await one.put("/api/v1/topology", json=GRAPH)).status == 200
        assert len(await one.app[TOPOLOGY].current()) == 3  # at once where it was PUT

        async def seen() -> int:
            return len(await other.app[TOPOLOGY].current())

        await eventually(seen, within=3.0, what="the other daemon's topology")
        assert (await other.get("/api/v1/topology")).status == 200
        body = await (await other.get("/api/v1/topology")).json()
        assert body["services"]["orders"]["depends_on"] == ["db"]


async def test_the_configured_topology_serves_until_one_is_put(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(
        "correlation:\n  topology:\n    services:\n      db: {}\n      orders: {depends_on: [db]}\n"
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        assert len(await client.app[TOPOLOGY].current()) == 2
        body = await (await client.get("/api/v1/topology")).json()
        assert body["services"]["orders"]["depends_on"] == ["db"]
        await post(client, firing("db", DOWN))
        await incidents(client, 1)
        await post(client, firing("orders", ERRORS))
        await alerts_of(client, "INC-1", 2)


async def two_incidents(client: Client) -> tuple[str, str]:
    await post(client, firing("billing", ERRORS), firing("search", ERRORS))
    found = await incidents(client, 2)
    by_key = {i["key"]: i["id"] for i in found}
    return by_key["service=billing"], by_key["service=search"]


async def test_a_merge_moves_the_alerts_and_later_alerts_of_the_key_follow(
    client: Client, aredis: Redis
) -> None:
    billing, search = await two_incidents(client)
    response = await client.post(
        f"/api/v1/incidents/{billing}/merge",
        json={"incidents": [search], "actor": "alice", "reason": "one outage"},
    )
    assert response.status == 200
    target = await response.json()
    assert target["alert_count"] == 2
    assert len(target["fingerprints"]) == 2
    merged = await incident(client, search)
    assert merged["status"] == "closed"
    assert merged["triage"]["merged_into"] == billing
    assert merged["fingerprints"] == []
    assert [e["kind"] for e in merged["timeline"]][-1] == "merged"
    await post(client, firing("search", ERRORS, pod="search-2"))
    after = await alerts_of(client, billing, 3)
    assert after["triage"]["correlation"]["attached"] == {"new": 1, "override": 1}
    [correction] = await corrections(aredis)
    assert b'"kind":"merge"' in correction
    assert b'"actor":"alice"' in correction


async def test_a_split_opens_an_incident_and_later_alerts_of_the_key_join_it(
    client: Client, aredis: Redis
) -> None:
    billing, search = await two_incidents(client)
    await client.post(
        f"/api/v1/incidents/{billing}/merge", json={"incidents": [search], "actor": "alice"}
    )
    merged = await incident(client, billing)
    moving = [a["fingerprint"] for a in merged["alerts"] if a["labels"]["service"] == "search"]
    response = await client.post(
        f"/api/v1/incidents/{billing}/split",
        json={"fingerprints": moving, "actor": "bob", "reason": "search is its own problem"},
    )
    assert response.status == 200
    body = await response.json()
    new_id = body["split"]["id"]
    assert body["split"]["fingerprints"] == moving
    assert body["split"]["status"] == "triggered"
    assert body["source"]["alert_count"] == 1
    assert body["split"]["triage"]["correlation"]["from"] == billing
    await post(client, firing("search", ERRORS, pod="search-3"))
    after = await alerts_of(client, new_id, 2)
    assert after["triage"]["correlation"]["attached"] == {"override": 1}
    assert (await incident(client, billing))["alert_count"] == 1
    assert b'"kind":"split"' in (await corrections(aredis))[-1]


async def corrections(aredis: Redis) -> list[bytes]:
    entries = cast(
        "list[tuple[bytes, dict[bytes, bytes]]]", await aredis.xrange(keys.GROUPING_CORRECTIONS)
    )
    return [fields[b"correction"] for _, fields in entries]


BAD_MERGES = [
    ({}, 400, "incidents"),
    ({"incidents": [], "actor": "a"}, 400, "incidents"),
    ({"incidents": "INC-2", "actor": "a"}, 400, "incidents"),
    ({"incidents": [7], "actor": "a"}, 400, "incidents[0]"),
    ({"incidents": ["INC-2"]}, 400, "actor"),
    ({"incidents": ["INC-2"], "actor": ""}, 400, "actor"),
    ({"incidents": ["INC-2"], "actor": "a", "extra": 1}, 400, "extra"),
    ({"incidents": ["INC-99"], "actor": "a"}, 400, "incidents[0]"),
    ({"incidents": ["INC-1"], "actor": "a"}, 400, "incidents"),
    ({"incidents": ["INC-2", "INC-2"], "actor": "a"}, 400, "incidents"),
]
BAD_SPLITS = [
    ({}, 400, "fingerprints"),
    ({"fingerprints": [], "actor": "a"}, 400, "fingerprints"),
    ({"fingerprints": ["0000000000000000"], "actor": "a"}, 400, "fingerprints[0]"),
    ({"fingerprints": ["x"], "actor": "a", "reason": 5}, 400, "reason"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_MERGES)
async def test_bad_merges_are_refused_and_store_nothing(
    client: Client, aredis: Redis, body: dict[str, Any], status: int, field: str
) -> None:
    await two_incidents(client)
    response = await client.post("/api/v1/incidents/INC-1/merge", json=body)
    assert response.status == status
    assert field in [e["field"] for e in (await response.json())["errors"]]
    await nothing_changed(client, aredis)


@pytest.mark.parametrize(("body", "status", "field"), BAD_SPLITS)
async def test_bad_splits_are_refused_and_store_nothing(
    client: Client, aredis: Redis, body: dict[str, Any], status: int, field: str
) -> None:
    await two_incidents(client)
    response = await client.post("/api/v1/incidents/INC-1/split", json=body)
    assert response.status == status
    assert field in [e["field"] for e in (await response.json())["errors"]]
    await nothing_changed(client, aredis)


async def test_a_split_of_every_alert_and_unknown_or_closed_incidents_are_refused(
    client: Client, aredis: Redis
) -> None:
    await two_incidents(client)
    only = (await incident(client, "INC-1"))["fingerprints"]
    response = await client.post(
        "/api/v1/incidents/INC-1/split", json={"fingerprints": only, "actor": "a"}
    )
    assert (response.status, (await response.json())["errors"][0]["field"]) == (
        400,
        "fingerprints",
    )
    missing = await client.post(
        "/api/v1/incidents/INC-404/merge", json={"incidents": ["INC-1"], "actor": "a"}
    )
    assert (missing.status, (await missing.json())["errors"][0]["field"]) == (404, "id")
    await nothing_changed(client, aredis)
    cancel = {"actor": "a", "reason": "duplicate"}
    assert (await client.post("/api/v1/incidents/INC-2/cancel", json=cancel)).status == 200
    closed = await client.post(
        "/api/v1/incidents/INC-1/merge", json={"incidents": ["INC-2"], "actor": "a"}
    )
    assert (closed.status, (await closed.json())["errors"][0]["field"]) == (409, "incidents[0]")
    assert await aredis.xlen(keys.GROUPING_CORRECTIONS) == 0


async def test_malformed_wrong_type_oversized_and_unauthenticated_corrections(
    make_settings: SettingsFactory, aredis: Redis
) -> None:
    settings = make_settings("auth:\n  api_tokens: [sekrit]\nserver:\n  max_body_bytes: 2048\n")
    async with TestClient(TestServer(create_app(settings))) as client:
        auth = {"Authorization": "Bearer sekrit"}
        path = "/api/v1/incidents/INC-1/merge"
        no_auth = await client.post(path, json={"incidents": ["INC-2"], "actor": "a"})
        assert no_auth.status == 401
        wrong = await client.post(
            path, json={"incidents": ["INC-2"], "actor": "a"}, headers={"Authorization": "Bearer x"}
        )
        assert wrong.status == 401
        broken = await client.post(
            path, data=b"{not json", headers={**auth, "Content-Type": "application/json"}
        )
        assert broken.status == 400
        text = await client.post(
            path, data=b"incidents", headers={**auth, "Content-Type": "text/plain"}
        )
        assert text.status == 415
        huge = await client.post(
            "/api/v1/incidents/INC-1/split",
            json={"fingerprints": ["f" * 200] * 20, "actor": "a"},
            headers=auth,
        )
        assert huge.status == 413
        assert (await client.get("/healthz")).status == 200  # still serving
    assert await aredis.xlen(keys.GROUPING_CORRECTIONS) == 0


async def nothing_changed(client: Client, aredis: Redis) -> None:
    assert await aredis.xlen(keys.GROUPING_CORRECTIONS) == 0
    for incident_id in ("INC-1", "INC-2"):
        found = await incident(client, incident_id)
        assert found["status"] == "triggered"
        assert found["alert_count"] == 1
        assert [e["kind"] for e in found["timeline"]] == ["open", "classify", "procedure"]
    assert not await aredis.exists(keys.incident("INC-3"))
    await asyncio.sleep(0)


async def test_thresholds_hold_a_new_key_until_the_scheduler_admits_it_and_blips_stay_out(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(
        "correlation:\n  thresholds: {min_alerts: 3, window: 60s, pause: 2s}\n"
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        now = time.time()
        held = am_alert({"service": "billing", **ERRORS}, starts_at=now)
        blip = am_alert({"service": "search", **ERRORS}, starts_at=now)
        await post(client, held, blip)
        await post(client, {**blip, "status": "resolved", "endsAt": rfc3339(now + 0.5)})

        async def metric(name: str) -> float | None:
            text = await (await client.get("/metrics")).text()
            for line in text.splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
            return None

        await eventually(lambda: metric("triaged_correlation_transient_alerts_total"))
        body = await (await client.get("/api/v1/incidents")).json()
        assert body["incidents"] == []  # nothing opened yet: held, and a blip
        [opened] = await incidents(client, 1)  # the scheduler admits once the pause ran out
        assert opened["key"] == "service=billing"
        found = await incident(client, opened["id"])
        assert found["triage"]["correlation"]["admission"]["reason"] == "firing for 2s"
        assert (await metric("triaged_correlation_alerts_held_total") or 0) >= 2


async def test_a_flapping_alert_is_marked_and_its_incident_does_not_resolve_and_reopen(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings("correlation:\n  flapping: {max_changes: 3, window: 30m}\n")
    async with TestClient(TestServer(create_app(settings))) as client:
        labels = {"service": "billing", **ERRORS}
        start = time.time() - 600
        await post(client, am_alert(labels, starts_at=start))
        await incidents(client, 1)
        for n in range(1, 7):
            at = start + 60 * n
            if n % 2:
                await post(
                    client, am_alert(labels, status="resolved", starts_at=at - 30, ends_at=at)
                )
            else:
                await post(client, am_alert(labels, starts_at=at))

        async def settled() -> dict[str, Any] | None:
            found = await incident(client, "INC-1")
            kinds = [e["kind"] for e in found["timeline"]]
            return found if kinds.count("flapping") == 1 and len(kinds) >= 6 else None

        await eventually(settled, what="flapping on the timeline")
        await post(
            client, am_alert(labels, status="resolved", starts_at=start, ends_at=start + 450)
        )
        found = await eventually(
            lambda: _count_events(client, "INC-1", 6), what="the last change folded"
        )
        assert found["alerts"][0]["flapping"] is True
        assert found["status"] == "triggered"  # held open while it flaps
        kinds = [e["kind"] for e in found["timeline"]]
        after = kinds[kinds.index("flapping") :]
        assert "resolve" not in after  # so no reopen either, past the change that began it
        assert after.count("reopen") <= 1


async def _count_events(client: Client, incident_id: str, changes: int) -> dict[str, Any] | None:
    found = await incident(client, incident_id)
    alert = found["alerts"][0]
    return found if alert["status"] == "resolved" and alert["count"] >= changes + 2 else None


async def test_a_later_alert_admits_held_alerts_whose_pause_ran_out_by_its_time(
    aredis: Redis,
) -> None:
    """A storm replayed fast, or a backlog after an outage: no scheduler needed."""
    held_settings = FoldSettings(
        key_labels=DEFAULT_KEY_LABELS,
        reopen_window=600.0,
        auto_resolve_grace=0.0,
        default_group="triage-queue",
        correlation=CorrelationConfig(
            thresholds=Thresholds(min_alerts=3, min_alerts_window=60, pause=60)
        ),
    )
    await ensure_group(aredis)
    worker = Worker(
        aredis,
        held_settings,
        Metrics(),
        RoutingRef(load_routing(DEFAULT_ROUTING)),
        batch_size=50,
        claim_idle=30.0,
        max_deliveries=5,
    )
    start = time.time() - 3600
    db = event("db", start)
    await worker.apply([(b"0-1", [db])])
    assert await aredis.get(keys.incident("INC-1")) is None  # held
    await worker.apply([(b"0-2", [event("search", start + 30)])])
    assert await aredis.get(keys.incident("INC-1")) is None  # 30 s: not yet
    await worker.apply([(b"0-3", [event("search", start + 90, "b")])])
    raw = await aredis.get(keys.alert(db.fingerprint))
    assert raw is not None
    state = store.decode_state(raw)
    assert state.incident_id is not None  # 90 s after it fired, by the senders' clock
    assert await aredis.zscore(keys.ADMISSIONS, "service=db") is None


def event(service: str, at: float, pod: str = "a") -> Alert:
    labels = {"service": service, "pod": pod, **ERRORS}
    return Alert(
        fingerprint=label_fingerprint(labels),
        source="test",
        status=AlertStatus.FIRING,
        labels=labels,
        annotations={},
        starts_at=at,
        ends_at=None,
        received_at=time.time(),
    )
