"""Dry runs: what a routing table decides for an alert, and what a new table would change.

``route diff`` replays recorded incidents through the table in service and a candidate,
so an operator sees which incidents would move group, channels or escalation before the
candidate is applied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec

from routing.assign import subject_of
from routing.table import RoutingTable
from triage.incident import Incident


class Change(msgspec.Struct, frozen=True):
    incident_id: str
    title: str
    group: tuple[str, str]
    channels: tuple[list[str], list[str]]
    escalation_policy: tuple[str | None, str | None]
    route: tuple[str, str]


class DiffReport(msgspec.Struct):
    compared: int
    changed: list[Change]
    moves: Counter[str] = msgspec.field(default_factory=Counter)


def diff(
    incidents: Iterable[Incident], old: RoutingTable, new: RoutingTable, now: float
) -> DiffReport:
    changed: list[Change] = []
    compared = 0
    moves: Counter[str] = Counter()
    for incident in incidents:
        compared += 1
        subject = subject_of(incident)
        before = old.tree.route(subject, now).targets
        after = new.tree.route(subject, now).targets
        old_channels = sorted({c for t in before for c in t.channels})
        new_channels = sorted({c for t in after for c in t.channels})
        if (before[0].group, before[0].escalation_policy, old_channels) == (
            after[0].group,
            after[0].escalation_policy,
            new_channels,
        ):
            continue
        moves[f"{before[0].group} -> {after[0].group}"] += 1
        changed.append(
            Change(
                incident_id=incident.id,
                title=incident.title,
                group=(before[0].group, after[0].group),
                channels=(old_channels, new_channels),
                escalation_policy=(before[0].escalation_policy, after[0].escalation_policy),
                route=(before[0].route_key, after[0].route_key),
            )
        )
    return DiffReport(compared=compared, changed=changed, moves=moves)
