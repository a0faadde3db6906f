"""Generic webhook: the notification as JSON, signed, with its idempotency key.

Headers a receiver can rely on:

- ``X-Triaged-Signature: sha256=<hex>``: HMAC-SHA256 of the raw body with the channel's
  ``secret`` (when one is configured), the same scheme GitHub uses, so receivers can
  reuse their verification code;
- ``Idempotency-Key``: the same for every attempt and redrive of one notification;
- ``X-Triaged-Event``: the transition (``opened``, ``escalated:2``, ...);
- ``X-Triaged-Attempt``: 1 for the first attempt, then 2, 3, ...

The body is identical on every attempt (the attempt number is only in the header), so
a receiver that stores bodies by key sees one value per key.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import msgspec

from daemon.config_types import resolve_secret, seconds
from daemon.delivery.channels.http import HttpClient
from daemon.delivery.config import ChannelConfig, required, secret
from daemon.delivery.outbox import Notification
from daemon.delivery.retry import SendResult
from daemon.delivery.templates import Rendered

PAYLOAD_VERSION = 1


def signature(key: bytes, body: bytes) -> str:
    """The ``X-Triaged-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def webhook_body(notification: Notification, message: Rendered, key: str) -> bytes:
    n = notification
    return msgspec.json.encode(
        {
            "version": PAYLOAD_VERSION,
            "idempotency_key": key,
            "transition": n.transition,
            "event": n.event,
            "target": n.target,
            "channel": n.channel,
            "created_at": datetime.fromtimestamp(n.created_at, UTC),
            "incident": msgspec.to_builtins(n.incident),
            "message": {"title": message.title, "text": message.body},
            "note": n.message,  # what a person wrote: an update, resolution notes
        }
    )


class WebhookSender:
    def __init__(self, config: ChannelConfig, http: HttpClient):
        self._url = required(config, "url")
        signing = secret(config, "secret")
        self._key = signing.encode() if signing is not None else None
        self._headers = {
            name: resolve_secret(value, field=f"channels.{config.name}.headers.{name}")
            for name, value in config.headers.items()
        }
        self._timeout = seconds(config.timeout)
        self._http = http

    async def send(
        self, notification: Notification, message: Rendered, *, key: str, attempt: int
    ) -> SendResult:
        body = webhook_body(notification, message, key)
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Triaged-Event": notification.transition,
            "X-Triaged-Attempt": str(attempt),
        }
        if self._key is not None:
            headers["X-Triaged-Signature"] = signature(self._key, body)
        return await self._http.post(self._url, body, headers, within=self._timeout)
