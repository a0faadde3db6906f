"""Pairwise precision/recall/F1 and noise reduction, checked by hand."""

from __future__ import annotations

import pytest

from bench.storm.scoring import Score, mean, pairs, score


def test_pairs() -> None:
    assert pairs([1, 2, 3, 4]) == 0 + 1 + 3 + 6


def test_perfect_grouping() -> None:
    truth = {"a": "P1", "b": "P1", "c": "P2"}
    result = score(truth, {"a": "I1", "b": "I1", "c": "I2"})
    assert (result.precision, result.recall, result.f1) == (1.0, 1.0, 1.0)
    assert result.noise_reduction == round(1 - 2 / 3, 4)


def test_one_merge_and_one_split_by_hand() -> None:
    truth = {"a": "P1", "b": "P1", "c": "P1", "d": "P2"}
    # true pairs: ab ac bc = 3; predicted: I1={a,b}, I2={c,d}: ab, cd = 2; hits: ab = 1
    result = score(truth, {"a": "I1", "b": "I1", "c": "I2", "d": "I2"})
    assert result.precision == 0.5
    assert result.recall == round(1 / 3, 4)
    assert result.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3), abs=1e-4)


def test_alerts_left_out_are_alone_and_groups_can_be_given() -> None:
    truth = {"a": "P1", "b": "P1", "c": "P2"}
    result = score(truth, {"a": "I1"}, groups=1)
    assert (result.precision, result.recall) == (1.0, 0.0)
    assert result.noise_reduction == round(1 - 1 / 3, 4)


def test_mean_reports_the_worst_f1() -> None:
    scores = [Score(1.0, 1.0, 1.0, 0.9, 1, 10), Score(0.5, 0.5, 0.5, 0.7, 3, 10)]
    assert mean(scores) == {
        "precision": 0.75,
        "recall": 0.75,
        "f1": 0.75,
        "noise_reduction": 0.8,
        "f1_min": 0.5,
    }
