"""Recurrence: problem candidates and the "seen N times" label."""

from __future__ import annotations

import pytest

from triage.process.common import Problems
from triage.process.record import Frequency
from triage.process.recurrence import (
    Occurrence,
    RecurrenceConfig,
    RecurrenceSettings,
    candidate_id,
    compile_recurrence,
    problem_candidates,
    seen,
)

DAY = 86400.0
NOW = 100 * DAY
SETTINGS = RecurrenceSettings(window=30 * DAY, threshold=3)


def occ(
    id: str,
    days_ago: float,
    key: str = "",
    service: str = "",
    category: str = "",
    problem: str | None = None,
) -> Occurrence:
    return Occurrence(id, key, service, category, NOW - days_ago * DAY, problem)


def test_three_of_one_key_in_the_window_make_a_candidate() -> None:
    history = [
        occ("I1", 20, key="disk/db1"),
        occ("I2", 10, key="disk/db1", problem="PRB-1"),
        occ("I3", 1, key="disk/db1"),
        occ("I4", 40, key="disk/db1"),  # outside the window
        occ("I5", 2, key="cpu/web1"),
        occ("I6", 1, key="cpu/web1"),  # two only
    ]
    (candidate,) = problem_candidates(history, now=NOW, settings=SETTINGS)
    assert candidate.basis == "key"
    assert candidate.value == "disk/db1"
    assert candidate.count == 3
    assert candidate.incident_ids == ["I1", "I2", "I3"]
    assert (candidate.first_seen, candidate.last_seen) == (NOW - 20 * DAY, NOW - DAY)
    assert candidate.linked_problems == ["PRB-1"]
    assert candidate.id == candidate_id("key", "disk/db1")
    assert candidate.id.startswith("PC-")


def test_different_alerts_on_the_same_service_and_category_recur_too() -> None:
    history = [
        occ("I1", 3, key="a", service="pay", category="databases"),
        occ("I2", 2, key="b", service="pay", category="databases"),
        occ("I3", 1, key="c", service="pay", category="databases"),
        occ("I4", 1, key="d", service="pay", category="runtimes"),
    ]
    (candidate,) = problem_candidates(history, now=NOW, settings=SETTINGS)
    assert (candidate.basis, candidate.value, candidate.count) == (
        "service+category",
        "pay/databases",
        3,
    )


def test_a_service_candidate_repeating_a_key_candidate_is_left_out() -> None:
    history = [occ(f"I{i}", i, key="k", service="pay", category="db") for i in range(1, 5)]
    candidates = problem_candidates(history, now=NOW, settings=SETTINGS)
    assert [c.basis for c in candidates] == ["key"]
    # One more incident on the service makes the service candidate say something new.
    history.append(occ("I9", 1, key="other", service="pay", category="db"))
    candidates = problem_candidates(history, now=NOW, settings=SETTINGS)
    assert [(c.basis, c.count) for c in candidates] == [("service+category", 5), ("key", 4)]


def test_unknown_keys_and_services_match_nothing() -> None:
    history = [occ(f"I{i}", i, category="other") for i in range(1, 6)]
    assert problem_candidates(history, now=NOW, settings=SETTINGS) == []


def test_seen_labels_new_rare_frequent() -> None:
    history = [
        occ("I1", 25, key="k"),
        occ("I2", 10, key="k"),
        occ("I3", 5, key="k"),
        occ("I4", 60, key="k"),  # too old for all of them
        occ("I5", 1, key="k"),  # after I3: not counted for I3
    ]
    first = seen(history[0], history, settings=SETTINGS)
    assert (first.count, first.label, first.text) == (1, Frequency.NEW, "first in 30d")
    second = seen(history[1], history, settings=SETTINGS)
    assert (second.count, second.label, second.text) == (2, Frequency.RARE, "seen 2 times in 30d")
    third = seen(history[2], history, settings=SETTINGS)
    assert (third.count, third.label) == (3, Frequency.FREQUENT)


def test_seen_counts_either_kind_of_likeness_once() -> None:
    me = occ("I3", 0, key="k", service="pay", category="db")
    history = [
        occ("I1", 3, key="k", service="pay", category="db"),  # both: once
        occ("I2", 2, key="x", service="pay", category="db"),
        me,
    ]
    assert seen(me, history, settings=SETTINGS).count == 3


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (RecurrenceConfig(), RecurrenceSettings(30 * DAY, 3)),
        (RecurrenceConfig(window="7d", threshold=5), RecurrenceSettings(7 * DAY, 5)),
        (RecurrenceConfig(window="a month"), None),
    ],
)
def test_config(cfg: RecurrenceConfig, expected: RecurrenceSettings | None) -> None:
    problems = Problems()
    assert compile_recurrence(cfg, problems, ("recurrence",)) == expected
    assert bool(problems.found) == (expected is None)
