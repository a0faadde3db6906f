"""Two real ``triaged serve`` processes on one Redis: each escalation step happens once.

Both daemons run a scheduler that ticks every second and a delivery worker; every
incident's three levels come due at the same moments for both. The pages go to a local
webhook receiver, which must see each (incident, level) once, and every incident's
timeline must show each level once, whichever daemon took it.

150 incidents make one scheduler's pass over the due steps last long enough that the
other daemon's tick usually falls inside it, so the two really compete for the same
steps (in trial runs each daemon took between 41 and 409 of the 450); which one wins is
up to timing, so the split is reported, not asserted.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.embedded_redis import EmbeddedRedis
from tests.e2e.daemon_process import Daemon
from tests.e2e.test_daemon_process import all_incidents
from tests.payloads import am_alert, am_webhook
from tests.receiver import Receiver
from tests.waiting import eventually

pytestmark = pytest.mark.slow

ROUTING = """
groups:
  - name: ops
    channels: [ops-hook]
    escalation_policy: fast
escalation_policies:
  - name: fast
    levels:
      - {timeout: 2s, targets: ["group:ops"]}
      - {timeout: 2s, targets: ["group:ops"]}
      - {timeout: 2s, targets: ["group:ops"]}
route:
  group: ops
"""
INCIDENTS = 150
LEVELS = 3


def escalations_logged(daemon: Daemon) -> int:
    lines = daemon.log_path.read_text(errors="replace").splitlines()
    return sum(1 for line in lines if '"incident_escalated"' in line)


async def test_two_daemons_take_each_escalation_step_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    store = EmbeddedRedis(tmp_path / "shared-redis")
    url = store.start()
    (tmp_path / "routing.yaml").write_text(ROUTING)
    config = tmp_path / "triaged.yaml"
    config.write_text(
        "routing_file: routing.yaml\n"
        "logging: {format: json}\n"
        f"channels:\n  - {{name: ops-hook, type: webhook, url: '{receiver.url()}',"
        " secret: s3cret}\n"
    )
    daemons = [Daemon(tmp_path / f"data{i}", config, redis_url=url) for i in range(2)]
    try:
        for daemon in daemons:
            daemon.start()
        async with aiohttp.ClientSession() as session:

            async def post(i: int) -> None:
                alert = am_alert({"alertname": "Down", "service": f"svc{i}"})
                base = daemons[i % 2].url
                async with session.post(
                    f"{base}/api/v1/alerts/alertmanager", json=am_webhook([alert])
                ) as response:
                    assert response.status == 202

            await asyncio.gather(*(post(i) for i in range(INCIDENTS)))

            async def all_at_the_last_level() -> list[dict[str, Any]] | None:
                found = await all_incidents(session, daemons[0].url)
                done = len(found) == INCIDENTS and all(
                    i["escalation_level"] == LEVELS for i in found
                )
                return found if done else None

            incidents = await eventually(all_at_the_last_level, within=30, what="level 3")
            pages = INCIDENTS * LEVELS

            async def all_paged() -> bool:
                return sum(receiver.events()[f"escalated:{n}"] for n in (1, 2, 3)) >= pages

            await eventually(all_paged, within=20, what="every page delivered")
            await asyncio.sleep(3)  # two more ticks of both schedulers: nothing more comes
            timelines = []
            for incident in incidents:
                async with session.get(
                    f"{daemons[1].url}/api/v1/incidents/{incident['id']}"
                ) as response:
                    timelines.append((await response.json())["timeline"])
        logged = [escalations_logged(daemon) for daemon in daemons]
    finally:
        for daemon in daemons:
            daemon.stop()
        store.stop()
    for timeline in timelines:
        steps = [e["data"]["level"] for e in timeline if e["kind"] == "escalate"]
        assert steps == [1, 2, 3], steps
    assert sum(logged) == pages, f"escalation steps per daemon: {logged}"
    escalated = [r for r in receiver.requests if r.event.startswith("escalated:")]
    assert Counter(r.event for r in escalated) == Counter(
        {f"escalated:{n}": INCIDENTS for n in (1, 2, 3)}
    )
    assert len({r.headers["Idempotency-Key"] for r in escalated}) == pages
    assert all(count == 1 for count in receiver.delivered().values()), "none twice"
    assert all(r.signed_with(b"s3cret") for r in receiver.requests)
    opened = {
        json.loads(r.body)["incident"]["id"] for r in receiver.requests if r.event == "opened"
    }
    assert opened == {i["id"] for i in incidents}
