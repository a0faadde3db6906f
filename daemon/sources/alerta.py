"""Alerta's alert body, at ``/api/v1/alerts/alerta`` and Alerta's own ``POST /api/alert``.

Alerta identifies an alert by environment, resource and event, so those make the
fingerprint. Severity follows Alerta's scale; ``normal``, ``ok`` and ``cleared`` (and the
statuses ``closed`` and ``expired``) resolve the alert. As in Alerta, a clearing event
also clears the events it names in ``correlate``: ``NodeUp`` with ``correlate: [NodeDown, NodeUp]``
resolves ``NodeDown`` of that resource. Severity defaults to ``normal``, as in Alerta.

``timeout`` (seconds, Alerta's default 86400; 0 for never) becomes the firing alert's
``ends_at``, so an alert the client stops re-sending expires as it would in Alerta.
The reply is Alerta's: ``{"status": "ok", "id": ...}``, with the client's ``id`` or a
stable id derived from the fingerprint, so re-sends answer with the same id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from daemon.sources.common import (
    Limits,
    PayloadError,
    Received,
    check_count,
    check_sizes,
    decode,
    epoch,
    make_alert,
    non_empty,
    severity_labels,
    stringify,
    tag_labels,
)
from triage.alert import SenderEvent
from triage.fingerprint import key_fingerprint

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
AlertaSeverity = Literal[
    "security",
    "critical",
    "major",
    "minor",
    "warning",
    "informational",
    "debug",
    "trace",
    "indeterminate",
    "cleared",
    "normal",
    "ok",
    "unknown",
]

DEFAULT_TIMEOUT = 86400
_CLEARING = frozenset({"cleared", "normal", "ok"})
_ID_NAMESPACE = uuid.UUID("1c5e8f2a-4a36-5f0b-9d8e-7a1b2c3d4e5f")


class AlertaAlert(msgspec.Struct):
    resource: Name
    event: Name
    environment: str | None = None
    severity: AlertaSeverity | None = None
    correlate: list[Name] | None = None
    status: str | None = None
    service: list[str] | None = None
    group: str | None = None
    value: str | int | float | None = None
    text: str | None = None
    tags: list[str] | None = None
    attributes: dict[str, Any] | None = None
    origin: str | None = None
    type: str | None = None
    createTime: datetime | None = None
    timeout: Annotated[int, msgspec.Meta(ge=0)] | None = None
    rawData: Any = None
    customer: str | None = None
    id: Annotated[str, msgspec.Meta(max_length=256)] | None = None


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    alert = decode(body, AlertaAlert)
    severity = alert.severity or "normal"
    environment = alert.environment or ""
    clearing = severity in _CLEARING or alert.status in ("closed", "expired")
    others = sorted({name for name in alert.correlate or [] if name != alert.event})
    check_count(1 + (len(others) if clearing else 0), limits)
    labels = {
        **tag_labels(alert.tags or []),
        **non_empty(
            {
                "environment": environment,
                "service": ",".join(alert.service or []),
                "group": alert.group,
                "origin": alert.origin,
                "alert_type": alert.type,
                "customer": alert.customer,
            }
        ),
        "alertname": alert.event,
        "instance": alert.resource,
        **severity_labels(severity),
    }
    annotations = {
        **non_empty({name: stringify(value) for name, value in (alert.attributes or {}).items()}),
        **non_empty(
            {
                "summary": alert.text or f"{alert.event} on {alert.resource}",
                "value": stringify(alert.value),
                "correlate": ",".join(alert.correlate or []),
                "raw_data": stringify(alert.rawData),
            }
        ),
    }
    errors = check_sizes("(alert)", labels, annotations, limits)
    if errors:
        raise PayloadError(errors)
    created = epoch(alert.createTime)
    timeout = alert.timeout if alert.timeout is not None else DEFAULT_TIMEOUT
    started = created if created is not None else received_at
    fingerprint = _fingerprint(environment, alert.resource, alert.event)
    events: list[SenderEvent] = [
        make_alert(
            fingerprint=fingerprint,
            source="alerta",
            firing=not clearing,
            labels=labels,
            annotations=annotations,
            received_at=received_at,
            starts_at=started,
            ends_at=created if clearing else (started + timeout if timeout else None),
        )
    ]
    if clearing:
        # The cleared partners keep the labels their own alerts were raised with.
        events += [
            make_alert(
                fingerprint=_fingerprint(environment, alert.resource, name),
                source="alerta",
                firing=False,
                labels={},
                annotations={},
                received_at=received_at,
                ends_at=created,
            )
            for name in others
        ]
    reply_id = alert.id or str(uuid.uuid5(_ID_NAMESPACE, fingerprint))
    return Received(events, reply={"status": "ok", "id": reply_id})


def _fingerprint(environment: str, resource: str, event: str) -> str:
    return key_fingerprint("alerta", f"{environment}\n{resource}\n{event}")
