"""Flapping: more than N state changes in a window, hysteresis, no re-notification."""

from __future__ import annotations

from triage.correlation import Flapping, FlapState, observe, settled

FOUR_IN_100 = Flapping(max_changes=4, window=100, clear_at=1)


def changes(times: list[float], state: FlapState | None = None) -> tuple[FlapState, list[bool]]:
    notified = []
    for at in times:
        state, verdict = observe(state, at, FOUR_IN_100)
        notified.append(verdict.notify)
    assert state is not None
    return state, notified


def test_an_alert_flaps_after_more_than_n_changes_in_the_window() -> None:
    state, _notified = changes([0, 10, 20, 30])
    assert not state.flapping
    state, verdict = observe(state, 40, FOUR_IN_100)
    assert state.flapping
    assert verdict.started
    assert verdict.changes == 5
    assert state.since == 40


def test_while_flapping_changes_do_not_notify_except_the_start() -> None:
    _, notified = changes([0, 10, 20, 30, 40, 50, 60])
    assert notified == [True, True, True, True, True, False, False]


def test_spread_out_changes_are_not_flapping() -> None:
    state, notified = changes([0, 60, 120, 180, 240, 300])
    assert not state.flapping
    assert all(notified)


def test_it_stops_flapping_when_changes_in_the_window_drop_to_clear_at() -> None:
    state, _ = changes([0, 10, 20, 30, 40])
    state, verdict = observe(state, 135, FOUR_IN_100)  # only 40 and 135 remain in the window
    assert state.flapping
    assert not verdict.notify
    state, verdict = observe(state, 240, FOUR_IN_100)  # only 240 remains
    assert not state.flapping
    assert verdict.stopped
    assert verdict.notify
    assert state.since is None


def test_out_of_order_changes_are_placed_in_time() -> None:
    state, _ = changes([30, 0, 20, 10, 40])
    assert state.changes == (0, 10, 20, 30, 40)
    assert state.flapping


def test_history_is_bounded() -> None:
    state, _ = changes([float(t) for t in range(0, 90, 2)])
    assert len(state.changes) == FOUR_IN_100.max_changes + 1


def test_settled_after_a_quiet_window() -> None:
    state, _ = changes([0, 10, 20, 30, 40])
    assert not settled(state, 140, FOUR_IN_100)
    assert settled(state, 141, FOUR_IN_100)
