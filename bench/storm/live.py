"""Run a storm against a running daemon and score the incidents it made.

The storm's events are posted in time order as Alertmanager webhooks (version 4) to
``POST /api/v1/alerts/alertmanager``. By default they are posted as fast as the daemon
takes them, with their times shifted so the storm ends just before now; with
``realtime`` each is posted at its own time (a storm then takes as long as it lasts).
Fast posting compresses the daemon's own clock (it stamps incidents with the time it
receives alerts, and reopens a resolved incident for any later-starting alert of its key
within the reopen window of *that* time), so a fast run should hold one episode only:
the CLI generates one-episode storms for ``--url``. Every alert's ``environment`` label
is replaced by one unique to the run and seed, so nothing of an earlier run (or of
production traffic) shares an incident key with it. The topology is ``PUT`` first (an
empty one for a run without topology). Once the daemon has processed everything (its
``/metrics`` say so) and holds no alert waiting for an admission timer
(``triaged_correlation_keys_held``), the incidents are read back from
``GET /api/v1/incidents`` (paged with ``cursor``) and each alert is assigned to the
newest incident that lists its fingerprint.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from bench.fingerprint import fingerprint
from bench.loadgen import INGEST_PATH, Post, Scraper, aiohttp_post, drain
from bench.payloads import ZERO_TIME, rfc3339
from bench.promstats import Snapshot
from bench.storm.generate import Event, Storm
from bench.storm.scoring import Score, score

TOPOLOGY_PATH = "/api/v1/topology"
INCIDENTS_PATH = "/api/v1/incidents"
PAGE = 500
MAX_RETRIES = 20
HELD = "triaged_correlation_keys_held"
GAUGE_REFRESH_S = 1.2  # the scheduler refreshes gauges every second


class LiveResult(msgspec.Struct, frozen=True):
    seed: int
    topology: bool
    topology_applied: bool  # False when the daemon has no topology API yet
    posted: int
    drained: bool | None
    score: Score


class _Incident(msgspec.Struct):
    id: str
    fingerprints: list[str] = []


class _Page(msgspec.Struct):
    incidents: list[_Incident]
    next: str | None = None


def relabel(storm: Storm, environment: str) -> dict[str, str]:
    """New fingerprint -> storm fingerprint, for alerts moved to ``environment``."""
    return {
        fingerprint({**a.labels, "environment": environment}): fp for fp, a in storm.alerts.items()
    }


def webhooks(
    events: Sequence[Event], environment: str, base: float, size: int, *, spread: float = 0.0
) -> list[tuple[float, bytes]]:
    """Webhook bodies of at most ``size`` alerts, in event order, each with the storm time
    of its first event; a body holds events at most ``spread`` seconds apart."""
    bodies = []
    start = 0
    while start < len(events):
        end = start + 1
        while (
            end < len(events) and end - start < size and events[end].at - events[start].at <= spread
        ):
            end += 1
        alerts: list[dict[str, Any]] = []
        for event in events[start:end]:
            labels = {**event.alert.labels, "environment": environment}
            alerts.append(
                {
                    "status": "firing" if event.firing else "resolved",
                    "labels": labels,
                    "annotations": event.alert.annotations,
                    "startsAt": rfc3339(base + event.starts_at),
                    "endsAt": ZERO_TIME
                    if event.firing or event.ends_at is None
                    else rfc3339(base + event.ends_at),
                    "generatorURL": "http://prometheus.example/graph",
                    "fingerprint": fingerprint(labels),
                }
            )
        status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
        body = {
            "version": "4",
            "status": status,
            "receiver": "triaged",
            "groupKey": f"storm:{environment}",
            "alerts": alerts,
        }
        bodies.append((events[start].at, msgspec.json.encode(body)))
        start = end
    return bodies


async def run(
    storm: Storm,
    url: str,
    *,
    with_topology: bool,
    run_id: str,
    token: str | None = None,
    batch: int = 100,
    realtime: bool = False,
    drain_timeout: float = 120.0,
) -> LiveResult:
    base_url = URL(url)
    environment = f"storm-{run_id}-s{storm.seed}-{'t' if with_topology else 'n'}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(headers=headers) as session:
        scraper = Scraper(session, base_url)
        before = await scraper.scrape()
        document = storm.graph.topology() if with_topology else {"services": {}}
        async with session.put(base_url / TOPOLOGY_PATH.lstrip("/"), json=document) as response:
            applied = response.status == 200
        newest_before = await _newest_incident(session, base_url)
        first = storm.events[0].at if storm.events else 0.0
        last = storm.events[-1].at if storm.events else 0.0
        base = time.time() - first + 1.0 if realtime else time.time() - last - 60.0
        post = aiohttp_post(session, base_url / INGEST_PATH.lstrip("/"))
        posted = 0
        spread = 1.0 if realtime else math.inf
        for at, body in webhooks(storm.events, environment, base, batch, spread=spread):
            if realtime:
                await asyncio.sleep(max(0.0, base + at - time.time()))
            await _post(post, body)
            posted += 1
        drained = await _settle(scraper, before, drain_timeout) if before else None
        incidents = await _incidents_since(session, base_url, newest_before)
    mapping = relabel(storm, environment)
    assigned: dict[str, str] = {}
    for incident in sorted(incidents, key=lambda i: _number(i.id)):
        for fp in incident.fingerprints:
            if fp in mapping:
                assigned[mapping[fp]] = incident.id
    groups = len(set(assigned.values()))
    return LiveResult(
        seed=storm.seed,
        topology=with_topology,
        topology_applied=applied,
        posted=posted,
        drained=drained,
        score=score(storm.truth, assigned, groups=groups),
    )


async def _settle(scraper: Scraper, before: Snapshot, give_up_after: float) -> bool:
    """Wait until everything posted was processed and no key holds alerts for an
    admission timer (timers due now are taken within a second; they queue more work)."""
    began = time.monotonic()
    while True:
        drained = (await drain(scraper, before, give_up_after)).drained
        await asyncio.sleep(GAUGE_REFRESH_S)  # the gauge may predate the last batch
        snap = await scraper.scrape((HELD,))
        held = snap.total(HELD) if snap is not None else None
        if not held or time.monotonic() - began > give_up_after:
            return bool(drained) and not held


async def _post(post: Post, body: bytes) -> None:
    for _ in range(MAX_RETRIES):
        status, answer, retry_after = await post(body)
        if status == 202:
            return
        if status in (429, 503):
            await asyncio.sleep(min(float(retry_after or 1), 5.0))
            continue
        raise RuntimeError(f"ingest answered {status}: {answer[:300]!r}")
    raise RuntimeError("ingest kept answering 429/503")


async def _newest_incident(session: aiohttp.ClientSession, base: URL) -> int:
    async with session.get(base / INCIDENTS_PATH.lstrip("/"), params={"limit": "1"}) as response:
        response.raise_for_status()
        page = msgspec.json.decode(await response.read(), type=_Page)
    return _number(page.incidents[0].id) if page.incidents else 0


async def _incidents_since(
    session: aiohttp.ClientSession, base: URL, newest_before: int
) -> list[_Incident]:
    """Incidents numbered above ``newest_before`` (the listing is newest first)."""
    found: list[_Incident] = []
    cursor: str | None = None
    while True:
        params = {"limit": str(PAGE)} | ({"cursor": cursor} if cursor else {})
        async with session.get(base / INCIDENTS_PATH.lstrip("/"), params=params) as response:
            response.raise_for_status()
            page = msgspec.json.decode(await response.read(), type=_Page)
        for incident in page.incidents:
            if _number(incident.id) <= newest_before:
                return found
            found.append(incident)
        if page.next is None:
            return found
        cursor = page.next


def _number(incident_id: str) -> int:
    tail = incident_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
