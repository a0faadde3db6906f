"""End-to-end: operators teach the real daemon where a new service's incidents belong.

Alerts of a service no rule and no model knows land in the triage queue; an operator moves
five of them to the right team; the next ones go there without a retrain (the corrections
memory), and a retrain through the API promotes a resolver model that learnt the team while
keeping its accuracy on the base test split.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import DATASETS
from tests.e2e.daemon_process import Daemon
from tests.payloads import am_alert, am_webhook
from tests.waiting import eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.dataset,
    pytest.mark.skipif(not DATASETS.is_dir(), reason=f"shared datasets not found at {DATASETS}"),
]

ROUTING = """
groups:
  - name: triage-queue
  - name: payments-sre
  - name: web
route:
  group: triage-queue
  routes:
    - name: web
      matchers: ['service="frontend"']
      group: web
"""

SYMPTOMS = [
    ("SettlementSlow", "settlement batches take longer than 5 minutes"),
    ("SettlementFailed", "settlement batches fail"),
    ("LedgerLag", "ledger replication lags behind the primary"),
    ("JournalErrors", "journal writes return errors"),
    ("ReconcileStuck", "reconciliation has not finished"),
]


def ledger_alert(n: int) -> dict[str, Any]:
    name, text = SYMPTOMS[n % len(SYMPTOMS)]
    labels = {
        "alertname": f"Ledgerd{name}",
        "job": "ledgerd",
        "namespace": "payments",
        "environment": f"prod-{n}",
        "severity": "warning",
    }
    return am_alert(
        labels,
        annotations={"summary": f"ledgerd {text}", "description": f"ledgerd on node-{n}: {text}"},
    )


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    (tmp_path / "routing.yaml").write_text(ROUTING)
    config = tmp_path / "triaged.yaml"
    config.write_text(
        "routing_file: routing.yaml\n"
        f"triage:\n  datasets_dir: {DATASETS}\n"
        "logging:\n  format: json\n"
    )
    process = Daemon(tmp_path / "data", config)
    process.start()
    yield process
    process.stop()


async def post_and_wait(
    session: aiohttp.ClientSession, base: str, numbers: range
) -> list[dict[str, Any]]:
    alerts = [ledger_alert(n) for n in numbers]
    async with session.post(f"{base}/api/v1/alerts/alertmanager", json=am_webhook(alerts)) as r:
        assert r.status == 202, await r.text()
    keys = {
        f"alertname={a['labels']['alertname']},environment={a['labels']['environment']}"
        for a in alerts
    }

    async def opened() -> list[dict[str, Any]] | None:
        async with session.get(f"{base}/api/v1/incidents?limit=500") as response:
            found = [i for i in (await response.json())["incidents"] if i["key"] in keys]
        return found if len(found) == len(keys) else None

    return await eventually(opened, what=f"{len(keys)} ledgerd incidents")


async def test_five_reassignments_teach_the_next_ten_and_retrain_keeps_it(
    daemon: Daemon,
) -> None:
    base = daemon.url
    async with aiohttp.ClientSession() as session:
        first = await post_and_wait(session, base, range(5))
        assert {i["group"] for i in first} == {"triage-queue"}, "nobody knows ledgerd yet"
        for incident in first:
            async with session.post(
                f"{base}/api/v1/incidents/{incident['id']}/reassign",
                json={"actor": "dana", "group": "payments-sre", "reason": "ledgerd is ours"},
            ) as response:
                assert response.status == 200, await response.text()

        taught = await post_and_wait(session, base, range(5, 15))
        routed = [i for i in taught if i["group"] == "payments-sre"]
        assert len(routed) >= 9, [(i["key"], i["triage"]["route"]) for i in taught]
        assert {i["triage"]["group_suggestion"]["decided_by"] for i in routed} == {
            "corrections-memory"
        }
        assert {i["triage"]["route"]["decided_by"] for i in routed} == {"model"}

        async with session.get(f"{base}/api/v1/models") as response:
            before = {m["name"]: m for m in (await response.json())["models"]}
        async with session.post(f"{base}/api/v1/models/retrain") as response:
            assert response.status == 200, await response.text()
            result = await response.json()
        assert result["promoted"] is True, result
        assert result["corrections"] == 5
        group = result["metrics"]["resolver-group"]
        assert group["promoted"] is True, group["reason"]
        assert group["challenger"]["corrections_accuracy"] == 1.0
        assert group["challenger"]["base_accuracy"] >= group["champion"]["base_accuracy"] - 0.005
        async with session.get(f"{base}/api/v1/models") as response:
            after = {m["name"]: m for m in (await response.json())["models"]}
        assert after["resolver-group"]["version"] == group["version"]
        assert after["resolver-group"]["version"] != before["resolver-group"]["version"]
        assert after["alert-category"]["version"] == before["alert-category"]["version"]

        later = await post_and_wait(session, base, range(15, 25))
        assert sum(i["group"] == "payments-sre" for i in later) >= 9

        async with session.post(f"{base}/api/v1/models/retrain", data=b'{"x": 1}') as response:
            assert response.status == 400
