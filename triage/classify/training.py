"""Training: fit, choose a confidence threshold on held-back data, measure on test.

A model is fitted on the training side less its validation slice and its threshold chosen
on that slice, which it never saw. Large corpora ship that model, so the threshold's promise
holds for the very model that ships (refitting the ticket model would double the slowest
training for a fraction of a point); small ones (``ModelSpec.refit``) are refitted on the
validation slice too and keep the threshold. Test is read only to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from triage.classify import metrics
from triage.classify.artifacts import Manifest, write_model
from triage.classify.datasets import Dataset
from triage.classify.estimators import SPECS, ModelSpec, fit
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


def evaluate_estimator(
    name: str,
    version: str,
    estimator: Any,
    spec: ModelSpec,
    examples: Sequence[Any],
    threshold: float,
    split: str = "test",
) -> EvalReport:
    proba = np.asarray(estimator.predict_proba(documents(spec.feature, [e.item for e in examples])))
    return metrics.report(
        model=name,
        version=version,
        split=split,
        classes=[str(c) for c in estimator.classes_],
        proba=proba,
        truth=[e.label for e in examples],
        threshold=threshold,
    )


def train_spec(
    spec: ModelSpec,
    dataset: Dataset,
    corrections: Sequence[tuple[TriageInput, str]] = (),
    seed: int = 0,
) -> Trained:
    """Fit on train, pick the threshold on validation, refit if the spec says so."""
    probe = fit(spec, dataset.train, corrections, seed)
    proba = np.asarray(probe.predict_proba(documents(spec.feature, [e.item for e in dataset.val])))
    classes = np.asarray([str(c) for c in probe.classes_])
    truth = np.asarray([e.label for e in dataset.val])
    threshold = metrics.choose_threshold(
        proba.max(axis=1), classes[proba.argmax(axis=1)] == truth, spec.precision
    )
    if spec.refit:
        probe = fit(spec, [*dataset.train, *dataset.val], corrections, seed)
    return Trained(spec, probe, threshold)


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

    ``sample`` keeps that fraction of each dataset (train and test alike, chosen by hash) for
    quick checks. ``seed`` seeds the cross-validation folds of calibration and stacking; the
    splits themselves are hash-based and never change.
    """
    created = now or datetime.now(UTC)
    results: dict[str, ModelMetrics] = {}
    for spec in SPECS:
        if only is not None and spec.name not in only:
            continue
        dataset = spec.read(datasets_dir, sample)
        manifest = publish(train_spec(spec, dataset, seed=seed), dataset, out_dir, created=created)
        results[spec.name] = manifest.test_metrics
    return results
