"""Real Prometheus and Alertmanager (Debian's packages) posting to a real triaged.

Prometheus scrapes triaged itself and evaluates two rules: one that stays firing and one
that fires only in triaged's first seconds, then resolves. Prometheus posts alerts both
to Alertmanager and directly to triaged; Alertmanager's webhook points at triaged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.daemon_process import Daemon, free_port, http_status
from tests.e2e.test_daemon_process import all_incidents
from tests.waiting import eventually

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        (PROMETHEUS is None or ALERTMANAGER is None) and not os.environ.get("CI"),
        reason="needs Debian's prometheus and prometheus-alertmanager (.ci/run installs them)",
    ),
]

RULES = """
groups:
  - name: selftest
    interval: 1s
    rules:
      - alert: TriagedScraped
        expr: up{job="triaged"} == 1
        labels: {service: selftest-scrape, severity: info}
        annotations: {summary: "triaged is being scraped"}
      - alert: TriagedJustStarted
        expr: time() - process_start_time_seconds{job="triaged"} < 20
        labels: {service: selftest-start, severity: warning}
        annotations: {summary: "triaged started less than 20 s ago"}
"""


class Service:
    def __init__(self, argv: list[str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return self.log.read_text(errors="replace")


def wait_ready(url: str, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_status(url) == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready at {url}")


def metric_sum(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Daemon, str, str, dict[str, Service]]]:
    assert PROMETHEUS is not None, "prometheus is not installed"
    assert ALERTMANAGER is not None, "prometheus-alertmanager is not installed"
    config = tmp_path / "triaged.yaml"
    config.write_text("logging: {format: json}\n")
    daemon = Daemon(tmp_path / "data", config)
    daemon.start()
    am_port, prom_port = free_port(), free_port()
    (tmp_path / "am.yml").write_text(
        f"""
route:
  receiver: triaged
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: triaged
    webhook_configs:
      - url: {daemon.url}/api/v1/alerts/alertmanager
        send_resolved: true
"""
    )
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "prometheus.yml").write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [{tmp_path / "rules.yml"}]
scrape_configs:
  - job_name: triaged
    static_configs: [{{targets: ["127.0.0.1:{daemon.port}"]}}]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs: [{{targets: ["127.0.0.1:{am_port}", "127.0.0.1:{daemon.port}"]}}]
"""
    )
    services = {
        "alertmanager": Service(
            [
                str(ALERTMANAGER),
                f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp_path / "alertmanager.log",
        ),
        "prometheus": Service(
            [
                str(PROMETHEUS),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--rules.alert.resend-delay=1s",
            ],
            tmp_path / "prometheus.log",
        ),
    }
    try:
        yield daemon, f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}", services
    finally:
        for service in services.values():
            service.stop()
        daemon.stop()


async def test_prometheus_and_alertmanager_deliver_fire_and_resolve(
    stack: tuple[Daemon, str, str, dict[str, Service]],
) -> None:
    daemon, am_url, prom_url, services = stack
    wait_ready(f"{am_url}/-/ready", "alertmanager")
    wait_ready(f"{prom_url}/-/ready", "prometheus")
    async with aiohttp.ClientSession() as session:

        async def both_open_then_one_resolved() -> list[dict[str, Any]] | None:
            incidents = {i["key"]: i for i in await all_incidents(session, daemon.url)}
            scrape = incidents.get("service=selftest-scrape")
            start = incidents.get("service=selftest-start")
            if scrape and start and start["status"] == "resolved":
                return [scrape, start]
            return None

        scrape, start = await eventually(
            both_open_then_one_resolved, within=60, what="firing and resolved incidents"
        )
    assert scrape["status"] == "triggered"
    assert scrape["alert_count"] == 1, "Prometheus's and Alertmanager's copies are one alert"
    assert start["alert_count"] == 1
    metrics = f"{daemon.url}/metrics"
    assert (
        metric_sum(
            metrics, 'triaged_alerts_received_total{outcome="accepted",source="alertmanager"}'
        )
        > 0
    )
    assert (
        metric_sum(metrics, 'triaged_alerts_received_total{outcome="accepted",source="prometheus"}')
        > 0
    )
    assert metric_sum(f"{prom_url}/metrics", "prometheus_notifications_errors_total") == 0
    assert metric_sum(f"{prom_url}/metrics", "prometheus_notifications_dropped_total") == 0
    assert metric_sum(f"{am_url}/metrics", "alertmanager_notifications_failed_total") == 0
    logs = {name: service.stop() for name, service in services.items()}
    assert "Error sending alert" not in logs["prometheus"]
    assert "Notify for alerts failed" not in logs["alertmanager"]
