"""Evaluation figures computed from probabilities: threshold choice, ECE, the report."""

from __future__ import annotations

import numpy as np
import pytest

from triage.classify.metrics import (
    choose_threshold,
    expected_calibration_error,
    format_reports,
    report,
)


def test_threshold_keeps_the_largest_prefix_at_the_precision() -> None:
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, False, True, False])
    assert choose_threshold(confidence, correct, 0.8) == pytest.approx(0.7)
    assert choose_threshold(confidence, correct, 1.0) == pytest.approx(0.9)


def test_threshold_abstains_when_nothing_is_precise_enough() -> None:
    assert choose_threshold(np.array([0.9, 0.8]), np.array([False, False]), 0.5) > 1.0


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
