"""triaged's own alert schema, for scripts, service-desk forms and anything that speaks JSON.

The body is one alert object or ``{"alerts": [...]}``. An alert is identified by its
``dedup_key`` when given, else by its labels (the same fingerprint Alertmanager would
compute), so a script can re-send an alert to refresh or resolve it. The convenience
fields ``summary``, ``description``, ``severity`` and ``service`` land in annotations and
labels. The JSON Schema is served at ``/api/v1/schemas/generic-alert.json``; see
docs/generic-alert-schema.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from daemon.sources.common import (
    Limits,
    PayloadError,
    Received,
    check_count,
    check_limits,
    convert,
    decode_any,
    epoch,
)
from daemon.validation import FieldError
from triage.alert import Alert, AlertStatus
from triage.fingerprint import key_fingerprint, label_fingerprint

Text = Annotated[str, msgspec.Meta(max_length=65536)]


class GenericAlert(msgspec.Struct, forbid_unknown_fields=True):
    """One alert in triaged's own format."""

    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    dedup_key: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    summary: Text | None = None
    description: Text | None = None
    severity: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    service: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    url: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


class GenericBatch(msgspec.Struct, forbid_unknown_fields=True):
    """Several alerts in one request."""

    alerts: list[GenericAlert]


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    document: Any = decode_any(body)
    if isinstance(document, dict) and "alerts" in document:
        items = convert(document, GenericBatch).alerts
        path = "alerts"
    else:
        items = [convert(document, GenericAlert)]
        path = "(alert)"
    check_count(len(items), limits)
    errors: list[FieldError] = []
    alerts: list[Alert] = []
    for index, item in enumerate(items):
        labels = dict(item.labels)
        annotations = dict(item.annotations)
        for name, value in (("severity", item.severity), ("service", item.service)):
            if value is not None:
                labels[name] = value
        for name, value in (("summary", item.summary), ("description", item.description)):
            if value is not None:
                annotations[name] = value
        problems = check_limits(path, index, labels, annotations, limits)
        if not labels and item.dedup_key is None:
            problems.append(
                FieldError(f"{path}[{index}]", "needs labels or a dedup_key to identify it")
            )
        errors += problems
        if problems:
            continue
        status = AlertStatus(item.status)
        ends_at = epoch(item.ends_at)
        if status is AlertStatus.RESOLVED and ends_at is None:
            ends_at = received_at
        starts_at = epoch(item.starts_at)
        alerts.append(
            Alert(
                fingerprint=(
                    key_fingerprint("generic", item.dedup_key)
                    if item.dedup_key is not None
                    else label_fingerprint(labels)
                ),
                source="generic",
                status=status,
                labels=labels,
                annotations=annotations,
                starts_at=starts_at if starts_at is not None else received_at,
                ends_at=ends_at,
                received_at=received_at,
                generator_url=item.url or "",
            )
        )
    if errors:
        raise PayloadError(errors)
    return Received(list(alerts))
