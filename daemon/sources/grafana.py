"""Grafana unified alerting's webhook contact point (``version: "1"``).

The body is Alertmanager's webhook format plus Grafana's own fields: ``orgId``, ``state``,
``title`` and ``message`` for the notification, and per alert the query ``values`` and the
dashboard, panel, silence and image links. Grafana computes each alert's fingerprint
itself; it is opaque (not Alertmanager's label hash), so it is used as is, scoped by
source and organisation so it can never collide with another sender's alert or with the
same rule in another Grafana organisation. The ``severity`` label, when a rule sets one,
is mapped onto the canonical scale and the original kept in ``vendor_severity``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from daemon.sources.common import (
    Limits,
    PayloadError,
    Received,
    check_count,
    check_limits,
    decode,
    epoch,
    make_alert,
    non_empty,
    severity_labels,
    shown,
    stringify,
)
from daemon.validation import FieldError
from triage.alert import SenderEvent
from triage.fingerprint import key_fingerprint, label_fingerprint


class GrafanaAlert(msgspec.Struct):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None
    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    imageURL: str | None = None
    values: dict[str, Any] | None = None
    valueString: str | None = None


class GrafanaWebhook(msgspec.Struct):
    """Only what is used is declared: the group-level fields (``state``, ``title``,
    ``message``, ``groupLabels``, ...) summarise the alerts below and are ignored."""

    version: str
    alerts: list[GrafanaAlert]
    orgId: int = 0


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    webhook = decode(body, GrafanaWebhook)
    errors: list[FieldError] = []
    if webhook.version != "1":
        errors.append(
            FieldError(
                "version", f'unsupported webhook version {shown(webhook.version)}; expected "1"'
            )
        )
    check_count(len(webhook.alerts), limits)
    scope = f"grafana:{webhook.orgId}"
    events: list[SenderEvent] = []
    for index, item in enumerate(webhook.alerts):
        labels = {**item.labels, **severity_labels(item.labels.get("severity"))}
        annotations = {**item.annotations, **_links_and_values(item)}
        problems = check_limits("alerts", index, labels, annotations, limits)
        if not item.labels:
            problems.append(FieldError(f"alerts[{index}].labels", "must not be empty"))
        errors += problems
        if problems:
            continue
        # Without Grafana's fingerprint (older versions), its labels identify the alert.
        opaque = item.fingerprint or label_fingerprint(item.labels)
        events.append(
            make_alert(
                fingerprint=key_fingerprint(scope, opaque),
                source="grafana",
                firing=item.status == "firing",
                labels=labels,
                annotations=annotations,
                received_at=received_at,
                starts_at=epoch(item.startsAt),
                ends_at=epoch(item.endsAt),
                generator_url=item.generatorURL or "",
            )
        )
    if errors:
        raise PayloadError(errors)
    return Received(events)


def _links_and_values(item: GrafanaAlert) -> dict[str, str]:
    """Grafana's per-alert extras as annotations: they describe the alert, and the query
    values change every evaluation, so none of them may become a label."""
    values = (
        " ".join(f"{name}={stringify(value)}" for name, value in sorted(item.values.items()))
        if item.values
        else None
    )
    return non_empty(
        {
            "dashboard_url": item.dashboardURL,
            "panel_url": item.panelURL,
            "silence_url": item.silenceURL,
            "image_url": item.imageURL,
            "values": values,
            "value_string": item.valueString,
        }
    )
