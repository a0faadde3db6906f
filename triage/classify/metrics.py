"""Figures computed from predicted probabilities, shared by training, evaluation and retrain.

Everything is derived from one probability matrix so the reported accuracy, top-3,
calibration and coverage always describe the same predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from triage.classify.values import ClassMetrics, EvalReport

ECE_BINS = 15


def choose_threshold(
    confidence: NDArray[np.float64], correct: NDArray[np.bool_], precision: float
) -> float:
    """The lowest confidence at which the items at or above it are still ``precision`` right.

    Taking the largest qualifying prefix of the confidence-sorted items maximises coverage;
    if no prefix qualifies the model abstains on everything (threshold above 1).
    """
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    accuracy = hits / np.arange(1, len(order) + 1)
    qualifying = np.flatnonzero(accuracy >= precision)
    if len(qualifying) == 0:
        return 1.01
    return float(confidence[order][qualifying[-1]])


OFFSET_GRID = np.linspace(-2.0, 2.0, 41)
"""Log-factors tried for each class's probability; exp(2) ~ 7x is as far as a shift goes."""
ACCURACY_SLACK = 0.01
"""How much accuracy offsets may give up for macro-F1."""


def shifted(proba: NDArray[np.float64], offsets: NDArray[np.float64]) -> NDArray[np.float64]:
    """Probabilities multiplied by ``exp(offsets)`` per class and renormalised."""
    weighted = proba * np.exp(offsets)
    return np.asarray(weighted / weighted.sum(axis=1, keepdims=True))


def _macro_f1(predicted: NDArray[np.intp], truth: NDArray[np.intp], n_classes: int) -> float:
    hits = np.bincount(truth[predicted == truth], minlength=n_classes)
    n_pred = np.bincount(predicted, minlength=n_classes)
    n_true = np.bincount(truth, minlength=n_classes)
    seen = (n_pred + n_true) > 0
    f1 = 2 * hits[seen] / (n_pred[seen] + n_true[seen])
    return float(f1.mean())


def choose_offsets(
    proba: NDArray[np.float64], classes: Sequence[str], truth: NDArray[np.str_]
) -> NDArray[np.float64]:
    """Per-class log-offsets that maximise macro-F1 of ``proba``'s argmax on ``truth``,
    keeping accuracy within ``ACCURACY_SLACK`` of the unshifted one.

    Coordinate ascent over ``OFFSET_GRID``, three rounds; the largest class keeps offset 0
    (only ratios matter). Meant for out-of-fold predictions, never for test.
    """
    index = {label: i for i, label in enumerate(classes)}
    known = np.asarray([label in index for label in truth.tolist()])
    target = np.asarray([index.get(label, -1) for label in truth.tolist()])
    logp = np.log(np.clip(proba, 1e-12, None))
    n = len(classes)

    def score(offsets: NDArray[np.float64]) -> tuple[float, float]:
        predicted = (logp + offsets).argmax(axis=1)
        accuracy = float(np.mean(known & (predicted == target)))
        return _macro_f1(predicted[known], target[known], n), accuracy

    offsets = np.zeros(n)
    best, floor = score(offsets)
    floor -= ACCURACY_SLACK
    anchor = int(np.bincount(target[known], minlength=n).argmax())
    for _ in range(3):
        for k in range(n):
            if k == anchor:
                continue
            for value in OFFSET_GRID:
                trial = offsets.copy()
                trial[k] = value
                f1, accuracy = score(trial)
                if f1 > best + 1e-9 and accuracy >= floor:
                    best, offsets = f1, trial
    return offsets


def expected_calibration_error(
    confidence: NDArray[np.float64], correct: NDArray[np.bool_]
) -> float:
    """Top-label ECE: the gap between confidence and accuracy, averaged over equal-width bins."""
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1]), 0, ECE_BINS - 1)
    total = 0.0
    for b in range(ECE_BINS):
        mask = bins == b
        if mask.any():
            total += float(mask.mean()) * abs(
                float(confidence[mask].mean()) - float(correct[mask].mean())
            )
    return total


def report(
    *,
    model: str,
    version: str,
    split: str,
    classes: Sequence[str],
    proba: NDArray[np.float64],
    truth: Sequence[str],
    threshold: float,
) -> EvalReport:
    """All figures for one model on one labelled set; labels unknown to the model count as
    misses (they cannot be predicted) rather than being dropped."""
    names = np.asarray(classes)
    truth_arr = np.asarray(truth)
    ranked = np.argsort(-proba, axis=1)[:, :3]
    predicted = names[ranked[:, 0]]
    correct = predicted == truth_arr
    confidence = proba.max(axis=1)
    covered = confidence >= threshold
    labels = sorted(set(truth_arr.tolist()) | set(predicted.tolist()))
    per_class: dict[str, ClassMetrics] = {}
    f1s: list[float] = []
    for label in labels:
        tp = int(np.sum((predicted == label) & correct))
        n_pred = int(np.sum(predicted == label))
        n_true = int(np.sum(truth_arr == label))
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_true if n_true else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        per_class[label] = ClassMetrics(round(precision, 4), round(recall, 4), n_true)
    return EvalReport(
        model=model,
        version=version,
        split=split,
        n=len(truth_arr),
        accuracy=round(float(correct.mean()), 4),
        macro_f1=round(float(np.mean(f1s)), 4),
        top3=round(float((names[ranked] == truth_arr[:, None]).any(axis=1).mean()), 4),
        ece=round(expected_calibration_error(confidence, correct), 4),
        threshold=round(threshold, 4),
        coverage=round(float(covered.mean()), 4),
        covered_accuracy=round(float(correct[covered].mean()) if covered.any() else 0.0, 4),
        per_class=per_class,
    )


def format_reports(reports: Sequence[EvalReport]) -> str:
    """A terminal table per model: headline figures, then per-class precision/recall."""
    lines: list[str] = []
    for r in reports:
        lines.append(f"{r.model} {r.version} [{r.split}, n={r.n}]")
        lines.append(
            f"  accuracy {r.accuracy:.4f}  macro-F1 {r.macro_f1:.4f}  top-3 {r.top3:.4f}  "
            f"ECE {r.ece:.4f}"
        )
        lines.append(
            f"  threshold {r.threshold:.4f}: coverage {r.coverage:.4f} at accuracy "
            f"{r.covered_accuracy:.4f}"
        )
        width = max((len(label) for label in r.per_class), default=5)
        lines.append(f"  {'class':<{width}}  precision  recall  support")
        for label, m in sorted(r.per_class.items(), key=lambda kv: -kv[1].support):
            lines.append(f"  {label:<{width}}  {m.precision:9.4f}  {m.recall:6.4f}  {m.support:7d}")
        lines.append("")
    return "\n".join(lines)
