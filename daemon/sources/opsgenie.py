"""Opsgenie's Create Alert API body, plus close and acknowledge by alias.

Opsgenie identifies an alert by its ``alias`` (the dedup key): creating an alert with an
alias that is open refreshes it. Without an alias the message is the alias, so a tool
that re-sends the same alert dedups instead of opening a new one each time.

Opsgenie closes and acknowledges through separate URLs; triaged takes both at the same
URL as creation, told apart by an ``action`` field::

    {"action": "close", "alias": "...", "user": "...", "source": "...", "note": "..."}
    {"action": "acknowledge", "alias": "...", "user": "...", "note": "..."}

Close resolves the alert (labels empty: dedup keeps the creation's); acknowledge
acknowledges its incident as ``opsgenie:<user>``. Opsgenie's bodies carry no times, so
everything is timed on receipt. ``priority`` P1-P5 becomes the canonical severity;
``details`` (Opsgenie's custom properties, used there for filtering and routing) and
``key:value`` tags become labels.
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
    severity_labels,
    tag_labels,
)
from daemon.validation import FieldError
from triage.alert import Acknowledgement, SenderEvent
from triage.fingerprint import key_fingerprint

Alias = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class Responder(msgspec.Struct):
    type: str | None = None
    id: str | None = None
    name: str | None = None
    username: str | None = None

    def render(self) -> str:
        who = self.name or self.username or self.id or ""
        return f"{self.type}:{who}" if self.type else who


class CreateAlert(msgspec.Struct):
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=130)]
    action: Literal["create"] | None = None
    alias: Alias | None = None
    description: Annotated[str, msgspec.Meta(max_length=15000)] | None = None
    responders: list[Responder] | None = None
    actions: list[str] | None = None
    tags: list[str] | None = None
    details: dict[str, str] | None = None
    entity: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    source: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = None
    user: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=25000)] | None = None


class AliasAction(msgspec.Struct):
    action: Literal["close", "acknowledge"]
    alias: Alias
    user: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    source: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=25000)] | None = None


class AnyAction(msgspec.Struct):
    """Only used to explain an unknown ``action``."""

    action: Literal["create", "close", "acknowledge"]


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    document: Any = decode_any(body)
    action = document.get("action") if isinstance(document, dict) else None
    if action in ("close", "acknowledge"):
        return _by_alias(convert(document, AliasAction), received_at)
    if action is None or action == "create":
        return _create(convert(document, CreateAlert), received_at, limits)
    convert(document, AnyAction)  # raises, naming the action
    raise PayloadError([FieldError("action", "must be create, close or acknowledge")])


def _create(body: CreateAlert, received_at: float, limits: Limits) -> Received:
    alias = body.alias or body.message
    responders = sorted({r.render() for r in body.responders or []} - {""})
    labels = {
        **tag_labels(body.tags or []),
        **(body.details or {}),
        **non_empty(
            {
                "service": body.entity,
                "entity": body.entity,
                "origin": body.source,
                "responders": ",".join(responders),
            }
        ),
        "alertname": body.message,
        **severity_labels(body.priority),
    }
    annotations = non_empty(
        {
            "summary": body.message,
            "description": body.description,
            "alias": alias,
            "note": body.note,
            "user": body.user,
            "actions": ",".join(body.actions or []),
        }
    )
    errors = check_sizes("(alert)", labels, annotations, limits)
    if errors:
        raise PayloadError(errors)
    alert = make_alert(
        fingerprint=key_fingerprint("opsgenie", alias),
        source="opsgenie",
        firing=True,
        labels=labels,
        annotations=annotations,
        received_at=received_at,
    )
    return Received([alert], reply=_reply())


def _by_alias(body: AliasAction, received_at: float) -> Received:
    fingerprint = key_fingerprint("opsgenie", body.alias)
    event: SenderEvent
    if body.action == "acknowledge":
        actor = f"opsgenie:{body.user}" if body.user else "opsgenie"
        event = Acknowledgement(
            fingerprint=fingerprint, at=received_at, actor=actor, received_at=received_at
        )
    else:
        event = make_alert(
            fingerprint=fingerprint,
            source="opsgenie",
            firing=False,
            labels={},
            annotations={},
            received_at=received_at,
        )
    return Received([event], reply=_reply())


def _reply() -> dict[str, Any]:
    """Opsgenie answers every accepted request this way; the request id is fresh."""
    return {"result": "Request will be processed", "took": 0.0, "requestId": str(uuid.uuid4())}
