"""Recurrence: incidents that keep coming back point at a problem worth a root-cause look.

Incident handling restores service; problem management removes the cause. The bridge
between them is noticing repetition, which people under pressure rarely do. Two incidents
recur when they share their correlation key (the same alert on the same thing) or, more
loosely, the same service and category (different alerts, same weak spot). Either kind of
repetition reaching ``threshold`` incidents within ``window`` makes a *problem candidate*.

The same counting labels each incident for the people working it: "seen 4 times in 30d"
with ``new`` (first in the window), ``rare`` (below the threshold) or ``frequent`` (at or
above it). The label counts the window *ending at the incident's own creation*, so it does
not change while the incident is worked and tells what was known when it opened.

Callers pass occurrences without cancelled incidents and drills: a duplicate is not a
recurrence. An empty key or service does not match anything (unknown is not "the same").
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from routing.config import FieldPath
from triage.process.common import Problems, Section, format_duration
from triage.process.record import Frequency, Seen

Basis = Literal["key", "service+category"]


class RecurrenceConfig(Section, frozen=True):
    window: str = "30d"
    threshold: Annotated[int, msgspec.Meta(ge=2)] = 3


@dataclass(frozen=True, slots=True)
class RecurrenceSettings:
    window: float = 30 * 86400.0
    threshold: int = 3


def compile_recurrence(
    cfg: RecurrenceConfig, problems: Problems, path: FieldPath = ()
) -> RecurrenceSettings | None:
    window = problems.duration((*path, "window"), cfg.window)
    return None if window is None else RecurrenceSettings(window, cfg.threshold)


class Occurrence(msgspec.Struct, frozen=True):
    id: str
    key: str
    service: str
    category: str
    created_at: float
    problem_id: str | None = None


def _bases(occurrence: Occurrence) -> list[tuple[Basis, str]]:
    bases: list[tuple[Basis, str]] = []
    if occurrence.key:
        bases.append(("key", occurrence.key))
    if occurrence.service:
        bases.append(("service+category", f"{occurrence.service}/{occurrence.category}"))
    return bases


class ProblemCandidate(msgspec.Struct, frozen=True):
    id: str  # stable for the same basis and value, so the API can address it
    basis: Basis
    value: str  # the key, or ``service/category``
    count: int
    incident_ids: list[str]
    first_seen: float
    last_seen: float
    linked_problems: list[str]  # problems some of these incidents are already linked to


def candidate_id(basis: Basis, value: str) -> str:
    return "PC-" + hashlib.sha1(f"{basis}\0{value}".encode()).hexdigest()[:10]


def problem_candidates(
    occurrences: Iterable[Occurrence], *, now: float, settings: RecurrenceSettings
) -> list[ProblemCandidate]:
    """Recurring groups in the window ending ``now``, most frequent first.

    A service-and-category candidate holding exactly the incidents of a key candidate is
    left out: it says nothing the key candidate does not.
    """
    groups: dict[tuple[Basis, str], list[Occurrence]] = defaultdict(list)
    for occurrence in occurrences:
        if now - settings.window < occurrence.created_at <= now:
            for group in _bases(occurrence):
                groups[group].append(occurrence)
    found: list[ProblemCandidate] = []
    key_sets = {
        frozenset(o.id for o in members)
        for (basis, _), members in groups.items()
        if basis == "key" and len(members) >= settings.threshold
    }
    for (basis, value), members in groups.items():
        ids = frozenset(o.id for o in members)
        if len(ids) < settings.threshold or (basis != "key" and ids in key_sets):
            continue
        members.sort(key=lambda o: (o.created_at, o.id))
        found.append(
            ProblemCandidate(
                id=candidate_id(basis, value),
                basis=basis,
                value=value,
                count=len(ids),
                incident_ids=[o.id for o in members],
                first_seen=members[0].created_at,
                last_seen=members[-1].created_at,
                linked_problems=sorted({o.problem_id for o in members if o.problem_id}),
            )
        )
    found.sort(key=lambda c: (-c.count, -c.last_seen, c.id))
    return found


def seen(
    occurrence: Occurrence, history: Sequence[Occurrence], *, settings: RecurrenceSettings
) -> Seen:
    """How often incidents like ``occurrence`` were seen in the window up to its creation."""
    mine = set(_bases(occurrence))
    start = occurrence.created_at - settings.window
    like = {occurrence.id} | {
        other.id
        for other in history
        if start < other.created_at <= occurrence.created_at and mine & set(_bases(other))
    }
    count = len(like)
    if count == 1:
        label = Frequency.NEW
    elif count >= settings.threshold:
        label = Frequency.FREQUENT
    else:
        label = Frequency.RARE
    window = format_duration(settings.window)
    text = f"first in {window}" if count == 1 else f"seen {count} times in {window}"
    return Seen(count, label, text)
