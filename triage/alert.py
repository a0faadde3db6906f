"""The normalised alert: what every source adapter produces and the pipeline consumes.

Times are UTC epoch seconds (floats) inside the core: they compare and serialise cheaply,
and the HTTP edge converts to and from ISO 8601.
"""

from __future__ import annotations

import enum

import msgspec


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(msgspec.Struct, frozen=True, array_like=True, tag="alert"):
    """One alert event as a sender reported it, after normalisation.

    ``starts_at`` is when the sender says the condition began; ``ends_at`` is when it
    ended (resolved alerts) or when it will be presumed over unless refreshed (firing
    alerts from Prometheus and Alertmanager carry a time a few minutes ahead).
    ``received_at`` is when triaged accepted it and only feeds latency figures and
    ``first_seen``/``last_seen``; ordering between events uses the sender's times.
    """

    fingerprint: str
    source: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None
    received_at: float
    generator_url: str = ""

    @property
    def event_at(self) -> float:
        """The sender's time of the state this event asserts; later events win."""
        if self.status is AlertStatus.RESOLVED:
            return self.ends_at if self.ends_at is not None else self.received_at
        return self.starts_at


class Expiry(msgspec.Struct, frozen=True, array_like=True, tag="expiry"):
    """A firing alert's ``ends_at`` passed without a refresh: resolve it at that time."""

    fingerprint: str
    ends_at: float


class AdmissionDue(msgspec.Struct, frozen=True, array_like=True, tag="admission"):
    """A key's admission timer fired (the scheduler's ``triaged:timers:admission``):
    admit the alerts it holds if one has been firing for the pause period by ``at``."""

    key: str
    at: float


class Acknowledgement(msgspec.Struct, frozen=True, array_like=True, tag="ack"):
    """The sender says someone took the alert (PagerDuty, Opsgenie): acknowledge its
    incident, as an operator would."""

    fingerprint: str
    at: float
    actor: str
    received_at: float


SenderEvent = Alert | Acknowledgement
"""What a source adapter produces and the ingest stream carries."""

Event = Alert | Expiry | Acknowledgement | AdmissionDue
"""Everything the pipeline folds."""
