"""Secrets never reach the logs, the API or the timeline.

A real ``triaged serve`` runs with every kind of secret it takes (an inline API token, a
source token from the environment, a basic-auth password from a file, an HMAC secret, a
webhook signing secret and header, a Slack URL, a Redis password) at debug level, and is
made to use each one: right and wrong credentials, signed and tampered bodies, deliveries
that succeed and ones that keep failing. Afterwards no secret, nor a wrong credential a
sender presented, appears in the daemon's log, in its answers, or in ``config check``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from daemon.embedded_redis import EmbeddedRedis
from tests.e2e.daemon_process import Daemon, free_port, triaged_command
from tests.payloads import am_alert, am_webhook
from tests.receiver import Receiver
from tests.waiting import eventually

pytestmark = pytest.mark.slow

SECRETS = {
    "api": "api-tok-5ecret-1",
    "source_token": "am-tok-5ecret-2",
    "basic_password": "basic-pw-5ecret-3",
    "hmac": "hmac-5ecret-4",
    "signing": "chan-5ecret-5",
    "header": "hdr-5ecret-6",
    "slack": "slack-5ecret-7",
    "redis": "redis-5ecret-8",
    "presented": "wrong-5ecret-9",  # a wrong credential a sender tried
}

ROUTING = """
groups:
  - name: ops
    channels: [hook, chat, dead-hook]
route:
  group: ops
"""


def config_text(receiver: Receiver, password_file: Path) -> str:
    closed = free_port()
    return f"""
logging: {{format: json, level: debug}}
routing_file: routing.yaml
auth:
  api_tokens: ["{SECRETS["api"]}"]
sources:
  alertmanager:
    tokens: [{{env: AM_TOKEN}}]
  prometheus:
    basic: [{{username: prom, password: {{file: {password_file}}}}}]
  generic:
    hmac: {{secret: {{env: HOOK_SECRET}}, header: X-Signature}}
channels:
  - name: hook
    type: webhook
    url: "{receiver.url("/hook")}"
    secret: "{SECRETS["signing"]}"
    headers: {{Authorization: {{env: HOOK_HEADER}}}}
  - name: chat
    type: slack
    url: "{receiver.url("/services/T0/B0/" + SECRETS["slack"])}"
  - name: dead-hook
    type: webhook
    url: "http://127.0.0.1:{closed}/{SECRETS["slack"]}"
    secret: "{SECRETS["signing"]}"
    max_attempts: 2
    backoff: {{initial: 50ms, max: 100ms}}
"""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def leaked(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


async def test_no_secret_is_logged_or_answered(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EmbeddedRedis(tmp_path / "redis")
    socket_url = store.start()
    admin = redis.Redis.from_url(socket_url)
    admin.config_set("requirepass", SECRETS["redis"])
    admin.close()
    password_file = tmp_path / "prom-password"
    password_file.write_text(SECRETS["basic_password"] + "\n")
    (tmp_path / "routing.yaml").write_text(ROUTING)
    config = tmp_path / "triaged.yaml"
    config.write_text(config_text(receiver, password_file))
    monkeypatch.setenv("AM_TOKEN", SECRETS["source_token"])
    monkeypatch.setenv("HOOK_SECRET", SECRETS["hmac"])
    monkeypatch.setenv("HOOK_HEADER", "Bearer " + SECRETS["header"])
    daemon = Daemon(
        tmp_path / "data", config, redis_url=f"{socket_url}?password={SECRETS['redis']}"
    )
    answers: list[str] = []
    try:
        daemon.start()
        async with aiohttp.ClientSession() as session:

            async def post(path: str, body: bytes, **headers: str) -> int:
                headers.setdefault("Content-Type", "application/json")
                async with session.post(daemon.url + path, data=body, headers=headers) as r:
                    answers.append(await r.text())
                    answers.append(json.dumps(dict(r.headers)))
                    return r.status

            alert = json.dumps(am_webhook([am_alert({"alertname": "Down", "service": "api"})]))
            am = "/api/v1/alerts/alertmanager"
            wrong = "Bearer " + SECRETS["presented"]
            assert await post(am, alert.encode(), Authorization=wrong) == 401
            right = "Bearer " + SECRETS["source_token"]
            assert await post(am, alert.encode(), Authorization=right) == 202
            prom = json.dumps([{"labels": {"alertname": "Up", "service": "web"}}]).encode()
            bad_basic = basic("prom", SECRETS["presented"])
            assert await post("/api/v2/alerts", prom, Authorization=bad_basic) == 401
            good_basic = basic("prom", SECRETS["basic_password"])
            assert await post("/api/v2/alerts", prom, Authorization=good_basic) == 202
            generic = json.dumps({"service": "db", "summary": "disk full"}).encode()
            signature = hmac.new(SECRETS["hmac"].encode(), generic, hashlib.sha256).hexdigest()
            forged = hmac.new(SECRETS["presented"].encode(), generic, hashlib.sha256).hexdigest()
            gen = "/api/v1/alerts/generic"
            assert await post(gen, generic, **{"X-Signature": f"sha256={forged}"}) == 401
            assert await post(gen, generic, **{"X-Signature": f"sha256={signature}"}) == 202
            api = {"Authorization": "Bearer " + SECRETS["api"]}

            async def dead_letters() -> list[dict[str, Any]] | None:
                async with session.get(f"{daemon.url}/api/v1/deliveries/dead", headers=api) as r:
                    body = await r.text()
                answers.append(body)
                dead: list[dict[str, Any]] = json.loads(body)["dead"]
                return dead if len(dead) == 3 else None

            await eventually(dead_letters, within=30, what="the closed port's 3 dead letters")

            async def delivered() -> bool:
                return len(receiver.requests) == 6  # 3 incidents x (hook, chat)

            await eventually(delivered, within=30, what="the openings delivered")
            for path in ("/api/v1/incidents", "/metrics", "/api/v1/openapi.json"):
                async with session.get(daemon.url + path, headers=api) as response:
                    assert response.status == 200
                    answers.append(await response.text())
            async with session.get(f"{daemon.url}/api/v1/incidents", headers=api) as response:
                incidents = (await response.json())["incidents"]
            for incident in incidents:
                async with session.get(
                    f"{daemon.url}/api/v1/incidents/{incident['id']}", headers=api
                ) as response:
                    answers.append(await response.text())
    finally:
        daemon.stop()
        store.stop()
    hook = [r for r in receiver.requests if r.path == "/hook"]
    assert hook
    assert all(r.headers["Authorization"] == "Bearer " + SECRETS["header"] for r in hook)
    assert all(r.signed_with(SECRETS["signing"].encode()) for r in hook)
    log = daemon.log_path.read_text(errors="replace")
    for event in (
        "notification_delivered",
        "notification_attempt_failed",
        "notification_dead_lettered",
    ):
        assert f'"{event}"' in log, f"{event} not logged: the paths that use secrets ran"
    assert leaked(log) == [], "secrets in the daemon's log"
    assert leaked("\n".join(answers)) == [], "secrets in the daemon's answers"


def test_config_check_names_a_bad_secret_without_echoing_the_others(tmp_path: Path) -> None:
    config = tmp_path / "triaged.yaml"
    config.write_text(
        f'auth:\n  api_tokens: ["{SECRETS["api"]}", 5, {{env: TRIAGED_TEST_UNSET}}]\n'
        f'sources:\n  generic:\n    hmac: {{secret: "{SECRETS["hmac"]}", header: 7}}\n'
    )
    result = subprocess.run(
        [*triaged_command(), "config", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1, result
    assert "auth.api_tokens" in result.stderr
    assert leaked(result.stdout + result.stderr) == []
