"""Flapping: an alert that keeps changing state is one ongoing problem, not many.

The shell keeps, per alert, the times of its recent state changes (firing <-> resolved)
and calls ``observe`` on each change. While an alert is flapping its changes do not
re-notify (its incident is not auto-resolved and reopened on every toggle either); the
start of flapping is announced once, and so is its end. Hysteresis (enter above
``max_changes``, leave at ``clear_at`` or fewer) keeps the verdict itself from flapping.
"""

from __future__ import annotations

import msgspec

from triage.correlation.config import Flapping


class FlapState(msgspec.Struct, frozen=True):
    changes: tuple[float, ...] = ()  # times of state changes within the window, oldest first
    flapping: bool = False
    since: float | None = None  # when it started flapping


class FlapVerdict(msgspec.Struct, frozen=True):
    flapping: bool
    changes: int  # state changes within the window, this one included
    started: bool = False
    stopped: bool = False

    @property
    def notify(self) -> bool:
        """Should this change be announced? Not while flapping, except its start."""
        return self.started or not self.flapping


def observe(state: FlapState | None, at: float, config: Flapping) -> tuple[FlapState, FlapVerdict]:
    """Record a state change at ``at`` (sender time; out-of-order changes are placed in
    order) and decide whether the alert is flapping."""
    state = state or FlapState()
    start = at - config.window
    changes = tuple(sorted(t for t in (*state.changes, at) if t >= start))
    # Keep only what the decision can need: one more than the entry bound.
    changes = changes[-(config.max_changes + 1) :]
    count = len(changes)
    if state.flapping:
        still = count > config.clear_at
        new = FlapState(changes, still, state.since if still else None)
        return new, FlapVerdict(still, count, stopped=not still)
    if count > config.max_changes:
        return FlapState(changes, True, at), FlapVerdict(True, count, started=True)
    return FlapState(changes, False, None), FlapVerdict(False, count)


def settled(state: FlapState, now: float, config: Flapping) -> bool:
    """No change for a whole window: the alert has stopped flapping (the scheduler can
    clear the flag without waiting for another change)."""
    return not state.changes or now - state.changes[-1] > config.window
