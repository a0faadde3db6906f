"""Evaluation figures computed from probabilities: threshold choice, ECE, the report."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from triage.classify.metrics import (
    ACCURACY_SLACK,
    choose_offsets,
    choose_threshold,
    expected_calibration_error,
    format_reports,
    report,
    shifted,
)


def test_threshold_keeps_the_largest_prefix_at_the_precision() -> None:
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, False, True, False])
    assert choose_threshold(confidence, correct, 0.8) == pytest.approx(0.7)
    assert choose_threshold(confidence, correct, 1.0) == pytest.approx(0.9)


def test_threshold_abstains_when_nothing_is_precise_enough() -> None:
    assert choose_threshold(np.array([0.9, 0.8]), np.array([False, False]), 0.5) > 1.0


def rare_class_scores() -> tuple[NDArray[np.float64], NDArray[np.str_]]:
    """A majority class "a" the argmax always picks, and a rare "b" whose items score
    0.3-0.45 while "a" items score 0.05-0.25 on it: a shift towards "b" separates them."""
    rng = np.random.default_rng(0)
    p_b = np.concatenate([rng.uniform(0.05, 0.25, 180), rng.uniform(0.3, 0.45, 20)])
    truth = np.array(["a"] * 180 + ["b"] * 20)
    return np.column_stack([1 - p_b, p_b]), truth


def test_offsets_raise_macro_f1_of_a_rare_class_within_the_accuracy_slack() -> None:
    proba, truth = rare_class_scores()
    classes = ["a", "b"]
    before = report(
        model="m",
        version="v",
        split="s",
        classes=classes,
        proba=proba,
        truth=list(truth),
        threshold=0,
    )
    offsets = choose_offsets(proba, classes, truth)
    after = report(
        model="m",
        version="v",
        split="s",
        classes=classes,
        proba=shifted(proba, offsets),
        truth=list(truth),
        threshold=0,
    )
    assert offsets[0] == 0.0
    assert offsets[1] > 0.0
    assert before.per_class["b"].recall == 0.0
    assert after.macro_f1 > before.macro_f1 + 0.3
    assert after.accuracy >= before.accuracy - ACCURACY_SLACK


def test_offsets_never_trade_more_accuracy_than_the_slack() -> None:
    # Rare "b" items score like "a" items: any shift towards "b" costs accuracy.
    proba = np.column_stack([np.full(100, 0.6), np.full(100, 0.4)])
    truth = np.array(["a"] * 90 + ["b"] * 10)
    offsets = choose_offsets(proba, ["a", "b"], truth)
    assert (shifted(proba, offsets).argmax(axis=1) == 0).all()


def test_shifted_rows_stay_distributions() -> None:
    out = shifted(np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([0.0, np.log(3.0)]))
    assert out.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert out[0] == pytest.approx([0.25, 0.75])


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_not() -> None:
    conf = np.array([0.75] * 4)
    assert expected_calibration_error(conf, np.array([True, True, True, False])) == pytest.approx(
        0.0
    )
    assert expected_calibration_error(
        np.array([1.0, 1.0]), np.array([False, False])
    ) == pytest.approx(1.0)


def test_report_figures() -> None:
    proba = np.array(
        [
            [0.8, 0.1, 0.1],  # a, right
            [0.2, 0.7, 0.1],  # b, right
            [0.5, 0.4, 0.1],  # a, wrong (b)
            [0.3, 0.3, 0.4],  # c, wrong (a; a is 2nd)
        ]
    )
    r = report(
        model="m",
        version="v",
        split="test",
        classes=["a", "b", "c"],
        proba=proba,
        truth=["a", "b", "b", "a"],
        threshold=0.6,
    )
    assert r.accuracy == 0.5
    assert r.top3 == 1.0
    assert (r.coverage, r.covered_accuracy) == (0.5, 1.0)
    assert r.per_class["a"].precision == 0.5
    assert r.per_class["b"].recall == 0.5
    assert r.per_class["c"].support == 0
    # F1: a = 0.5, b = 2/3, c = 0 (predicted, never right)
    assert r.macro_f1 == pytest.approx(round((0.5 + 2 / 3 + 0.0) / 3, 4))
    text = format_reports([r])
    assert "macro-F1 0.3889" in text
    assert "coverage 0.5000 at accuracy 1.0000" in text
