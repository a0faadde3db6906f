"""Correlate: which incident an alert belongs to.

The incident key is built from configured label names, each position a list of
alternatives (default: ``service`` falling back to ``alertname``, plus ``environment``).
Alerts with one key share the open incident of that key; an alert that fires again
shortly after its incident resolved reopens it rather than opening a second record.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

from triage.incident import Incident, IncidentStatus

DEFAULT_KEY_LABELS: tuple[tuple[str, ...], ...] = (("service", "alertname"), ("environment", "env"))


class Decision(enum.StrEnum):
    JOIN = "join"  # the key's incident is open
    REOPEN = "reopen"  # resolved within the reopen window
    OPEN = "open"  # no incident, closed, or resolved too long ago


def incident_key(
    labels: Mapping[str, str], key_labels: Sequence[Sequence[str]], fingerprint: str
) -> str:
    """``name=value`` parts joined by commas; a position with no label present is left out.

    An alert with none of the key labels is keyed by its first label pair, or by its own
    fingerprint when it has no labels at all (a generic alert with only a dedup_key), so
    it groups with its own repeats rather than with every other unlabelled alert.
    """
    parts: list[str] = []
    for alternatives in key_labels:
        for name in alternatives:
            value = labels.get(name)
            if value:
                parts.append(f"{_escape(name)}={_escape(value)}")
                break
    if not parts and labels:
        name = min(labels)
        parts.append(f"{_escape(name)}={_escape(labels[name])}")
    return ",".join(parts) or f"fingerprint={fingerprint}"


def _escape(text: str) -> str:
    """Percent-escape the key's own separators so no label value can forge another key."""
    return text.replace("%", "%25").replace(",", "%2C").replace("=", "%3D")


def decide(current: Incident | None, *, fired_at: float, reopen_window: float) -> Decision:
    """Decide for a firing alert given the incident its key currently points to."""
    if current is None or current.status is IncidentStatus.CLOSED:
        return Decision.OPEN
    if current.status.is_open:
        return Decision.JOIN
    resolved_at = current.resolved_at if current.resolved_at is not None else current.updated_at
    if fired_at - resolved_at <= reopen_window:
        return Decision.REOPEN
    return Decision.OPEN
