"""A major incident from first alert to review, through the real app with a manual clock.

A P1 alert opens a major incident with its checklist and engaged roles; the service's
subscribers hear of the opening; the respond target runs out, which is recorded and
escalated; a status update reaches the subscribers; resolving without a code is refused;
the resolution reaches them too; the review holds the whole timeline; and the KPIs of the
scenario are the figures worked out by hand below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from daemon.app import create_app
from tests.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.payloads import am_alert, am_webhook
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]
MIN = 60.0

ROUTING = """
groups:
  - name: triage-queue
  - name: payments
    channels: [team-hook]
    escalation_policy: payments
  - name: incident-managers
    channels: [im-hook]
escalation_policies:
  - name: payments
    levels:
      - {timeout: 2h, targets: ["group:payments"]}
      - {timeout: 2h, targets: ["group:incident-managers"]}
route:
  group: triage-queue
  routes:
    - name: payments
      matchers: ['service="payments"']
      group: payments
"""

# payments is customer-facing: its critical alert has high impact and urgency, so P1.
CUSTOMER_FACING = "triage:\n  priority:\n    customer_facing: [payments, checkout]\n"


class Receiver:
    """A local HTTP endpoint standing in for the webhook receivers of the channels."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/{hook}", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append({"hook": request.match_info["hook"], **body})
        return web.Response(status=204)

    def events(self, hook: str) -> list[str]:
        return [r["transition"] for r in self.received if r["hook"] == hook]

    async def wait_for(self, hook: str, transition: str) -> dict[str, Any]:
        async def arrived() -> dict[str, Any] | None:
            return next(
                (r for r in self.received if (r["hook"], r["transition"]) == (hook, transition)),
                None,
            )

        return await eventually(arrived, what=f"{transition} at {hook} (got {self.received})")


async def act(client: Client, incident_id: str, action: str, **body: Any) -> tuple[int, Any]:
    response = await client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body)
    return response.status, await response.json()


async def detail(client: Client, incident_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    return found


async def test_a_major_incident_from_alert_to_review(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    clock = ManualClock()
    t0 = clock.now
    receiver = Receiver()
    async with TestServer(receiver.app) as hooks:
        (tmp_path / "routing.yaml").write_text(ROUTING)
        channels = "".join(
            f"  - {{name: {name}, type: webhook, url: '{hooks.make_url('/' + name)}'}}\n"
            for name in ("team-hook", "im-hook", "stakeholders")
        )
        settings = make_settings(
            f"routing_file: routing.yaml\n{CUSTOMER_FACING}channels:\n{channels}", clock=clock
        )
        async with TestClient(TestServer(create_app(settings))) as client:
            await scenario(client, clock, receiver, t0)


async def scenario(client: Client, clock: ManualClock, receiver: Receiver, t0: float) -> None:
    subscribe = {"actor": "sam", "channel": "stakeholders", "name": "customer support"}
    response = await client.post("/api/v1/services/payments/subscribers", json=subscribe)
    assert response.status == 201

    # A P1 alert opens a major incident with its checklist and engaged roles.
    labels = {"alertname": "CheckoutFailing", "service": "payments", "severity": "critical"}
    alert = am_alert(labels, starts_at=t0 - 2 * MIN)
    assert (
        await client.post("/api/v1/alerts/alertmanager", json=am_webhook([alert]))
    ).status == 202

    async def opened() -> dict[str, Any] | None:
        listed = (await (await client.get("/api/v1/incidents")).json())["incidents"]
        return listed[0] if listed else None

    incident_id = (await eventually(opened, what="the incident"))["id"]
    incident = await detail(client, incident_id)
    assert (incident["priority"], incident["procedure"], incident["group"]) == (
        "P1",
        "major",
        "payments",
    )
    process = incident["process"]
    assert [s["id"] for s in process["checklist"]] == [
        "declare", "bridge", "first-update", "mitigate", "review",
    ]  # fmt: skip
    assert process["engaged"] == ["incident-manager", "service-owner"]
    assert (process["update_every"], process["review_required"]) == (1800.0, True)
    assert incident["triage"]["procedure"]["reason"] == "P1 is always a major incident"
    assert process["seen"]["label"] == "new"

    # The subscribers hear of the opening; the group is paged (the policy's first level).
    opening = await receiver.wait_for("stakeholders", "opened")
    assert opening["incident"]["id"] == incident_id
    assert opening["target"].startswith("SUB-")
    await receiver.wait_for("team-hook", "escalated:1")

    # At 75% of the 15 minute respond target the group is warned; at 15 minutes the target
    # is breached, recorded, and escalated to the policy's next level.
    clock.advance(12 * MIN)
    warning = await receiver.wait_for("team-hook", "target_at_risk:respond")
    assert "respond target (15m) at risk" in warning["note"]
    clock.advance(3 * MIN)
    escalation = await receiver.wait_for("im-hook", "escalated:2")
    assert escalation["incident"]["escalation_level"] == 2
    breached = await detail(client, incident_id)
    [breach] = [e for e in breached["timeline"] if e["data"].get("state") == "breached"]
    assert breach["at"] == "2026-01-01T00:15:00Z"
    [step] = [
        e for e in breached["timeline"] if e["kind"] == "escalate" and e["data"]["level"] == 2
    ]
    assert step["data"]["reason"] == "target_breached"
    assert breached["process"]["targets"]["respond"]["state"] == "breached"

    # Acknowledged at 20 minutes; an update at 25 reaches the subscribers.
    clock.advance(5 * MIN)
    assert (await act(client, incident_id, "acknowledge", actor="ann"))[0] == 200
    for step_id in ("declare", "bridge"):
        assert (await act(client, incident_id, "complete-step", actor="ann", step=step_id))[
            0
        ] == 200
    clock.advance(5 * MIN)
    update = "Failing over to the standby payment provider"
    assert (await act(client, incident_id, "update", actor="ann", message=update))[0] == 200
    delivered = await receiver.wait_for("stakeholders", "update:1")
    assert delivered["note"] == update
    for step_id in ("first-update", "mitigate"):
        assert (await act(client, incident_id, "complete-step", actor="ann", step=step_id))[
            0
        ] == 200

    # Resolving needs a code and notes; resolved at 40 minutes, the subscribers hear of it.
    clock.advance(15 * MIN)
    status, refused = await act(client, incident_id, "resolve", actor="ann", notes="failed over")
    assert (status, [e["field"] for e in refused["errors"]]) == (400, ["code"])
    status, refused = await act(client, incident_id, "resolve", actor="ann", code="workaround")
    assert (status, [e["field"] for e in refused["errors"]]) == (400, ["notes"])
    notes = "Traffic failed over to the standby provider; primary under investigation"
    status, resolved = await act(
        client, incident_id, "resolve", actor="ann", code="workaround", notes=notes
    )
    assert (status, resolved["status"]) == (200, "resolved")
    assert (await receiver.wait_for("stakeholders", "resolved"))["note"] == notes

    # A major incident closes after its review, not before.
    status, refused = await act(client, incident_id, "close", actor="ann")
    assert status == 409
    assert "review" in refused["errors"][0]["message"]
    clock.advance(60 * MIN)
    assert (await act(client, incident_id, "complete-step", actor="ian", step="review"))[0] == 200
    status, _ = await act(
        client, incident_id, "follow-up", actor="ian", title="Alert on provider latency",
        owner="ann", due_at="2026-01-08T00:00:00Z",
    )  # fmt: skip
    assert status == 200
    status, closed = await act(client, incident_id, "close", actor="ian")
    assert (status, closed["status"]) == (200, "closed")

    # The review holds the full timeline.
    final = await detail(client, incident_id)
    review = await client.get(f"/api/v1/incidents/{incident_id}/report")
    assert (review.status, review.content_type) == (200, "text/markdown")
    text = await review.text()
    timeline_section = text.split("## Timeline", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in timeline_section.splitlines() if line.startswith("| 20")]
    assert len(rows) == len(final["timeline"])
    for entry, row in zip(sorted(final["timeline"], key=lambda e: e["at"]), rows, strict=True):
        assert entry["kind"] in row
        assert entry["message"].replace("|", "\\|") in row
    kinds = {e["kind"] for e in final["timeline"]}
    assert {"open", "procedure", "target", "escalate", "acknowledge", "update", "step"} <= kinds
    assert {"resolve", "follow_up", "close", "delivery"} <= kinds
    assert "| Respond (acknowledge) | 15m | 20m | 20m | 2026-01-01T00:15:00Z | breached |" in text
    assert "| Resolve | 4h | 40m | 40m | 2026-01-01T04:00:00Z | met |" in text
    assert "- [x] Hold the post-incident review: ian" in text
    assert "- [ ] FU-1 Alert on provider latency (owner ann, due 2026-01-08T00:00:00Z)" in text

    # KPIs of the scenario, by hand: one incident of one alert (no noise reduction),
    # acknowledged 20 minutes and resolved 40 minutes after registration; the respond
    # target (15m) was missed and the resolve target (4h) met; the breach escalated once
    # (an escalation "by timeout", not by hand); no reassignment, no reopen.
    response = await client.get(
        "/api/v1/reports/kpis", params={"from": "2026-01-01", "to": "2026-01-02"}
    )
    assert response.status == 200
    total = (await response.json())["total"]
    assert (total["incidents"], total["alerts"], total["noise_reduction"]) == (1, 1, 0.0)
    assert total["mtta"] == {"count": 1, "mean": 20 * MIN, "p50": 20 * MIN, "p90": 20 * MIN}
    assert total["mttr"] == {"count": 1, "mean": 40 * MIN, "p50": 40 * MIN, "p90": 40 * MIN}
    assert total["respond"] == {"met": 0, "breached": 1, "running": 0, "no_target": 0, "rate": 0.0}
    assert total["resolve"] == {"met": 1, "breached": 0, "running": 0, "no_target": 0, "rate": 1.0}
    assert (total["escalation_rate_timeout"], total["escalation_rate_manual"]) == (1.0, 0.0)
    assert (total["reassignment_rate"], total["reopen_rate"], total["auto_resolved_share"]) == (
        0.0,
        0.0,
        0.0,
    )
    assert total["first_assignment_resolution_rate"] == 1.0
    assert total["backlog"]["total"] == 0

    # Stakeholders heard exactly the three notices; the group heard its own events.
    assert receiver.events("stakeholders") == ["opened", "update:1", "resolved"]
    assert set(receiver.events("team-hook")) >= {"opened", "escalated:1", "acknowledged"}
    metrics = await (await client.get("/metrics")).text()
    for line in (
        'triaged_service_targets_total{clock="respond",state="breached"} 1.0',
        'triaged_service_targets_total{clock="resolve",state="met"} 1.0',
        'triaged_escalations_total{reason="target_breached"} 1.0',
        'triaged_incident_respond_seconds_count{priority="P1"} 1.0',
        'triaged_procedures_started_total{procedure="major"} 1.0',
    ):
        assert line in metrics, line
