"""Trained triage through the real app: what a new incident carries, reclassify and reassign
as training labels, the models API and its refusals."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon import keys
from daemon.app import create_app
from daemon.appkeys import MODELS
from daemon.corrections import CorrectionRecord
from tests.conftest import SettingsFactory
from tests.payloads import am_alert, am_webhook
from tests.waiting import eventually
from triage.classify import TriageInput, TriageResult

Client = TestClient[web.Request, web.Application]

ROUTING = """
groups:
  - name: triage-queue
  - name: dba
  - name: storage-team
route:
  group: triage-queue
  routes:
    - name: databases
      matchers: ['incident.category="databases"']
      group: dba
"""


@pytest.fixture
async def routed(make_settings: SettingsFactory, tmp_path: Path) -> Any:
    (tmp_path / "routing.yaml").write_text(ROUTING)
    settings = make_settings("routing_file: routing.yaml\n")
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def open_one(client: Client, labels: dict[str, str], summary: str) -> dict[str, Any]:
    alert = am_alert(labels, annotations={"summary": summary, "description": summary})
    response = await client.post("/api/v1/alerts/alertmanager", json=am_webhook([alert]))
    assert response.status == 202

    async def found() -> dict[str, Any] | None:
        body = await (await client.get("/api/v1/incidents")).json()
        match = [i for i in body["incidents"] if i["title"] == summary]
        return match[0] if match else None

    listed = await eventually(found, what=summary)
    detail: dict[str, Any] = await (await client.get(f"/api/v1/incidents/{listed['id']}")).json()
    return detail


async def test_a_new_incident_is_categorised_prioritised_and_routed_by_category(
    routed: Client,
) -> None:
    incident = await open_one(
        routed,
        {"alertname": "PostgresqlReplicationLag", "service": "orders-db", "severity": "critical"},
        "Postgres replica lags behind the primary by 5 minutes",
    )
    assert incident["category"] == "databases"
    assert incident["priority"] == "P2", "critical on one production service"
    assert incident["group"] == "dba", "the route on category decided"
    trace = incident["triage"]
    assert trace["category"]["decided_by"] == "model"
    assert trace["category"]["model"] == "alert-category"
    assert len(trace["category"]["alternatives"]) == 3
    assert trace["priority"]["impact"] == "medium"
    assert trace["priority"]["urgency"] == "high"
    assert trace["route"]["decided_by"] == "rule"
    assert set(trace["model_versions"]) >= {"alert-category", "resolver-group"}
    assert [e["kind"] for e in incident["timeline"]] == ["open", "classify", "procedure"]
    metrics = await (await routed.get("/metrics")).text()
    assert 'triaged_triage_predictions_total{decided_by="model",field="category"} 1.0' in metrics
    assert "triaged_model_info{" in metrics


async def test_staging_alerts_are_low_impact(routed: Client) -> None:
    incident = await open_one(
        routed,
        {
            "alertname": "HostOutOfMemory",
            "service": "api",
            "severity": "critical",
            "env": "staging",
        },
        "api host is out of memory",
    )
    assert (incident["priority"], incident["triage"]["priority"]["impact"]) == ("P3", "low")


async def test_reclassify_and_reassign_are_kept_as_training_labels(
    routed: Client, aredis: Redis
) -> None:
    incident = await open_one(
        routed, {"alertname": "VolumeAlmostFull", "service": "files"}, "files volume 95% full"
    )
    response = await routed.post(
        f"/api/v1/incidents/{incident['id']}/reclassify",
        json={"actor": "dana", "category": "storage", "priority": "P2", "reason": "disk"},
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["category"], body["priority"]) == ("storage", "P2")
    assert body["triage"]["category"]["decided_by"] == "operator"
    response = await routed.post(
        f"/api/v1/incidents/{incident['id']}/reassign",
        json={"actor": "dana", "group": "storage-team"},
    )
    assert response.status == 200
    entries = cast(
        "list[tuple[bytes, dict[bytes, bytes]]]", await aredis.xrange(keys.CORRECTIONS_STREAM)
    )
    records = [msgspec.json.decode(fields[b"c"], type=CorrectionRecord) for _, fields in entries]
    assert [(r.action, r.correction.category, r.correction.group) for r in records] == [
        ("reclassify", "storage", None),
        ("reassign", None, "storage-team"),
    ]
    assert records[0].correction.item.title == "files volume 95% full"
    assert records[0].actor == "dana"
    detail = await (await routed.get(f"/api/v1/incidents/{incident['id']}")).json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.index("reclassify") < kinds.index("reassign")
    metrics = await (await routed.get("/metrics")).text()
    assert 'triaged_triage_corrections_total{field="category"} 1.0' in metrics
    assert 'triaged_triage_corrections_total{field="group"} 1.0' in metrics


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"actor": "a"}, 400, "category"),
        ({"actor": "a", "category": "kitchen-sink"}, 400, "category"),
        # A help-desk topic is no category for a monitoring alert (the alerts' is "storage").
        ({"actor": "a", "category": "Storage"}, 400, "category"),
        ({"actor": "a", "priority": "P0"}, 400, "priority"),
        ({"actor": "a", "priority": 1}, 400, "priority"),
        ({"actor": "a", "category": ""}, 400, "category"),
        ({"category": "storage"}, 400, "actor"),
        ({"actor": "a", "category": "storage", "colour": "red"}, 400, "colour"),
    ],
)
async def test_bad_reclassify_bodies_are_refused_and_change_nothing(
    routed: Client, aredis: Redis, body: dict[str, Any], status: int, field: str
) -> None:
    incident = await open_one(routed, {"alertname": "Oops", "service": "x"}, "oops on x")
    response = await routed.post(f"/api/v1/incidents/{incident['id']}/reclassify", json=body)
    assert response.status == status
    assert field in [e["field"] for e in (await response.json())["errors"]]
    after = await (await routed.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert (after["category"], after["priority"]) == (incident["category"], incident["priority"])
    assert len(after["timeline"]) == len(incident["timeline"])
    assert await aredis.xlen(keys.CORRECTIONS_STREAM) == 0


async def test_a_category_on_another_action_and_a_no_op_reclassify_are_refused(
    routed: Client,
) -> None:
    incident = await open_one(routed, {"alertname": "Oops", "service": "y"}, "oops on y")
    response = await routed.post(
        f"/api/v1/incidents/{incident['id']}/acknowledge", json={"actor": "a", "category": "x"}
    )
    assert response.status == 400
    same = {"actor": "a", "category": incident["category"], "priority": incident["priority"]}
    response = await routed.post(f"/api/v1/incidents/{incident['id']}/reclassify", json=same)
    assert response.status == 409


async def test_models_api_lists_the_models_and_retrain_needs_base_data(routed: Client) -> None:
    body = await (await routed.get("/api/v1/models")).json()
    names = {m["name"] for m in body["models"]}
    assert names == {"alert-category", "alert-service", "ticket-category", "urgency",
                     "resolver-group"}  # fmt: skip
    category = next(m for m in body["models"] if m["name"] == "alert-category")
    assert category["metrics"]["macro_f1"] >= 0.95
    response = await routed.post("/api/v1/models/retrain")
    assert response.status == 409
    assert (await response.json())["errors"][0]["field"] == "triage.datasets_dir"


@pytest.mark.parametrize(
    ("body", "field"),
    [(b'{"sample": 0.1}', "sample"), (b"[1]", "(body)"), (b"{", "(body)"), (b"null", "(body)")],
)
async def test_retrain_takes_no_parameters_and_names_what_it_refused(
    routed: Client, aredis: Redis, body: bytes, field: str
) -> None:
    headers = {"Content-Type": "application/json"}
    response = await routed.post("/api/v1/models/retrain", data=body, headers=headers)
    assert response.status == 400
    assert [e["field"] for e in (await response.json())["errors"]] == [field]
    assert not await aredis.exists(keys.RETRAIN_LOCK)
    for empty in (b"", b"{ }", b" {}\n"):
        response = await routed.post("/api/v1/models/retrain", data=empty, headers=headers)
        assert response.status == 409, "past the body check, refused for want of base data"


async def test_models_api_needs_the_token_when_one_is_set(make_settings: SettingsFactory) -> None:
    settings = make_settings("auth:\n  api_tokens: [s3cret]\n")
    async with TestClient(TestServer(create_app(settings))) as client:
        assert (await client.get("/api/v1/models")).status == 401
        assert (await client.post("/api/v1/models/retrain")).status == 401
        ok = await client.get("/api/v1/models", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200


async def test_a_batch_folded_again_after_a_conflict_is_counted_once(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """Another writer changes an incident while the models classify the batch that grows it:
    the batch is folded and classified again, and the metrics count what was committed."""
    (tmp_path / "routing.yaml").write_text(ROUTING)
    settings = make_settings(
        "routing_file: routing.yaml\n"
        "triage:\n  priority:\n    default_impact: low\n    medium_impact_alerts: 2\n"
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        critical = {"service": "orders", "severity": "critical"}
        grown = await open_one(client, {"alertname": "OrdersDown", **critical}, "orders down")
        assert grown["priority"] == "P3", "one alert, low impact, high urgency"
        assert client.app is not None
        triager = client.app[MODELS].triager
        classify_batch = triager.classify_batch
        classifying, written = threading.Event(), threading.Event()

        def held(items: Sequence[TriageInput]) -> list[TriageResult]:
            if not classifying.is_set():
                classifying.set()
                written.wait(10)
            return classify_batch(items)

        triager.classify_batch = held  # type: ignore[method-assign]
        alerts = [
            am_alert({"alertname": "OrdersSlow", **critical}, annotations={"summary": "slow"}),
            am_alert({"alertname": "BillingDown", "service": "billing"}),
        ]
        response = await client.post("/api/v1/alerts/alertmanager", json=am_webhook(alerts))
        assert response.status == 202
        assert await asyncio.to_thread(classifying.wait, 10)
        note = {"actor": "dana", "message": "looking"}
        response = await client.post(f"/api/v1/incidents/{grown['id']}/note", json=note)
        assert response.status == 200
        written.set()

        async def both() -> list[dict[str, Any]] | None:
            body = await (await client.get("/api/v1/incidents")).json()
            return body["incidents"] if len(body["incidents"]) == 2 else None

        await eventually(both, what="the billing incident")
        detail = await (await client.get(f"/api/v1/incidents/{grown['id']}")).json()
        assert detail["priority"] == "P2"
        assert [e["kind"] for e in detail["timeline"]].count("reprioritise") == 1
        metrics = await (await client.get("/metrics")).text()
    assert "triaged_pipeline_conflicts_total 1.0" in metrics, "the batch was folded again"
    assert 'triaged_triage_predictions_total{decided_by="model",field="category"} 2.0' in metrics
    assert "triaged_triage_reprioritised_total 1.0" in metrics
    assert 'triaged_route_hits_total{route="root"} 2.0' in metrics, "each opening routed once"


async def test_corrections_are_remembered_in_the_models_thread_not_on_the_event_loop(
    routed: Client,
) -> None:
    """Remembering vectorises corrections; on the loop it would stall every request, and
    beside a batch being classified it would change the memory that batch reads."""
    assert routed.app is not None
    triager = routed.app[MODELS].triager
    threads: dict[str, set[str]] = {"remember": set(), "classify_batch": set()}
    for name, threads_seen in threads.items():
        real = getattr(triager, name)

        def spy(*args: Any, _real: Any = real, _seen: set[str] = threads_seen) -> Any:
            _seen.add(threading.current_thread().name)
            return _real(*args)

        setattr(triager, name, spy)
    first = await open_one(routed, {"alertname": "DiskFull", "service": "files"}, "files full")
    response = await routed.post(
        f"/api/v1/incidents/{first['id']}/reassign", json={"actor": "dana", "group": "dba"}
    )
    assert response.status == 200
    await open_one(routed, {"alertname": "DiskFull", "service": "blobs"}, "blobs full")
    assert threads["remember"], "the correction was remembered before the next batch"
    assert threads["remember"] == threads["classify_batch"]
    assert all(name.startswith("triage") for name in threads["remember"]), threads


async def test_only_changes_that_left_a_training_label_are_counted_as_corrections(
    routed: Client, aredis: Redis
) -> None:
    incident = await open_one(routed, {"alertname": "Oops", "service": "z"}, "oops on z")
    url = f"/api/v1/incidents/{incident['id']}"
    same_group = {"actor": "a", "group": incident["group"]}
    assert (await routed.post(f"{url}/reassign", json=same_group)).status == 200
    new_priority = {"actor": "a", "category": incident["category"], "priority": "P1"}
    response = await routed.post(f"{url}/reclassify", json=new_priority)
    assert response.status == 200
    assert (await response.json())["priority"] == "P1"
    assert await aredis.xlen(keys.CORRECTIONS_STREAM) == 0, "neither changed group or category"
    metrics = await (await routed.get("/metrics")).text()
    assert "triaged_triage_corrections_total{" not in metrics
