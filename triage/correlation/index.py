"""The candidate index: which open incidents an alert is compared with.

Correlation never scans open incidents. The shell keeps one bounded index, *slots*, each
naming a component in a scope (``["prod", "orders-db"]``) and holding the ids of the
incidents whose alerts recently named that component, scored by the time of their latest
such alert and trimmed to the ``slot_size`` most recent (in Redis a sorted set per slot:
``ZADD`` then ``ZREMRANGEBYRANK slot 0 -(slot_size+1)``). An alert reads the slots of its
own components and of its service's topology neighbours, newest entries first and only
those within the correlation windows, so the work per alert is bounded by
``slot_size * slots`` whatever the number of open incidents.

``SlotIndex`` is that structure in memory: the offline benchmark's simulated shell uses
it, and a batch fold can use it as the working copy of the slots it loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import msgspec

_encode = msgspec.json.encode


@lru_cache(maxsize=65536)
def slot(scope: str, entity: str) -> str:
    """The slot of a component in a scope: a JSON pair, unambiguous for any value.
    (Cached: the same few hundred components are named by every alert of a storm.)"""
    return _encode((scope, entity)).decode()


class SlotIndex:
    """Slots in memory with the same bound and order as the Redis sorted sets."""

    def __init__(self, slot_size: int) -> None:
        self.slot_size = slot_size
        self._slots: dict[str, dict[str, float]] = {}

    def touch(self, slots: Iterable[str], incident_id: str, at: float) -> None:
        """Record that ``incident_id`` was active at ``at`` in each slot; evict the
        least recently active entry of a slot that grows past the bound."""
        for name in slots:
            entries = self._slots.setdefault(name, {})
            entries[incident_id] = max(at, entries.get(incident_id, at))
            if len(entries) > self.slot_size:
                del entries[min(entries, key=entries.__getitem__)]

    def remove(self, slots: Iterable[str], incident_id: str) -> None:
        for name in slots:
            entries = self._slots.get(name)
            if entries is not None:
                entries.pop(incident_id, None)
                if not entries:
                    del self._slots[name]

    def read(self, name: str, since: float) -> list[str]:
        """Incident ids of a slot active at or after ``since``, most recent first."""
        entries = self._slots.get(name)
        if not entries:
            return []
        recent = sorted(((i, at) for i, at in entries.items() if at >= since), key=_newest_first)
        return [i for i, _ in recent]

    def __len__(self) -> int:
        return len(self._slots)


def _newest_first(entry: tuple[str, float]) -> tuple[float, str]:
    return -entry[1], entry[0]


def entity_slots(scope: str, entities: Iterable[str]) -> tuple[str, ...]:
    """The slots of components in a scope, in a stable order."""
    return tuple(slot(scope, e) for e in sorted(entities))
