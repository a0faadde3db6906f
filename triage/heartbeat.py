"""Heartbeats: a job or system that must check in every interval raises an alert when it
misses, and the next check-in resolves it.

The missing-heartbeat alert goes through the normal pipeline (dedup, correlation,
incident), so a silent backup job is handled like any other failure.
"""

from __future__ import annotations

import msgspec

from triage.alert import Alert, AlertStatus
from triage.fingerprint import label_fingerprint


class HeartbeatState(msgspec.Struct, frozen=True):
    interval: float
    last_at: float
    missing: bool = False

    @property
    def deadline(self) -> float:
        return self.last_at + self.interval


def beat(prev: HeartbeatState | None, interval: float | None, now: float) -> HeartbeatState:
    """A check-in: keep the known interval unless a new one is given."""
    if interval is None:
        if prev is None:
            raise ValueError("a new heartbeat needs an interval")
        interval = prev.interval
    return HeartbeatState(interval=interval, last_at=now)


def is_missed(state: HeartbeatState, now: float) -> bool:
    return not state.missing and now >= state.deadline


def heartbeat_alert(name: str, state: HeartbeatState, *, status: AlertStatus, now: float) -> Alert:
    """The alert for a missed heartbeat (firing since the deadline) or its resolution."""
    labels = {
        "alertname": "HeartbeatMissing",
        "heartbeat": name,
        "service": name,
        "severity": "error",
    }
    return Alert(
        fingerprint=label_fingerprint(labels),
        source="heartbeat",
        status=status,
        labels=labels,
        annotations={
            "summary": f"heartbeat {name} missed",
            "description": f"no check-in from {name} within {state.interval:g}s",
        },
        starts_at=state.deadline,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        received_at=now,
    )
