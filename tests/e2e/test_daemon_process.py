"""End-to-end: the real ``triaged`` process, its embedded Redis, signals and crashes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from daemon.config import default_models_dir
from daemon.embedded_redis import EmbeddedRedis
from tests.e2e.daemon_process import Daemon, triaged_command
from tests.payloads import am_alert, am_webhook
from tests.waiting import eventually

pytestmark = pytest.mark.slow

CONFIG = """
pipeline:
  claim_idle: 2s
logging:
  format: json
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    config = tmp_path / "triaged.yaml"
    config.write_text(CONFIG)
    process = Daemon(tmp_path / "data", config)
    yield process
    process.stop()


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def all_incidents(session: aiohttp.ClientSession, base: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"?limit=500{f'&cursor={cursor}' if cursor else ''}"
        body = await get_json(session, f"{base}/api/v1/incidents{query}")
        found += body["incidents"]
        cursor = body["next"]
        if cursor is None:
            return found


async def metric(session: aiohttp.ClientSession, base: str, name: str) -> float:
    async with session.get(f"{base}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"metric {name} not exported")


async def test_readme_flow_alert_becomes_incident_and_sigterm_exits_cleanly(daemon: Daemon) -> None:
    daemon.start()
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{daemon.url}/api/v1/alerts/generic",
            json={"summary": "disk full on db-1", "service": "db", "severity": "critical"},
        ) as response:
            assert (response.status, await response.json()) == (202, {"accepted": 1})

        async def listed() -> list[dict[str, Any]]:
            return await all_incidents(session, daemon.url)

        [incident] = await eventually(listed, what="incident")
    assert (incident["title"], incident["priority"], incident["status"]) == (
        "disk full on db-1",
        "P2",
        "triggered",
    )
    redis_pid = int((daemon.data_dir / "redis.pid").read_text())
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0
    assert (
        not psutil.pid_exists(redis_pid)
        or psutil.Process(redis_pid).status() == psutil.STATUS_ZOMBIE
    )
    assert (daemon.data_dir / "appendonly.aof").stat().st_size > 0


async def post_load(
    base: str, *, keys: int, stop_after: float, accepted: set[str], concurrency: int = 16
) -> None:
    """Post batches of 10 new alerts spread over ``keys`` incident keys until told to stop;
    record the fingerprints of every alert a 202 confirmed."""
    counter = 0
    deadline = time.monotonic() + stop_after

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal counter
        while time.monotonic() < deadline:
            batch = []
            for _ in range(10):
                counter += 1
                batch.append(
                    am_alert({"alertname": f"Load{counter}", "service": f"svc{counter % keys}"})
                )
            try:
                async with session.post(
                    f"{base}/api/v1/alerts/alertmanager", json=am_webhook(batch)
                ) as response:
                    if response.status == 202:
                        accepted.update(a["fingerprint"] for a in batch)
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)  # the daemon is gone: keep trying until the deadline

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))


async def assert_every_accepted_alert_processed(base: str, accepted: set[str], keys: int) -> None:
    async with aiohttp.ClientSession() as session:

        async def covered() -> list[dict[str, Any]] | None:
            incidents = await all_incidents(session, base)
            seen = {fp for i in incidents for fp in i["fingerprints"]}
            return incidents if accepted <= seen else None

        incidents = await eventually(covered, within=60, what="every accepted alert in an incident")
    by_key: dict[str, int] = {}
    for incident in incidents:
        by_key[incident["key"]] = by_key.get(incident["key"], 0) + 1
    assert all(count == 1 for count in by_key.values()), f"duplicate incidents: {by_key}"
    assert len(by_key) == keys
    # Requests cut off by the crash may have reached the stream without their 202: those
    # alerts are processed too (the sender would retry), so counts can exceed `accepted`.
    distinct = {fp for i in incidents for fp in i["fingerprints"]}
    assert sum(i["alert_count"] for i in incidents) == len(distinct) >= len(accepted)


async def test_kill_9_during_load_loses_no_accepted_alert(daemon: Daemon) -> None:
    daemon.start()
    accepted: set[str] = set()
    load = asyncio.create_task(post_load(daemon.url, keys=20, stop_after=3.0, accepted=accepted))
    await asyncio.sleep(1.5)
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.wait(10)
    await load
    assert len(accepted) > 100, "the load ran before the kill"
    daemon.start()
    await assert_every_accepted_alert_processed(daemon.url, accepted, keys=20)


async def test_sigterm_during_load_finishes_in_flight_work(daemon: Daemon) -> None:
    daemon.start()
    accepted: set[str] = set()
    load = asyncio.create_task(post_load(daemon.url, keys=10, stop_after=2.5, accepted=accepted))
    await asyncio.sleep(1.2)
    daemon.signal(signal.SIGTERM)
    assert await asyncio.get_running_loop().run_in_executor(None, daemon.wait, 30.0) == 0
    await load
    assert len(accepted) > 50
    assert "worker_stopped" in daemon.log_tail(200)
    daemon.start()
    await assert_every_accepted_alert_processed(daemon.url, accepted, keys=10)
    async with aiohttp.ClientSession() as session:
        claimed = await metric(session, daemon.url, "triaged_pipeline_claimed_entries_total")
    assert claimed == 0, "a clean shutdown leaves nothing pending for others to claim"


def test_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    result = subprocess.run(
        [*triaged_command(), "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without auth" in result.stderr


def test_config_check_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  port: 80000\n")
    result = subprocess.run(
        [*triaged_command(), "config", "check", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert f"{bad}:2: server.port:" in result.stderr


async def test_two_daemons_on_one_redis_open_one_incident_per_key(tmp_path: Path) -> None:
    store = EmbeddedRedis(tmp_path / "shared-redis")
    url = store.start()
    config = tmp_path / "triaged.yaml"
    config.write_text(CONFIG)
    daemons = [Daemon(tmp_path / f"data{i}", config, redis_url=url) for i in range(2)]
    try:
        for daemon in daemons:
            daemon.start()
        async with aiohttp.ClientSession() as session:

            async def post(i: int) -> None:
                alert = am_alert({"alertname": f"Err{i}", "service": f"svc{i % 5}", "pod": str(i)})
                base = daemons[i % 2].url
                async with session.post(
                    f"{base}/api/v1/alerts/alertmanager", json=am_webhook([alert])
                ) as r:
                    assert r.status == 202

            await asyncio.gather(*(post(i) for i in range(200)))

            async def all_in() -> list[dict[str, Any]] | None:
                found = await all_incidents(session, daemons[0].url)
                return found if sum(i["alert_count"] for i in found) == 200 else None

            incidents = await eventually(all_in, within=30, what="200 alerts in incidents")
        assert sorted(i["key"] for i in incidents) == [f"service=svc{n}" for n in range(5)]
    finally:
        for daemon in daemons:
            daemon.stop()
        store.stop()


def test_refuses_to_start_on_a_tampered_model(tmp_path: Path) -> None:
    """A model file whose bytes differ from what its manifest recorded is never unpickled."""
    data = tmp_path / "data"
    shutil.copytree(default_models_dir(), data / "models")
    artifact = next((data / "models").glob("urgency-*.joblib"))
    artifact.write_bytes(artifact.read_bytes() + b"\x00")
    config = tmp_path / "triaged.yaml"
    config.write_text(CONFIG)
    result = subprocess.run(
        [*triaged_command(), "serve", "--config", str(config), "--data-dir", str(data),
         "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("TRIAGED_")},
    )  # fmt: skip
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert f"{artifact}: sha256" in result.stderr
    assert "does not match manifest" in result.stderr


SIGHUP_RULES = """
groups:
  - name: triage-queue
  - name: {group}
route:
  group: triage-queue
  routes:
    - name: db
      matchers: ['service="postgres"']
      group: {target}
"""


async def test_sighup_swaps_valid_rules_and_keeps_the_old_on_an_invalid_file(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(SIGHUP_RULES.format(group="database", target="database"))
    config = tmp_path / "triaged.yaml"
    config.write_text(CONFIG + "routing_file: routing.yaml\n")
    daemon = Daemon(tmp_path / "data", config)
    try:
        daemon.start()
        async with aiohttp.ClientSession() as session:

            async def routed(n: int) -> str:
                alert = am_alert({"alertname": f"Slow{n}", "service": "postgres", "n": str(n)})
                alert["labels"]["environment"] = f"e{n}"  # a key of its own: a new incident
                async with session.post(
                    f"{daemon.url}/api/v1/alerts/alertmanager", json=am_webhook([alert])
                ) as response:
                    assert response.status == 202

                async def group() -> str | None:
                    for incident in await all_incidents(session, daemon.url):
                        if incident["key"].endswith(f"environment=e{n}"):
                            return str(incident["group"])
                    return None

                return await eventually(group, what=f"incident {n}")

            assert await routed(1) == "database"
            rules.write_text(SIGHUP_RULES.format(group="database", target="nobody"))
            daemon.signal(signal.SIGHUP)

            async def refused() -> bool:
                return '"routing_reload_failed"' in daemon.log_tail(50)

            await eventually(refused, what="the refused reload logged")
            assert f"{rules}:10: route.routes[0].group:" in daemon.log_tail(50)
            assert await routed(2) == "database", "the old rules keep serving"
            rules.write_text(SIGHUP_RULES.format(group="sre", target="sre"))
            daemon.signal(signal.SIGHUP)

            async def reloaded() -> bool:
                return '"routing_reloaded"' in daemon.log_tail(50)

            await eventually(reloaded, what="the new rules in service")
            assert await routed(3) == "sre"
            assert (
                await metric(session, daemon.url, 'triaged_config_reloads_total{outcome="failed"}')
                == 1
            )
    finally:
        daemon.stop()
