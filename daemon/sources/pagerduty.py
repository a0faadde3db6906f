"""PagerDuty Events API v2, at ``POST /v2/enqueue`` and ``/api/v1/alerts/pagerduty``.

Tools that can page PagerDuty can page triaged by changing the URL. An event names an
``event_action``: ``trigger`` opens or refreshes the alert of its ``dedup_key``,
``acknowledge`` acknowledges that alert's incident, ``resolve`` resolves the alert. Dedup
keys are scoped to the routing key, as in PagerDuty, so two integrations may use the same
key for different things. A trigger without a dedup key gets a new one, returned in the
reply as PagerDuty does, so the sender can resolve what it opened.

Follow-up events carry nothing but the key, so the resolve has no labels and dedup keeps
the trigger's. PagerDuty events say when something was detected but not when it was
resolved, so resolves and acknowledgements are timed on receipt, and a trigger's time is
capped at its receipt: a sender whose clock runs ahead would otherwise make its own
resolve look older than its trigger, and dedup would drop it.

The routing key is only hashed into fingerprints, never stored as a label: in PagerDuty
it is the credential of an integration.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec

from daemon.sources.common import (
    Limits,
    PayloadError,
    Received,
    check_sizes,
    convert,
    decode_any,
    make_alert,
    non_empty,
    read_time,
    severity_labels,
    stringify,
)
from daemon.validation import FieldError
from triage.alert import Acknowledgement, SenderEvent
from triage.fingerprint import key_fingerprint

RoutingKey = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
DedupKey = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Text = Annotated[str, msgspec.Meta(max_length=1024)]


class Link(msgspec.Struct):
    href: str
    text: str | None = None


class Image(msgspec.Struct):
    src: str
    href: str | None = None
    alt: str | None = None


class Payload(msgspec.Struct):
    summary: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: str | None = None
    component: Text | None = None
    group: Text | None = None
    class_: Text | None = msgspec.field(default=None, name="class")
    custom_details: Any = None


class Trigger(msgspec.Struct):
    routing_key: RoutingKey
    event_action: Literal["trigger"]
    payload: Payload
    # Empty is taken as absent: templates often render an unset key as "".
    dedup_key: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    client: str | None = None
    client_url: str | None = None
    links: list[Link] | None = None
    images: list[Image] | None = None


class FollowUp(msgspec.Struct):
    """Acknowledge and resolve: the key is all that matters; a payload is ignored."""

    routing_key: RoutingKey
    event_action: Literal["acknowledge", "resolve"]
    dedup_key: DedupKey


class AnyEvent(msgspec.Struct):
    """Only used to explain a body whose ``event_action`` is missing or unknown."""

    routing_key: RoutingKey
    event_action: Literal["trigger", "acknowledge", "resolve"]


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    document: Any = decode_any(body)
    action = document.get("event_action") if isinstance(document, dict) else None
    if action == "trigger":
        return _trigger(convert(document, Trigger), received_at, limits)
    if action in ("acknowledge", "resolve"):
        return _follow_up(convert(document, FollowUp), received_at)
    convert(document, AnyEvent)  # raises, naming event_action (and any other problem)
    raise PayloadError([FieldError("event_action", "must be trigger, acknowledge or resolve")])


def _trigger(event: Trigger, received_at: float, limits: Limits) -> Received:
    payload = event.payload
    errors: list[FieldError] = []
    detected = read_time(payload.timestamp, "payload.timestamp", errors)
    key = event.dedup_key or uuid.uuid4().hex
    labels = {
        **non_empty(
            {
                "service": payload.group or payload.component,
                "component": payload.component,
                "group": payload.group,
                "class": payload.class_,
            }
        ),
        "alertname": payload.class_ or payload.summary,
        "instance": payload.source,
        **severity_labels(payload.severity),
    }
    annotations = non_empty(
        {
            "summary": payload.summary,
            "custom_details": stringify(payload.custom_details),
            "client": event.client,
            "links": _json(event.links),
            "images": _json(event.images),
            "dedup_key": key,
        }
    )
    errors += check_sizes("(event)", labels, annotations, limits)
    if errors:
        raise PayloadError(errors)
    alert = make_alert(
        fingerprint=_fingerprint(event.routing_key, key),
        source="pagerduty",
        firing=True,
        labels=labels,
        annotations=annotations,
        received_at=received_at,
        starts_at=min(detected, received_at) if detected is not None else None,
        generator_url=event.client_url or "",
    )
    return Received([alert], reply=_reply(key))


def _follow_up(event: FollowUp, received_at: float) -> Received:
    fingerprint = _fingerprint(event.routing_key, event.dedup_key)
    outcome: SenderEvent
    if event.event_action == "acknowledge":
        outcome = Acknowledgement(
            fingerprint=fingerprint, at=received_at, actor="pagerduty", received_at=received_at
        )
    else:
        outcome = make_alert(
            fingerprint=fingerprint,
            source="pagerduty",
            firing=False,
            labels={},
            annotations={},
            received_at=received_at,
        )
    return Received([outcome], reply=_reply(event.dedup_key))


def _fingerprint(routing_key: str, dedup_key: str) -> str:
    return key_fingerprint(f"pagerduty:{routing_key}", dedup_key)


def _reply(dedup_key: str) -> dict[str, Any]:
    return {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


def _json(items: list[Link] | list[Image] | None) -> str | None:
    return msgspec.json.encode(items).decode() if items else None
