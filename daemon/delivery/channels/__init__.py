"""Channel senders: one small class per channel type behind one ``Sender`` port.

The worker knows only the port; which class serves which ``type`` is the table in
``build_sender``, so adding a channel type touches this package and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from daemon.delivery.channels.email import EmailSender
from daemon.delivery.channels.http import HttpClient
from daemon.delivery.channels.slack import SlackSender
from daemon.delivery.channels.webhook import WebhookSender
from daemon.delivery.config import ChannelConfig
from daemon.delivery.outbox import Notification
from daemon.delivery.retry import SendResult
from daemon.delivery.templates import Rendered

__all__ = ["EmailSender", "HttpClient", "Sender", "SlackSender", "WebhookSender", "build_sender"]


class Sender(Protocol):
    """Send one rendered notification; never raises for a receiver's failure, but says
    in the result whether it is worth retrying."""

    async def send(
        self, notification: Notification, message: Rendered, *, key: str, attempt: int
    ) -> SendResult: ...


_FACTORIES: dict[str, Callable[[ChannelConfig, HttpClient], Sender]] = {
    "webhook": WebhookSender,
    "slack": SlackSender,
    "email": lambda config, _http: EmailSender(config),
}


def build_sender(config: ChannelConfig, http: HttpClient) -> Sender:
    """Resolves the channel's secrets now, so a missing one fails at startup."""
    return _FACTORIES[config.type](config, http)
