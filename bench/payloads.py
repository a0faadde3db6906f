"""Alertmanager webhook (version 4) bodies for the load generator, built cheaply.

The generator shares two cores with the daemon and Redis, so it must spend as little CPU
per alert as possible: bodies are assembled from pre-encoded byte templates (the envelope
is encoded once with msgspec; each alert is one ``bytes %`` formatting of values that need
no JSON escaping), and fingerprints hash only the labels that vary. A re-sent alert reuses
its encoded bytes unchanged, as Alertmanager re-sends an alert with its original
``startsAt``.

Label layout of a benchmark alert (sorted by name, as fingerprints need)::

    alertname=BenchAlert environment=<env> instance=<run>-<seq> service=svc-<run>-<k>
    severity=warning

``instance`` makes every new alert a never-seen label set; ``service`` (drawn round-robin
from a pool of ``services`` names) decides which incident it joins, since the daemon keys
incidents by service plus environment.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field

import msgspec

from bench.fingerprint import PrefixedHasher
from bench.mix import Kind, Mix, MixScheduler

ALERTNAME = "BenchAlert"
SEVERITY = "warning"
ZERO_TIME = "0001-01-01T00:00:00Z"
_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")

_ALERT = (
    b'{"status":"%s","labels":{"alertname":"' + ALERTNAME.encode() + b'","environment":"%s",'
    b'"instance":"%s","service":"%s","severity":"' + SEVERITY.encode() + b'"},'
    b'"annotations":{"summary":"Benchmark alert %s on %s",'
    b'"description":"Synthetic alert posted by the triaged load generator."},'
    b'"startsAt":"%s","endsAt":"%s",'
    b'"generatorURL":"http://127.0.0.1:9090/graph?g0.expr=bench_up%%3D%%3D0",'
    b'"fingerprint":"%s"}'
)


def rfc3339(epoch: float) -> str:
    """UTC RFC 3339 timestamp with milliseconds, e.g. ``2024-05-01T12:00:00.250Z``."""
    seconds = int(epoch)
    millis = int((epoch - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


@dataclass(slots=True)
class SentAlert:
    """An alert the daemon accepted firing: what a repeat or a resolve needs of it."""

    instance: str
    service: str
    starts_at: str
    fingerprint: str
    firing_json: bytes


@dataclass(slots=True)
class Batch:
    """One request body and what it carries."""

    body: bytes
    counts: dict[Kind, int]
    new_alerts: list[SentAlert] = field(default_factory=list)


class PayloadFactory:
    """Builds webhook bodies following a mix, and remembers which alerts are firing.

    Call :meth:`build` for each request and :meth:`confirm` once the daemon accepted it:
    only accepted alerts are repeated or resolved later. A repeat or resolve asked for
    while nothing is firing yet is sent as a new alert instead.
    """

    def __init__(
        self,
        *,
        run_id: str,
        mix: Mix,
        services: int,
        seed: int,
        environment: str = "bench",
    ) -> None:
        for name, value in (("run_id", run_id), ("environment", environment)):
            if not _SAFE.match(value):
                raise ValueError(f"{name} must match {_SAFE.pattern}")
        if services < 1:
            raise ValueError("services must be at least 1")
        self._run_id = run_id
        self._environment = environment
        self._services = [f"svc-{run_id}-{k}" for k in range(services)]
        self._scheduler = MixScheduler(mix)
        self._random = random.Random(seed)
        self._firing: list[SentAlert] = []
        self._sequence = 0
        self._hasher = PrefixedHasher(
            {"alertname": ALERTNAME, "environment": environment},
            ("instance", "service", "severity"),
        )
        envelope = {
            "version": "4",
            "groupKey": '{}:{alertname="' + ALERTNAME + '"}',
            "status": "%STATUS%",
            "receiver": "triaged",
            "groupLabels": {"alertname": ALERTNAME},
            "commonLabels": {
                "alertname": ALERTNAME,
                "environment": environment,
                "severity": SEVERITY,
            },
            "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093",
            "truncatedAlerts": 0,
            "alerts": [],
        }
        head = msgspec.json.encode(envelope)
        assert head.endswith(b"[]}")
        head = head[: -len(b"]}")]
        self._head = {
            status: head.replace(b"%STATUS%", status.encode()) for status in ("firing", "resolved")
        }

    @property
    def firing(self) -> int:
        """How many accepted alerts are currently firing (candidates for repeat/resolve)."""
        return len(self._firing)

    def build(self, size: int, now: float) -> Batch:
        """A body of ``size`` alerts following the mix, stamped ``now`` (epoch seconds)."""
        stamp = rfc3339(now)
        counts = dict.fromkeys(Kind, 0)
        parts: list[bytes] = []
        new_alerts: list[SentAlert] = []
        any_firing = False
        for _ in range(size):
            kind = self._scheduler.next()
            if kind is not Kind.NEW and not self._firing:
                kind = Kind.NEW
            counts[kind] += 1
            if kind is Kind.NEW:
                alert = self._new_alert(stamp)
                new_alerts.append(alert)
                parts.append(alert.firing_json)
                any_firing = True
            elif kind is Kind.REPEAT:
                parts.append(self._random.choice(self._firing).firing_json)
                any_firing = True
            else:
                parts.append(self._resolved_json(self._take_firing(), stamp))
        head = self._head["firing" if any_firing else "resolved"]
        return Batch(head + b",".join(parts) + b"]}", counts, new_alerts)

    def confirm(self, batch: Batch) -> None:
        """Record that the daemon accepted ``batch``: its new alerts are now firing."""
        self._firing.extend(batch.new_alerts)

    def _new_alert(self, stamp: str) -> SentAlert:
        instance = f"{self._run_id}-{self._sequence}"
        service = self._services[self._sequence % len(self._services)]
        self._sequence += 1
        fp = self._hasher.fingerprint(instance, service, SEVERITY)
        body = _ALERT % (
            b"firing",
            self._environment.encode(),
            instance.encode(),
            service.encode(),
            instance.encode(),
            service.encode(),
            stamp.encode(),
            ZERO_TIME.encode(),
            fp.encode(),
        )
        return SentAlert(instance, service, stamp, fp, body)

    def _take_firing(self) -> SentAlert:
        """Remove and return a random firing alert (swap with the last: O(1))."""
        index = self._random.randrange(len(self._firing))
        self._firing[index], self._firing[-1] = self._firing[-1], self._firing[index]
        return self._firing.pop()

    def _resolved_json(self, alert: SentAlert, stamp: str) -> bytes:
        return _ALERT % (
            b"resolved",
            self._environment.encode(),
            alert.instance.encode(),
            alert.service.encode(),
            alert.instance.encode(),
            alert.service.encode(),
            alert.starts_at.encode(),
            stamp.encode(),
            alert.fingerprint.encode(),
        )
