"""Builders for the payloads real senders post, written from their public formats."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from triage.fingerprint import label_fingerprint

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def am_alert(
    labels: dict[str, str],
    *,
    status: str = "firing",
    starts_at: float | None = None,
    ends_at: float | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    started = starts_at if starts_at is not None else time.time() - 60
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations or {"summary": f"{labels.get('alertname', 'alert')} fired"},
        "startsAt": rfc3339(started),
        "endsAt": rfc3339(ends_at) if ends_at is not None else GO_ZERO_TIME,
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "fingerprint": label_fingerprint(labels),
    }


def am_webhook(alerts: list[dict[str, Any]], receiver: str = "triaged") -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }


def prom_alert(labels: dict[str, str], *, starts_at: float, ends_at: float) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": {"summary": f"{labels.get('alertname', 'alert')} from Prometheus"},
        "startsAt": rfc3339(starts_at),
        "endsAt": rfc3339(ends_at),
        "generatorURL": "http://prometheus.example:9090/graph",
    }
