"""The correlate stage's shell: the topology in service, and the batch's correlation writes.

The engine is pure (``triage.correlation``) and runs inside the batch fold
(``triage.batch`` via ``triage.correlation.fold``); this module gives it the compiled
service graph and writes back what it decided, in the batch's commit:

- profiles (``triaged:corr:profile:{id}``), written only with their incident;
- the candidate index: each touched slot gets its incidents with ``ZADD GT`` (scores are
  the sender time of the incident's latest alert naming the component), is trimmed to
  ``slot_size`` when it may have gained a member, and is recorded in ``triaged:corr:slots``
  with the wall-clock time, so retention can drop slots nobody touched for a while;
- pending admission records (with a time to live) and their timers;
- automatic merges, queued in ``triaged:corr:merge-requests`` and applied right after the
  commit by ``daemon.grouping`` (and by the scheduler, should this process stop first).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import msgspec
import structlog
from redis.asyncio import Redis

from daemon import keys, store
from daemon.commit import Commit
from daemon.metrics import Metrics
from daemon.topology import TopologyDocument, compile_topology
from triage.correlation import CorrelationConfig, Topology
from triage.correlation.fold import CorrelationWrites

log = structlog.get_logger("triaged.correlation")

_REFRESH_SECONDS = 1.0


class TopologyRef:
    """The compiled service graph, shared by the workers and the APIs of one daemon.

    The graph PUT through the API (any daemon on the same Redis) wins over the one in the
    configuration, which applies while none was PUT. ``current`` checks the stored
    version at most once per ``refresh`` seconds, so a PUT to another daemon is in
    service here within that time; the graph is compiled once per change.
    """

    def __init__(
        self,
        redis: Redis,
        config: CorrelationConfig,
        configured: TopologyDocument | None = None,
        *,
        refresh: float = _REFRESH_SECONDS,
    ) -> None:
        self._redis = redis
        self._config = config
        self._configured = compile_topology(configured, config)
        self._refresh = refresh
        self._topology = self._configured
        self._version: bytes | str | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self) -> Topology:
        if time.monotonic() - self._checked_at < self._refresh:
            return self._topology
        async with self._lock:
            if time.monotonic() - self._checked_at >= self._refresh:
                await self._load()
        return self._topology

    async def _load(self) -> None:
        version = await self._redis.get(keys.TOPOLOGY_VERSION)
        self._checked_at = time.monotonic()
        if version == self._version:
            return
        raw = await self._redis.get(keys.TOPOLOGY) if version is not None else None
        if raw is None:
            self._topology = self._configured
        else:
            document = msgspec.json.decode(raw, type=TopologyDocument)
            self._topology = compile_topology(document, self._config)
        self._version = version
        log.info(
            "topology_loaded", services=len(self._topology), version=store.text(version or b"")
        )

    def replace(self, document: TopologyDocument, version: int) -> None:
        """A PUT to this daemon: in service at once."""
        self._topology = compile_topology(document, self._config)
        self._version = str(version).encode()
        self._checked_at = time.monotonic()


def write_correlation(
    commit: Commit, writes: CorrelationWrites, config: CorrelationConfig, now: float
) -> None:
    """The correlation writes of a folded batch (see the module docstring)."""
    if writes.profiles:
        commit.mset(
            {keys.corr_profile(i): store.encode_profile(p) for i, p in writes.profiles.items()}
        )
    touched: dict[str, float] = {}
    for name, entries in writes.slot_touch.items():
        if entries:
            flat = [item for member, score in entries.items() for item in (score, member)]
            commit.command("ZADD", keys.corr_slot(name), "GT", *flat)
            touched[name] = now
    for name, removed in writes.slot_remove.items():
        if removed:
            commit.zrem(keys.corr_slot(name), sorted(removed))
    for name in sorted(writes.slot_trim):
        commit.command("ZREMRANGEBYRANK", keys.corr_slot(name), 0, -(config.slot_size + 1))
    if touched:
        commit.zadd(keys.CORR_SLOTS, touched)
    thresholds = config.thresholds
    ttl_ms = int((2 * (thresholds.min_alerts_window + thresholds.pause) + 60) * 1000)
    for key, record in writes.pending_set.items():
        commit.command("SET", keys.corr_pending(key), store.encode(record), "PX", ttl_ms)
    if writes.pending_clear:
        commit.delete(*(keys.corr_pending(k) for k in sorted(writes.pending_clear)))
    if writes.admission_set:
        commit.zadd(keys.ADMISSIONS, writes.admission_set)
    if writes.admission_clear:
        commit.zrem(keys.ADMISSIONS, sorted(writes.admission_clear))
    if writes.merges:
        commit.rpush(keys.MERGE_REQUESTS, [store.encode(m) for m in writes.merges])


CHANGE_PREFIX = "corr_"


def observe(metrics: Metrics, changes: Counter[str]) -> None:
    """Count a batch's correlation changes (the fold's ``corr_*`` counters)."""
    for change, count in changes.items():
        if not change.startswith(CHANGE_PREFIX) or not count:
            continue
        what = change.removeprefix(CHANGE_PREFIX)
        if what.startswith("rule_"):
            metrics.correlation_decisions.labels(what.removeprefix("rule_")).inc(count)
        elif what.startswith("flapping_"):
            metrics.flapping.labels(what.removeprefix("flapping_")).inc(count)
        elif what == "held":
            metrics.alerts_held.inc(count)
        elif what == "transient":
            metrics.transient_alerts.inc(count)
