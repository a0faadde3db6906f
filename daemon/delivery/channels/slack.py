"""Slack incoming webhook: a message people can read at a glance on a phone.

Layout: the rendered body (by default a bold title linking to the incident, and the
event), a fields block with priority, status, group and incident id, and a context line
with the transition and incident key. ``text`` carries the rendered title: Slack shows
it in push notifications and where blocks cannot be displayed.

Slack answers 200 ``ok``, or an error status with a word such as ``invalid_payload``,
``channel_not_found`` or ``channel_is_archived``; those 4xx answers are permanent and
dead-letter at once, with Slack's word as the reason.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from daemon.config_types import seconds
from daemon.delivery.channels.http import HttpClient
from daemon.delivery.config import ChannelConfig, required
from daemon.delivery.outbox import Notification
from daemon.delivery.retry import SendResult
from daemon.delivery.templates import Rendered, slack_escape

SECTION_LIMIT: Final = 3000  # Slack's limit for a section's text
FIELD_LIMIT: Final = 2000  # and for one field


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str, limit: int = FIELD_LIMIT) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(text, limit)}


def slack_payload(notification: Notification, message: Rendered) -> dict[str, Any]:
    """``message`` was rendered with Slack escaping; the fixed parts escape here."""
    incident = notification.incident
    esc = slack_escape
    ref = f"<{esc(incident.url)}|{esc(incident.id)}>" if incident.url else esc(incident.id)
    return {
        "text": message.title,
        "blocks": [
            {"type": "section", "text": _mrkdwn(message.body.strip(), SECTION_LIMIT)},
            {
                "type": "section",
                "fields": [
                    _mrkdwn(f"*Priority*\n{esc(incident.priority)}"),
                    _mrkdwn(f"*Status*\n{esc(incident.status)}"),
                    _mrkdwn(f"*Group*\n{esc(incident.group or '-')}"),
                    _mrkdwn(f"*Incident*\n{ref}"),
                ],
            },
            {
                "type": "context",
                "elements": [
                    _mrkdwn(f"{esc(notification.transition)} · key `{esc(incident.key)}`")
                ],
            },
        ],
    }


class SlackSender:
    def __init__(self, config: ChannelConfig, http: HttpClient):
        self._url = required(config, "url")
        self._timeout = seconds(config.timeout)
        self._http = http

    async def send(
        self, notification: Notification, message: Rendered, *, key: str, attempt: int
    ) -> SendResult:
        body = msgspec.json.encode(slack_payload(notification, message))
        headers = {"Content-Type": "application/json"}
        return await self._http.post(self._url, body, headers, within=self._timeout)
