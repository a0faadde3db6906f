"""Prometheus posting alerts directly, as it posts to Alertmanager's ``/api/v2/alerts``.

The body is a bare list of alerts without status: an alert whose ``endsAt`` lies in the
past is resolved; a firing one carries an ``endsAt`` a few evaluation intervals ahead, so
it resolves by itself if Prometheus stops re-sending it. The fingerprint is computed from
the labels exactly as Alertmanager does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


class PostableAlert(msgspec.Struct):
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str = ""


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    posted = decode_checked(
        body, list[PostableAlert], lambda document: _list_problems(document, limits)
    )
    check_count(len(posted), limits)
    errors: list[FieldError] = []
    alerts: list[Alert] = []
    for index, item in enumerate(posted):
        problems = _alert_problems(index, item, limits)
        errors += problems
        if problems:
            continue
        starts_at = epoch(item.startsAt)
        ends_at = epoch(item.endsAt)
        resolved = ends_at is not None and ends_at <= received_at
        alerts.append(
            Alert(
                fingerprint=label_fingerprint(item.labels),
                source="prometheus",
                status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
                labels=item.labels,
                annotations=item.annotations,
                starts_at=starts_at if starts_at is not None else received_at,
                ends_at=ends_at,
                received_at=received_at,
                generator_url=item.generatorURL,
            )
        )
    if errors:
        raise PayloadError(errors)
    return Received(list(alerts))


def _alert_problems(index: int, item: PostableAlert, limits: Limits) -> list[FieldError]:
    problems = check_limits("", index, item.labels, item.annotations, limits)
    if not item.labels:
        problems.append(FieldError(f"[{index}].labels", "must not be empty"))
    starts_at = epoch(item.startsAt)
    ends_at = epoch(item.endsAt)
    if starts_at is not None and ends_at is not None and ends_at < starts_at:
        problems.append(FieldError(f"[{index}].endsAt", "is before startsAt"))
    return problems


def _list_problems(document: Any, limits: Limits) -> list[FieldError]:
    """The checks above on the alerts of a body the schema refused that are valid alone."""
    return [
        problem
        for index, item in valid_items(document, PostableAlert)
        for problem in _alert_problems(index, item, limits)
    ]
