"""End-to-end: a real ``triaged serve`` process delivers through a 30-second outage.

Twenty alerts open twenty routed incidents whose group has two webhook channels: forty
notifications. The local receiver is not listening for 15 s, then answers 503 for 15 s,
then recovers. Every notification must arrive exactly once by idempotency key, signed,
and each incident's timeline must show the failed attempts before the deliveries.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.daemon_process import Daemon
from tests.e2e.test_daemon_process import all_incidents
from tests.payloads import am_alert, am_webhook
from tests.receiver import Receiver
from tests.waiting import eventually

pytestmark = pytest.mark.slow

ROUTING = """
groups:
  - name: ops
    channels: [hook-a, hook-b]
route:
  group: ops
"""
INCIDENTS = 20
SECRET = b"hook-secret"


def channel(name: str, receiver: Receiver) -> str:
    return (
        f"  - {{name: {name}, type: webhook, url: '{receiver.url('/' + name)}',"
        f" secret: {SECRET.decode()}, max_attempts: 500,"
        " backoff: {initial: 50ms, max: 1s}, timeout: 2s}\n"
    )


async def test_receiver_down_for_30_seconds_then_back(tmp_path: Path, receiver: Receiver) -> None:
    await receiver.stop()
    (tmp_path / "routing.yaml").write_text(ROUTING)
    config = tmp_path / "triaged.yaml"
    config.write_text(
        "routing_file: routing.yaml\nlogging: {format: json}\nchannels:\n"
        + channel("hook-a", receiver)
        + channel("hook-b", receiver)
    )
    daemon = Daemon(tmp_path / "data", config)
    try:
        daemon.start()
        async with aiohttp.ClientSession() as session:
            alerts = [
                am_alert({"alertname": "Down", "service": f"svc{i}"}) for i in range(INCIDENTS)
            ]
            async with session.post(
                f"{daemon.url}/api/v1/alerts/alertmanager", json=am_webhook(alerts)
            ) as response:
                assert response.status == 202
            await asyncio.sleep(15)  # refused: nothing listens
            receiver.status = 503
            await receiver.start()
            await asyncio.sleep(15)  # listening, but failing
            assert not receiver.delivered()
            receiver.status = 200

            async def all_delivered() -> bool:
                return len(receiver.delivered()) == 2 * INCIDENTS

            await eventually(all_delivered, within=20, what="every notification delivered")
            await asyncio.sleep(2)  # time for a duplicate to show up, if one were coming
            timelines = []
            for incident in await all_incidents(session, daemon.url):
                async with session.get(
                    f"{daemon.url}/api/v1/incidents/{incident['id']}"
                ) as response:
                    timelines.append((await response.json())["timeline"])
    finally:
        daemon.stop()
    assert set(receiver.delivered().values()) == {1}, "none twice"
    assert {r.event for r in receiver.requests} == {"opened"}
    assert all(r.signed_with(SECRET) for r in receiver.requests)
    assert {r.path for r in receiver.requests} == {"/hook-a", "/hook-b"}
    assert len(timelines) == INCIDENTS
    for timeline in timelines:
        outcomes = [e["data"]["outcome"] for e in timeline if e["kind"] == "delivery"]
        assert outcomes.count("delivered") == 2
        assert outcomes.count("retry") >= 4, "refused and 503 attempts on both channels"
        assert "dead" not in outcomes
