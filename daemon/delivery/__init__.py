"""Delivery: the outbox that gets notifications to webhook, Slack and e-mail channels.

Step 9 of the flow (DESIGN.md, "notify"). The pipeline and the scheduler queue
``Notification`` values in the same commit that records an incident change
(``queue``); a ``DeliveryWorker`` sends them with retries, backoff, per-channel rate
limits and a dead-letter stream, writing every attempt to the incident timeline; the
API (``daemon.delivery.api.add_routes``) lists and redrives dead letters.
docs/delivery.md is the operator's guide.

The API is not re-exported here: it needs ``daemon.appkeys``, and this package must stay
importable from there (an AppKey for the worker) without a cycle.
"""

from __future__ import annotations

from daemon.delivery.config import ChannelConfig, validate_channels
from daemon.delivery.outbox import (
    IncidentSummary,
    Notification,
    idempotency_key,
    notifications_for,
    queue,
    queue_now,
    requeue_due,
    summarize,
    transition,
)
from daemon.delivery.worker import DeliveryWorker, ensure_outbox

__all__ = [
    "ChannelConfig",
    "DeliveryWorker",
    "IncidentSummary",
    "Notification",
    "ensure_outbox",
    "idempotency_key",
    "notifications_for",
    "queue",
    "queue_now",
    "requeue_due",
    "summarize",
    "transition",
    "validate_channels",
]
