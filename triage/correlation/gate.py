"""Admission: count and time thresholds before a key opens an incident.

A key that has no live incident holds its firing alerts in a small ``Pending`` record
(the shell stores one per key, e.g. ``triaged:pending:{key}``, and a timer at
``Admission.due_at``). The held alerts are admitted together -- and only then go through
``engine.correlate`` -- when ``min_alerts`` alerts of the key arrived within
``min_alerts_window`` seconds, or when one of them has been firing for ``pause`` seconds.
An alert that resolves while held is *transient*: it opens nothing, its alert state is
kept by dedup as usual, and the key's record counts it.

Alerts of a key whose incident is open skip admission (``engine.key_is_live``): the key
already proved itself. Every function is pure and takes the time it decides at.
"""

from __future__ import annotations

import enum

import msgspec

from triage.correlation.config import Thresholds


class Gate(enum.StrEnum):
    ADMIT = "admit"  # correlate ``fingerprints`` now, in order
    HOLD = "hold"  # keep waiting; wake the key at ``due_at`` (if any)
    TRANSIENT = "transient"  # a held alert resolved before admission
    NONE = "none"  # nothing to do (not held, or already admitted)


class Held(msgspec.Struct, frozen=True, array_like=True):
    fingerprint: str
    since: float


class Pending(msgspec.Struct, frozen=True):
    key: str
    arrivals: tuple[float, ...] = ()  # recent firing times, newest last, at most min_alerts
    held: tuple[Held, ...] = ()  # firing and waiting, oldest first
    transient: int = 0  # held alerts that resolved before admission
    last_at: float = 0.0

    def due_at(self, thresholds: Thresholds) -> float | None:
        if thresholds.pause == 0 or not self.held:
            return None
        return min(h.since for h in self.held) + thresholds.pause


class Admission(msgspec.Struct, frozen=True):
    verdict: Gate
    fingerprints: tuple[str, ...] = ()
    due_at: float | None = None
    reason: str = ""
    transient: int = 0  # the key's transient count so far, for the trace


def on_firing(
    pending: Pending | None, key: str, fingerprint: str, at: float, thresholds: Thresholds
) -> tuple[Pending | None, Admission]:
    """A firing alert of a key without a live incident. Returns the key's new record
    (None once admitted: the key's incident takes over) and what to do."""
    if thresholds.immediate:
        return None, Admission(Gate.ADMIT, (fingerprint,), reason="no thresholds")
    record = pending or Pending(key=key)
    if any(h.fingerprint == fingerprint for h in record.held):
        return record, _hold(record, thresholds)
    window_start = at - thresholds.min_alerts_window
    arrivals = tuple(sorted(t for t in (*record.arrivals, at) if t >= window_start))
    arrivals = arrivals[-thresholds.min_alerts :]
    held = tuple(
        sorted((*record.held, Held(fingerprint, at)), key=lambda h: (h.since, h.fingerprint))
    )
    record = msgspec.structs.replace(
        record, arrivals=arrivals, held=held, last_at=max(record.last_at, at)
    )
    if len(arrivals) >= thresholds.min_alerts:
        reason = f"{len(arrivals)} alerts within {thresholds.min_alerts_window:g}s"
        return None, _admit(record, reason)
    if len(held) >= thresholds.max_held:
        return None, _admit(record, f"{len(held)} alerts held")
    if (due := record.due_at(thresholds)) is not None and at >= due:
        return None, _admit(record, f"firing for {thresholds.pause:g}s")
    return record, _hold(record, thresholds)


def on_resolved(
    pending: Pending | None, fingerprint: str, at: float, thresholds: Thresholds
) -> tuple[Pending | None, Admission]:
    """A held alert resolved: it is transient. The record stays while it has held
    alerts or recent arrivals that still count towards ``min_alerts``."""
    if pending is None or not any(h.fingerprint == fingerprint for h in pending.held):
        return pending, Admission(Gate.NONE)
    record = msgspec.structs.replace(
        pending,
        held=tuple(h for h in pending.held if h.fingerprint != fingerprint),
        transient=pending.transient + 1,
        last_at=max(pending.last_at, at),
    )
    admission = Admission(
        Gate.TRANSIENT,
        (fingerprint,),
        due_at=record.due_at(thresholds),
        reason=f"resolved within the admission period of key {pending.key}",
        transient=record.transient,
    )
    return record, admission


def on_due(
    pending: Pending | None, now: float, thresholds: Thresholds
) -> tuple[Pending | None, Admission]:
    """The key's timer fired: admit if a held alert has been firing for ``pause``."""
    if pending is None or not pending.held:
        return pending, Admission(Gate.NONE)
    due = pending.due_at(thresholds)
    if due is not None and now >= due:
        return None, _admit(pending, f"firing for {thresholds.pause:g}s")
    return pending, _hold(pending, thresholds)


def expired(pending: Pending, now: float, thresholds: Thresholds) -> bool:
    """A record with nothing held and no arrival left in the window can be deleted."""
    return not pending.held and now - pending.last_at > thresholds.min_alerts_window


def _admit(record: Pending, reason: str) -> Admission:
    return Admission(
        Gate.ADMIT,
        tuple(h.fingerprint for h in record.held),
        reason=reason,
        transient=record.transient,
    )


def _hold(record: Pending, thresholds: Thresholds) -> Admission:
    return Admission(Gate.HOLD, due_at=record.due_at(thresholds), transient=record.transient)
