"""Alertmanager webhook receiver payloads (``version: "4"``).

Alertmanager sends the alerts of one notification group, each with the fingerprint it
computed from the labels; that fingerprint is kept so dedup agrees with Alertmanager.
Firing alerts carry Go's zero time as ``endsAt`` (no end known).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import msgspec

from daemon.sources.common import (
    Limits,
    PayloadError,
    Received,
    check_count,
    check_limits,
    decode_checked,
    epoch,
    valid_items,
)
from daemon.validation import FieldError
from triage.alert import Alert, AlertStatus
from triage.fingerprint import label_fingerprint

_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")


class WebhookAlert(msgspec.Struct):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class Webhook(msgspec.Struct):
    version: str
    alerts: list[WebhookAlert]
    status: Literal["firing", "resolved"] = "firing"
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = 0
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    webhook = decode_checked(body, Webhook, lambda document: _document_problems(document, limits))
    errors = _version_problems(webhook.version)
    check_count(len(webhook.alerts), limits)
    alerts: list[Alert] = []
    for index, item in enumerate(webhook.alerts):
        problems = _alert_problems(index, item, limits)
        errors += problems
        if problems:
            continue
        starts_at = epoch(item.startsAt)
        ends_at = epoch(item.endsAt)
        status = AlertStatus(item.status)
        alerts.append(
            Alert(
                fingerprint=item.fingerprint or label_fingerprint(item.labels),
                source="alertmanager",
                status=status,
                labels=item.labels,
                annotations=item.annotations,
                starts_at=starts_at if starts_at is not None else received_at,
                ends_at=ends_at
                if ends_at is not None or status is AlertStatus.FIRING
                else received_at,
                received_at=received_at,
                generator_url=item.generatorURL,
            )
        )
    if errors:
        raise PayloadError(errors)
    return Received(list(alerts))


def _version_problems(version: str) -> list[FieldError]:
    if version == "4":
        return []
    return [FieldError("version", f'unsupported webhook version {version!r}; expected "4"')]


def _alert_problems(index: int, item: WebhookAlert, limits: Limits) -> list[FieldError]:
    problems = check_limits("alerts", index, item.labels, item.annotations, limits)
    if not item.labels:
        problems.append(FieldError(f"alerts[{index}].labels", "must not be empty"))
    if item.fingerprint and not _FINGERPRINT.match(item.fingerprint):
        problems.append(
            FieldError(f"alerts[{index}].fingerprint", "expected 16 lower-case hex digits")
        )
    return problems


def _document_problems(document: Any, limits: Limits) -> list[FieldError]:
    """The checks above on the valid parts of a body the schema refused."""
    if not isinstance(document, dict):
        return []
    version = document.get("version")
    errors = _version_problems(version) if isinstance(version, str) else []
    for index, item in valid_items(document.get("alerts"), WebhookAlert):
        errors += _alert_problems(index, item, limits)
    return errors
