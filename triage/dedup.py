"""Dedup: fold an alert event into the stored state of its fingerprint.

The rule is order-tolerant: each event asserts a status at a sender's time (``starts_at``
for firing, ``ends_at`` for resolved), and an event older than the stored status time
changes nothing but the receipt count; at equal times a resolve wins. Replays and
out-of-order deliveries therefore converge on the same state whatever order they arrive
in. One exception is deliberate: an alert resolved only because its ``endsAt`` passed
comes back when its sender refreshes it with a later ``endsAt``, as in Alertmanager.

A resolve that arrives before its firing leaves the alert resolved and opens no incident
(the firing is stale): a sender that reports "OK" for something never seen failing must
not create incidents, so a resolved-first alert is recorded but not escalated.
"""

from __future__ import annotations

import enum

import msgspec

from triage.alert import Alert, AlertStatus, Expiry
from triage.correlation.flapping import FlapState


class Change(enum.StrEnum):
    """Why the state changed (or did not): logs, metrics and tests can say which."""

    NEW = "new"  # first event of this fingerprint
    REFIRED = "refired"  # was resolved, fires again
    RESOLVED = "resolved"  # was firing, now resolved
    REFRESHED = "refreshed"  # firing again while firing: a dedup hit
    DUPLICATE = "duplicate"  # resolved again while resolved
    STALE = "stale"  # older than the stored status: ignored
    EXPIRED = "expired"  # firing alert's ends_at passed without a refresh


class AlertState(msgspec.Struct, frozen=True):
    """What triaged knows about one fingerprint."""

    fingerprint: str
    source: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None
    status_at: float
    first_seen: float
    last_seen: float
    count: int
    generator_url: str = ""
    incident_id: str | None = None
    suppressed_by: list[str] = []
    expired: bool = False  # resolved because ends_at passed, not because the sender said so
    flap: FlapState | None = None  # recent state changes; ``flap.flapping`` marks a flapping alert

    @property
    def firing(self) -> bool:
        return self.status is AlertStatus.FIRING


def apply_alert(prev: AlertState | None, alert: Alert) -> tuple[AlertState, Change]:
    """Fold one event into the state; the returned Change says what happened."""
    event_at = alert.event_at
    if prev is None:
        return _from_alert(alert, event_at), Change.NEW
    seen = {
        "last_seen": max(prev.last_seen, alert.received_at),
        "first_seen": min(prev.first_seen, alert.received_at),
        "count": prev.count + 1,
    }
    if _revives(prev, alert):
        revived = msgspec.structs.replace(
            prev,
            status=AlertStatus.FIRING,
            expired=False,
            annotations=alert.annotations or prev.annotations,
            ends_at=alert.ends_at,
            **seen,
        )
        return revived, Change.REFIRED
    if event_at < prev.status_at or (
        # A firing and a resolve at the same instant: the resolve wins, in any order.
        event_at == prev.status_at and alert.status is AlertStatus.FIRING and not prev.firing
    ):
        return msgspec.structs.replace(prev, **seen), Change.STALE
    if alert.status is prev.status:
        if alert.status is AlertStatus.RESOLVED:
            later = msgspec.structs.replace(
                prev,
                status_at=event_at,
                ends_at=_later_end(prev.ends_at, alert.ends_at),
                expired=False,
                **seen,
            )
            return later, Change.DUPLICATE
        refreshed = msgspec.structs.replace(
            prev,
            annotations=alert.annotations,
            labels=alert.labels,
            starts_at=min(prev.starts_at, alert.starts_at),
            ends_at=_later_end(prev.ends_at, alert.ends_at),
            status_at=max(prev.status_at, event_at),
            **seen,
        )
        return refreshed, Change.REFRESHED
    change = Change.RESOLVED if alert.status is AlertStatus.RESOLVED else Change.REFIRED
    moved = msgspec.structs.replace(
        _from_alert(alert, event_at),
        # A resolve that names only its dedup key (PagerDuty, Opsgenie) keeps what the
        # trigger said about the alert.
        labels=alert.labels or prev.labels,
        annotations=alert.annotations or prev.annotations,
        first_seen=seen["first_seen"],
        last_seen=seen["last_seen"],
        count=seen["count"],
        incident_id=prev.incident_id,
        flap=prev.flap,
        starts_at=prev.starts_at if change is Change.RESOLVED else alert.starts_at,
    )
    return moved, change


def apply_expiry(prev: AlertState | None, expiry: Expiry) -> tuple[AlertState | None, Change]:
    """Resolve a firing alert whose ``ends_at`` passed, unless a refresh extended it."""
    if prev is None or not prev.firing or prev.ends_at is None or prev.ends_at > expiry.ends_at:
        return prev, Change.STALE
    resolved = msgspec.structs.replace(
        prev,
        status=AlertStatus.RESOLVED,
        status_at=max(prev.status_at, prev.ends_at),
        expired=True,
    )
    return resolved, Change.EXPIRED


def _revives(prev: AlertState, alert: Alert) -> bool:
    """A refresh of an alert that only timed out: the sender says it fires past the end
    we presumed (it was away longer than its ``endsAt`` lead), so it is firing again."""
    return (
        prev.expired
        and alert.status is AlertStatus.FIRING
        and alert.ends_at is not None
        and alert.ends_at > prev.status_at
    )


def _from_alert(alert: Alert, event_at: float) -> AlertState:
    return AlertState(
        fingerprint=alert.fingerprint,
        source=alert.source,
        status=alert.status,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        status_at=event_at,
        first_seen=alert.received_at,
        last_seen=alert.received_at,
        count=1,
        generator_url=alert.generator_url,
    )


def _later_end(current: float | None, new: float | None) -> float | None:
    """A firing alert without an end never expires; one refresh with an end re-arms expiry."""
    if current is None or new is None:
        return new
    return max(current, new)
