"""The process API over the real app: casework actions and their refusals, restricted
visibility, stakeholder subscriptions, problem candidates, KPI queries, auto-close and
update reminders."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from daemon import keys
from daemon.app import create_app
from daemon.appkeys import SETTINGS
from tests.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.integration.test_process_scenario import act, detail
from tests.payloads import am_alert, am_webhook
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]
MIN, HOUR, DAY = 60.0, 3600.0, 86400.0

CHANNELS = """
triage:
  priority:
    customer_facing: [payments, checkout]
channels:
  - {name: stakeholders, type: webhook, url: "http://127.0.0.1:9/hook"}
  - name: mail
    type: email
    smtp_host: 127.0.0.1
    sender: triaged@example.com
    to: [ops@example.com]
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(make_settings: SettingsFactory, clock: ManualClock) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(make_settings(CHANNELS, clock=clock)))) as c:
        yield c


async def open_incident(
    client: Client, service: str = "checkout", severity: str = "warning", **labels: str
) -> dict[str, Any]:
    """Fire the service's alert (anew, after it was cleared) and wait for its incident."""
    alert = am_alert(
        {"alertname": "Errors", "service": service, "severity": severity, **labels},
        starts_at=client.app[SETTINGS].clock(),
    )
    response = await client.post("/api/v1/alerts/alertmanager", json=am_webhook([alert]))
    assert response.status == 202
    return await eventually(lambda: _open(client, service), what=f"an incident of {service}")


async def clear_alert(client: Client, service: str = "checkout") -> None:
    now = client.app[SETTINGS].clock()
    labels = {"alertname": "Errors", "service": service, "severity": "warning"}
    alert = am_alert(labels, status="resolved", starts_at=now - 1, ends_at=now)
    response = await client.post("/api/v1/alerts/alertmanager", json=am_webhook([alert]))
    assert response.status == 202


async def _status(client: Client, incident_id: str, status: str) -> bool:
    return bool((await detail(client, incident_id))["status"] == status)


async def _open(client: Client, service: str) -> dict[str, Any] | None:
    listed = (await (await client.get("/api/v1/incidents")).json())["incidents"]
    found = [i for i in listed if i["key"] == f"service={service}" and i["status"] != "closed"]
    return found[0] if found else None


def kinds(incident: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in incident["timeline"] if e["kind"] != "delivery"]


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("action", "body", "status", "field"),
    [
        ("resolve", {}, 400, "actor"),
        ("resolve", {"actor": "a", "notes": "restarted"}, 400, "code"),
        ("resolve", {"actor": "a", "code": "magic", "notes": "restarted"}, 400, "code"),
        ("resolve", {"actor": "a", "code": 7, "notes": "restarted"}, 400, "code"),
        ("resolve", {"actor": "a", "code": "fixed"}, 400, "notes"),
        ("resolve", {"actor": "a", "code": "fixed", "notes": "x", "cause": "dns"}, 400, "cause"),
        ("close", {"actor": "a", "force": "yes"}, 400, "force"),
        ("close", {"actor": "a"}, 409, "action"),
        ("cancel", {"actor": "a"}, 400, "reason"),
        ("cancel", {"actor": "a", "reason": "boredom"}, 400, "reason"),
        ("update", {"actor": "a"}, 400, "message"),
        ("update", {"actor": "a", "message": ""}, 400, "message"),
        ("complete-step", {"actor": "a"}, 400, "step"),
        ("complete-step", {"actor": "a", "step": "dance"}, 404, "step"),
        ("follow-up", {"actor": "a", "owner": "b"}, 400, "title"),
        ("follow-up", {"actor": "a", "owner": "b", "title": "t", "due_at": "soon"}, 400, "due_at"),
        ("complete-follow-up", {"actor": "a", "follow_up": "FU-9"}, 404, "follow_up"),
        ("link-problem", {"actor": "a"}, 400, "problem"),
        ("pause", {"actor": "a", "reason": "lunch"}, 400, "reason"),
        ("resume", {"actor": "a"}, 409, "action"),
    ],
)
async def test_bad_action_bodies_are_refused_naming_the_field_and_change_nothing(
    client: Client, action: str, body: dict[str, Any], status: int, field: str
) -> None:
    incident = await open_incident(client)
    got, answer = await act(client, incident["id"], action, **body)
    assert got == status, answer
    assert field in [e["field"] for e in answer["errors"]]
    after = await detail(client, incident["id"])
    assert after["status"] == "triggered"
    assert kinds(after) == ["open", "classify", "procedure"]
    assert after["process"]["follow_ups"] == []


async def test_malformed_unsupported_and_oversized_bodies_are_refused(client: Client) -> None:
    incident = await open_incident(client)
    url = f"/api/v1/incidents/{incident['id']}/update"
    response = await client.post(url, data=b'{"actor": "a", "message": ', headers=_JSON)
    assert response.status == 400
    response = await client.post(url, data=b"actor=a", headers={"Content-Type": "text/plain"})
    assert (response.status, (await response.json())["errors"][0]["field"]) == (415, "Content-Type")
    huge = {"actor": "a", "message": "x" * (2 * 1024 * 1024)}
    assert (await client.post(url, json=huge)).status == 413
    response = await client.post(
        "/api/v1/incidents/INC-404/update", json={"actor": "a", "message": "m"}
    )
    assert (response.status, (await response.json())["errors"][0]["field"]) == (404, "id")
    assert kinds(await detail(client, incident["id"])) == ["open", "classify", "procedure"]
    status, _ = await act(client, incident["id"], "update", actor="a", message="still serving")
    assert status == 200


_JSON = {"Content-Type": "application/json"}


async def test_closing_over_open_steps_needs_force_and_a_reason(client: Client) -> None:
    incident = await open_incident(client)  # P3: the standard procedure, "diagnose" required
    assert incident["procedure"] == "standard"
    status, _ = await act(client, incident["id"], "resolve", actor="ann", code="fixed", notes="n")
    assert status == 200
    status, refused = await act(client, incident["id"], "close", actor="ann")
    assert status == 409
    assert "required steps are open: diagnose" in refused["errors"][0]["message"]
    status, refused = await act(client, incident["id"], "close", actor="ann", force=True)
    assert (status, refused["errors"][0]["field"]) == (400, "reason")
    status, closed = await act(
        client, incident["id"], "close", actor="ann", force=True, reason="host retired"
    )
    assert (status, closed["status"]) == (200, "closed")
    close = (await detail(client, incident["id"]))["timeline"][-1]
    assert (close["kind"], close["actor"]) == ("close", "ann")
    assert close["message"] == "closed with required steps open (diagnose): host retired"
    assert close["data"]["forced"] is True


async def test_a_cancelled_incident_is_left_out_of_the_kpis_and_frees_its_key(
    client: Client, clock: ManualClock
) -> None:
    incident = await open_incident(client)
    status, cancelled = await act(
        client, incident["id"], "cancel", actor="ann", reason="duplicate", message="of INC-0"
    )
    assert (status, cancelled["status"], cancelled["process"]["cancelled"]) == (
        200,
        "closed",
        "duplicate",
    )
    assert (await detail(client, incident["id"]))["timeline"][-1]["message"] == (
        "cancelled as duplicate: of INC-0"
    )
    clock.advance(1)  # the report runs to now, and [from, to) leaves its end out
    report = await (await client.get("/api/v1/reports/kpis")).json()
    assert (report["total"]["incidents"], report["excluded"]["cancelled"]) == (0, 1)
    await clear_alert(client)
    clock.advance(MIN)
    again = await open_incident(client)
    assert again["id"] != incident["id"], "the cancelled incident gave up its key"


async def test_steps_follow_ups_problem_links_and_pauses_are_recorded_with_their_actor(
    client: Client, clock: ManualClock
) -> None:
    incident = await open_incident(client)
    incident_id = incident["id"]
    assert (await act(client, incident_id, "complete-step", actor="ann", step="diagnose"))[0] == 200
    status, again = await act(client, incident_id, "complete-step", actor="bob", step="diagnose")
    assert (status, "already completed by ann" in again["errors"][0]["message"]) == (409, True)
    status, _ = await act(
        client, incident_id, "follow-up", actor="ann", title="Add a canary", owner="bob",
        due_at="2026-01-10T12:00:00Z",
    )  # fmt: skip
    assert status == 200
    status, _ = await act(client, incident_id, "complete-follow-up", actor="bob", follow_up="FU-1")
    assert status == 200
    assert (await act(client, incident_id, "link-problem", actor="ann", problem="PRB-12"))[0] == 200
    assert (await act(client, incident_id, "pause", actor="ann", reason="supplier"))[0] == 200
    clock.advance(HOUR)
    assert (await act(client, incident_id, "resume", actor="ann"))[0] == 200
    found = await detail(client, incident_id)
    process = found["process"]
    assert process["checklist"][0]["done_by"] == "ann"
    assert process["follow_ups"][0] | {"created_at": None} == {
        "id": "FU-1", "title": "Add a canary", "owner": "bob", "created_by": "ann",
        "created_at": None, "due_at": "2026-01-10T12:00:00Z",
        "done_at": "2026-01-01T00:00:00Z", "done_by": "bob",
    }  # fmt: skip
    assert process["problem_id"] == "PRB-12"
    assert process["pauses"] == [
        {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z", "reason": "supplier"}
    ]
    assert process["targets"]["respond"]["elapsed"] == 0.0  # the clock stood still
    entries = [(e["kind"], e["actor"]) for e in found["timeline"] if e["kind"] != "delivery"]
    assert entries[3:] == [
        ("step", "ann"), ("follow_up", "ann"), ("follow_up_done", "bob"), ("problem", "ann"),
        ("pause", "ann"), ("resume", "ann"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- visibility

SECURED = """
auth:
  api_tokens: [plain-token]
  scoped_tokens:
    - {token: security-token, scopes: [security]}
process:
  selection:  # visibility is under test here, not the classifier: any category will do
    security_categories: [basic-resource-monitoring, databases, message-brokers,
      proxies-load-balancers-and-service-meshes, runtimes, data-engineering, orchestrators,
      ci-cd, network-and-security, storage, cloud-providers, observability, other]
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_security_incidents_details_need_the_security_scope(
    make_settings: SettingsFactory,
) -> None:
    async with TestClient(TestServer(create_app(make_settings(SECURED + CHANNELS)))) as client:
        alert = am_alert(
            {"alertname": "SshBruteForce", "service": "bastion", "security": "true"},
            annotations={"summary": "Brute force against bastion from 203.0.113.9"},
        )
        response = await client.post(
            "/api/v1/alerts/alertmanager", json=am_webhook([alert]), headers=bearer("plain-token")
        )
        assert response.status == 202
        plain, scoped = bearer("plain-token"), bearer("security-token")

        async def listed() -> list[dict[str, Any]] | None:
            response = await client.get("/api/v1/incidents", headers=plain)
            found: list[dict[str, Any]] = (await response.json())["incidents"]
            return found or None

        [stub] = await eventually(listed, what="the incident")
        assert stub["restricted"] == "security"
        assert stub["procedure"] == "security"
        assert not {"title", "key", "labels", "fingerprints", "triage", "process"} & set(stub)
        incident_id = stub["id"]
        base = f"/api/v1/incidents/{incident_id}"
        for method, path, body in [
            ("GET", base, None),
            ("GET", f"{base}/report", None),
            ("GET", f"{base}/subscribers", None),
            ("POST", f"{base}/update", {"actor": "eve", "message": "peek"}),
            ("POST", f"{base}/acknowledge", {"actor": "eve"}),
            ("POST", f"{base}/subscribers", {"actor": "eve", "channel": "stakeholders"}),
        ]:
            response = await client.request(method, path, json=body, headers=plain)
            answer = await response.json()
            assert (response.status, answer["error"]) == (403, "restricted incident"), path
            assert "security" in answer["errors"][0]["message"]
        assert (await client.get(base)).status == 401
        full = await (await client.get(base, headers=scoped)).json()
        assert full["title"] == "Brute force against bastion from 203.0.113.9"
        assert full["process"]["engaged"] == ["security-team", "incident-manager"]
        assert kinds(full) == ["open", "classify", "procedure"], (
            "the refused requests changed nothing"
        )
        response = await client.post(
            f"{base}/update", json={"actor": "sec", "message": "contained"}, headers=scoped
        )
        assert response.status == 200
        listed_scoped = await (await client.get("/api/v1/incidents", headers=scoped)).json()
        assert listed_scoped["incidents"][0]["title"].startswith("Brute force")
        problems = await (await client.get("/api/v1/problems", headers=plain)).json()
        assert problems["problems"] == []


# ---------------------------------------------------------------------------- subscriptions


async def test_service_and_incident_subscriptions_can_be_added_listed_and_removed(
    client: Client,
) -> None:
    base = "/api/v1/services/checkout/subscribers"
    body = {"actor": "sam", "channel": "stakeholders", "name": "support"}
    first = await client.post(base, json=body)
    assert first.status == 201
    sub = await first.json()
    assert (sub["channel"], sub["name"], sub["created_by"]) == ("stakeholders", "support", "sam")
    assert (await client.post(base, json=body)).status == 200, "the same subscription again"
    mail = {"actor": "sam", "channel": "mail", "address": "cto@example.com"}
    assert (await client.post(base, json=mail)).status == 201
    listed = await (await client.get(base)).json()
    assert sorted(s["name"] for s in listed["subscribers"]) == ["cto@example.com", "support"]
    for bad, field in [
        ({"actor": "sam", "channel": "pager"}, "channel"),
        ({"actor": "sam", "channel": "stakeholders", "address": "a@example.com"}, "address"),
        ({"actor": "sam", "channel": "mail", "address": "not an address"}, "address"),
        ({"channel": "mail"}, "actor"),
        ({"actor": "sam", "channel": "mail", "url": "http://evil.example"}, "url"),
    ]:
        response = await client.post(base, json=bad)
        assert response.status == 400, bad
        assert field in [e["field"] for e in (await response.json())["errors"]]
    response = await client.delete(f"{base}/{sub['id']}")
    assert (response.status, (await response.json())["errors"][0]["field"]) == (400, "actor")
    assert (await client.delete(f"{base}/SUB-000000000000?actor=sam")).status == 404
    assert (await client.delete(f"{base}/{sub['id']}?actor=sam")).status == 200
    listed = await (await client.get(base)).json()
    assert [s["name"] for s in listed["subscribers"]] == ["cto@example.com"]

    incident = await open_incident(client)
    url = f"/api/v1/incidents/{incident['id']}/subscribers"
    added = await (await client.post(url, json={"actor": "ann", "channel": "stakeholders"})).json()
    assert (await client.delete(f"{url}/{added['id']}?actor=ann")).status == 200
    assert (await client.get("/api/v1/incidents/INC-404/subscribers")).status == 404
    entries = [(e["kind"], e["actor"]) for e in (await detail(client, incident["id"]))["timeline"]]
    assert entries[-2:] == [("subscribe", "ann"), ("unsubscribe", "ann")]


# ---------------------------------------------------------------------------- recurrence


async def test_a_recurring_key_becomes_a_problem_candidate_and_its_incidents_say_how_often(
    client: Client, clock: ManualClock
) -> None:
    ids = []
    for _ in range(3):
        incident = await open_incident(client, service="search")
        ids.append(incident["id"])
        status, _ = await act(client, incident["id"], "complete-step", actor="a", step="diagnose")
        assert status == 200
        await clear_alert(client, service="search")  # the incident resolves by itself
        resolved = functools.partial(_status, client, incident["id"], "resolved")
        await eventually(resolved, what="the resolution")
        assert (await act(client, incident["id"], "close", actor="a"))[0] == 200
        clock.advance(DAY)
    seen = [(await detail(client, i))["process"]["seen"] for i in ids]
    assert [(s["count"], s["label"]) for s in seen] == [(1, "new"), (2, "rare"), (3, "frequent")]
    assert seen[2]["text"] == "seen 3 times in 30d"
    problems = await (await client.get("/api/v1/problems")).json()
    assert (problems["window"], problems["threshold"]) == ("30d", 3)
    [candidate] = problems["problems"]
    assert (candidate["basis"], candidate["value"], candidate["count"]) == (
        "key",
        "service=search",
        3,
    )
    assert candidate["incident_ids"] == ids
    status, _ = await act(client, ids[0], "link-problem", actor="a", problem=candidate["id"])
    assert status == 200
    problems = await (await client.get("/api/v1/problems")).json()
    assert problems["problems"][0]["linked_problems"] == [candidate["id"]]
    assert (await client.get("/api/v1/problems", params={"window": "1d"})).status == 400


# ---------------------------------------------------------------------------- KPIs


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ({"group_by": "team"}, "group_by"),
        ({"format": "xml"}, "format"),
        ({"sort": "asc"}, "sort"),
    ],
)
async def test_bad_kpi_queries_name_the_parameter(
    client: Client, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/v1/reports/kpis", params=params)
    assert response.status == 400
    assert [e["field"] for e in (await response.json())["errors"]] == [field]


async def test_kpis_group_and_export_as_csv(client: Client, clock: ManualClock) -> None:
    await open_incident(client, service="checkout", severity="critical")
    await open_incident(client, service="search", severity="warning")
    clock.advance(1)  # the report runs to now, and [from, to) leaves its end out
    report = await (
        await client.get("/api/v1/reports/kpis", params={"group_by": "procedure"})
    ).json()
    assert [(r["key"], r["incidents"]) for r in report["rows"]] == [("major", 1), ("standard", 1)]
    assert report["total"]["backlog"]["total"] == 2
    response = await client.get(
        "/api/v1/reports/kpis", params={"format": "csv", "group_by": "priority"}
    )
    assert response.content_type == "text/csv"
    lines = (await response.text()).splitlines()
    assert lines[0].startswith("key,incidents,alerts,")
    assert [line.split(",")[0] for line in lines[1:]] == ["P1", "P3", "(total)"]


# ---------------------------------------------------------------------------- the timer


async def test_a_resolved_standard_incident_closes_itself_after_three_days(
    client: Client, clock: ManualClock, aredis: Redis
) -> None:
    incident = await open_incident(client)
    await act(client, incident["id"], "resolve", actor="ann", code="fixed", notes="cleared disk")
    clock.advance(3 * DAY)

    async def closed() -> dict[str, Any] | None:
        found = await detail(client, incident["id"])
        return found if found["status"] == "closed" else None

    found = await eventually(closed, what="the auto-close")
    close = found["timeline"][-1]
    assert (close["kind"], close["actor"], close["data"]["auto"]) == ("close", "triaged", True)
    assert "required steps open (diagnose)" in close["message"]
    assert await aredis.get(keys.incident_for_key(incident["key"])) is None, "key given up"


async def test_an_overdue_update_is_recorded_and_reminded_once_per_cadence(
    client: Client, clock: ManualClock
) -> None:
    incident = await open_incident(client, severity="critical")
    assert incident["procedure"] == "major"
    clock.advance(31 * MIN)

    async def reminded() -> list[dict[str, Any]] | None:
        found = await detail(client, incident["id"])
        return [e for e in found["timeline"] if e["kind"] == "update_due"] or None

    [reminder] = await eventually(reminded, what="the reminder")
    assert "stakeholder update overdue" in reminder["message"]
    status, _ = await act(client, incident["id"], "update", actor="ann", message="bridge open")
    assert status == 200
    after = await detail(client, incident["id"])
    assert after["process"]["next_update_due"] == "2026-01-01T01:01:00Z"
    assert len([e for e in after["timeline"] if e["kind"] == "update_due"]) == 1
    metrics = await (await client.get("/metrics")).text()
    assert "triaged_update_reminders_total 1.0" in metrics
