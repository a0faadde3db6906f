"""Operator tooling against the real app: hot reload, route dry runs, silences."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon import keys
from daemon.app import create_app
from daemon.cli import main
from tests.conftest import SettingsFactory
from tests.payloads import am_alert, am_webhook
from tests.receiver import Receiver
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]

RULES = """
groups:
  - name: triage-queue
  - name: database
    escalation_policy: page
  - name: sre
escalation_policies:
  - name: page
    levels: [{{timeout: 5m, targets: ["person:alice"]}}]
route:
  group: triage-queue
  routes:
    - name: db
      matchers: ['service="postgres"']
      group: {db_group}
"""


@pytest.fixture
async def ops(make_settings: SettingsFactory, tmp_path: Path) -> Any:
    (tmp_path / "routing.yaml").write_text(RULES.format(db_group="database"))
    async with TestClient(
        TestServer(create_app(make_settings("routing_file: routing.yaml\n")))
    ) as client:
        yield client, tmp_path


async def open_incident(client: Client, labels: dict[str, str]) -> dict[str, Any]:
    body = am_webhook([am_alert(labels)])
    assert (await client.post("/api/v1/alerts/alertmanager", json=body)).status == 202

    async def found() -> dict[str, Any] | None:
        listing = await (await client.get("/api/v1/incidents")).json()
        match = [i for i in listing["incidents"] if labels["alertname"] in i["title"]]
        return match[0] if match else None

    return await eventually(found)


async def test_reload_swaps_valid_rules_and_keeps_serving_on_invalid(ops: Any) -> None:
    client, folder = ops
    first = await open_incident(client, {"alertname": "A1", "service": "postgres"})
    assert first["group"] == "database"
    (folder / "routing.yaml").write_text(RULES.format(db_group="sre"))
    response = await client.post("/api/v1/routing/reload")
    assert response.status == 200
    assert "root/db" in (await response.json())["routes"]
    second = await open_incident(client, {"alertname": "A2", "service": "postgres", "env": "b"})
    assert second["group"] == "sre"
    (folder / "routing.yaml").write_text(RULES.format(db_group="nobody"))
    response = await client.post("/api/v1/routing/reload")
    assert response.status == 400
    [error] = (await response.json())["errors"]
    assert error["message"].startswith(f"{folder / 'routing.yaml'}:15: route.routes[0].group:")
    third = await open_incident(client, {"alertname": "A3", "service": "postgres", "env": "c"})
    assert third["group"] == "sre", "the rules in service are unchanged"
    metrics = await (await client.get("/metrics")).text()
    assert 'triaged_config_reloads_total{outcome="failed"} 1.0' in metrics


async def test_route_diff_reports_incidents_a_new_file_would_move(
    ops: Any, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client, folder = ops
    await open_incident(client, {"alertname": "D1", "service": "postgres"})
    await open_incident(client, {"alertname": "D2", "service": "frontend"})
    (folder / "candidate.yaml").write_text(RULES.format(db_group="sre"))
    (folder / "cli.yaml").write_text("routing_file: routing.yaml\n")
    argv = [
        "route",
        "diff",
        "--rules",
        str(folder / "candidate.yaml"),
        "--config",
        str(folder / "cli.yaml"),
    ]
    code = await asyncio.to_thread(main, [*argv, "--redis-url", redis_url, "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["compared"] == 2
    [change] = report["changed"]
    assert change["group"] == ["database", "sre"]
    assert change["escalation_policy"] == ["page", None]


def test_route_test_prints_the_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "routing.yaml").write_text(RULES.format(db_group="database"))
    (tmp_path / "alert.json").write_text(json.dumps({"labels": {"service": "postgres"}}))
    assert (
        main(
            [
                "route",
                "test",
                "--rules",
                str(tmp_path / "routing.yaml"),
                str(tmp_path / "alert.json"),
            ]
        )
        == 0
    )
    decision = json.loads(capsys.readouterr().out)
    assert decision["targets"][0]["group"] == "database"
    assert decision["trace"]["matched"] == ["root", "root/db"]


async def test_silence_mutes_new_incidents_and_expiry_is_audited(ops: Any, aredis: Redis) -> None:
    client, _ = ops
    response = await client.post(
        "/api/v1/silences",
        json={
            "matchers": ['service="postgres"'],
            "duration": "1h",
            "created_by": "bob",
            "comment": "upgrade",
        },
    )
    assert response.status == 201
    silence = await response.json()
    assert silence["state"] == "active"
    incident = await open_incident(client, {"alertname": "Muted", "service": "postgres"})
    detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert detail["alerts"][0]["suppressed_by"] == [f"silence:{silence['id']}"]
    assert await aredis.zscore(keys.ESCALATIONS, incident["id"]) is None, "muted: not escalated"
    listing = await (await client.get("/api/v1/silences", params={"state": "active"})).json()
    assert [s["id"] for s in listing["silences"]] == [silence["id"]]
    response = await client.post(
        f"/api/v1/silences/{silence['id']}/expire", json={"actor": "carol"}
    )
    assert (response.status, (await response.json())["expired_by"]) == (200, "carol")
    again = await client.post(f"/api/v1/silences/{silence['id']}/expire", json={"actor": "carol"})
    assert again.status == 409

    async def unmuted() -> dict[str, Any] | None:
        body: dict[str, Any] = await (
            await client.get(f"/api/v1/incidents/{incident['id']}")
        ).json()
        return body if not body["suppressed_by"] else None

    released = await eventually(unmuted, within=5, what="the scheduler to unmute the incident")
    assert released["timeline"][-1]["kind"] == "unsuppressed"
    assert await aredis.zscore(keys.ESCALATIONS, incident["id"]) is not None, "escalation starts"
    listing = await (await client.get("/api/v1/silences", params={"state": "expired"})).json()
    assert listing["silences"][0]["created_by"] == "bob"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"duration": "1h", "created_by": "b", "comment": "c"}, "matchers"),
        ({"matchers": [], "duration": "1h", "created_by": "b", "comment": "c"}, "matchers"),
        (
            {"matchers": ['x=~".*"'], "duration": "1h", "created_by": "b", "comment": "c"},
            "matchers",
        ),
        (
            {"matchers": ["not a matcher"], "duration": "1h", "created_by": "b", "comment": "c"},
            "matchers",
        ),
        ({"matchers": ['a="b"'], "created_by": "b", "comment": "c"}, "ends_at"),
        (
            {"matchers": ['a="b"'], "duration": "soon", "created_by": "b", "comment": "c"},
            "duration",
        ),
        ({"matchers": ['a="b"'], "duration": "1h", "comment": "c"}, "created_by"),
        ({"matchers": ['a="b"'], "duration": "1h", "created_by": "b", "comment": "c", "x": 1}, "x"),
        (
            {
                "matchers": ['a="b"'],
                "starts_at": "2030-01-02T00:00:00Z",
                "ends_at": "2030-01-01T00:00:00Z",
                "created_by": "b",
                "comment": "c",
            },
            "ends_at",
        ),
    ],
)
async def test_bad_silences_are_refused(
    ops: Any, aredis: Redis, body: dict[str, Any], field: str
) -> None:
    client, _ = ops
    response = await client.post("/api/v1/silences", json=body)
    assert response.status == 400
    fields = [e["field"] for e in (await response.json())["errors"]]
    assert any(field in f for f in fields), fields
    assert await aredis.hlen(keys.SILENCES) == 0


async def test_topology_put_validates_and_get_returns_it(client: Client, aredis: Redis) -> None:
    graph = {"services": {"web": {"depends_on": ["api"]}, "api": {"depends_on": ["db"]}, "db": {}}}
    response = await client.put("/api/v1/topology", json=graph)
    assert (response.status, await response.json()) == (200, {"services": 3, "dependencies": 2})
    assert (await (await client.get("/api/v1/topology")).json())["services"]["web"] == {
        "depends_on": ["api"]
    }
    for bad, field in [
        ({"services": {"web": {"depends_on": ["nowhere"]}}}, "services.web.depends_on[0]"),
        ({"services": {"web": {"depends_on": ["web"]}}}, "services.web.depends_on[0]"),
        ({"services": {"web": {"needs": []}}}, "services.web.needs"),
        ({"nodes": []}, "nodes"),
    ]:
        response = await client.put("/api/v1/topology", json=bad)
        assert response.status == 400
        assert field in [e["field"] for e in (await response.json())["errors"]]
    stored = await aredis.get(keys.TOPOLOGY)
    assert stored is not None
    assert b"nowhere" not in stored


IN_SERVICE = """
groups:
  - name: triage-queue
  - name: database
    channels: [db-chat]
    escalation_policy: page
  - name: web
    channels: [web-chat]
  - name: sre
    channels: [sre-chat]
escalation_policies:
  - name: page
    levels: [{timeout: 5m, targets: ["group:database"]}]
route:
  group: triage-queue
  routes:
    - {name: db, matchers: ['service=~"postgres|mysql"'], group: database}
    - {name: web, matchers: ['service="frontend"'], group: web}
"""

CANDIDATE = """
groups:
  - name: triage-queue
  - name: database
    channels: [db-chat]
    escalation_policy: page
  - name: web
    channels: [web-chat]
  - name: sre
    channels: [sre-chat]
escalation_policies:
  - name: page
    levels: [{timeout: 5m, targets: ["group:database"]}]
route:
  group: triage-queue
  routes:
    - {name: pg, matchers: ['service="postgres"'], group: sre}
    - name: db
      matchers: ['service=~"postgres|mysql"']
      group: database
      channels: [db-chat, db-pager]
    - {name: web, matchers: ['service="frontend"'], group: web, escalation_policy: page}
"""


async def test_route_diff_on_recorded_alerts_reports_each_kind_of_change(
    make_settings: SettingsFactory,
    tmp_path: Path,
    receiver: Receiver,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Five recorded incidents; the candidate moves both postgres ones to another group,
    adds a channel for mysql, gives frontend a policy, and leaves batch alone."""
    (tmp_path / "routing.yaml").write_text(IN_SERVICE)
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    channels = "".join(
        f"  - {{name: {name}, type: webhook, url: '{receiver.url('/' + name)}'}}\n"
        for name in ("db-chat", "db-pager", "web-chat", "sre-chat")
    )
    config = f"routing_file: routing.yaml\nchannels:\n{channels}"
    (tmp_path / "cli.yaml").write_text(config)
    async with TestClient(TestServer(create_app(make_settings(config)))) as client:
        for labels in (
            {"alertname": "P1", "service": "postgres"},
            {"alertname": "P2", "service": "postgres", "env": "b"},
            {"alertname": "M1", "service": "mysql"},
            {"alertname": "F1", "service": "frontend"},
            {"alertname": "B1", "service": "batch"},
        ):
            await open_incident(client, labels)
    argv = ["route", "diff", "--rules", str(tmp_path / "candidate.yaml")]
    argv += ["--config", str(tmp_path / "cli.yaml"), "--redis-url", redis_url]
    assert await asyncio.to_thread(main, [*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["compared"] == 5
    changes = {c["title"]: c for c in report["changed"]}
    assert set(changes) == {"P1 fired", "P2 fired", "M1 fired", "F1 fired"}
    for title in ("P1 fired", "P2 fired"):
        assert changes[title]["group"] == ["database", "sre"]
        assert changes[title]["channels"] == [["db-chat"], ["sre-chat"]]
        assert changes[title]["escalation_policy"] == ["page", None]
        assert changes[title]["route"] == ["root/db", "root/pg"]
    assert changes["M1 fired"]["group"] == ["database", "database"]
    assert changes["M1 fired"]["channels"] == [["db-chat"], ["db-chat", "db-pager"]]
    assert changes["M1 fired"]["escalation_policy"] == ["page", "page"]
    assert changes["F1 fired"]["channels"] == [["web-chat"], ["web-chat"]]
    assert changes["F1 fired"]["escalation_policy"] == [None, "page"]
    assert report["moves"] == {"database -> sre": 2, "database -> database": 1, "web -> web": 1}
    assert await asyncio.to_thread(main, argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("5 incidents since 7d; 4 would change\n")
    assert "     2  database -> sre" in text
    (tmp_path / "typo.yaml").write_text(CANDIDATE.replace("db-pager]", "db-pagr]"))
    argv[3] = str(tmp_path / "typo.yaml")
    assert await asyncio.to_thread(main, argv) == 1
    assert f"{tmp_path / 'typo.yaml'}:" in capsys.readouterr().err


SUPPRESSING = """
groups:
  - name: triage-queue
    escalation_policy: page
escalation_policies:
  - name: page
    levels: [{timeout: 5m, targets: ["group:triage-queue"]}]
route:
  group: triage-queue
inhibit_rules:
  - name: critical-mutes-warning
    source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, instance]
maintenance_windows:
  - id: db-upgrade
    matchers: ['service="postgres"']
    starts_at: 2026-01-01T00:00:00Z
    ends_at: 2099-01-01T00:00:00Z
    created_by: alice
    comment: upgrade
"""


async def test_inhibited_and_maintenance_muted_alerts_are_kept_and_marked(
    make_settings: SettingsFactory, tmp_path: Path, aredis: Redis
) -> None:
    """Through the pipeline: a critical alert mutes its warning on the same instance but
    not the warning of another; a maintenance window mutes its service's alerts and keeps
    their incident from escalating. Muted alerts are stored, with what muted them."""
    (tmp_path / "routing.yaml").write_text(SUPPRESSING)
    settings = make_settings("routing_file: routing.yaml\n")
    async with TestClient(TestServer(create_app(settings))) as client:
        base = {"alertname": "HighLatency", "service": "api"}
        critical = am_alert(base | {"instance": "a", "severity": "critical"})
        warning_a = am_alert(base | {"instance": "a", "severity": "warning", "env": "x"})
        warning_b = am_alert(base | {"instance": "b", "severity": "warning", "env": "y"})
        body = am_webhook([critical, warning_a, warning_b])
        assert (await client.post("/api/v1/alerts/alertmanager", json=body)).status == 202
        db = await open_incident(client, {"alertname": "ReplicaLag", "service": "postgres"})

        async def states() -> dict[str, dict[str, Any]] | None:
            found: dict[str, dict[str, Any]] = {}
            listing = await (await client.get("/api/v1/incidents")).json()
            for incident in listing["incidents"]:
                detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
                found.update({a["fingerprint"]: a for a in detail["alerts"]})
            return found if len(found) == 4 else None

        alerts = await eventually(states, what="all four alerts stored")
    assert alerts[critical["fingerprint"]]["suppressed_by"] == []
    assert alerts[warning_a["fingerprint"]]["suppressed_by"] == [
        "inhibition:critical-mutes-warning"
    ]
    assert alerts[warning_b["fingerprint"]]["suppressed_by"] == []
    [db_alert] = [a for a in alerts.values() if a["labels"].get("service") == "postgres"]
    assert db_alert["suppressed_by"] == ["maintenance:db-upgrade"]
    assert db["suppressed_by"] == ["maintenance:db-upgrade"]
    assert await aredis.zscore(keys.ESCALATIONS, db["id"]) is None, "maintenance: no pages"
