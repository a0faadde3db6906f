"""The process timer with several daemons: each target change, escalation and notice
happens once, however many schedulers evaluate the incident at the same moment."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon import keys
from daemon.app import create_app
from daemon.metrics import Metrics
from daemon.process_timers import process_gauges, run_due
from daemon.routing_stage import RoutingRef
from tests.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.integration.test_process_scenario import CUSTOMER_FACING, ROUTING
from tests.payloads import am_alert, am_webhook
from tests.waiting import eventually

MIN = 60.0


async def test_two_schedulers_record_and_escalate_a_breach_once(
    make_settings: SettingsFactory, tmp_path: Path, aredis: Redis
) -> None:
    clock = ManualClock()
    (tmp_path / "routing.yaml").write_text(ROUTING)
    hooks = "".join(
        f"  - {{name: {name}, type: webhook, url: 'http://127.0.0.1:9/{name}'}}\n"
        for name in ("team-hook", "im-hook")
    )
    settings = make_settings(
        f"routing_file: routing.yaml\n{CUSTOMER_FACING}channels:\n{hooks}", clock=clock
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        labels = {"alertname": "CheckoutFailing", "service": "payments", "severity": "critical"}
        alert = am_webhook([am_alert(labels, starts_at=clock.now)])
        assert (await client.post("/api/v1/alerts/alertmanager", json=alert)).status == 202

        async def first_page() -> dict[str, Any] | None:
            listed = (await (await client.get("/api/v1/incidents")).json())["incidents"]
            return listed[0] if listed and listed[0]["escalation_level"] == 1 else None

        incident = await eventually(first_page, what="the incident's first page")
        assert await aredis.zscore(keys.PROCESS_TIMERS, incident["id"]) is not None
        # Two daemons look at the incident at the same instant, past the respond target;
        # the app's own scheduler still sees the clock at the opening.
        routing = RoutingRef(settings.routing)
        metrics = [Metrics(), Metrics()]
        later = clock.now + 16 * MIN
        await asyncio.gather(
            *(run_due(aredis, routing, settings.process, m, later) for m in metrics)
        )
        found = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    targets = [e["data"]["state"] for e in found["timeline"] if e["kind"] == "target"]
    assert targets == ["breached"]
    steps = [e["data"]["reason"] for e in found["timeline"] if e["kind"] == "escalate"]
    assert steps == ["first_page", "target_breached"]
    assert found["escalation_level"] == 2
    breaches = sum(m.service_targets.labels("respond", "breached")._value.get() for m in metrics)
    assert breaches == 1
    # Next: the first stakeholder update falls due, 30 minutes after the opening.
    assert await aredis.zscore(keys.PROCESS_TIMERS, incident["id"]) == clock.now + 30 * MIN


async def test_a_muted_incident_records_its_breach_but_pages_nobody(
    make_settings: SettingsFactory, tmp_path: Path, aredis: Redis
) -> None:
    clock = ManualClock()
    (tmp_path / "routing.yaml").write_text(ROUTING)
    hooks = "".join(
        f"  - {{name: {name}, type: webhook, url: 'http://127.0.0.1:9/{name}'}}\n"
        for name in ("team-hook", "im-hook")
    )
    settings = make_settings(
        f"routing_file: routing.yaml\n{CUSTOMER_FACING}channels:\n{hooks}", clock=clock
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        silence = {
            "matchers": ['service="payments"'],
            "duration": "2h",
            "created_by": "bob",
            "comment": "provider migration",
        }
        assert (await client.post("/api/v1/silences", json=silence)).status == 201
        labels = {"alertname": "CheckoutFailing", "service": "payments", "severity": "critical"}
        alert = am_webhook([am_alert(labels, starts_at=clock.now)])
        assert (await client.post("/api/v1/alerts/alertmanager", json=alert)).status == 202

        async def muted() -> dict[str, Any] | None:
            listed = (await (await client.get("/api/v1/incidents")).json())["incidents"]
            return listed[0] if listed and listed[0]["suppressed_by"] else None

        incident = await eventually(muted, what="the muted incident")
        await run_due(aredis, RoutingRef(settings.routing), settings.process, Metrics(), clock.now)
        await run_due(
            aredis, RoutingRef(settings.routing), settings.process, Metrics(), clock.now + 16 * MIN
        )
        await asyncio.sleep(1.0)  # a page queued by mistake would have been attempted by now
        found = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
        queued = await aredis.xlen(keys.OUTBOX_STREAM) + await aredis.zcard(keys.DELIVERY_RETRIES)
    states = [e["data"]["state"] for e in found["timeline"] if e["kind"] == "target"]
    assert states == ["breached"]
    assert [e["kind"] for e in found["timeline"] if e["kind"] in ("escalate", "delivery")] == []
    assert found["escalation_level"] == 0
    assert queued == 0, "nobody was paged"


async def test_backlog_gauges_count_open_incidents_by_age_leaving_drills_out(
    make_settings: SettingsFactory, aredis: Redis
) -> None:
    clock = ManualClock()
    settings = make_settings(clock=clock)
    async with TestClient(TestServer(create_app(settings))) as client:
        services = {"payments": {}, "search": {}, "ledger": {"drill": "true"}}
        for service, extra in services.items():
            labels = {"alertname": "Down", "service": service, **extra}
            alert = am_webhook([am_alert(labels, starts_at=clock.now)])
            assert (await client.post("/api/v1/alerts/alertmanager", json=alert)).status == 202

        async def opened() -> list[Any] | None:
            listed = (await (await client.get("/api/v1/incidents")).json())["incidents"]
            return listed if len(listed) == len(services) else None

        await eventually(opened, what="three incidents")
        metrics = Metrics()
        await process_gauges(aredis, settings.process, metrics, clock.now + 8 * 86400)
    ages = {s.labels["age"]: s.value for s in next(iter(metrics.backlog.collect())).samples}
    assert ages == {"<1d": 0, "1d-3d": 0, "3d-7d": 0, "7d-30d": 2, ">=30d": 0}
    assert metrics.backlog_stale._value.get() == 2  # seven days without an update
    procedures = {
        s.labels["procedure"]: s.value
        for s in next(iter(metrics.open_by_procedure.collect())).samples
    }
    assert sum(procedures.values()) == 3  # the gauge counts every open incident, drills too
