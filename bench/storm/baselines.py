"""Static ``group_by`` grouping, as Alertmanager does it, on the same storm.

A group is the set of alerts sharing the values of the ``group_by`` labels (a missing
label counts as the empty value, as in Alertmanager). A group lives while one of its
alerts fires and for ``grace`` seconds after the last one resolved (Alertmanager's
``group_interval``, 5 minutes by default); an alert of the same labels after that starts a
new group. An alert's group is the last one it joined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.storm.generate import Event

BASELINES: dict[str, tuple[str, ...]] = {
    "[alertname]": ("alertname",),
    "[service, alertname]": ("service", "alertname"),
    "[service]": ("service",),
}


@dataclass(slots=True)
class _Group:
    id: int
    firing: int = 0
    ended_at: float = 0.0


def group_by(
    events: Sequence[Event], labels: tuple[str, ...], grace: float = 300.0
) -> tuple[dict[str, str], int]:
    """Each alert's group, and the number of groups formed."""
    groups: dict[tuple[str, ...], _Group] = {}
    assigned: dict[str, str] = {}
    firing: set[str] = set()
    formed = 0
    for event in events:
        alert = event.alert
        key = tuple(alert.labels.get(name, "") for name in labels)
        group = groups.get(key)
        if event.firing:
            if alert.fingerprint in firing:
                continue
            firing.add(alert.fingerprint)
            if group is None or (group.firing == 0 and event.at - group.ended_at > grace):
                formed += 1
                group = groups[key] = _Group(formed)
            group.firing += 1
            assigned[alert.fingerprint] = f"G{group.id}"
        elif alert.fingerprint in firing:
            firing.discard(alert.fingerprint)
            if group is not None:
                group.firing -= 1
                group.ended_at = max(group.ended_at, event.at)
    return assigned, formed
