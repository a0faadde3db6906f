"""Training: cross-validate on the training side, choose thresholds there, fit, measure on test.

Each model is cross-validated on the README's training side (folds by a hash of each
example's key, so every run makes the same folds). Its out-of-fold predictions, made by
models that never saw them, choose the confidence threshold (and, for ``balance`` models,
the per-class offsets); then the model that ships is fitted on the whole training side.
Test is read only to report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from triage.classify import metrics
from triage.classify.artifacts import Manifest, write_model
from triage.classify.datasets import Dataset, Example
from triage.classify.estimators import SPECS, ModelSpec, fit, with_offsets
from triage.classify.features import documents
from triage.classify.values import EvalReport, ModelMetrics, TriageInput


@dataclass(frozen=True, slots=True)
class Trained:
    spec: ModelSpec
    estimator: Any
    threshold: float

    def evaluate(self, dataset: Dataset, version: str) -> EvalReport:
        return evaluate_estimator(
            self.spec.name, version, self.estimator, self.spec, dataset.test, self.threshold
        )


def predict_proba(estimator: Any, spec: ModelSpec, items: Sequence[TriageInput]) -> Any:
    return np.asarray(estimator.predict_proba(documents(spec.feature, items)))


def evaluate_estimator(
    name: str,
    version: str,
    estimator: Any,
    spec: ModelSpec,
    examples: Sequence[Any],
    threshold: float,
    split: str = "test",
) -> EvalReport:
    return metrics.report(
        model=name,
        version=version,
        split=split,
        classes=[str(c) for c in estimator.classes_],
        proba=predict_proba(estimator, spec, [e.item for e in examples]),
        truth=[e.label for e in examples],
        threshold=threshold,
    )


def fold_of(key: str, folds: int) -> int:
    return int(hashlib.sha256(f"fold/{key}".encode()).hexdigest()[:8], 16) % folds


def out_of_fold(
    spec: ModelSpec,
    examples: Sequence[Example],
    classes: Sequence[str],
    corrections: Sequence[tuple[TriageInput, str]],
    seed: int,
) -> NDArray[np.float64]:
    """Each example's class probabilities from a model fitted without its fold, in
    ``classes`` order (a class a fold's model lacks gets probability 0). Corrections are
    training data in every fold, never scored here."""
    column = {label: i for i, label in enumerate(classes)}
    proba = np.zeros((len(examples), len(classes)))
    fold = [fold_of(e.key, spec.folds) for e in examples]
    for k in range(spec.folds):
        held = [i for i, f in enumerate(fold) if f == k]
        if not held:
            continue
        model = fit(
            spec, [e for e, f in zip(examples, fold, strict=True) if f != k], corrections, seed
        )
        cols = np.asarray([column[str(c)] for c in model.classes_], dtype=np.intp)
        rows = np.asarray(held, dtype=np.intp)
        proba[np.ix_(rows, cols)] = predict_proba(model, spec, [examples[i].item for i in held])
    return proba


def train_spec(
    spec: ModelSpec,
    dataset: Dataset,
    corrections: Sequence[tuple[TriageInput, str]] = (),
    seed: int = 0,
) -> Trained:
    """Fit on the training side; threshold (and offsets) from its out-of-fold predictions."""
    estimator = fit(spec, dataset.train, corrections, seed)
    classes = [str(c) for c in estimator.classes_]
    proba = out_of_fold(spec, dataset.train, classes, corrections, seed)
    truth = np.asarray([e.label for e in dataset.train])
    if spec.balance:
        offsets = metrics.choose_offsets(proba, classes, truth)
        estimator = with_offsets(estimator, offsets)
        proba = metrics.shifted(proba, offsets)
    names = np.asarray(classes)
    threshold = metrics.choose_threshold(
        proba.max(axis=1), names[proba.argmax(axis=1)] == truth, spec.precision
    )
    return Trained(spec, estimator, threshold)


def publish(
    trained: Trained,
    dataset: Dataset,
    out_dir: Path,
    *,
    created: datetime,
    corrections: int = 0,
) -> Manifest:
    return write_model(
        out_dir,
        trained.spec,
        trained.estimator,
        dataset=dataset,
        threshold=trained.threshold,
        created=created,
        corrections=corrections,
        metrics_for=lambda version: trained.evaluate(dataset, version),
    )


def train_all(
    datasets_dir: Path,
    out_dir: Path,
    *,
    sample: float | None = None,
    seed: int = 0,
    now: datetime | None = None,
    only: Sequence[str] | None = None,
) -> dict[str, ModelMetrics]:
    """Train every model (or those named in ``only``) and write artifacts, manifests, cards.

    ``sample`` keeps that fraction of each large dataset (train and test alike, chosen by
    hash) for quick checks. ``seed`` seeds the cross-validation folds of calibration and
    stacking; the splits and the threshold folds are hash-based and never change.
    """
    created = now or datetime.now(UTC)
    results: dict[str, ModelMetrics] = {}
    for spec in SPECS:
        if only is not None and spec.name not in only:
            continue
        dataset = spec.load(datasets_dir, sample)
        manifest = publish(train_spec(spec, dataset, seed=seed), dataset, out_dir, created=created)
        results[spec.name] = manifest.test_metrics
    return results
