"""/metrics exports what the core issue names: alerts received by source and outcome,
dedup hits, incidents opened and resolved, stream length and pending, and latency
histograms per batch and per stage, all counted from a real flow through the app."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.payloads import am_alert, am_webhook
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value for every sample line of the exposition format."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


async def test_the_core_metrics_count_a_real_flow(client: Client) -> None:
    labels = {"alertname": "Down", "service": "api"}
    started = time.time() - 60
    firing = am_webhook([am_alert(labels, starts_at=started)])
    for _ in range(2):  # the second copy is a dedup hit
        assert (await client.post("/api/v1/alerts/alertmanager", json=firing)).status == 202
    bad = await client.post(
        "/api/v1/alerts/alertmanager", data="{", headers={"Content-Type": "application/json"}
    )
    assert bad.status == 400
    resolved = am_webhook(
        [am_alert(labels, status="resolved", starts_at=started, ends_at=time.time())]
    )
    assert (await client.post("/api/v1/alerts/alertmanager", json=resolved)).status == 202

    async def counted() -> dict[str, float] | None:
        found = samples(await (await client.get("/metrics")).text())
        done = found.get('triaged_incidents_resolved_total{how="auto"}', 0) == 1
        # The gauges are refreshed by the scheduler every second, after the work is done.
        return found if done and found.get("triaged_stream_pending_entries") == 0 else None

    found = await eventually(counted, what="the resolution counted")
    expected = {
        'triaged_alerts_received_total{outcome="accepted",source="alertmanager"}': 3,
        'triaged_ingest_requests_rejected_total{source="alertmanager",status="400"}': 1,
        'triaged_dedup_events_total{change="new"}': 1,
        'triaged_dedup_events_total{change="refreshed"}': 1,
        'triaged_dedup_events_total{change="resolved"}': 1,
        "triaged_incidents_opened_total": 1,
        'triaged_incidents_resolved_total{how="auto"}': 1,
        "triaged_pipeline_alerts_processed_total": 3,
        "triaged_stream_pending_entries": 0,
        "triaged_pipeline_workers_alive": 1,
        "triaged_redis_up": 1,
    }
    assert {name: found.get(name) for name in expected} == expected
    assert found["triaged_stream_length_entries"] >= 0
    assert found["triaged_pipeline_batch_events_count"] >= 1
    assert found["triaged_pipeline_end_to_end_seconds_count"] == 3
    for stage in ("load", "fold", "record", "batch"):
        assert found[f'triaged_pipeline_stage_seconds_count{{stage="{stage}"}}'] >= 1, stage
        assert f'triaged_pipeline_stage_seconds_bucket{{le="+Inf",stage="{stage}"}}' in found
    route = 'route="/api/v1/alerts/{source}"'
    assert found[f'triaged_http_request_duration_seconds_count{{method="POST",{route}}}'] == 4
